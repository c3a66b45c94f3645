#!/usr/bin/env bash
# The test command: everything CI runs, runnable on a fresh machine with
# nothing but the Rust toolchain. .ci/run calls this same script.
#
# PROPTEST_CASES (default 1000) sets the cases of each property test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${PROPTEST_CASES:-1000}"
cargo test --workspace --locked
