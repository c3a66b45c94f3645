#!/usr/bin/env bash
# The main job at this stage: import the example events (a small slice of
# the Nanhu reform, ops/examples/events.jsonl) into a fresh local ledger and
# print what an auditor asks first. Needs only cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

ledger=data/example-ledger
rm -rf "$ledger"
cargo build --release --locked --quiet -p muster-cli
muster() { ./target/release/muster --ledger "$ledger" "$@"; }

echo "== import ops/examples/events.jsonl (rejections in $ledger.rejections.jsonl)"
muster import ops/examples/events.jsonl --rejections "$ledger.rejections.jsonl"
echo
echo "== the tree on 2014-12-31, before the supervision centre"
muster tree --date 2014-12-31
echo
echo "== the tree on 2016-01-01, after it"
muster tree --date 2016-01-01
echo
echo "== headcount of the whole sub-bureau, rolled up, 2016-01-01"
muster headcount --unit NH --date 2016-01-01 --rollup
echo
echo "== Dongzha station, 2015-09-20: now, and as the ledger knew it before the late order was keyed in"
muster headcount --unit NH-PS1 --date 2015-09-20
late_seq=$(muster receipt --source hr/nanhu --id nanhu-0058 --format json | sed -n 's/.*"seq": \([0-9]*\).*/\1/p')
muster headcount --unit NH-PS1 --date 2015-09-20 --known-at "$((late_seq - 1))"
echo
echo "== where the former legal affairs brigade went"
muster lineage --unit NH-LEGAL
echo
echo "== P007: posted down, seconded back to the office (a paper move)"
muster history --staff P007
echo
echo "== the front-line audit 2013-01-01 → 2016-06-30"
muster audit --from 2013-01-01 --to 2016-06-30
echo
echo "== the chain"
muster verify
echo
echo "== the chain, exported for an auditor and checked offline (no ledger opened)"
muster export "$ledger.export.jsonl"
./target/release/muster verify --export "$ledger.export.jsonl"
echo
echo "== … and against the head the ledger signed (ed25519; the auditor trusts only the public key)"
rm -f "$ledger.key"
public_key=$(./target/release/muster keygen "$ledger.key")
muster checkpoint --signing-key "$ledger.key" > "$ledger.checkpoint.json"
./target/release/muster verify --export "$ledger.export.jsonl" --checkpoint "$ledger.checkpoint.json" --public-key "$public_key"
