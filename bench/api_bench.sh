#!/usr/bin/env bash
# POST /v1/match by PDQ over HTTPS with keep-alive against a real node holding N signals, with wrk on the
# same 2-core machine. Baseline in the same run: GET /v1/health (TLS + HTTP + routing, no matching).
#
# Usage: bench/api_bench.sh [N=1000000] [seconds=20] [connections=32]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}; SECS=${2:-20}; CONNS=${3:-32}
BIN=./build/hashbank; FILL=./build/bench/fill_bank
DIR=$(mktemp -d /tmp/hashbank-bench.XXXXXX)
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
# The node's data directory (its first start makes it), then its token, made before filling (fill_bank
# writes it into the wrk script).
timeout 10 $BIN serve --data-dir "$DIR/data" --listen 127.0.0.1:0 >/dev/null 2>&1 || true
TOKEN=$($BIN token create --data-dir "$DIR/data" --role admin --name bench)
$FILL "$DIR/data" "$N" "$DIR/match.lua" "$TOKEN"
HASHBANK_LIMITS_REQUESTS_PER_SECOND_PER_TOKEN=0 $BIN serve --data-dir "$DIR/data" --listen 127.0.0.1:0 >"$DIR/serve.out" 2>&1 &
PID=$!
for _ in $(seq 1 600); do grep -q "serving https" "$DIR/serve.out" && break; sleep 0.1; done
grep "serving https" "$DIR/serve.out"
URL=$(grep -o "https://[0-9.:]*" "$DIR/serve.out" | head -1)
cat > "$DIR/health.lua" <<LUA
wrk.headers['Authorization'] = 'Bearer $TOKEN'
done = function(summary, latency, requests)
  io.write(string.format('p50_ms=%.3f p99_ms=%.3f requests=%d\n', latency:percentile(50)/1000, latency:percentile(99)/1000, summary.requests))
end
LUA
echo "== baseline: GET /v1/health, $CONNS connections, 2 wrk threads, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$DIR/health.lua" "$URL/v1/health" | grep -E "Requests/sec|p50_ms"
echo "== POST /v1/match (PDQ, radius 31, half near-duplicates), $CONNS connections, 2 wrk threads, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$DIR/match.lua" "$URL" | grep -E "Requests/sec|p50_ms|Non-2xx"
