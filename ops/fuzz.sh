#!/usr/bin/env bash
# Fuzz Muster's untrusted-input surfaces with libFuzzer (cargo-fuzz, nightly):
#   bash ops/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]     (default: 60 s, every target)
# Targets (proto/src/fuzzing.rs): json_event, bincode_envelope, batch,
# ledger_files, validator, intake. The fuzzer starts from the checked-in seeds
# (fuzz/corpus/<target>/, which CI replays on stable:
# tests/tests/fuzz_corpus.rs) and keeps what it grows in
# fuzz/corpus-grown/<target>/ (not checked in; reused by the next run). A
# crash is written to fuzz/artifacts/<target>/ and stops the run (exit 1):
# fix it, then add the input to fuzz/corpus/<target>/ as a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(json_event bincode_envelope batch ledger_files validator intake)
fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
mkdir -p fuzz/logs
for target in "${targets[@]}"; do
  echo "== $target: ${seconds}s (log: fuzz/logs/$target.log)"
  # -max_len: the payload limit (1 MiB) is tested by the catalog; the
  # fuzzer spends its time on shapes, not sizes.
  mkdir -p "fuzz/corpus-grown/$target"
  if ! cargo +nightly fuzz run "$target" "fuzz/corpus-grown/$target" "fuzz/corpus/$target" -- -max_total_time="$seconds" -max_len=65536 \
      -print_final_stats=1 >"fuzz/logs/$target.log" 2>&1; then
    tail -40 "fuzz/logs/$target.log" >&2
    echo "$target: the fuzzer found a failing input (fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|new_units_added):' "fuzz/logs/$target.log"
done
