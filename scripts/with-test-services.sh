#!/usr/bin/env bash
# Runs a command with real PostgreSQL and NATS JetStream servers for the test suite.
#
#   scripts/with-test-services.sh CMD ARGS...
#
# The tests talk to real servers, never mocks. This uses the ones already given
# (SCIMLEDGER_TEST_DATABASE_URL, SCIMLEDGER_TEST_NATS_URL), else the machine's own on
# 127.0.0.1:5432 and :4222, else starts throwaway instances from the installed binaries
# (installing them with apt-get when root and they are missing). When none can be had it fails
# loudly: tests are never skipped for want of a server.
# SCIMLEDGER_TEST_FORCE_THROWAWAY=1 starts throwaway instances even when local ones run.
set -euo pipefail

started_pids=()
temp_dirs=()
pg_stop=()

cleanup() {
  if [ ${#pg_stop[@]} -gt 0 ]; then "${pg_stop[@]}" >/dev/null 2>&1 || true; fi
  for pid in "${started_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${started_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for dir in "${temp_dirs[@]}"; do rm -rf "$dir"; done
}
trap cleanup EXIT INT TERM

die() { echo "with-test-services: $*" >&2; exit 1; }
say() { echo "test services: $*" >&2; }
force_throwaway() { [ "${SCIMLEDGER_TEST_FORCE_THROWAWAY:-0}" = 1 ]; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $* with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >&2 || return 1
  else
    return 1
  fi
}

# --- PostgreSQL ----------------------------------------------------------------------------

postgres_bin_dir() {
  local candidate
  for candidate in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" /usr/lib/postgresql/*/bin /usr/local/bin; do
    if [ -x "$candidate/initdb" ] && [ -x "$candidate/postgres" ] && [ -x "$candidate/pg_ctl" ]; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

local_postgres_up() {
  command -v psql >/dev/null && psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1
}

start_postgres() {
  local bin dir port run_as=()
  bin="$(postgres_bin_dir)" || { apt_install postgresql && bin="$(postgres_bin_dir)"; } || die "no PostgreSQL server binaries (initdb, postgres) and none could be installed"
  dir="$(mktemp -d)"; temp_dirs+=("$dir")
  port="$(free_port)"
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$dir"
    run_as=(runuser -u postgres --)
  fi
  "${run_as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=on" start >/dev/null \
    || { cat "$dir/postgres.log" >&2; die "PostgreSQL did not start"; }
  pg_stop=("${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop)
  export SCIMLEDGER_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  say "postgres at 127.0.0.1:$port (throwaway)"
}

if [ -n "${SCIMLEDGER_TEST_DATABASE_URL:-}" ]; then
  say "postgres at \$SCIMLEDGER_TEST_DATABASE_URL (given)"
elif ! force_throwaway && local_postgres_up; then
  export SCIMLEDGER_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  say "postgres at 127.0.0.1:5432 (existing)"
else
  start_postgres
fi
if dir="$(postgres_bin_dir)"; then export SCIMLEDGER_TEST_POSTGRES_BIN_DIR="$dir"; fi

# --- NATS with JetStream ---------------------------------------------------------------------

nats_server_bin() {
  command -v nats-server 2>/dev/null || { for c in /usr/sbin/nats-server /usr/bin/nats-server /usr/local/bin/nats-server; do [ -x "$c" ] && { echo "$c"; return 0; }; done; return 1; }
}

# A NATS server greets with an INFO line; JetStream servers say "jetstream":true in it.
nats_jetstream_at() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
info = s.recv(4096).decode(errors="replace")
sys.exit(0 if info.startswith("INFO") and '"jetstream":true' in info else 1)
PY
}

start_nats() {
  local bin dir port
  bin="$(nats_server_bin)" || { apt_install nats-server && bin="$(nats_server_bin)"; } || die "no nats-server binary and none could be installed"
  dir="$(mktemp -d)"; temp_dirs+=("$dir")
  port="$(free_port)"
  "$bin" -a 127.0.0.1 -p "$port" -js -sd "$dir" -l "$dir/nats.log" &
  started_pids+=("$!")
  for _ in $(seq 1 100); do nats_jetstream_at "$port" && break; sleep 0.2; done
  nats_jetstream_at "$port" || { cat "$dir/nats.log" >&2 || true; die "nats-server did not start"; }
  export SCIMLEDGER_TEST_NATS_URL="nats://127.0.0.1:$port"
  say "nats at 127.0.0.1:$port (throwaway)"
}

if [ -n "${SCIMLEDGER_TEST_NATS_URL:-}" ]; then
  say "nats at \$SCIMLEDGER_TEST_NATS_URL (given)"
elif ! force_throwaway && nats_jetstream_at 4222; then
  export SCIMLEDGER_TEST_NATS_URL="nats://127.0.0.1:4222"
  say "nats at 127.0.0.1:4222 (existing)"
else
  start_nats
fi
if bin="$(nats_server_bin)"; then export SCIMLEDGER_TEST_NATS_SERVER_BIN="$bin"; fi

"$@"
