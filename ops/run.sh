#!/usr/bin/env bash
# The main job: a whole Muster on this machine.
#  1. starts the pinned nats-server (JetStream store under data/run/nats),
#  2. starts the ledger service and a query service (HTTP on 127.0.0.1:8080),
#  3. publishes ops/examples/events.jsonl through muster-publish, waiting
#     for every receipt,
#  4. asks the query service (over NATS, with the auditor CLI) for
#     headcounts, a late order seen both ways, lineage, a paper move,
#  5. keeps everything running until Ctrl-C, then stops it all cleanly.
# In CI (CI=true) or without a terminal it stops after step 4.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${MUSTER_NATS_PORT:-4222}"
http="${MUSTER_HTTP:-127.0.0.1:8080}"
url="nats://127.0.0.1:$port"
run=data/run
nats_server="$(bash ops/install-nats.sh)"
cargo build --release --locked --quiet -p muster-ledger -p muster-query -p muster-publisher -p muster-cli
bin=target/release

rm -rf "$run" && mkdir -p "$run"
pids=()
stop_all() {
  trap - EXIT INT TERM
  # Services first (they finish their batch on SIGTERM), then the server.
  for pid in "${pids[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:1}"; do wait "$pid" 2>/dev/null || true; done
  [ "${#pids[@]}" -gt 0 ] && { kill -TERM "${pids[0]}" 2>/dev/null || true; wait "${pids[0]}" 2>/dev/null || true; }
  echo "stopped; logs and data in $run/"
}
trap stop_all EXIT INT TERM

"$nats_server" -c ops/nats/dev.conf -p "$port" -sd "$run/nats" >"$run/nats.log" 2>&1 &
pids+=($!)
MUSTER_LOG=info "$bin/muster-ledger" --nats-url "$url" --ledger "$run/ledger" >"$run/ledger.log" 2>&1 &
pids+=($!)
MUSTER_LOG=info "$bin/muster-query" --nats-url "$url" --replica "$run/query" --http "$http" >"$run/query.log" 2>&1 &
pids+=($!)

muster() { "$bin/muster" --nats "$url" "$@"; }
echo "== waiting for the services"
for _ in $(seq 1 300); do
  muster status >/dev/null 2>&1 && break
  sleep 0.1
done
muster status

echo
echo "== publishing ops/examples/events.jsonl (every event waits for its ledger receipt)"
"$bin/muster-publish" --nats-url "$url" ops/examples/events.jsonl --rejections "$run/rejections.jsonl" --quiet
echo "   rejections: $run/rejections.jsonl"

echo
echo "== the query replica catches up"
for _ in $(seq 1 300); do
  behind=$(muster status --format json | sed -n 's/.*"behind": \([0-9]*\).*/\1/p')
  [ "$behind" = "0" ] && break
  sleep 0.1
done
muster status

echo
echo "== the tree on 2016-01-01"
muster tree --date 2016-01-01
echo
echo "== the whole sub-bureau, rolled up, 2016-01-01"
muster headcount --unit NH --date 2016-01-01 --rollup
echo
echo "== Dongzha station on 2015-09-20: now, and as known before the late order was keyed in"
muster headcount --unit NH-PS1 --date 2015-09-20
late=$(muster receipt --source hr/nanhu --id nanhu-0058 --format json | sed -n 's/.*"seq": \([0-9]*\).*/\1/p')
muster headcount --unit NH-PS1 --date 2015-09-20 --known-at "$((late - 1))"
echo
echo "== where the former legal affairs brigade went"
muster lineage --unit NH-LEGAL
echo
echo "== P007: posted down, seconded back to the office"
muster history --staff P007
echo
echo "== the front-line audit 2013-01-01 → 2016-06-30"
muster audit --from 2013-01-01 --to 2016-06-30 --html "$run/audit.html"
echo "   HTML report with charts: $run/audit.html"
echo
echo "== the same over HTTP: http://$http/v1/headcount?unit=NH&date=2016-01-01&rollup=true"

if [ "${CI:-}" != "true" ] && [ -t 0 ]; then
  echo
  echo "Running: NATS $url, HTTP http://$http/v1/status. Ctrl-C stops everything."
  wait "${pids[0]}"
fi
