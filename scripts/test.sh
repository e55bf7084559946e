#!/usr/bin/env bash
# The README's test command: install dependencies, build with -Werror, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j "$(nproc)"
