#!/usr/bin/env bash
# Starts a 3-node JetStream cluster on loopback for development: clients
# on 127.0.0.1:4222,4223,4224, routes on 6222-6224, monitoring on
# 8222-8224, stores under ${MUSTER_CLUSTER_DIR:-data/cluster}/n0..n2.
# Waits until the nodes have elected a JetStream meta leader, prints the
# URL list for MUSTER_NATS_URL, and stops all three on Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
nats="$(bash "$root/ops/install-nats.sh")"
dir="${MUSTER_CLUSTER_DIR:-$root/data/cluster}"
mkdir -p "$dir"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
for i in 0 1 2; do
  MUSTER_NODE_NAME="muster-n$i" MUSTER_NODE_CLIENT="127.0.0.1:$((4222 + i))" \
    MUSTER_NODE_HTTP="127.0.0.1:$((8222 + i))" MUSTER_NODE_ROUTE="127.0.0.1:$((6222 + i))" \
    "$nats" -c "$root/ops/nats/cluster.conf" -sd "$dir/n$i" >"$dir/n$i.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 300); do
  if python3 - <<'PY' 2>/dev/null; then break; fi
import json, urllib.request
jsz = json.load(urllib.request.urlopen("http://127.0.0.1:8222/jsz", timeout=1))
assert jsz.get("meta_cluster", {}).get("leader")
PY
  sleep 0.1
done
echo "cluster up: MUSTER_NATS_URL=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224 MUSTER_STREAM_REPLICAS=3 (logs in $dir; ops/SCALING.md)" >&2
wait
