#!/usr/bin/env bash
# One command for every benchmark: builds release binaries, installs the
# pinned nats-server and (if missing) Debian's PostgreSQL, runs the
# criterion benches and the end-to-end harness, and writes BENCHMARKS.md.
#   bash ops/bench.sh                    # 10M events (about an hour on 2 cores)
#   BENCH_EVENTS=100000 bash ops/bench.sh  # the smoke run CI does
# Generated data and ledgers are kept under data/bench/ (reused by later runs).
set -euo pipefail
cd "$(dirname "$0")/.."
events="${BENCH_EVENTS:-10000000}"
out="${BENCH_OUT:-BENCHMARKS.md}"
MUSTER_NATS_SERVER="$(bash ops/install-nats.sh)"
export MUSTER_NATS_SERVER
cargo build --release --locked --quiet -p muster-bench -p muster-gen
./target/release/muster-bench run --events "$events" --out "$out" ${BENCH_ARGS:-}
if [ "${BENCH_CRITERION:-1}" = 1 ]; then
  # In-process figures with criterion, on the ledger the harness built.
  MUSTER_BENCH_LEDGER="$PWD/data/bench/synthetic-$events-1/ledger" \
    cargo bench --locked --quiet -p muster-bench --bench inprocess -- --noplot 2>&1 | tee data/bench/criterion.txt
  {
    echo
    echo "Criterion (in process, same ledger; \`cargo bench -p muster-bench --bench inprocess\`):"
    echo
    echo '```'
    grep -E '^[a-z_/]+ +time:' data/bench/criterion.txt || true
    echo '```'
  } >>"$out"
fi
# What bounds the figures that miss their targets, from profiles: kept
# beside the harness and appended to every report.
cat bench/BOUNDS.md >>"$out"
