#!/usr/bin/env bash
# Part of `make bench` (issue 9): purging a connection that owns many users, and what another
# connection of the same tenant sees meanwhile, on each backend.
#
#   scripts/bench-purge.sh [OUT_DIR]
#
# Per backend, on a scratch database: BENCH_PURGE_USERS users seeded through /Bulk by the
# connection "doomed" (bench_lookups.py seed); then scripts/bench_purge.py measure: the other
# connection's GET/PATCH latency alone, then during `scimledger connection disable bench doomed
# --purge` (the CLI runs the purge to its end), and the purge's users/s.
# Writes OUT_DIR/purge.md (default target/bench); raw figures in OUT_DIR/purge-*.json.
#
# Knobs: BENCH_PURGE_USERS (100000), BENCH_PURGE_BACKENDS ("postgres sqlite"),
#   BENCH_PURGE_BULK_PARALLEL (4: /Bulk requests in flight while seeding)
set -euo pipefail
cd "$(dirname "$0")/.."

out_dir="${1:-target/bench}"
users="${BENCH_PURGE_USERS:-100000}"
backends="${BENCH_PURGE_BACKENDS:-postgres sqlite}"
bulk_parallel="${BENCH_PURGE_BULK_PARALLEL:-4}"
mkdir -p "$out_dir"

if [ -z "${SCIMLEDGER_TEST_DATABASE_URL:-}" ]; then
  exec scripts/with-test-services.sh "$0" "$@"
fi

cargo build --release -p scimledger
server_bin="${CARGO_TARGET_DIR:-$PWD/target}/release/scimledger"

# shellcheck source=scripts/scratch-server.sh
. scripts/scratch-server.sh
trap stop_server EXIT

rm -f "$out_dir"/purge-*.json
for backend in $backends; do
  scratch_database "$backend" bench
  start_server "$server_bin" "$out_dir/purge-server-$backend.log"
  doomed="$(tenant_token "$server_bin" bench doomed)"
  other="$(connection_token "$server_bin" bench other)"
  base="$server_base/scim/v2/bench"
  echo "bench-purge: $backend: seeding $users users" >&2
  python3 scripts/bench_lookups.py seed "$base" "$doomed" "$users" "$bulk_parallel" "$out_dir/purge-$backend-seed.json"
  if [ "$backend" = postgres ]; then
    psql -X -qc 'VACUUM ANALYZE' "${scratch_env[0]#*=}"
  fi
  echo "bench-purge: $backend: purging" >&2
  python3 scripts/bench_purge.py measure "$base" "$other" "$users" "$out_dir/purge-$backend.json" -- \
    env "${scratch_env[@]}" RUST_LOG=warn "$server_bin" connection disable bench doomed --purge
  stop_server
  drop_scratch_database "$backend"
done

# shellcheck disable=SC2086  # one argument per backend
python3 scripts/bench_purge.py report "$out_dir" $backends >"$out_dir/purge.md"
echo "bench-purge: wrote $out_dir/purge.md" >&2
