#!/usr/bin/env bash
# `make bench`: an IdP-like load (../shared/scimload) against the release build, on each
# backend, written to docs/benchmarks.md with the machine and the date.
#
# Knobs: BENCH_USERS (10000), BENCH_CONCURRENCY (32), BENCH_LOOKUPS (20000),
# BENCH_BACKENDS ("sqlite postgres"), BENCH_RELAY (1: also run scripts/bench-relay.sh, whose
# knobs are RELAY_BACKLOG and RELAY_IMPORT_USERS); the look-up and scale sections have their own
# (BENCH_LOOKUP_* in scripts/bench-lookups.sh, BENCH_SCALE_* in scripts/bench-scale.sh).
# PostgreSQL and NATS come from scripts/with-test-services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

users="${BENCH_USERS:-10000}"
concurrency="${BENCH_CONCURRENCY:-32}"
lookups="${BENCH_LOOKUPS:-20000}"
backends="${BENCH_BACKENDS:-sqlite postgres}"
scimload_dir="${SCIMLOAD_DIR:-../shared/scimload}"
out_dir="target/bench"
mkdir -p "$out_dir"

if [ -z "${SCIMLEDGER_TEST_DATABASE_URL:-}" ]; then
  exec scripts/with-test-services.sh "$0" "$@"
fi

cargo build --release -p scimledger
CARGO_TARGET_DIR="$PWD/target/scimload" cargo build --release --manifest-path "$scimload_dir/Cargo.toml"
server_bin="${CARGO_TARGET_DIR:-$PWD/target}/release/scimledger"
scimload_bin="$PWD/target/scimload/release/scimload"

# shellcheck source=scripts/scratch-server.sh
. scripts/scratch-server.sh
trap stop_server EXIT

run_backend() {
  local backend="$1"
  scratch_database "$backend" bench
  start_server "$server_bin" "$out_dir/server-$backend.log"
  local token
  token="$(tenant_token "$server_bin" bench scimload)"
  echo "bench: $backend: $users users, concurrency $concurrency" >&2
  "$scimload_bin" --base-url "$server_base/scim/v2/bench" --token "$token" \
    --users "$users" --concurrency "$concurrency" --lookups "$lookups" --json "$out_dir/$backend.json" \
    | tee "$out_dir/$backend.txt"
  stop_server
}

for backend in $backends; do
  run_backend "$backend"
done

# Look-ups and paging at 100,000 users (issue 4; knobs BENCH_LOOKUP_* in the script): its own
# servers and scratch databases, and the last section of docs/benchmarks.md.
scripts/bench-lookups.sh "$out_dir"
# Large groups, the 20,000-email PATCH and deep pages (issue 10; knobs BENCH_SCALE_* in the
# script): its own servers and scratch databases, the section after the look-ups.
scripts/bench-scale.sh "$out_dir"
# Purging a connection of BENCH_PURGE_USERS users under another connection's requests (issue 9).
scripts/bench-purge.sh "$out_dir"
# The access look-up at BENCH_ACCESS_USERS users against /healthz, RSS, start-up, lag (issue 11).
scripts/bench-access.sh "$out_dir"
# The enrollment mailer and the assets subscriber (issue 12; knobs BENCH_SUB_*).
scripts/bench-subscribers.sh "$out_dir"
# The audit: import, verify and export rates, as-of latency, rebuild (issue 13; knobs
# BENCH_AUDIT_*; BENCH_AUDIT_BASELINES: space-separated LABEL=BINARY builds of earlier revisions
# measured beside this one, e.g. the last one without encryption).
read -ra audit_baselines <<<"${BENCH_AUDIT_BASELINES:-}"
{ echo; scripts/bench-audit.sh "$server_bin" "$out_dir" "${audit_baselines[@]}"; } > "$out_dir/audit.md"

python3 scripts/bench_report.py "$out_dir" $backends > docs/benchmarks.md
cat "$out_dir/lookups.md" "$out_dir/scale.md" "$out_dir/purge.md" "$out_dir/access.md" "$out_dir/subscribers.md" "$out_dir/audit.md" >> docs/benchmarks.md
if [ "${BENCH_RELAY:-1}" = 1 ]; then
  stop_server
  { echo; scripts/bench-relay.sh "$server_bin"; } >> docs/benchmarks.md
fi
echo "bench: wrote docs/benchmarks.md" >&2
