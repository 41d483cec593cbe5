-- wrk script of scripts/bench-lookups.sh: sends GETs for the request paths listed in the file
-- BENCH_PATHS (one a line, shuffled), each thread from its own place in the list so that the
-- threads do not ask for the same users in step, and prints wrk's figures as one JSON line.
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
  paths[#paths + 1] = line
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("offset", threads * math.floor(#paths / 7))
end

local i = 0
function init()
  i = offset or 0
end

function request()
  i = i + 1
  return wrk.format("GET", paths[i % #paths + 1])
end

function done(summary, latency)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "socket_errors": %d, "status_errors": %d, ' ..
    '"timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
