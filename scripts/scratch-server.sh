# Sourced by bench.sh and conformance.sh: a scimledger server on a scratch database of one
# backend, a tenant on it, and a connection token. Expects SCIMLEDGER_TEST_DATABASE_URL (from
# with-test-services.sh) for PostgreSQL; its scratch databases are dropped when that script ends.

scratch_env=()   # the environment that points scimledger at the scratch database
server_pid=""
server_base=""

# scratch_database BACKEND PURPOSE: fills scratch_env.
scratch_database() {
  case "$1" in
    sqlite) scratch_env=(SCIMLEDGER_DATA_DIR="$(mktemp -d)" SCIMLEDGER_DATABASE_URL=) ;;
    postgres)
      local name="scimledger_${2}_${SCIMLEDGER_TEST_RUN}_$$"
      psql "$SCIMLEDGER_TEST_DATABASE_URL" -qc "CREATE DATABASE $name" >/dev/null
      scratch_env=(SCIMLEDGER_DATABASE_URL="${SCIMLEDGER_TEST_DATABASE_URL%/*}/$name") ;;
    *) echo "unknown backend $1" >&2; return 2 ;;
  esac
}

# drop_scratch_database BACKEND: removes what scratch_database made, as soon as it is measured
# (the disk is shared).
drop_scratch_database() {
  case "$1" in
    sqlite) rm -rf "${scratch_env[0]#*=}" ;;
    postgres) psql "$SCIMLEDGER_TEST_DATABASE_URL" -qc "DROP DATABASE \"${scratch_env[0]##*/}\" WITH (FORCE)" >/dev/null ;;
  esac
}

# json_token: the `token` of the JSON on stdin (what `… create --json` prints).
json_token() {
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

# start_server BINARY LOG: starts `serve` on a free port; sets server_pid and server_base.
start_server() {
  env "${scratch_env[@]}" SCIMLEDGER_LISTEN=127.0.0.1:0 RUST_LOG=warn "$1" serve >"$2" 2>&1 &
  server_pid=$!
  server_base=""
  for _ in $(seq 1 100); do
    server_base="$(sed -n 's/^scimledger listening on //p' "$2" | head -n1)"
    [ -n "$server_base" ] && return 0
    sleep 0.1
  done
  cat "$2" >&2
  echo "the server did not start" >&2
  return 1
}

stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}

# tenant_token BINARY TENANT CONNECTION: creates both and prints the connection's token.
tenant_token() {
  env "${scratch_env[@]}" "$1" tenant create "$2" >/dev/null
  connection_token "$@"
}

# connection_token BINARY TENANT CONNECTION [FLAG…]: creates the connection of an existing
# tenant and prints its token.
connection_token() {
  env "${scratch_env[@]}" SCIMLEDGER_PUBLIC_URL="$server_base" "$1" connection create "$2" --name "$3" "${@:4}" --json | json_token
}
