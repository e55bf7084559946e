#!/usr/bin/env bash
# The README's test command: install dependencies, build with -Werror, validate docker-compose.yml, fuzz
# every parser of peer bytes for a bounded time (clang + libFuzzer + ASan/UBSan), run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Module dependencies point one way (docs/architecture.md): checked on the #include lines.
bash scripts/check-deps.sh
bash scripts/build.sh
# The member API's OpenAPI document must be valid (a real OpenAPI 3 validator; every $ref resolves).
bash scripts/check-openapi.sh
# The 3-node federation's compose file must stay valid (no Docker engine is needed for this check).
docker-compose -f docker-compose.yml config -q
bash scripts/fuzz.sh 20
# Lock annotations (ABSL_GUARDED_BY ...) checked by clang's -Wthread-safety, as errors.
bash scripts/thread-safety.sh
cd build
ctest --output-on-failure --timeout 900 -j "$(nproc)"
