#!/usr/bin/env bash
# Part of `make bench` (issue 11): the access look-up against /healthz, memory, start-up and
# cross-process lag, on PostgreSQL.
#
#   scripts/bench-access.sh [OUT_DIR]
#
# On a scratch database: BENCH_ACCESS_USERS users seeded through /Bulk (bench_lookups.py seed),
# put in groups of BENCH_ACCESS_PER_GROUP, two groups mapped to roles; an access token; then wrk
# (BENCH_ACCESS_SECONDS per run) with random logins at concurrency 32 and 8, and /healthz the same
# way; the server's RSS; a restart timed until /access/v1/status says ready, and the restarted
# server's RSS after a round of look-ups; and a second server
# on the database whose look-ups are polled after each of BENCH_ACCESS_LAG_WRITES SCIM writes
# through the first. Writes OUT_DIR/access.md (default target/bench).
#
# This machine's speed drifts within minutes, so the measuring waits until the server is idle,
# /healthz and the look-up alternate (BENCH_ACCESS_ROUNDS pairs at each concurrency, each pair in
# the other order than the last), and the report compares each look-up with its pair's /healthz.
#
# Knobs: BENCH_ACCESS_USERS (1000000, the issue's size), BENCH_ACCESS_PER_GROUP (1000),
#   BENCH_ACCESS_SECONDS (15), BENCH_ACCESS_ROUNDS (3), BENCH_ACCESS_LAG_WRITES (50),
#   BENCH_ACCESS_BULK_PARALLEL (4)
set -euo pipefail
cd "$(dirname "$0")/.."

out_dir="${1:-target/bench}"
users="${BENCH_ACCESS_USERS:-1000000}"
per_group="${BENCH_ACCESS_PER_GROUP:-1000}"
seconds="${BENCH_ACCESS_SECONDS:-15}"
rounds="${BENCH_ACCESS_ROUNDS:-3}"
lag_writes="${BENCH_ACCESS_LAG_WRITES:-50}"
bulk_parallel="${BENCH_ACCESS_BULK_PARALLEL:-4}"
threads=2
mkdir -p "$out_dir"

if [ -z "${SCIMLEDGER_TEST_DATABASE_URL:-}" ]; then
  exec scripts/with-test-services.sh "$0" "$@"
fi
if ! command -v wrk >/dev/null; then
  { apt-get update -qq && apt-get install -y -qq wrk; } >&2 || { echo "bench-access: wrk is missing and could not be installed" >&2; exit 1; }
fi

# BENCH_SERVER_BIN: a server binary built before (another revision's), instead of this tree's.
server_bin="${BENCH_SERVER_BIN:-}"
if [ -z "$server_bin" ]; then
  cargo build --release -p scimledger
  server_bin="${CARGO_TARGET_DIR:-$PWD/target}/release/scimledger"
fi
helper=(python3 scripts/bench_access.py)

# shellcheck source=scripts/scratch-server.sh
. scripts/scratch-server.sh
second_pid=""
trap 'stop_server; [ -n "$second_pid" ] && kill "$second_pid" 2>/dev/null; true' EXIT

wrk_run() { # PATHS_FILE CONCURRENCY TOKEN [RESULT]
  local output
  output="$(BENCH_PATHS="$1" wrk -t "$threads" -c "$2" -d "${seconds}s" --timeout 5s -H "Authorization: Bearer $3" \
    -s scripts/bench-lookups.lua "$server_base")"
  if [ -n "${4:-}" ]; then
    sed -n 's/^BENCH_JSON //p' <<<"$output" >"$4"
    [ -s "$4" ] || { echo "$output" >&2; echo "bench-access: wrk gave no figures" >&2; exit 1; }
  fi
}

scratch_database postgres bench
start_server "$server_bin" "$out_dir/access-server.log"
token="$(tenant_token "$server_bin" bench okta)"
base="$server_base/scim/v2/bench"
echo "bench-access: seeding $users users" >&2
python3 scripts/bench_lookups.py seed "$base" "$token" "$users" "$bulk_parallel" "$out_dir/access-seed.json"
# What autovacuum does after a bulk load, where it is off (this machine's PostgreSQL): without
# statistics, each group's member check reads the whole tenant (1.4 s a group of 1,000 here).
psql -X -qc 'ANALYZE' "${scratch_env[0]#*=}"
echo "bench-access: groups of $per_group" >&2
"${helper[@]}" groups "$base" "$token" "$users" "$per_group"
cli=(env "${scratch_env[@]}" SCIMLEDGER_PUBLIC_URL="$server_base" "$server_bin")
"${cli[@]}" role create bench editor >/dev/null
"${cli[@]}" role create bench admin >/dev/null
"${cli[@]}" role map bench --group group-0 --role admin --precedence 10 >/dev/null
"${cli[@]}" role map bench --group group-1 --role editor >/dev/null
access_token="$("${cli[@]}" access-token create bench --name bench --json | json_token)"
psql -X -qc 'VACUUM ANALYZE' "${scratch_env[0]#*=}"
"${helper[@]}" paths "$users" 20000 bench "$out_dir/paths-lookup.txt"
printf '/healthz\n' >"$out_dir/paths-healthz.txt"

# settle PID: waits (up to 10 minutes) until the process has used under a tenth of a core for
# two seconds: after the seeding, the projection, the role deriver and the subscribers still
# have the log to read, and /healthz must not be measured against them.
settle() {
  local before now
  ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  before="$(ticks "$1")"
  for _ in $(seq 1 300); do
    sleep 2
    now="$(ticks "$1")"
    (( now - before < 20 )) && return 0
    before="$now"
  done
  echo "bench-access: the server did not settle in 10 minutes; measuring anyway" >&2
}

settle "$server_pid"
wrk_run "$out_dir/paths-lookup.txt" 8 "$access_token"   # warm-up
for c in 32 8; do
  for round in $(seq 1 "$rounds"); do
    echo "bench-access: concurrency $c, round $round of $rounds" >&2
    # Alternating which runs first cancels a steady drift of the machine's speed.
    order=(healthz lookup)
    (( round % 2 == 0 )) && order=(lookup healthz)
    for run in "${order[@]}"; do
      wrk_run "$out_dir/paths-$run.txt" "$c" "$access_token" "$out_dir/access-$run-c$c-r$round.json"
    done
  done
done
rss_kb="$(awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status")"

echo "bench-access: restart to a ready projection" >&2
stop_server
start_server "$server_bin" "$out_dir/access-server-restart.log"
startup="$("${helper[@]}" ready "$server_base")"
# The restarted server built its projection from the log alone, with none of the seeding's
# requests behind it: its RSS after a round of look-ups is a server's steady state.
wrk_run "$out_dir/paths-lookup.txt" 32 "$access_token"
rss_restarted_kb="$(awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status")"

echo "bench-access: lag from another process" >&2
first_base="$server_base"
env "${scratch_env[@]}" SCIMLEDGER_LISTEN=127.0.0.1:0 RUST_LOG=warn "$server_bin" serve >"$out_dir/access-second.log" 2>&1 &
second_pid=$!
second_base=""
for _ in $(seq 1 600); do
  second_base="$(sed -n 's/^scimledger listening on //p' "$out_dir/access-second.log" | head -n1)"
  [ -n "$second_base" ] && break
  sleep 0.1
done
[ -n "$second_base" ] || { cat "$out_dir/access-second.log" >&2; exit 1; }
"${helper[@]}" ready "$second_base" >/dev/null
"${helper[@]}" lag "$first_base/scim/v2/bench" "$token" "$second_base" "$access_token" bench "$users" "$lag_writes" "$out_dir/access-lag.json"
kill "$second_pid"; wait "$second_pid" 2>/dev/null || true; second_pid=""
stop_server
drop_scratch_database postgres

printf '{"users": %s, "per_group": %s, "seconds": %s, "rounds": %s, "threads": %s, "rss_mb": %s, "rss_restarted_mb": %s, "startup_s": %s}\n' \
  "$users" "$per_group" "$seconds" "$rounds" "$threads" "$(( rss_kb / 1024 ))" "$(( rss_restarted_kb / 1024 ))" "$startup" >"$out_dir/access-config.json"
"${helper[@]}" report "$out_dir" >"$out_dir/access.md"
echo "bench-access: wrote $out_dir/access.md" >&2
