#!/usr/bin/env bash
# The NATS relay's benchmark, on PostgreSQL and JetStream; prints a markdown section for
# docs/benchmarks.md (scripts/bench.sh appends it).
#
#   scripts/bench-relay.sh [SCIMLEDGER_BINARY]      (default: the release build)
#
# (a) throughput: a backlog of RELAY_BACKLOG events (100000) is written straight into the log,
#     then a server starts and its relay drains it; events/s from "relay active" to the
#     checkpoint reaching the last event.
# (b) delay: during an import (../shared/scimload, RELAY_IMPORT_USERS users at
#     BENCH_CONCURRENCY), `scimledger events tail` receives every event; its delay is the time it
#     arrives minus the event's recorded time (set by the server just before the commit), p50/p99.
#
# Needs SCIMLEDGER_TEST_DATABASE_URL and SCIMLEDGER_TEST_NATS_URL (scripts/with-test-services.sh
# provides both when they are unset). Each run uses its own database, stream and tenant.
set -euo pipefail
cd "$(dirname "$0")/.."

backlog="${RELAY_BACKLOG:-100000}"
import_users="${RELAY_IMPORT_USERS:-10000}"
concurrency="${BENCH_CONCURRENCY:-32}"
scimload_dir="${SCIMLOAD_DIR:-../shared/scimload}"
out_dir="target/bench"
mkdir -p "$out_dir"

if [ -z "${SCIMLEDGER_TEST_DATABASE_URL:-}" ] || [ -z "${SCIMLEDGER_TEST_NATS_URL:-}" ]; then
  exec scripts/with-test-services.sh "$0" "$@"
fi

server_bin="${1:-${CARGO_TARGET_DIR:-$PWD/target}/release/scimledger}"
[ -x "$server_bin" ] || { echo "bench-relay: no scimledger binary at $server_bin (cargo build --release -p scimledger)" >&2; exit 2; }
scimload_bin="${SCIMLOAD_BIN:-$PWD/target/scimload/release/scimload}"
if [ ! -x "$scimload_bin" ]; then
  CARGO_TARGET_DIR="$PWD/target/scimload" cargo build --release --manifest-path "$scimload_dir/Cargo.toml"
fi

# shellcheck source=scripts/scratch-server.sh
. scripts/scratch-server.sh
tail_pid=""
run_id="$$$(od -An -N2 -tx2 /dev/urandom | tr -d ' ')"
streams=("BENCH_BACKLOG_$run_id" "BENCH_IMPORT_$run_id")

# delete_stream NAME: removes one of this run's streams from the NATS server (JetStream's API
# over the plain protocol), so that runs do not pile streams up on a shared server, where their
# subjects would overlap the default stream's (`scimledger.>`) and keep `serve` from creating it.
delete_stream() {
  python3 - "$SCIMLEDGER_TEST_NATS_URL" "$1" <<'PY'
import socket, sys, urllib.parse
url, name = urllib.parse.urlparse(sys.argv[1]), sys.argv[2]
s = socket.create_connection((url.hostname or "127.0.0.1", url.port or 4222), timeout=5)
f = s.makefile("rb")
f.readline()
s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.bench 1\r\nPUB $JS.API.STREAM.DELETE.%s _INBOX.bench 0\r\n\r\n' % name.encode())
while True:
    line = f.readline()
    if line.startswith(b"PING"):
        s.sendall(b"PONG\r\n")
    elif line.startswith(b"MSG") or not line:
        break
PY
}

cleanup() {
  if [ -n "$tail_pid" ]; then kill "$tail_pid" 2>/dev/null || true; wait "$tail_pid" 2>/dev/null || true; fi
  stop_server
  for name in "${streams[@]}"; do delete_stream "$name" || echo "bench-relay: could not delete stream $name" >&2; done
}
trap cleanup EXIT
# nats_env STREAM TENANT: the relay's settings for a stream that captures one tenant; its
# messages expire within the hour, so runs do not fill the NATS server's disk.
nats_env() {
  echo SCIMLEDGER_NATS_URL="$SCIMLEDGER_TEST_NATS_URL" SCIMLEDGER_NATS_STREAM="$1" SCIMLEDGER_NATS_SUBJECTS="scimledger.$2.>" \
    SCIMLEDGER_NATS_MAX_AGE_SECS=3600
}
database_url() { printf '%s' "${scratch_env[0]#SCIMLEDGER_DATABASE_URL=}"; }
# start_relay_server LOG: like start_server, and waits until its relay is active (the stream
# exists then); sets server_pid and server_base.
start_relay_server() {
  env "${scratch_env[@]}" SCIMLEDGER_LISTEN=127.0.0.1:0 RUST_LOG=warn,bus=info SCIMLEDGER_LOG_FORMAT=json "$server_bin" serve >"$1" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do
    grep -q 'relay active' "$1" && break
    sleep 0.05
  done
  grep -q 'relay active' "$1" || { cat "$1" >&2; echo "bench-relay: the relay did not start" >&2; exit 1; }
  server_base="$(sed -n 's/^scimledger listening on //p' "$1" | head -n1)"
}
psql_scratch() { psql "$(database_url)" -Atqc "$1"; }

# --- (a) draining a backlog ------------------------------------------------------------------

scratch_database postgres bench
start_server "$server_bin" "$out_dir/relay-migrate.log"   # creates the schema
stop_server
tenant="relay-backlog-$run_id"
stream="${streams[0]}"
echo "bench-relay: writing a backlog of $backlog events" >&2
psql_scratch "INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
  SELECT gen_random_uuid(), '$tenant', 'user', gen_random_uuid(), 1, 'user.provisioned', 1,
         jsonb_build_object('user_name', 'user' || g || '@example.com', 'active', true,
                            'profile', jsonb_build_object('emails', jsonb_build_array(jsonb_build_object('value', 'user' || g || '@example.com', 'primary', true)))),
         '{\"operator\": \"bench\"}', now()
  FROM generate_series(1, $backlog) g"
last_position="$(psql_scratch "SELECT max(position) FROM events")"
# shellcheck disable=SC2046  # word splitting of nats_env is wanted
scratch_env+=($(nats_env "$stream" "$tenant") SCIMLEDGER_RELAY_CHECKPOINT_MS=100)
start_relay_server "$out_dir/relay-backlog.log"
started="$(date +%s.%N)"
while [ "$(psql_scratch "SELECT coalesce(max(position), 0) FROM checkpoints WHERE name = 'nats-relay:$stream'")" -lt "$last_position" ]; do
  sleep 0.1
  kill -0 "$server_pid" 2>/dev/null || { cat "$out_dir/relay-backlog.log" >&2; echo "bench-relay: the server died" >&2; exit 1; }
done
drained="$(date +%s.%N)"
stop_server
psql "$SCIMLEDGER_TEST_DATABASE_URL" -qc "DROP DATABASE \"${scratch_env[0]##*/}\" WITH (FORCE)" >/dev/null
drain_s="$(python3 -c "print(f'{$drained - $started:.2f}')")"
drain_rate="$(python3 -c "print(f'{$backlog / ($drained - $started):,.0f}')")"
echo "bench-relay: drained $backlog events in $drain_s s" >&2

# --- (b) commit-to-delivery delay during an import -------------------------------------------

scratch_database postgres bench
tenant="relay-import-$run_id"
stream="${streams[1]}"
# shellcheck disable=SC2046
scratch_env+=($(nats_env "$stream" "$tenant"))
start_relay_server "$out_dir/relay-import.log"
token="$(tenant_token "$server_bin" "$tenant" scimload)"
delays="$out_dir/relay-delays.txt"
: >"$delays"
# The timer reads tail's output through a process substitution, so that $! is tail itself.
env "${scratch_env[@]}" RUST_LOG=warn "$server_bin" events tail --tenant "$tenant" 2>"$out_dir/relay-tail.log" > >(python3 -u -c '
import datetime, json, sys, time
out = open(sys.argv[1], "w")
for line in sys.stdin:
    arrived = time.time()
    event = json.loads(line)
    recorded = datetime.datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
    out.write(f"{(arrived - recorded) * 1000:.3f}\n")
    out.flush()
' "$delays") &
tail_pid=$!
for _ in $(seq 1 600); do
  grep -q '^following' "$out_dir/relay-tail.log" 2>/dev/null && break
  sleep 0.05
done
grep -q '^following' "$out_dir/relay-tail.log" || { cat "$out_dir/relay-tail.log" >&2; echo "bench-relay: tail did not start" >&2; exit 1; }
echo "bench-relay: import of $import_users users at concurrency $concurrency" >&2
import_started="$(date +%s.%N)"
"$scimload_bin" --base-url "$server_base/scim/v2/$tenant" --token "$token" \
  --users "$import_users" --concurrency "$concurrency" --lookups 100 --json "$out_dir/relay-import.json" >"$out_dir/relay-import.txt"
import_ended="$(date +%s.%N)"
events_total="$(psql_scratch "SELECT count(*) FROM events WHERE tenant = '$tenant'")"
for _ in $(seq 1 600); do
  [ "$(wc -l <"$delays")" -ge "$events_total" ] && break
  sleep 0.1
done
kill "$tail_pid" 2>/dev/null || true
wait "$tail_pid" 2>/dev/null || true
tail_pid=""
stop_server

python3 - "$delays" "$events_total" "$import_started" "$import_ended" "$backlog" "$drain_s" "$drain_rate" "$import_users" "$concurrency" <<'EOF'
import sys
path, total, t0, t1, backlog, drain_s, drain_rate, users, concurrency = sys.argv[1:]
delays = sorted(float(line) for line in open(path) if line.strip())
total, wall = int(total), float(t1) - float(t0)
def pct(p):
    return delays[min(len(delays) - 1, int(len(delays) * p))] if delays else float("nan")
print("## NATS relay (PostgreSQL → JetStream)\n")
print(f"`scripts/bench-relay.sh`: one server, its relay publishing to a local nats-server (file storage).\n")
print("| measure | value |")
print("|---|---|")
print(f"| backlog drained | {int(backlog):,} events in {drain_s} s: **{drain_rate} events/s** |")
print(f"| import (scimload, {int(users):,} users, concurrency {concurrency}) | {total:,} events in {wall:.1f} s: {total / wall:,.0f} events/s committed |")
print(f"| events delivered during and after the import | {len(delays):,} of {total:,} |")
print(f"| commit → delivery delay | p50 **{pct(0.50):.1f} ms**, p99 **{pct(0.99):.1f} ms**, max {delays[-1] if delays else float('nan'):.1f} ms |")
print()
print("The delay runs from the event's recorded time (taken just before its transaction commits)")
print("to its arrival at `scimledger events tail`, an ordered JetStream consumer in its own process.")
EOF
