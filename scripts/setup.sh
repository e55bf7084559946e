#!/usr/bin/env bash
# Installs every Debian 12 package hashbank needs to build, test and benchmark.
# Idempotent: packages already installed are skipped. Needs root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache git curl ca-certificates
  # libraries the project links
  libboost1.81-dev libboost-json1.81-dev libboost-system1.81-dev
  libabsl-dev libcli11-dev libyaml-cpp-dev
  libjpeg62-turbo-dev libpng-dev zlib1g-dev
  # video: FFmpeg's libraries decode in process (hashing/video_decoder)
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
  # image embeddings: an ONNX model run by OpenCV's DNN module (embedding/); python3-onnx makes the tests' model
  libopencv-dnn-dev python3-onnx
  libssl-dev libsodium-dev
  librocksdb-dev
  libprotobuf-dev protobuf-compiler
  # vector index k-means (a static library; links BLAS, LAPACK, OpenMP); OpenBLAS as the BLAS behind it
  libfaiss-dev liblapack-dev libopenblas0-pthread
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # the ffmpeg command makes edited clips for the video tests and tools/acceptance (never used by the node)
  ffmpeg
  # fuzz targets (scripts/fuzz.sh, run by scripts/test.sh): clang with libFuzzer and the sanitizers
  clang libclang-rt-14-dev
  # HTTP load generator for bench/api_bench.sh
  wrk
  # validates docker-compose.yml in CI (docker-compose -f docker-compose.yml config)
  docker-compose
  # the browser SDK's WebAssembly core (scripts/build-wasm.sh): emscripten, whose optimiser needs Debian's
  # acorn; dpkg-dev unpacks the Debian library sources it compiles (scripts/fetch-web-sources.sh)
  emscripten node-acorn dpkg-dev
  # browser tests (tests/browser): Debian's chromium, driven by playwright-core; ImageMagick makes their images
  chromium imagemagick
)
# Node.js and npm validate docs/api/openapi.yaml (scripts/check-openapi.sh). Machines that already have a
# node and npm (e.g. from another source) keep theirs; otherwise Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

install_npm_tools() {
  # npm packages, pinned by package-lock.json (npm ci installs exactly those versions). Absent in a Docker
  # build stage that copies only this script: nothing to install there.
  if [ -f tools/openapi/package-lock.json ]; then
    (cd tools/openapi && npm ci --no-audit --no-fund --silent)
  fi
  # playwright-core drives the system chromium: never let it download a browser.
  if [ -f tests/browser/package-lock.json ]; then
    (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
  fi
  # The Debian sources of the libraries the WebAssembly core compiles (absent in a Docker stage without them).
  if [ -f scripts/fetch-web-sources.sh ]; then
    bash scripts/fetch-web-sources.sh
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  install_npm_tools
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_npm_tools
