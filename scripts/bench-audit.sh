#!/usr/bin/env bash
# The audit's figures (issue 13), on each backend: `audit verify` events/s and `audit export`
# events/s over a tenant of BENCH_AUDIT_USERS users (imported through /Bulk), and the as-of
# latency (admin API, median of BENCH_AUDIT_ASOF requests) for a user with 1,000 events, and
# `rebuild` events/s (every read model rebuilt from the whole log and swapped in).
# Usage: scripts/bench-audit.sh SERVER_BINARY OUT_DIR (prints a markdown section). Expects
# SCIMLEDGER_TEST_DATABASE_URL for PostgreSQL, as bench.sh provides.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$1"
out_dir="$2"
users="${BENCH_AUDIT_USERS:-20000}"
asof_requests="${BENCH_AUDIT_ASOF:-50}"
backends="${BENCH_BACKENDS:-sqlite postgres}"

# shellcheck source=scripts/scratch-server.sh
. scripts/scratch-server.sh
trap stop_server EXIT

now() { date +%s.%N; }
per_second() { python3 -c "import sys; print(int(float(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2]))))" "$@"; }

echo "## Audit"
echo
echo "| backend | events | verify events/s | export events/s | as-of median ms (user with 1,000 events) | rebuild events/s |"
echo "|---|---|---|---|---|---|"
for backend in $backends; do
  scratch_database "$backend" audit
  start_server "$bin" "$out_dir/audit-$backend.log"
  token="$(tenant_token "$bin" audit bench)"
  scim="$server_base/scim/v2/audit"
  for ((chunk = 0; chunk < users / 1000; chunk++)); do
    python3 -c "
import json, sys
c = int(sys.argv[1])
ops = [{'method': 'POST', 'path': '/Users', 'bulkId': f'u{n}', 'data': {'userName': f'user{c}-{n}'}} for n in range(1000)]
print(json.dumps({'schemas': ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], 'Operations': ops}))" "$chunk" >"$out_dir/audit-bulk.json"
    curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'content-type: application/scim+json' --data @"$out_dir/audit-bulk.json" "$scim/Bulk"
  done
  id="$(curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/scim+json' -d '{"userName":"busy"}' "$scim/Users" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
  for ((n = 1; n < 1000; n++)); do
    curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $token" -H 'content-type: application/scim+json' \
      -d "{\"userName\":\"busy\",\"title\":\"t$n\"}" "$scim/Users/$id"
  done
  operator="$(env "${scratch_env[@]}" "$bin" operator create --name bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
  position="$(env "${scratch_env[@]}" "$bin" audit log audit --resource "$id" --limit 1000 --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["events"][500]["position"])')"
  for ((n = 0; n < asof_requests; n++)); do
    curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $operator" "$server_base/admin/v1/tenants/audit/audit/as-of/$id?position=$position"
  done >"$out_dir/audit-asof-$backend.txt"
  asof_ms="$(python3 -c "import statistics,sys; print(round(statistics.median(float(l) for l in open(sys.argv[1])) * 1000, 1))" "$out_dir/audit-asof-$backend.txt")"
  stop_server
  env "${scratch_env[@]}" "$bin" audit seal audit --json >/dev/null
  events="$(env "${scratch_env[@]}" "$bin" audit verify audit --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["verified"])')"
  start="$(now)"; env "${scratch_env[@]}" "$bin" audit verify audit >/dev/null; end="$(now)"
  verify_rate="$(per_second "$events" "$start" "$end")"
  start="$(now)"; env "${scratch_env[@]}" "$bin" audit export audit >"$out_dir/audit-export.jsonl"; end="$(now)"
  export_rate="$(per_second "$(wc -l <"$out_dir/audit-export.jsonl")" "$start" "$end")"
  # The rebuild reports its own rate on its last line of stderr.
  rebuild_rate="$(env "${scratch_env[@]}" "$bin" rebuild 2>&1 >/dev/null | sed -n 's/.*(\([0-9]*\) events\/s).*/\1/p')"
  echo "| $backend | $events | $verify_rate | $export_rate | $asof_ms | $rebuild_rate |"
done
