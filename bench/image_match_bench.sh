#!/usr/bin/env bash
# POST /v1/match/image against a real node whose bank holds N robust fingerprints, one request at a time over
# one keep-alive HTTPS connection: the latency a member sees for an image query, decode, hashing (PDQ x 8,
# MD5, SHA-256, 2 x 1 000 local features), every index and the JSON answer included.
#
# The bank: N synthetic robust fingerprints (build/bench/fill_robust: random descriptors, written durably
# through Bank::SubmitBatch before the node starts, so the node bulk-loads them at its start), then the
# acceptance set's originals submitted through POST /v1/signals/image. Queries: the set's edited copies and
# unrelated images. Reports latency p50/p99, the edited copies matched to their original and by which type,
# and matches of unrelated images (false matches).
#
# Usage: bench/image_match_bench.sh N ACCEPTANCE_DIR [holdout|tune]
#   (ACCEPTANCE_DIR from /usr/bin/python3 tools/acceptance/make_edits.py --out DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:?N}; ACC=${2:?ACCEPTANCE_DIR}; SET=${3:-holdout}
BIN=./build/hashbank
DIR=$(mktemp -d /tmp/hashbank-image-bench.XXXXXX)
PID=
trap 'if [ -n "$PID" ]; then kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; fi; rm -rf "$DIR"' EXIT
./build/bench/fill_robust "$DIR/data" "$N"
TOKEN=$($BIN token create --data-dir "$DIR/data" --role admin --name bench)
START=$(date +%s%N)
HASHBANK_LIMITS_REQUESTS_PER_SECOND_PER_TOKEN=0 $BIN serve --data-dir "$DIR/data" --listen 127.0.0.1:0 >"$DIR/serve.out" 2>&1 &
PID=$!
for _ in $(seq 1 6000); do grep -q "serving https" "$DIR/serve.out" && break; sleep 0.1; done
grep -q "serving https" "$DIR/serve.out" || { cat "$DIR/serve.out"; exit 1; }
echo "node serving after $((($(date +%s%N) - START) / 1000000)) ms (bulk load of $N robust fingerprints included);" \
  "resident $(($(awk '/VmRSS/ {print $2}' /proc/$PID/status) / 1024)) MB"
URL=$(grep -o "https://[0-9.:]*" "$DIR/serve.out" | head -1)
/usr/bin/python3 - "$URL" "$TOKEN" "$DIR/data/tls/ca.pem" "$ACC" "$SET" <<'PY'
import http.client, json, ssl, statistics, sys, time, urllib.parse
url, token, ca, acc, want = sys.argv[1:6]
u = urllib.parse.urlparse(url)
ctx = ssl.create_default_context(cafile=ca)
conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
def post(path, body):
    t0 = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Authorization": "Bearer " + token,
                                                     "Content-Type": "application/octet-stream"})
    r = conn.getresponse()
    data = r.read()
    return r.status, json.loads(data), (time.perf_counter() - t0) * 1000
rows = [l.rstrip("\n").split("\t") for l in open(acc + "/manifest.tsv")][1:]
rows = [r + [""] * (5 - len(r)) for r in rows if r[0] == want]
ids = {}
for s, kind, f, src, edit in rows:
    if kind != "bank":
        continue
    status, body, _ = post("/v1/signals/image", open(acc + "/" + f, "rb").read())
    if status != 201:
        sys.exit("submitting %s: %d %s" % (f, status, body))
    ids[f] = body["id"]
lat, caught, by_type, false_matches, edits = [], 0, {}, 0, 0
for s, kind, f, src, edit in rows:
    if kind == "bank":
        continue
    status, body, ms = post("/v1/match/image", open(acc + "/" + f, "rb").read())
    if status != 200:
        sys.exit("matching %s: %d %s" % (f, status, body))
    lat.append(ms)
    matches = body.get("matches", [])
    want_id = ids.get(src)
    false_matches += len({m["id"] for m in matches if m["id"] != want_id})
    if kind == "edited":
        edits += 1
        types = sorted({m["signal_type"] for m in matches if m["id"] == want_id})
        if types:
            caught += 1
            key = "+".join(types)
            by_type[key] = by_type.get(key, 0) + 1
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("POST /v1/match/image, %d queries one at a time: p50 %.1f ms, p99 %.1f ms, mean %.1f ms" %
      (len(lat), p(0.5), p(0.99), statistics.mean(lat)))
print("edited copies matched to their original: %d of %d (%s); false matches: %d" %
      (caught, edits, ", ".join("%s %d" % kv for kv in sorted(by_type.items())), false_matches))
PY
