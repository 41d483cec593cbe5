#!/usr/bin/env bash
# `make conformance`: the third-party SCIM suites (../shared/conformance/run.sh) against a
# server on a scratch database of each backend. Exits non-zero if any suite reports a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SCIMLEDGER_TEST_DATABASE_URL:-}" ]; then
  exec scripts/with-test-services.sh "$0" "$@"
fi

backends="${CONFORMANCE_BACKENDS:-sqlite postgres}"
cargo build -p scimledger
server_bin="$PWD/target/debug/scimledger"
server_pid=""
stop_server() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""; fi; }
trap stop_server EXIT

failed=0
for backend in $backends; do
  case "$backend" in
    sqlite) env_args=(SCIMLEDGER_DATA_DIR="$(mktemp -d)" SCIMLEDGER_DATABASE_URL=) ;;
    postgres)
      name="scimledger_conformance_$(date +%s)_$$"
      psql "$SCIMLEDGER_TEST_DATABASE_URL" -qc "CREATE DATABASE $name" >/dev/null
      env_args=(SCIMLEDGER_DATABASE_URL="${SCIMLEDGER_TEST_DATABASE_URL%/*}/$name") ;;
    *) echo "conformance: unknown backend $backend" >&2; exit 2 ;;
  esac
  log="$(mktemp)"
  env "${env_args[@]}" SCIMLEDGER_LISTEN=127.0.0.1:0 RUST_LOG=warn "$server_bin" serve >"$log" 2>&1 &
  server_pid=$!
  base=""
  for _ in $(seq 1 100); do
    base="$(sed -n 's/^scimledger listening on //p' "$log" | head -n1)"
    [ -n "$base" ] && break
    sleep 0.1
  done
  [ -n "$base" ] || { cat "$log" >&2; echo "conformance: the $backend server did not start" >&2; exit 1; }
  env "${env_args[@]}" "$server_bin" tenant create conformance >/dev/null
  token="$(env "${env_args[@]}" "$server_bin" connection create conformance --name suites --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
  echo "== conformance on $backend =="
  SCIM_TOKEN="$token" ../shared/conformance/run.sh "$base/scim/v2/conformance" || failed=1
  stop_server
done
exit "$failed"
