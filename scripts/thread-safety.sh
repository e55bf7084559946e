#!/usr/bin/env bash
# Builds the libraries that hold locks (storage, node) with clang and -Wthread-safety as errors, so every
# ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotation is checked. Output in ./build-tsa.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=clang CXX=clang++ cmake -S . -B build-tsa -G Ninja -DHASHBANK_THREAD_SAFETY=ON -DHASHBANK_WEB_SDK=OFF -DHASHBANK_WERROR=ON \
  -DHASHBANK_BUILD_TESTS=OFF -DHASHBANK_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsa --target hashbank_storage hashbank_matcher hashbank_embedding hashbank_node
echo "thread-safety: hashbank_storage, hashbank_matcher, hashbank_embedding and hashbank_node build clean with -Wthread-safety"
