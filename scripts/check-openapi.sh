#!/usr/bin/env bash
# Validates docs/api/openapi.yaml with a real OpenAPI 3 validator (@seriousme/openapi-schema-validator, pinned
# in tools/openapi/package-lock.json, installed by scripts/setup.sh) and checks every local $ref resolves.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d tools/openapi/node_modules/@seriousme/openapi-schema-validator ]; then
  (cd tools/openapi && npm ci --no-audit --no-fund --silent)
fi
node tools/openapi/validate.mjs docs/api/openapi.yaml
