#!/usr/bin/env bash
# The README's run command: install dependencies, build, and start a node on embedded defaults
# (data in ./hashbank-data, a development salt, CA and server certificate generated on first start, the
# member API on https://127.0.0.1:8443, an admin token printed once). Extra arguments go to `hashbank serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec ./build/hashbank serve "$@"
