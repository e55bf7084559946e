#!/usr/bin/env bash
# `hashbank import` speed: N random PDQ hashes, one per line, into a fresh stopped node's bank (durable
# batches of 10 000 with the progress row). Baseline in the same run: importing the same file again with
# --restart, where every record is a duplicate (parsing and the exact-match lookup, no writes).
#
# Usage: bench/import_bench.sh [N=1000000]   (HASHBANK_BIN=path: another build, for an A/B)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
BIN=${HASHBANK_BIN:-./build/hashbank}
DIR=$(mktemp -d /tmp/hashbank-import-bench.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
python3 - "$N" "$DIR/list.txt" <<'PY'
import random, sys
random.seed(1)
with open(sys.argv[2], "w") as f:
    for _ in range(int(sys.argv[1])):
        f.write("%064x\n" % random.getrandbits(256))
PY
# A node's data directory (the first start makes it); stopped again before the import.
timeout 10 $BIN serve --data-dir "$DIR/data" --listen 127.0.0.1:0 >/dev/null 2>&1 || true
/usr/bin/time -f "wall %e s, max RSS %M KB" $BIN import "$DIR/list.txt" --bank BENCH --create-bank --data-dir "$DIR/data"
# The same file again: every record is a duplicate (the exact-match lookup alone, no writes).
$BIN import "$DIR/list.txt" --bank BENCH --restart --data-dir "$DIR/data"
