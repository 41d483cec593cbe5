#!/usr/bin/env bash
# `make bench`: an IdP-like load (../shared/scimload) against the release build, on each
# backend, written to docs/benchmarks.md with the machine and the date.
#
# Knobs: BENCH_USERS (10000), BENCH_CONCURRENCY (32), BENCH_LOOKUPS (20000),
# BENCH_BACKENDS ("sqlite postgres"). PostgreSQL comes from scripts/with-test-services.sh.
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
server_bin="$PWD/target/release/scimledger"
scimload_bin="$PWD/target/scimload/release/scimload"

server_pid=""
stop_server() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""; fi; }
trap stop_server EXIT

fresh_postgres_url() {
  local name="scimledger_bench_$(date +%s)_$$"
  psql "$SCIMLEDGER_TEST_DATABASE_URL" -qc "CREATE DATABASE $name" >/dev/null
  echo "${SCIMLEDGER_TEST_DATABASE_URL%/*}/$name"
}

run_backend() {
  local backend="$1" env_args=() data_dir
  case "$backend" in
    sqlite) data_dir="$(mktemp -d)"; env_args=(SCIMLEDGER_DATA_DIR="$data_dir" SCIMLEDGER_DATABASE_URL=) ;;
    postgres) env_args=(SCIMLEDGER_DATABASE_URL="$(fresh_postgres_url)") ;;
  esac
  local log="$out_dir/server-$backend.log"
  env "${env_args[@]}" SCIMLEDGER_LISTEN=127.0.0.1:0 RUST_LOG=warn "$server_bin" serve >"$log" 2>&1 &
  server_pid=$!
  local base=""
  for _ in $(seq 1 100); do
    base="$(sed -n 's/^scimledger listening on //p' "$log" | head -n1)"
    [ -n "$base" ] && break
    sleep 0.1
  done
  [ -n "$base" ] || { cat "$log" >&2; echo "bench: the $backend server did not start" >&2; exit 1; }
  env "${env_args[@]}" "$server_bin" tenant create bench >/dev/null
  local issued token
  issued="$(env "${env_args[@]}" SCIMLEDGER_PUBLIC_URL="$base" "$server_bin" connection create bench --name scimload --json)"
  token="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$issued")"
  echo "bench: $backend: $users users, concurrency $concurrency" >&2
  SCIM_TOKEN="$token" "$scimload_bin" --base-url "$base/scim/v2/bench" --token "$token" \
    --users "$users" --concurrency "$concurrency" --lookups "$lookups" --json "$out_dir/$backend.json" \
    | tee "$out_dir/$backend.txt"
  stop_server
}

for backend in $backends; do
  run_backend "$backend"
done

python3 scripts/bench_report.py "$out_dir" $backends > docs/benchmarks.md
echo "bench: wrote docs/benchmarks.md" >&2
