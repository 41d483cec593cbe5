#!/usr/bin/env bash
# The audit's figures (issue 13), on each backend: users/s of an import of BENCH_AUDIT_USERS
# users through /Bulk (their personal fields encrypted, ADR 0068), `audit verify` and `audit
# export` events/s over that tenant, the as-of latency (admin API, median of BENCH_AUDIT_ASOF
# requests) for a user with 1,000 events against /healthz's in the same run, and `rebuild`
# events/s (every read model rebuilt from the whole log and swapped in) with its phases.
#
# Usage: scripts/bench-audit.sh SERVER_BINARY OUT_DIR [LABEL=BASELINE_BINARY ...] (prints a
# markdown section). Each baseline (a build of an earlier revision: one without encryption
# gives the import's cost of it, the one before a change its gain) runs the same steps, and
# the last table gives SERVER_BINARY's figures as ratios to each. Expects
# SCIMLEDGER_TEST_DATABASE_URL for PostgreSQL, as bench.sh provides.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$1"
out_dir="$2"
shift 2
users="${BENCH_AUDIT_USERS:-20000}"
asof_requests="${BENCH_AUDIT_ASOF:-50}"
backends="${BENCH_BACKENDS:-sqlite postgres}"
runs=("this revision=$bin" "$@")

# shellcheck source=scripts/scratch-server.sh
. scripts/scratch-server.sh
trap stop_server EXIT

now() { date +%s.%N; }
per_second() { python3 -c "import sys; print(int(float(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2]))))" "$@"; }
median_ms() { python3 -c "import statistics,sys; print(round(statistics.median(float(l) for l in open(sys.argv[1])) * 1000, 2))" "$1"; }

# measure BACKEND LABEL BINARY: one row of figures, also kept in $out_dir/audit-figures.tsv.
measure() {
  local backend="$1" label="$2" run_bin="$3"
  scratch_database "$backend" audit
  start_server "$run_bin" "$out_dir/audit-$backend.log"
  local token scim id operator position start end
  token="$(tenant_token "$run_bin" audit bench)"
  scim="$server_base/scim/v2/audit"
  for ((chunk = 0; chunk < users / 1000; chunk++)); do
    python3 -c "
import json, sys
c = int(sys.argv[1])
ops = [{'method': 'POST', 'path': '/Users', 'bulkId': f'u{n}',
        'data': {'userName': f'user{c}-{n}', 'name': {'givenName': f'Given{n}', 'familyName': f'Family{c}'},
                 'emails': [{'value': f'user{c}-{n}@example.com', 'type': 'work', 'primary': True}]}} for n in range(1000)]
print(json.dumps({'schemas': ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], 'Operations': ops}))" "$chunk" >"$out_dir/audit-bulk-$chunk.json"
  done
  start="$(now)"
  for ((chunk = 0; chunk < users / 1000; chunk++)); do
    curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'content-type: application/scim+json' --data @"$out_dir/audit-bulk-$chunk.json" "$scim/Bulk"
  done
  end="$(now)"
  rm -f "$out_dir"/audit-bulk-*.json
  local import_rate
  import_rate="$(per_second "$users" "$start" "$end")"
  id="$(curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/scim+json' -d '{"userName":"busy"}' "$scim/Users" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
  for ((n = 1; n < 1000; n++)); do
    curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $token" -H 'content-type: application/scim+json' \
      -d "{\"userName\":\"busy\",\"title\":\"t$n\"}" "$scim/Users/$id"
  done
  operator="$(env "${scratch_env[@]}" "$run_bin" operator create --name bench --json | json_token)"
  position="$(env "${scratch_env[@]}" "$run_bin" audit log audit --resource "$id" --limit 1000 --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["events"][500]["position"])')"
  for ((n = 0; n < asof_requests; n++)); do
    curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $operator" "$server_base/admin/v1/tenants/audit/audit/as-of/$id?position=$position"
  done >"$out_dir/audit-asof-$backend.txt"
  for ((n = 0; n < asof_requests; n++)); do
    curl -sf -o /dev/null -w '%{time_total}\n' "$server_base/healthz"
  done >"$out_dir/audit-healthz-$backend.txt"
  local asof_ms healthz_ms
  asof_ms="$(median_ms "$out_dir/audit-asof-$backend.txt")"
  healthz_ms="$(median_ms "$out_dir/audit-healthz-$backend.txt")"
  stop_server
  env "${scratch_env[@]}" "$run_bin" audit seal audit --json >/dev/null
  local events verify_rate export_rate rebuild_out rebuild_rate phases
  events="$(env "${scratch_env[@]}" "$run_bin" audit verify audit --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["verified"])')"
  start="$(now)"; env "${scratch_env[@]}" "$run_bin" audit verify audit >/dev/null; end="$(now)"
  verify_rate="$(per_second "$events" "$start" "$end")"
  start="$(now)"; env "${scratch_env[@]}" "$run_bin" audit export audit >"$out_dir/audit-export.jsonl"; end="$(now)"
  export_rate="$(per_second "$(wc -l <"$out_dir/audit-export.jsonl")" "$start" "$end")"
  rm -f "$out_dir/audit-export.jsonl"
  # The rebuild reports its own rate on its last line of stderr, and its phases before (when
  # the revision reports them).
  rebuild_out="$(env "${scratch_env[@]}" "$run_bin" rebuild 2>&1 >/dev/null)"
  rebuild_rate="$(sed -n 's/.*(\([0-9]*\) events\/s).*/\1/p' <<<"$rebuild_out")"
  phases="$(sed -n 's/^rebuild: read \(.*\)$/read \1/p' <<<"$rebuild_out")"
  drop_scratch_database "$backend"
  echo "| $backend | $label | $events | $import_rate | $verify_rate | $export_rate | $asof_ms | $healthz_ms | $rebuild_rate | ${phases:-not reported} |"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$label" "$import_rate" "$verify_rate" "$export_rate" "$asof_ms" "$rebuild_rate" >>"$out_dir/audit-figures.tsv"
}

echo "## Audit (issue 13)"
echo
echo "$users users imported through /Bulk (userName, name, a work email: personal fields encrypted"
echo "where the revision encrypts them), then one user changed 999 times: about $((users + 1000)) events."
echo
echo "| backend | binary | events | import users/s | verify events/s | export events/s | as-of median ms (user with 1,000 events) | /healthz median ms | rebuild events/s | rebuild phases |"
echo "|---|---|---|---|---|---|---|---|---|---|"
: >"$out_dir/audit-figures.tsv"
for backend in $backends; do
  for run in "${runs[@]}"; do
    measure "$backend" "${run%%=*}" "${run#*=}"
  done
done
if [ "${#runs[@]}" -gt 1 ]; then
  echo
  echo "This revision's figures as ratios to each baseline's, same run (above 1: this revision is faster;"
  echo "for as-of, the baseline's latency over this revision's):"
  echo
  echo "| backend | against | import | verify | export | as-of | rebuild |"
  echo "|---|---|---|---|---|---|---|"
  python3 - "$out_dir/audit-figures.tsv" <<'EOF'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
ours = {r[0]: r for r in rows if r[1] == "this revision"}
for r in rows:
    if r[1] == "this revision":
        continue
    o = ours[r[0]]
    ratio = lambda i, inverse=False: f"{(float(r[i]) / float(o[i]) if inverse else float(o[i]) / float(r[i])):.2f}" if r[i] and o[i] else "n/a"
    print(f"| {r[0]} | {r[1]} | {ratio(2)} | {ratio(3)} | {ratio(4)} | {ratio(5, True)} | {ratio(6)} |")
EOF
fi
