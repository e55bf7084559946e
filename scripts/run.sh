#!/usr/bin/env bash
# The README's run command: install dependencies, build, and hash the sample images in tests/data.
# (Once the node exists this starts `hashbank serve` on embedded defaults.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd tests/data/pdq-reference
exec ../../../build/hashbank hash --json images "$@"
