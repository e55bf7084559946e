#!/usr/bin/env bash
# Federation benchmarks on one machine (three real nodes, mutual TLS on loopback, the real binary):
#  1. sync throughput: node-a holds N signals (filled offline); node-b starts empty and pulls them over mTLS
#     with full verification (signatures, consistency, every entry hash) and one atomic write per segment.
#     Measured from node-b's start to its trusted checkpoint of node-a reaching node-a's size.
#  2. propagation delay in the chain node-a <-> node-b <-> node-c: while a background loop submits to
#     node-a at a steady rate, probes are submitted at node-a and node-c is polled until each matches;
#     delay = first match at node-c minus the 201 at node-a (curl's own overhead, ~5-15 ms, is included).
#
# Usage: bench/federation_bench.sh [N=1000000] [probes=40] [rate_per_s=20]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}; PROBES=${2:-40}; RATE=${3:-20}
BIN=${HASHBANK:-./build/hashbank}; FILL=./build/bench/fill_bank
DIR=$(mktemp -d /tmp/hashbank-fedbench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
HASHBANK=$BIN bash scripts/make-federation-configs.sh --local 19440 "$DIR/fed" node-a node-b node-c >/dev/null
now_ms() { date +%s%3N; }
start_node() {  # id
  $BIN serve --config "$DIR/fed/$1/hashbank.yaml" >"$DIR/$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 600); do grep -q "serving https" "$DIR/$1.log" && return 0; sleep 0.05; done
  echo "node $1 did not start:"; cat "$DIR/$1.log"; exit 1
}
api() { case $1 in node-a) echo 19440;; node-b) echo 19442;; node-c) echo 19444;; esac; }
CA="$DIR/fed/ca/ca.pem"
tok() { tr -d '[:space:]' <"$DIR/fed/$1/admin.token"; }
status_size() {  # node origin -> trusted size
  curl -s --cacert "$CA" -H "Authorization: Bearer $(tok "$1")" "https://localhost:$(api "$1")/v1/federation/status" |
    grep -o "\"origin\":\"$2\",\"trusted_size\":[0-9]*" | grep -o '[0-9]*$' || echo 0
}

echo "== filling node-a with $N signals"
HASHBANK_CONFIG="$DIR/fed/node-a/hashbank.yaml" $FILL "$DIR/fed/node-a" "$N" | head -1
start_node node-a
A_SIZE=$(status_size node-a node-a)
echo "node-a log size: $A_SIZE"
T0=$(now_ms)
start_node node-b
while [ "$(status_size node-b node-a)" -lt "$A_SIZE" ]; do sleep 0.2; done
T1=$(now_ms)
echo "== sync: node-b verified and stored $A_SIZE entries of node-a in $(( T1 - T0 )) ms: $(( A_SIZE * 1000 / (T1 - T0 + 1) )) entries/s (including node-b's start)"
start_node node-c
while [ "$(status_size node-c node-a)" -lt "$A_SIZE" ]; do sleep 0.2; done
echo "== node-c caught up through node-b"

H=(-H "Authorization: Bearer $(tok node-a)" -H "Content-Type: application/json")
hex() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
( # background load at node-a
  while true; do
    curl -s -o /dev/null --cacert "$CA" "${H[@]}" "https://localhost:19440/v1/signals" -d "{\"pdq\":\"$(hex)\",\"quality\":100}"
    sleep "$(awk "BEGIN{print 1/$RATE}")"
  done ) &
PIDS+=($!)
HC=(-H "Authorization: Bearer $(tok node-c)" -H "Content-Type: application/json")
DELAYS=()
for _ in $(seq 1 "$PROBES"); do
  h=$(hex)
  curl -s -o /dev/null --cacert "$CA" "${H[@]}" "https://localhost:19440/v1/signals" -d "{\"pdq\":\"$h\",\"quality\":100}"
  t0=$(now_ms)
  until curl -s --cacert "$CA" "${HC[@]}" "https://localhost:19444/v1/match" -d "{\"pdq\":\"$h\",\"max_distance\":0}" | grep -q node-a; do :; done
  DELAYS+=($(( $(now_ms) - t0 )))
  sleep 0.2
done
SORTED=($(printf '%s\n' "${DELAYS[@]}" | sort -n))
P50=${SORTED[$(( ${#SORTED[@]} / 2 ))]}; P99=${SORTED[$(( (${#SORTED[@]} * 99) / 100 ))]}; MAX=${SORTED[-1]}
echo "== propagation node-a -> node-c (2 hops) at ~$RATE submissions/s: p50 ${P50} ms, p99 ${P99} ms, max ${MAX} ms over $PROBES probes"
