#!/usr/bin/env bash
# Part of `make bench` (issue 10): large groups, a huge PATCH and deep pages, on each backend.
#
#   scripts/bench-scale.sh [OUT_DIR]
#
# Per backend, on a scratch database: users seeded through /Bulk (bench_lookups.py seed), then,
# one request at a time (scripts/bench_scale.py measure):
#   - the baseline, GET /healthz through the same client, before and after the rest;
#   - pages of 100 by startIndex at page 1 and page BENCH_SCALE_DEEP_PAGE, and by cursor;
#   - one PATCH adding BENCH_SCALE_EMAILS emails to one user: its status and wall time;
#   - per group size, a group built by PATCHes of BENCH_SCALE_MEMBER_CHUNK members, then
#     BENCH_SCALE_PATCHES PATCHes each adding one new member: p50, p99.
# Writes OUT_DIR/scale.md (default target/bench), the section that bench.sh appends to
# docs/benchmarks.md; the raw figures stay in OUT_DIR/scale-*.json.
#
# Knobs (the issue's sizes by default; divide them by 100 while developing):
#   BENCH_SCALE_BACKENDS ("postgres sqlite")
#   BENCH_SCALE_GROUP_SIZES ("1000 10000 100000": members of each group measured)
#   BENCH_SCALE_PATCHES (50: one-member PATCHes per group size)
#   BENCH_SCALE_MEMBER_CHUNK (1000: members per building PATCH; the limit per request is 5,000)
#   BENCH_SCALE_BUILD_SECONDS (1800: building one group stops after this; its size is then
#     reported as not reached and not measured)
#   BENCH_SCALE_EMAILS (20000: emails in the one big PATCH)
#   BENCH_SCALE_USERS (100000: users seeded, at least the largest group plus BENCH_SCALE_PATCHES,
#     which the script adds when needed)
#   BENCH_SCALE_DEEP_PAGE (1000: the deep page of 100, by startIndex and by cursor)
#   BENCH_SCALE_PAGE_REPS (50: requests per page case, median), BENCH_SCALE_BASELINE_REPS (200),
#   BENCH_SCALE_BULK_PARALLEL (4: /Bulk requests in flight while seeding)
# Small sizes, e.g.: BENCH_SCALE_GROUP_SIZES="10 100 1000" BENCH_SCALE_USERS=1000
#   BENCH_SCALE_DEEP_PAGE=10 BENCH_SCALE_EMAILS=200 scripts/bench-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out_dir="${1:-target/bench}"
backends="${BENCH_SCALE_BACKENDS:-postgres sqlite}"
group_sizes="${BENCH_SCALE_GROUP_SIZES:-1000 10000 100000}"
patches="${BENCH_SCALE_PATCHES:-50}"
member_chunk="${BENCH_SCALE_MEMBER_CHUNK:-1000}"
build_seconds="${BENCH_SCALE_BUILD_SECONDS:-1800}"
emails="${BENCH_SCALE_EMAILS:-20000}"
users="${BENCH_SCALE_USERS:-100000}"
deep_page="${BENCH_SCALE_DEEP_PAGE:-1000}"
page_reps="${BENCH_SCALE_PAGE_REPS:-50}"
baseline_reps="${BENCH_SCALE_BASELINE_REPS:-200}"
bulk_parallel="${BENCH_SCALE_BULK_PARALLEL:-4}"
mkdir -p "$out_dir"

if [ -z "${SCIMLEDGER_TEST_DATABASE_URL:-}" ]; then
  exec scripts/with-test-services.sh "$0" "$@"
fi

# The one-member PATCHes add users that no group holds yet: the ones after the largest group.
largest="$(tr ' ' '\n' <<<"$group_sizes" | sort -n | tail -n1)"
seeded=$(( users > largest + patches ? users : largest + patches ))

cargo build --release -p scimledger
server_bin="${CARGO_TARGET_DIR:-$PWD/target}/release/scimledger"
config="$out_dir/scale-config.json"
python3 - "$config" <<EOF
import json, sys
knobs = {"BENCH_SCALE_BACKENDS": "$backends", "BENCH_SCALE_GROUP_SIZES": "$group_sizes", "BENCH_SCALE_PATCHES": $patches,
         "BENCH_SCALE_MEMBER_CHUNK": $member_chunk, "BENCH_SCALE_BUILD_SECONDS": $build_seconds, "BENCH_SCALE_EMAILS": $emails,
         "BENCH_SCALE_USERS": $users, "BENCH_SCALE_DEEP_PAGE": $deep_page, "BENCH_SCALE_PAGE_REPS": $page_reps,
         "BENCH_SCALE_BASELINE_REPS": $baseline_reps, "BENCH_SCALE_BULK_PARALLEL": $bulk_parallel}
json.dump({"knobs": knobs, "users": $seeded, "group_sizes": [int(s) for s in "$group_sizes".split()],
           "patches": $patches, "member_chunk": $member_chunk, "build_seconds": $build_seconds, "emails": $emails,
           "deep_page": $deep_page, "page_reps": $page_reps, "baseline_reps": $baseline_reps}, open(sys.argv[1], "w"))
EOF

# shellcheck source=scripts/scratch-server.sh
. scripts/scratch-server.sh
trap stop_server EXIT

rm -f "$out_dir"/scale-postgres*.json "$out_dir"/scale-sqlite*.json
for backend in $backends; do
  scratch_database "$backend" bench   # "bench": with-test-services.sh drops it if we die
  start_server "$server_bin" "$out_dir/scale-server-$backend.log"
  token="$(tenant_token "$server_bin" bench scale)"
  base="$server_base/scim/v2/bench"
  echo "bench-scale: $backend: seeding $seeded users" >&2
  python3 scripts/bench_lookups.py seed "$base" "$token" "$seeded" "$bulk_parallel" "$out_dir/scale-$backend-seed.json"
  if [ "$backend" = postgres ]; then
    psql -X -qc 'VACUUM ANALYZE' "${scratch_env[0]#*=}"
  fi
  echo "bench-scale: $backend: pages, $emails emails, groups of $group_sizes" >&2
  python3 scripts/bench_scale.py measure "$base" "$token" "$backend" "$config" "$out_dir"
  stop_server
  # The disk is shared: each scratch database goes as soon as it is measured.
  drop_scratch_database "$backend"
done

# shellcheck disable=SC2086  # one argument per backend
python3 scripts/bench_scale.py report "$out_dir" $backends >"$out_dir/scale.md"
echo "bench-scale: wrote $out_dir/scale.md" >&2
