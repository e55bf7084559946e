#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (./build-fuzz) and runs each for a bounded time.
# Usage: scripts/fuzz.sh [seconds per target = 20]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DHASHBANK_BUILD_BENCH=OFF -DHASHBANK_WEB_SDK=OFF -DHASHBANK_WERROR=ON >/dev/null
TARGETS=(fuzz_merkle_proofs fuzz_log_segment fuzz_robust_fingerprint fuzz_video_decoder fuzz_multipart)
cmake --build build-fuzz --target "${TARGETS[@]}"
for t in "${TARGETS[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  echo "fuzz: $t for ${SECS}s"
  seeds=()  # read-only seed inputs (libFuzzer writes new ones to the first directory only)
  if [[ $t == fuzz_video_decoder ]]; then seeds=(tests/data/vpdq-reference/videos); fi
  "./build-fuzz/tests/fuzz/$t" -max_total_time="$SECS" -print_final_stats=0 "build-fuzz/corpus/$t" "${seeds[@]}" 2>&1 | tail -2
done
echo "fuzz: all targets ran ${SECS}s without a crash"
