#!/usr/bin/env bash
# A federation of three nodes on this machine, without Docker: node-a <-> node-b <-> node-c (a chain: a signal
# submitted at node-a reaches node-c through node-b).
#
# Usage: scripts/federation-demo.sh [--check] [DIR]
#
#   (no --check)  build, create the federation (scripts/make-federation-configs.sh --local 18440), start the three
#                 nodes in the background (logs in DIR/logs), print how to use them, and stop them on Ctrl-C.
#   --check       the same start, then an end-to-end check with curl: submit a PDQ hash at node-a, wait until
#                 node-c matches it, withdraw it at node-a, wait until node-c no longer matches it. Prints PASS or
#                 FAIL; exits non-zero on failure.
#
# DIR must not exist or be empty; without it a temporary directory is used and removed on exit (kept when
# --check fails, for the logs). Environment:
#   HASHBANK=PATH              use this binary and do not build (default: scripts/build.sh, then ./build/hashbank)
#   FED_DEMO_BASEPORT=N        first port (default 18440): node i gets API N+2i and federation N+2i+1
#   FED_DEMO_TIMEOUT=S         seconds to wait for propagation in --check (default 30)
#   FED_DEMO_NO_FEDERATION=1   leave the federation section out of the configs (for a binary without federation:
#                              the nodes start, but --check cannot pass)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

check=0 dir=""
for a in "$@"; do
  case "$a" in
    --check) check=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "federation-demo: unknown option $a" >&2; exit 2 ;;
    *) [ -z "$dir" ] || { echo "federation-demo: one DIR only" >&2; exit 2; }; dir=$a ;;
  esac
done

base=${FED_DEMO_BASEPORT:-18440}
timeout_s=${FED_DEMO_TIMEOUT:-30}
ids=(node-a node-b node-c)

if [ -n "${HASHBANK:-}" ]; then
  hb=$HASHBANK
else
  bash scripts/build.sh
  hb=$repo/build/hashbank
fi
[[ "$hb" == */* ]] && hb=$(cd "$(dirname "$hb")" && pwd)/$(basename "$hb")

tmp=""
if [ -z "$dir" ]; then
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/hashbank-federation.XXXXXX")
  dir=$tmp
fi

pids=()
keep=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    echo "federation-demo: stopping the nodes"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 100); do  # up to 10 s to drain, then SIGKILL
      local alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ $alive = 1 ] || break
      sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  if [ -n "$tmp" ]; then
    if [ $keep = 1 ]; then echo "federation-demo: kept $tmp (logs in $tmp/logs)"; else rm -rf "$tmp"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

HASHBANK=$hb bash scripts/make-federation-configs.sh --local "$base" "$dir" "${ids[@]}"
dir=$(cd "$dir" && pwd)
mkdir -p "$dir/logs"

for id in "${ids[@]}"; do
  "$hb" serve --config "$dir/$id/hashbank.yaml" >"$dir/logs/$id.log" 2>&1 &
  pids+=($!)
done

# Wait until every node has printed "serving https" (or one of them has died).
for i in "${!ids[@]}"; do
  id=${ids[$i]}
  for t in $(seq 1 300); do
    grep -q "serving https" "$dir/logs/$id.log" && break
    if ! kill -0 "${pids[$i]}" 2>/dev/null || [ "$t" = 300 ]; then
      echo "federation-demo: $id did not start; its log ($dir/logs/$id.log):" >&2
      sed 's/^/  /' "$dir/logs/$id.log" >&2
      keep=1
      exit 1
    fi
    sleep 0.1
  done
done

ca=$dir/ca/ca.pem
api_port() { echo $((base + 2 * $1)); }
token() { tr -d '[:space:]' <"$dir/${ids[$1]}/admin.token"; }

if [ $check = 0 ]; then
  echo
  echo "three nodes are running (a chain: node-a <-> node-b <-> node-c, federation sync every 2 s)"
  [ "${FED_DEMO_NO_FEDERATION:-0}" = 1 ] && echo "  NOTE: FED_DEMO_NO_FEDERATION=1, the nodes do not federate"
  echo "  CA certificate: $ca"
  for i in "${!ids[@]}"; do
    echo "  ${ids[$i]}: https://localhost:$(api_port "$i")  admin token $(token "$i")  (from $dir/${ids[$i]}/admin.token)"
    echo "          log $dir/logs/${ids[$i]}.log"
  done
  cat <<EOF

try it: submit at node-a, match at node-c a few seconds later
  H=(--cacert $ca -H "Content-Type: application/json")
  curl "\${H[@]}" -H "Authorization: Bearer $(token 0)" https://localhost:$(api_port 0)/v1/signals \\
    -d '{"pdq": "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22", "quality": 100}'
  curl "\${H[@]}" -H "Authorization: Bearer $(token 2)" https://localhost:$(api_port 2)/v1/match \\
    -d '{"pdq": "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"}'

Ctrl-C stops the nodes.
EOF
  while :; do
    for i in "${!pids[@]}"; do
      if ! kill -0 "${pids[$i]}" 2>/dev/null; then
        echo "federation-demo: ${ids[$i]} exited; its log:" >&2
        tail -n 20 "$dir/logs/${ids[$i]}.log" >&2
        keep=1
        exit 1
      fi
    done
    sleep 1
  done
fi

# ---- --check: submit at node-a, match at node-c, withdraw at node-a, no match at node-c ----
pdq=d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22
query=d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b23  # one bit away
body=$dir/logs/last-response.json

# api INDEX METHOD PATH [JSON]: prints the HTTP status, the body goes to $body.
api() {
  local args=(-sS --max-time 10 --cacert "$ca" -o "$body" -w '%{http_code}' -X "$2"
    -H "Authorization: Bearer $(token "$1")")
  [ $# -ge 4 ] && args+=(-H "Content-Type: application/json" --data "$4")
  curl "${args[@]}" "https://localhost:$(api_port "$1")$3" || true  # -w prints 000 when curl fails
}
fail() {
  echo "FAIL: $*"
  [ -s "$body" ] && echo "  last response: $(head -c 500 "$body")"
  for id in "${ids[@]}"; do
    echo "  --- $dir/logs/$id.log (last 15 lines)"
    tail -n 15 "$dir/logs/$id.log" | sed 's/^/  /'
  done
  keep=1
  exit 1
}
# node-c matches the signal? 0 yes, 1 no; fails on an HTTP error.
matches_at_c() {
  local code
  code=$(api 2 POST /v1/match "{\"pdq\": \"$query\"}")
  [ "$code" = 200 ] || fail "POST /v1/match at node-c returned $code"
  grep -q "\"id\":\"$signal_id\"" "$body" || grep -q '"origin":"node-a"' "$body"
}
waited=0
wait_for() {  # wait_for yes|no: until node-c does (not) match; sets $waited; 1 on timeout
  local start=$SECONDS
  while ((SECONDS - start < timeout_s)); do
    if matches_at_c; then
      [ "$1" = no ] || { waited=$((SECONDS - start)); return 0; }
    else
      [ "$1" = yes ] || { waited=$((SECONDS - start)); return 0; }
    fi
    sleep 0.5
  done
  return 1
}

signal_id="(none)"
if matches_at_c; then fail "node-c matches before anything was submitted"; fi

code=$(api 0 POST /v1/signals "{\"pdq\": \"$pdq\", \"quality\": 100, \"labels\": [\"ndii\"], \"case_ref\": \"federation-demo\"}")
[ "$code" = 201 ] || fail "POST /v1/signals at node-a returned $code"
signal_id=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$body")
[ -n "$signal_id" ] || fail "POST /v1/signals at node-a returned no id"
echo "check: submitted $signal_id at node-a"

wait_for yes || fail "node-c did not match $signal_id within $timeout_s s"
echo "check: node-c matches $signal_id after ${waited} s"

code=$(api 0 DELETE "/v1/signals/$signal_id")
[ "$code" = 200 ] || fail "DELETE /v1/signals/$signal_id at node-a returned $code"
echo "check: withdrew $signal_id at node-a"

wait_for no || fail "node-c still matches $signal_id $timeout_s s after the withdrawal"
echo "check: node-c no longer matches $signal_id after ${waited} s"
echo "PASS"
