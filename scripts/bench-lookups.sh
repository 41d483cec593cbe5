#!/usr/bin/env bash
# Part of `make bench` (issue 4): filter look-ups and paging at 100,000 users, on each backend.
#
#   scripts/bench-lookups.sh [OUT_DIR]
#
# Seeds the users through /Bulk on a scratch database, measures the four IdP look-ups
# (userName, externalId, work email, alias) with wrk at each concurrency beside a /healthz
# baseline measured the same way (the ratios are the figures to compare between runs), index and cursor pages
# at the start and 90% deep, and on PostgreSQL captures the statements the server runs and their
# EXPLAIN ANALYZE. Writes OUT_DIR/lookups.md (default target/bench), the section that bench.sh
# appends to docs/benchmarks.md; the raw figures stay in OUT_DIR/lookups-*.json.
#
# Knobs: BENCH_LOOKUP_BACKENDS ("postgres sqlite"), BENCH_LOOKUP_USERS (100000),
# BENCH_LOOKUP_SECONDS (10, per filter kind and concurrency), BENCH_LOOKUP_WARMUP (3),
# BENCH_LOOKUP_PAGE_REPS (20), BENCH_LOOKUP_CONCURRENCIES ("32 8"), BENCH_LOOKUP_BULK_PARALLEL
# (4), BENCH_LOOKUP_SLOW_MS (100: a filter kind slower than this alone is reported, not loaded),
# BENCH_PG_LOG (PostgreSQL's log file; found from the server's settings when unset).
# The plans need a PostgreSQL superuser (statement logging is set per database) and read access
# to its log on this machine; the script fails loudly without them.
set -euo pipefail
cd "$(dirname "$0")/.."

out_dir="${1:-target/bench}"
backends="${BENCH_LOOKUP_BACKENDS:-postgres sqlite}"
users="${BENCH_LOOKUP_USERS:-100000}"
seconds="${BENCH_LOOKUP_SECONDS:-10}"
warmup="${BENCH_LOOKUP_WARMUP:-3}"
page_reps="${BENCH_LOOKUP_PAGE_REPS:-20}"
concurrencies="${BENCH_LOOKUP_CONCURRENCIES:-32 8}"
bulk_parallel="${BENCH_LOOKUP_BULK_PARALLEL:-4}"
slow_ms="${BENCH_LOOKUP_SLOW_MS:-100}"
wrk_threads=2
path_count=20000
mkdir -p "$out_dir"

if [ -z "${SCIMLEDGER_TEST_DATABASE_URL:-}" ]; then
  exec scripts/with-test-services.sh "$0" "$@"
fi

if ! command -v wrk >/dev/null; then
  echo "bench-lookups: installing wrk" >&2
  { apt-get update -qq && apt-get install -y -qq wrk; } >&2 || { echo "bench-lookups: wrk is missing and could not be installed (apt-get install wrk)" >&2; exit 1; }
fi

cargo build --release -p scimledger
server_bin="${CARGO_TARGET_DIR:-$PWD/target}/release/scimledger"
helper=(python3 scripts/bench_lookups.py)

# shellcheck source=scripts/scratch-server.sh
. scripts/scratch-server.sh
trap stop_server EXIT

# PostgreSQL logs to stderr on Debian's clusters (/var/log/postgresql/postgresql-<version>-
# <cluster>.log) and on with-test-services.sh's throwaway instance (postgres.log beside its
# data directory), to a file of its own with the logging collector.
pg_log_file() {
  if [ -n "${BENCH_PG_LOG:-}" ]; then echo "$BENCH_PG_LOG"; return; fi
  local current data
  current="$(psql -X -Atc 'select pg_current_logfile()' "$1")"
  data="$(psql -X -Atc 'show data_directory' "$1")"
  if [ -n "$current" ]; then
    case "$current" in /*) echo "$current" ;; *) echo "$data/$current" ;; esac
  elif [[ "$data" =~ ^/var/lib/postgresql/([^/]+)/([^/]+)$ ]]; then
    echo "/var/log/postgresql/postgresql-${BASH_REMATCH[1]}-${BASH_REMATCH[2]}.log"
  else
    echo "$(dirname "$data")/postgres.log"
  fi
}

# wrk_run KIND CONCURRENCY DURATION [RESULT]: look-ups of one kind; RESULT gets the JSON.
wrk_run() {
  local output
  output="$(BENCH_PATHS="$out_dir/paths-$1.txt" wrk -t "$wrk_threads" -c "$2" -d "${3}s" --timeout 5s \
    -H "Authorization: Bearer $token" -s scripts/bench-lookups.lua "$server_base")"
  if [ -n "${4:-}" ]; then
    sed -n 's/^BENCH_JSON //p' <<<"$output" >"$4"
    [ -s "$4" ] || { echo "$output" >&2; echo "bench-lookups: wrk gave no figures" >&2; exit 1; }
  fi
}

run_backend() {
  local backend="$1" base
  scratch_database "$backend" bench
  start_server "$server_bin" "$out_dir/lookups-server-$backend.log"
  token="$(tenant_token "$server_bin" bench lookups)"
  base="$server_base/scim/v2/bench"

  echo "bench-lookups: $backend: seeding $users users" >&2
  "${helper[@]}" seed "$base" "$token" "$users" "$bulk_parallel" "$out_dir/lookups-$backend-seed.json"
  if [ "$backend" = postgres ]; then
    psql -X -qc 'VACUUM ANALYZE' "${scratch_env[0]#*=}"
  fi
  local kinds
  kinds="$("${helper[@]}" paths "$base" "$token" "$users" "$path_count" "$slow_ms" "$out_dir" "$out_dir/lookups-$backend-alone.json")"

  wrk_run userName 8 "$warmup"
  # The baseline of each concurrency: an endpoint with no store and no auth, through the same
  # wrk and the same server in the same minute, since this machine's speed moves between hours.
  printf '/healthz\n' >"$out_dir/paths-healthz.txt"
  for concurrency in $concurrencies; do
    echo "bench-lookups: $backend: /healthz (baseline) at concurrency $concurrency" >&2
    wrk_run healthz "$concurrency" "$seconds" "$out_dir/lookups-$backend-healthz-c$concurrency.json"
    for kind in $kinds; do
      echo "bench-lookups: $backend: $kind look-ups at concurrency $concurrency" >&2
      wrk_run "$kind" "$concurrency" "$seconds" "$out_dir/lookups-$backend-$kind-c$concurrency.json"
      "${helper[@]}" settle "$base" "$token" "$out_dir/lookups-$backend-alone.json"
    done
  done

  echo "bench-lookups: $backend: pages" >&2
  "${helper[@]}" paging "$base" "$token" "$users" "$page_reps" "$out_dir/lookups-$backend-paging.json"

  if [ "$backend" = postgres ]; then
    # Statement logging only for a few requests: a fresh pool picks the setting up.
    local dburl="${scratch_env[0]#*=}" log
    log="$(pg_log_file "$dburl")"
    [ -r "$log" ] || { echo "bench-lookups: cannot read PostgreSQL's log $log (set BENCH_PG_LOG)" >&2; exit 1; }
    stop_server
    psql -X -qc "ALTER DATABASE \"${dburl##*/}\" SET log_min_duration_statement = 0" "$dburl"
    start_server "$server_bin" "$out_dir/lookups-server-$backend-plans.log"
    echo "bench-lookups: $backend: plans from $log" >&2
    "${helper[@]}" plans "$server_base/scim/v2/bench" "$token" "$users" "$log" "$dburl" "$out_dir/lookups-$backend-plans.json"
    psql -X -qc "ALTER DATABASE \"${dburl##*/}\" RESET log_min_duration_statement" "$dburl"
  fi
  stop_server
}

rm -f "$out_dir"/lookups-*.json
for backend in $backends; do
  run_backend "$backend"
done

printf '{"users": %s, "seconds": %s, "warmup": %s, "page_reps": %s, "concurrencies": [%s], "bulk_parallel": %s, "slow_ms": %s, "wrk_threads": %s, "paths": %s}\n' \
  "$users" "$seconds" "$warmup" "$page_reps" "${concurrencies// /, }" "$bulk_parallel" "$slow_ms" "$wrk_threads" "$path_count" \
  >"$out_dir/lookups-config.json"
"${helper[@]}" report "$out_dir" $backends >"$out_dir/lookups.md"
echo "bench-lookups: wrote $out_dir/lookups.md" >&2
