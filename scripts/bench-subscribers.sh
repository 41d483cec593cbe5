#!/usr/bin/env bash
# Part of `make bench` (issue 12): the enrollment mailer and the assets subscriber, on PostgreSQL.
#
#   scripts/bench-subscribers.sh [OUT_DIR]
#
# A scratch database, a real SMTP server (tests/support/smtp_sink.py, aiosmtpd), the release
# server with SCIMLEDGER_SMTP_URL; a connection sending enrollment emails whose on_deactivate is
# unassign_devices. BENCH_SUB_USERS users imported through /Bulk while the mailer's lag is sampled;
# every email awaited, each one's commit-to-accept time taken; then BENCH_SUB_DEACTIVATIONS users
# given two devices each and deactivated, each device action's time from the deactivation's
# commit. Writes OUT_DIR/subscribers.md (default target/bench).
#
# Knobs: BENCH_SUB_USERS (10000), BENCH_SUB_DEACTIVATIONS (10000), BENCH_SUB_BULK_PARALLEL (4)
set -euo pipefail
cd "$(dirname "$0")/.."

out_dir="${1:-target/bench}"
users="${BENCH_SUB_USERS:-10000}"
deactivations="${BENCH_SUB_DEACTIVATIONS:-10000}"
bulk_parallel="${BENCH_SUB_BULK_PARALLEL:-4}"
[ "$deactivations" -le "$users" ] || deactivations="$users"
mkdir -p "$out_dir"

if [ -z "${SCIMLEDGER_TEST_DATABASE_URL:-}" ]; then
  exec scripts/with-test-services.sh "$0" "$@"
fi

cargo build --release -p scimledger
server_bin="${CARGO_TARGET_DIR:-$PWD/target}/release/scimledger"
helper=(python3 scripts/bench_subscribers.py)

# shellcheck source=scripts/scratch-server.sh
. scripts/scratch-server.sh
sink_pid=""
trap 'stop_server; [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null; true' EXIT

sink_dir="$(mktemp -d)"
sink_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 tests/support/smtp_sink.py "$sink_port" "$sink_dir" >"$out_dir/subscribers-smtp.log" 2>&1 &
sink_pid=$!
for _ in $(seq 1 100); do grep -q ready "$out_dir/subscribers-smtp.log" && break; sleep 0.1; done

scratch_database postgres bench
dburl="${scratch_env[0]#*=}"
scratch_env+=(SCIMLEDGER_SMTP_URL="smtp://127.0.0.1:$sink_port")
start_server "$server_bin" "$out_dir/subscribers-server.log"
cli=(env "${scratch_env[@]}" SCIMLEDGER_PUBLIC_URL="$server_base" "$server_bin")
"${cli[@]}" tenant create bench >/dev/null
token="$(connection_token "$server_bin" bench okta --send-enrollment-email --on-deactivate unassign_devices)"
operator="$("${cli[@]}" operator create --name bench --json | json_token)"
base="$server_base/scim/v2/bench"

echo "bench-subscribers: importing $users users" >&2
"${helper[@]}" import "$base" "$token" "$server_base" "$users" "$bulk_parallel" "$out_dir/subscribers-import.json"
echo "bench-subscribers: waiting for $users emails" >&2
"${helper[@]}" wait-mails "$sink_dir" "$users"
# The server answers 250 before the mailer records enrollment.sent: wait for every record.
for _ in $(seq 1 600); do
  recorded="$(psql -X -Atqc "SELECT count(*) FROM events WHERE event_type = 'enrollment.sent'" "$dburl")"
  [ "$recorded" -ge "$users" ] && break
  sleep 1
done
# Each email's Message-ID (clear on enrollment.sent) and the commit of the user.provisioned it answers.
psql -X -Atqc "SELECT s.payload->>'message_id', extract(epoch FROM p.recorded_at)
               FROM events s JOIN events p ON p.event_id::text = s.payload->>'cause'
               WHERE s.event_type = 'enrollment.sent'" -F $'\t' "$dburl" >"$out_dir/subscribers-provisioned.tsv"
"${helper[@]}" mails "$sink_dir" "$out_dir/subscribers-mails.json" "$out_dir/subscribers-provisioned.tsv"

echo "bench-subscribers: $deactivations users with two devices each, deactivated" >&2
"${helper[@]}" devices "$server_base/admin/v1/tenants/bench" "$operator" "$deactivations"
"${helper[@]}" deactivate "$base" "$token" "$deactivations"
expected=$(( 2 * deactivations ))
for _ in $(seq 1 3600); do
  done_count="$(psql -X -Atqc "SELECT count(*) FROM events WHERE event_type = 'device.unassigned'" "$dburl")"
  [ "$done_count" -ge "$expected" ] && break
  sleep 1
done
[ "$done_count" -ge "$expected" ] || { echo "bench-subscribers: only $done_count of $expected device actions" >&2; exit 1; }
psql -X -Atqc "SELECT extract(epoch FROM d.recorded_at), extract(epoch FROM a.recorded_at)
               FROM events a JOIN events d ON d.event_id::text = a.payload->>'cause'
               WHERE a.event_type = 'device.unassigned'" -F $'\t' "$dburl" >"$out_dir/subscribers-actions.tsv"
"${helper[@]}" actions "$out_dir/subscribers-actions.tsv" "$out_dir/subscribers-actions.json"
stop_server
drop_scratch_database postgres
rm -rf "$sink_dir"

"${helper[@]}" report "$out_dir" >"$out_dir/subscribers.md"
echo "bench-subscribers: wrote $out_dir/subscribers.md" >&2
