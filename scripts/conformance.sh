#!/usr/bin/env bash
# `make conformance`: the third-party SCIM suites (../shared/conformance/run.sh) against a
# server on a scratch database of each backend. Exits non-zero if any suite reports a failure,
# and also when a suite did not run at all (no Python venv, the checkers' pip install failed,
# the harness missing): a run that checked nothing must not pass.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SCIMLEDGER_TEST_DATABASE_URL:-}" ]; then
  exec scripts/with-test-services.sh "$0" "$@"
fi

die() { echo "conformance: FAILED: $*" >&2; exit 1; }

harness=../shared/conformance/run.sh
[ -x "$harness" ] || [ -f "$harness" ] || die "$harness is missing: the suites live in shared/ beside the repository"

# The harness makes its own venv and pip-installs the pinned checkers into it on first use;
# Debian's python3 needs python3-venv for that.
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "conformance: installing python3-venv with apt-get" >&2
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv; } >&2 ||
      die "python3-venv could not be installed; the conformance checkers need a Python venv"
  fi
  python3 -c 'import venv, ensurepip' 2>/dev/null || die "python3 with the venv module is needed to install the conformance checkers"
fi

backends="${CONFORMANCE_BACKENDS:-sqlite postgres}"
cargo build -p scimledger
server_bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/scimledger"
# shellcheck source=scripts/scratch-server.sh
. scripts/scratch-server.sh
trap stop_server EXIT

failed=0
totals=(0 0 0)
summaries=()

# run_suites BACKEND LABEL CHECKERS [SETTING=VALUE...]: the CHECKERS against a fresh server.
run_suites() {
  local backend="$1" label="$2" checkers="$3"
  shift 3
  scratch_database "$backend" "conformance_${label//-/_}"
  scratch_env+=("$@")
  start_server "$server_bin" "$(mktemp)"
  token="$(tenant_token "$server_bin" conformance suites)"
  echo "== conformance on $backend ($label: $checkers) =="
  output="$(mktemp)"
  rc=0
  SCIM_TOKEN="$token" CONFORMANCE_CHECKERS="$checkers" bash "$harness" "$server_base/scim/v2/conformance" 2>&1 | tee "$output" || rc=$?
  stop_server
  line="$(grep -E '^conformance: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$output" | tail -n1 || true)"
  if [ -z "$line" ]; then
    echo "conformance on $backend: FAILED: the suites did not run (the harness exited $rc before its summary;" \
      "if its pip install of the checkers failed, the reason is above)" >&2
    failed=1
    totals[1]=$((totals[1] + 1))
    summaries+=("$backend, $label: did not run (counted as 1 failed)")
    return
  fi
  read -r p f s < <(sed -E 's/^conformance: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/' <<<"$line")
  if [ "$p" -eq 0 ]; then
    echo "conformance on $backend: FAILED: no check passed, so nothing was checked" >&2
    failed=1
  fi
  [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] || failed=1
  totals=($((totals[0] + p)) $((totals[1] + f)) $((totals[2] + s)))
  summaries+=("$backend, $label: $p passed, $f failed, $s skipped")
}

# scim-sanity fails a group PATCH that answers 204, which RFC 7644 §3.5.2 allows and the
# server answers by default: it runs against a server set to answer 200 with the group
# (ADR 0031); the other suites check the default.
for backend in $backends; do
  run_suites "$backend" default "scim2-tester auth-probe"
  run_suites "$backend" group-patch-resource "scim-sanity" SCIMLEDGER_GROUP_PATCH_RESPONSE=resource
done

echo "== conformance summary =="
printf '%s\n' "${summaries[@]}"
echo "conformance: ${totals[0]} passed, ${totals[1]} failed, ${totals[2]} skipped"
exit "$failed"
