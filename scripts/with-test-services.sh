#!/usr/bin/env bash
# Runs a command with a real PostgreSQL server and a real NATS server (JetStream) reachable.
#
#   scripts/with-test-services.sh CMD ARGS...
#
# Why: the test suite talks to real servers, never mocks, and must never be skipped for want of
# one. This script uses the servers already given (SCIMLEDGER_TEST_DATABASE_URL,
# SCIMLEDGER_TEST_NATS_URL); else, for PostgreSQL, the machine's own on 127.0.0.1:5432, and for
# NATS a throwaway nats-server when its binary is installed, the machine's own on 127.0.0.1:4222
# when not; else starts throwaway instances from the installed binaries (installing them with
# apt-get when root and they are missing), exports their URLs, runs CMD and exits with its
# status. It fails loudly when no server can be had, and stops only what it started.
#
# Exports: SCIMLEDGER_TEST_DATABASE_URL, SCIMLEDGER_TEST_NATS_URL, SCIMLEDGER_TEST_CHROMIUM and
# SCIMLEDGER_TEST_CHROMEDRIVER (headless Chromium for the console's browser test, installed
# with apt-get when root and missing), and when the binaries are found,
# SCIMLEDGER_TEST_POSTGRES_BIN_DIR and SCIMLEDGER_TEST_NATS_SERVER_BIN (for tests that start and
# stop their own instances).
# SCIMLEDGER_TEST_FORCE_THROWAWAY=1 starts throwaway instances even when local ones are up.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

# --- bookkeeping and cleanup -------------------------------------------------------------------

pg_dir=""      # temp dir of a throwaway PostgreSQL (data in $pg_dir/data)
pg_pid=""      # pid of its background launcher
pg_bin=""      # directory of its binaries
nats_dir=""    # temp dir of a throwaway nats-server
nats_pid=""    # its pid
as_pg_user=()  # prefix to run PostgreSQL binaries as a non-root user when we are root
cleaned=0

# shellcheck disable=SC2329  # invoked by trap
cleanup() {
  [ "$cleaned" = 1 ] && return 0
  cleaned=1
  drop_scratch_databases
  if [ -n "$nats_pid" ]; then
    kill "$nats_pid" 2>/dev/null || true
    wait "$nats_pid" 2>/dev/null || true
  fi
  if [ -n "$pg_pid" ]; then
    if [ -n "$pg_bin" ] && [ -d "$pg_dir/data" ]; then
      "${as_pg_user[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -t 30 stop >/dev/null 2>&1 || true
    fi
    if kill -0 "$pg_pid" 2>/dev/null; then kill "$pg_pid" 2>/dev/null || true; fi
    wait "$pg_pid" 2>/dev/null || true
  fi
  if [ -n "$nats_dir" ]; then rm -rf "$nats_dir"; fi
  if [ -n "$pg_dir" ]; then rm -rf "$pg_dir"; fi
}
# Tests, benchmarks and conformance runs each make their own databases
# (scimledger_<purpose>_<run>_…, <run> being SCIMLEDGER_TEST_RUN). Dropped when the run ends, so
# they do not pile up on a shared server, where autovacuum would visit every one of them; only
# this run's, so that runs side by side on one server do not pull databases from under each other.
# shellcheck disable=SC2329  # invoked by cleanup
drop_scratch_databases() {
  [ -n "${SCIMLEDGER_TEST_DATABASE_URL:-}" ] && command -v psql >/dev/null || return 0
  psql "$SCIMLEDGER_TEST_DATABASE_URL" -Atqc \
    "select datname from pg_database where datname ~ '^scimledger_(test|e2e|bench|conformance|prof)_${SCIMLEDGER_TEST_RUN}_'" 2>/dev/null |
    while read -r name; do
      psql "$SCIMLEDGER_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
}
child_pid=""   # the command being run
# On INT/TERM: pass the signal on to the command, let it finish, then clean up and exit.
# shellcheck disable=SC2329  # invoked by trap
on_signal() {
  if [ -n "$child_pid" ] && kill -0 "$child_pid" 2>/dev/null; then
    kill -s "$1" "$child_pid" 2>/dev/null || true
    wait "$child_pid" 2>/dev/null || true
  fi
  exit "$2"
}
# Names this run's scratch databases (see drop_scratch_databases).
export SCIMLEDGER_TEST_RUN="${SCIMLEDGER_TEST_RUN:-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')}"
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

die() {
  {
    echo "************************************************************************"
    echo "with-test-services: ERROR: $*"
    echo "************************************************************************"
  } >&2
  exit 1
}
say() { echo "test services: $*" >&2; }
force_throwaway() { [ "${SCIMLEDGER_TEST_FORCE_THROWAWAY:-0}" = 1 ]; }
is_root() { [ "$(id -u)" = 0 ]; }

# A URL with any password replaced, fit for printing.
redact() { printf '%s' "$1" | sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#'; }

# Prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local port _
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}

apt_install() {
  if is_root && command -v apt-get >/dev/null 2>&1; then
    say "installing $* with apt-get"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"; } >&2 || return 1
  else
    return 1
  fi
}

# --- PostgreSQL --------------------------------------------------------------------------------

has_pg_bins() { [ -x "$1/initdb" ] && [ -x "$1/postgres" ] && [ -x "$1/pg_ctl" ]; }

# Prints the directory holding initdb, postgres and pg_ctl: PATH first (symlinks resolved, so the
# directory also holds the other client tools), then /usr/lib/postgresql/*/bin newest first, then
# /usr/local/bin.
postgres_bin_dir() {
  local found candidate
  if found="$(command -v initdb 2>/dev/null)"; then
    candidate="$(dirname "$(readlink -f "$found")")"
    if has_pg_bins "$candidate"; then echo "$candidate"; return 0; fi
    candidate="$(dirname "$found")"
    if has_pg_bins "$candidate"; then echo "$candidate"; return 0; fi
  fi
  for candidate in $(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -rV) /usr/local/bin; do
    if has_pg_bins "$candidate"; then echo "$candidate"; return 0; fi
  done
  return 1
}

pg_isready_bin() {
  if [ -n "$pg_bin" ] && [ -x "$pg_bin/pg_isready" ]; then echo "$pg_bin/pg_isready"; else command -v pg_isready; fi
}

local_postgres_up() {
  local isready
  isready="$(pg_isready_bin 2>/dev/null)" || return 1
  command -v psql >/dev/null 2>&1 || return 1
  "$isready" -q -h 127.0.0.1 -p 5432 -t 3 >/dev/null 2>&1 || return 1
  PGCONNECT_TIMEOUT=5 psql -w -X -Atq "postgres://postgres@127.0.0.1:5432/postgres" -c 'select 1' >/dev/null 2>&1
}

start_postgres() {
  local port isready _
  pg_bin="$(postgres_bin_dir)" || { apt_install postgresql && pg_bin="$(postgres_bin_dir)"; } \
    || die "no PostgreSQL server binaries (initdb, postgres, pg_ctl) found and none could be installed; the tests need a real PostgreSQL"
  pg_dir="$(mktemp -d)"
  if is_root; then
    # PostgreSQL refuses to run as root.
    if ! id postgres >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin postgres || useradd --system postgres \
        || die "could not create the postgres system user"
    fi
    chown postgres "$pg_dir"
    as_pg_user=(runuser -u postgres --)
  fi
  (cd "$pg_dir" && "${as_pg_user[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres) >"$pg_dir/initdb.log" 2>&1 \
    || { cat "$pg_dir/initdb.log" >&2; die "initdb failed (log above)"; }
  port="$(free_port)" || die "no free TCP port for PostgreSQL"
  # TLS with a self-signed certificate for localhost, as the machine's PostgreSQL has: the TLS
  # tests (libs/store/tests/tls.rs) connect with sslmode=require and verify-full.
  command -v openssl >/dev/null 2>&1 || apt_install openssl || die "no openssl to make the throwaway PostgreSQL's certificate"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost -addext basicConstraints=critical,CA:FALSE \
    -keyout "$pg_dir/server.key" -out "$pg_dir/server.crt" >/dev/null 2>&1 || die "openssl could not make a certificate"
  chmod 600 "$pg_dir/server.key"
  if is_root; then chown postgres "$pg_dir/server.key" "$pg_dir/server.crt"; fi
  (cd "$pg_dir" && exec "${as_pg_user[@]}" "$pg_bin/postgres" -D "$pg_dir/data" -p "$port" -k "$pg_dir" \
    -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=300 \
    -c ssl=on -c ssl_cert_file="$pg_dir/server.crt" -c ssl_key_file="$pg_dir/server.key") >"$pg_dir/postgres.log" 2>&1 </dev/null &
  pg_pid=$!
  isready="$(pg_isready_bin)" || isready=""
  for _ in $(seq 1 150); do
    if [ -n "$isready" ]; then
      "$isready" -q -h 127.0.0.1 -p "$port" -t 1 >/dev/null 2>&1 && break
    elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      break
    fi
    kill -0 "$pg_pid" 2>/dev/null || break
    sleep 0.2
  done
  if ! kill -0 "$pg_pid" 2>/dev/null \
    || { [ -n "$isready" ] && ! "$isready" -q -h 127.0.0.1 -p "$port" -t 1 >/dev/null 2>&1; }; then
    cat "$pg_dir/postgres.log" >&2 || true
    die "throwaway PostgreSQL on 127.0.0.1:$port did not become ready within 30 s (log above)"
  fi
  export SCIMLEDGER_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  say "postgres at 127.0.0.1:$port (throwaway, data in $pg_dir)"
}

if [ -n "${SCIMLEDGER_TEST_DATABASE_URL:-}" ]; then
  say "postgres at $(redact "$SCIMLEDGER_TEST_DATABASE_URL") (given)"
elif ! force_throwaway && local_postgres_up; then
  export SCIMLEDGER_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  say "postgres at 127.0.0.1:5432 (existing)"
else
  start_postgres
fi
if [ -z "${SCIMLEDGER_TEST_POSTGRES_BIN_DIR:-}" ]; then
  SCIMLEDGER_TEST_POSTGRES_BIN_DIR="${pg_bin:-$(postgres_bin_dir || true)}"
fi
if [ -n "$SCIMLEDGER_TEST_POSTGRES_BIN_DIR" ]; then
  export SCIMLEDGER_TEST_POSTGRES_BIN_DIR
else
  unset SCIMLEDGER_TEST_POSTGRES_BIN_DIR
fi

# --- NATS with JetStream -----------------------------------------------------------------------

nats_server_bin() {
  local found candidate
  if found="$(command -v nats-server 2>/dev/null)"; then readlink -f "$found"; return 0; fi
  for candidate in /usr/sbin/nats-server /usr/bin/nats-server /usr/local/bin/nats-server; do
    if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

# True when 127.0.0.1:PORT greets like a NATS server with JetStream on: an INFO line containing
# "jetstream":true. (The HTTP monitor port may be off, so it is not consulted.)
nats_jetstream_at() {
  local line=""
  line="$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    IFS= read -r -t 3 info <&3 || exit 1
    printf '%s' "$info"
  )" || return 1
  case "$line" in
    INFO*'"jetstream":true'*) return 0 ;;
    *) return 1 ;;
  esac
}

start_nats() {
  local bin port _
  bin="$(nats_server_bin)" || { apt_install nats-server && bin="$(nats_server_bin)"; } \
    || die "no nats-server binary found and none could be installed; the tests need a real NATS server with JetStream"
  nats_dir="$(mktemp -d)"
  port="$(free_port)" || die "no free TCP port for nats-server"
  "$bin" -a 127.0.0.1 -p "$port" -js -sd "$nats_dir/jetstream" -l "$nats_dir/nats.log" </dev/null >/dev/null 2>&1 &
  nats_pid=$!
  for _ in $(seq 1 100); do
    nats_jetstream_at "$port" && break
    kill -0 "$nats_pid" 2>/dev/null || break
    sleep 0.2
  done
  if ! nats_jetstream_at "$port"; then
    cat "$nats_dir/nats.log" >&2 2>/dev/null || true
    die "throwaway nats-server on 127.0.0.1:$port did not answer with JetStream within 20 s (log above)"
  fi
  export SCIMLEDGER_TEST_NATS_URL="nats://127.0.0.1:$port"
  SCIMLEDGER_TEST_NATS_SERVER_BIN="${SCIMLEDGER_TEST_NATS_SERVER_BIN:-$bin}"
  say "nats at 127.0.0.1:$port (throwaway, JetStream in $nats_dir)"
}

# A throwaway nats-server whenever its binary is here: JetStream streams are server-wide (unlike
# PostgreSQL, where each test makes its own database), and a stream on a developer's server whose
# subjects overlap scimledger.> (a local `serve`'s default) would refuse the tests' streams.
if [ -n "${SCIMLEDGER_TEST_NATS_URL:-}" ]; then
  say "nats at $(redact "$SCIMLEDGER_TEST_NATS_URL") (given)"
elif nats_server_bin >/dev/null; then
  start_nats
elif ! force_throwaway && nats_jetstream_at 4222; then
  export SCIMLEDGER_TEST_NATS_URL="nats://127.0.0.1:4222"
  say "nats at 127.0.0.1:4222 (existing)"
else
  start_nats
fi
if [ -z "${SCIMLEDGER_TEST_NATS_SERVER_BIN:-}" ]; then
  SCIMLEDGER_TEST_NATS_SERVER_BIN="$(nats_server_bin)" || SCIMLEDGER_TEST_NATS_SERVER_BIN=""
fi
if [ -n "$SCIMLEDGER_TEST_NATS_SERVER_BIN" ]; then
  export SCIMLEDGER_TEST_NATS_SERVER_BIN
else
  unset SCIMLEDGER_TEST_NATS_SERVER_BIN
fi

# --- SMTP ----------------------------------------------------------------------------------------

# The enrollment tests start their own SMTP server per test (tests/support/smtp_sink.py), a
# Python aiosmtpd: install it when missing, and fail loudly when that cannot be done.
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  say "installing aiosmtpd (the tests' SMTP server) with pip"
  { python3 -m pip install --quiet aiosmtpd || python3 -m pip install --quiet --break-system-packages aiosmtpd; } >&2 ||
    die "cannot install the Python package aiosmtpd (the tests' SMTP server); install it (pip install aiosmtpd) and retry"
  python3 -c 'import aiosmtpd' 2>/dev/null || die "aiosmtpd was installed but python3 cannot import it"
fi
say "smtp: aiosmtpd $(python3 -c 'import aiosmtpd; print(aiosmtpd.__version__)')"

# --- a browser ----------------------------------------------------------------------------------

# The console's browser test (tests/tests/console.rs) drives Debian's headless Chromium over
# WebDriver with its chromedriver: install them when missing, and fail loudly when that cannot
# be done.
browser_bin() {
  local found
  for found in "$@"; do
    if command -v "$found" >/dev/null 2>&1; then command -v "$found"; return 0; fi
  done
  return 1
}
chromium_bin="${SCIMLEDGER_TEST_CHROMIUM:-$(browser_bin chromium chromium-browser || true)}"
chromedriver_bin="${SCIMLEDGER_TEST_CHROMEDRIVER:-$(browser_bin chromedriver || true)}"
if [ -z "$chromium_bin" ] || [ -z "$chromedriver_bin" ]; then
  apt_install chromium chromium-driver ||
    die "no chromium and chromedriver found and they could not be installed (Debian: apt-get install chromium chromium-driver); the console's browser test needs them"
  chromium_bin="$(browser_bin chromium chromium-browser)" || die "chromium was installed but is not on PATH"
  chromedriver_bin="$(browser_bin chromedriver)" || die "chromium-driver was installed but chromedriver is not on PATH"
fi
export SCIMLEDGER_TEST_CHROMIUM="$chromium_bin" SCIMLEDGER_TEST_CHROMEDRIVER="$chromedriver_bin"
say "browser: $("$chromium_bin" --version 2>/dev/null | head -1), $chromedriver_bin"

# --- the command -------------------------------------------------------------------------------

# Run in the background (same process group, same stdin, SIGINT/SIGQUIT not ignored) so that a
# TERM sent to this script is handled at once and passed on, instead of waiting for CMD to end.
( trap - INT QUIT; exec "$@" ) <&0 &
child_pid=$!
status=0
wait "$child_pid" || status=$?
exit "$status"
