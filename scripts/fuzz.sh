#!/usr/bin/env bash
# Fuzzes every target of fuzz/ (cargo fuzz, libFuzzer) for SECONDS each: `make test` runs a
# short pass, `make fuzz` a long one (docs/operations.md). cargo fuzz wants a nightly
# compiler for -Zsanitizer; RUSTC_BOOTSTRAP=1 lets the stable one take the flag (ADR 0033).
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:?usage: scripts/fuzz.sh SECONDS-PER-TARGET}"
targets="${FUZZ_TARGETS:-filter_parser patch_path patch_engine}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

cd fuzz
cargo fuzz build -O
for target in $targets; do
  mkdir -p "corpus/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  echo "== fuzz $target for ${seconds}s =="
  log="$(mktemp)"
  rc=0
  # -rss_limit_mb: the corpus of a long run grows; a leak still stops the run.
  cargo fuzz run -O "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E '^(Done|stat::number_of_executed_units)' "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  rm -f "$log"
done
echo "fuzz: $(wc -w <<<"$targets") targets ran ${seconds}s each without a failure"
