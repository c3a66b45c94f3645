#!/usr/bin/env bash
# The main job: a whole Muster on this machine.
#  1. starts the pinned nats-server (JetStream store under data/run/nats),
#  2. starts the ledger service and a query service (HTTP on 127.0.0.1:8080),
#  3. publishes the reform scenario (ops/scenarios/reform: Nanhu 2013–2016,
#     Pujiang 2015–2016) through muster-publish, waiting for every receipt,
#  4. asks the query service (over NATS, with the auditor CLI) for the
#     front-line audit of both bureaus, writing the HTML reports to
#     data/run/nanhu-audit.html and data/run/pujiang-audit.html, then a
#     late order seen both ways, a lineage, a paper move's history,
#  5. prints the auditor's workbench URL (http://127.0.0.1:8080/) and keeps
#     everything running until Ctrl-C, then stops it all cleanly.
# In CI (CI=true) or without a terminal it stops after printing the URL.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${MUSTER_NATS_PORT:-4222}"
http="${MUSTER_HTTP:-127.0.0.1:8080}"
url="nats://127.0.0.1:$port"
run=data/run
nats_server="$(bash ops/install-nats.sh)"
cargo build --release --locked --quiet -p muster-ledger-service -p muster-query -p muster-publisher -p muster-cli
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

# The ledger signs checkpoints of its chain with a key made for this run
# (every 500 entries, so the reform's 1,777 get a few, and each minute
# while new ones come): the workbench's ledger page lists them, checked.
"$bin/muster" keygen "$run/ledger.key" >"$run/ledger.pub"
"$nats_server" -c ops/nats/dev.conf -p "$port" -sd "$run/nats" >"$run/nats.log" 2>&1 &
pids+=($!)
MUSTER_LOG=info "$bin/muster-ledger" --nats-url "$url" --ledger "$run/ledger" \
  --signing-key "$run/ledger.key" --checkpoint-every 500 >"$run/ledger.log" 2>&1 &
pids+=($!)
MUSTER_LOG=info "$bin/muster-query" --nats-url "$url" --replica "$run/query" --http "$http" >"$run/query.log" 2>&1 &
pids+=($!)

muster() { "$bin/muster" --nats-url "$url" "$@"; }
echo "== waiting for the services"
for _ in $(seq 1 300); do
  muster status >/dev/null 2>&1 && break
  sleep 0.1
done
muster status

events=ops/scenarios/reform/events.jsonl
echo
echo "== publishing the reform scenario, $events ($(wc -l <"$events") events; every one waits for its ledger receipt)"
"$bin/muster-publish" --nats-url "$url" "$events" --rejections "$run/rejections.jsonl" --quiet
echo "   rejections (none expected): $run/rejections.jsonl"

echo
echo "== the query replica catches up"
for _ in $(seq 1 600); do
  behind=$(muster status --format json | sed -n 's/.*"behind": \([0-9]*\).*/\1/p')
  [ "$behind" = "0" ] && break
  sleep 0.1
done
muster status

echo
echo "== Jiaxing Nanhu sub-bureau: the front-line audit 2013-01-01 → 2016-12-01"
muster audit --scope NH --from 2013-01-01 --to 2016-12-01 --html "$run/nanhu-audit.html"
echo
echo "== Pujiang county bureau: the front-line audit 2015-09-01 → 2016-12-01"
muster audit --scope PJ --from 2015-09-01 --to 2016-12-01 --html "$run/pujiang-audit.html"

echo
echo "== a late order: decided for 2016-01-04, keyed in seven weeks later"
late=$(grep 'keyed in late' "$events" | head -n 1)
late_id=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$late")
late_to=$(sed -n 's/.*"to":"\([^"]*\)".*/\1/p' <<<"$late")
late_seq=$(muster receipt --source hr/nanhu --id "$late_id" --format json | sed -n 's/.*"seq": \([0-9]*\).*/\1/p')
echo "   $late_to on 2016-01-31, as the ledger knew it before entry $late_seq and now:"
muster headcount --unit "$late_to" --date 2016-01-31 --known-at "$((late_seq - 1))"
muster headcount --unit "$late_to" --date 2016-01-31
echo
echo "== what became of the criminal investigation brigade (split in 2014 and again in 2015)"
muster lineage --unit NH-CRIM
paper=$(muster audit --scope NH --from 2013-01-01 --to 2016-12-01 --format json | tr -d ' \n' \
  | sed -n 's/.*"paper_moves":\["\([^"]*\)".*/\1/p')
echo
echo "== $paper: posted down to a station, seconded back to the office (a paper move)"
muster history --staff "$paper"

echo
echo "HTML reports with charts: $run/nanhu-audit.html and $run/pujiang-audit.html"
echo "The same over HTTP: http://$http/v1/audit?scope=NH&from=2013-01-01&to=2016-12-01 (JSON), /v1/audit.html?… (the report), /v1/audit.csv?… and .xlsx"
echo
echo "== the auditor's workbench, in a browser (same port as the JSON API)"
echo "   the Nanhu audit:  http://$http/audit?scope=NH&from=2013-01-01&to=2016-12-01"
echo "   the late order:   http://$http/corrections?unit=$late_to&date=2016-01-31&reported_at=$((late_seq - 1))"
echo "   the organisation: http://$http/org?date=2016-12-01"
echo "   the ledger:       http://$http/ledger (checkpoints signed by $(cat "$run/ledger.pub"))"
echo "Workbench: http://$http/"

if [ "${CI:-}" != "true" ] && [ -t 0 ]; then
  echo
  echo "Running: NATS $url, the workbench and HTTP API at http://$http/. Ctrl-C stops everything."
  wait "${pids[0]}"
fi
