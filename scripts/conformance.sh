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
server_bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/scimledger"
# shellcheck source=scripts/scratch-server.sh
. scripts/scratch-server.sh
trap stop_server EXIT

failed=0
for backend in $backends; do
  scratch_database "$backend" conformance
  start_server "$server_bin" "$(mktemp)"
  token="$(tenant_token "$server_bin" conformance suites)"
  echo "== conformance on $backend =="
  SCIM_TOKEN="$token" ../shared/conformance/run.sh "$server_base/scim/v2/conformance" || failed=1
  stop_server
done
exit "$failed"
