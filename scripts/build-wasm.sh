#!/usr/bin/env bash
# Builds the WebAssembly hashing core of the browser SDK: the project's own hashing code (hashing/), with
# libjpeg-turbo, libpng, zlib and Abseil compiled from Debian's sources (scripts/fetch-web-sources.sh) by
# Debian's emscripten. Output: OUT/hashbank_core.{mjs,wasm} (images) and OUT/hashbank_video_core.{mjs,wasm}.
#
# Usage: scripts/build-wasm.sh OUT_DIR
# The libraries are built once into OUT_DIR/deps (a stamp per library); the core is rebuilt incrementally.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "${1:?usage: build-wasm.sh OUT_DIR}" && cd "$1" && pwd)
SRC="$ROOT/third_party/debian-src"
DEPS="$OUT/deps"
JOBS=${HASHBANK_WASM_JOBS:-$(nproc)}
# Debian's emscripten runs its optimiser under the system Node.js, which finds Debian's acorn only here.
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}



if ! command -v emcmake >/dev/null 2>&1; then
  echo "build-wasm: emscripten is not installed (run scripts/setup.sh)" >&2
  exit 1
fi
for p in libjpeg-turbo libpng1.6 zlib abseil ffmpeg; do
  if [ ! -f "$SRC/$p.dir" ]; then
    echo "build-wasm: the source of $p is missing (run scripts/fetch-web-sources.sh)" >&2
    exit 1
  fi
done
src_of() { echo "$SRC/$(cat "$SRC/$1.dir")"; }

# Same code generation for every library as for the core: -O2, no fast-math, no FMA contraction (WebAssembly
# has none, which is also what keeps PDQ's float arithmetic identical to the native build).
COMMON=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$DEPS" -DCMAKE_PREFIX_PATH="$DEPS"
        -DCMAKE_FIND_ROOT_PATH="$DEPS" -DCMAKE_POSITION_INDEPENDENT_CODE=OFF -DBUILD_SHARED_LIBS=OFF
        -DCMAKE_C_FLAGS="-O2" -DCMAKE_CXX_FLAGS="-O2")

build_dep() {  # name source-dir cmake-args...
  local name=$1 dir=$2
  shift 2
  local stamp="$DEPS/.$name.stamp"
  local want
  want=$(cat "$SRC/$(basename "$dir").dir" 2>/dev/null || basename "$dir")
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want $*" ]; then return 0; fi
  echo "build-wasm: building $name for WebAssembly"
  rm -rf "$OUT/build-$name"
  emcmake cmake -S "$dir" -B "$OUT/build-$name" "${COMMON[@]}" "$@" >"$OUT/build-$name.log" 2>&1 ||
    { tail -30 "$OUT/build-$name.log" >&2; exit 1; }
  cmake --build "$OUT/build-$name" -j "$JOBS" >>"$OUT/build-$name.log" 2>&1 ||
    { tail -30 "$OUT/build-$name.log" >&2; exit 1; }
  cmake --install "$OUT/build-$name" >>"$OUT/build-$name.log" 2>&1 ||
    { tail -30 "$OUT/build-$name.log" >&2; exit 1; }
  echo "$want $*" >"$stamp"
}

mkdir -p "$DEPS"
# zlib: Debian's dfsg tarball drops files its CMake project names (win32/), so its dozen C files are compiled
# directly.
build_zlib() {
  local dir stamp="$DEPS/.zlib.stamp"
  dir=$(src_of zlib)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(cat "$SRC/zlib.dir")" ]; then return 0; fi
  echo "build-wasm: building zlib for WebAssembly"
  rm -rf "$OUT/build-zlib" && mkdir -p "$OUT/build-zlib" "$DEPS/include" "$DEPS/lib"
  local objs=()
  # zconf.h as zlib's configure writes it for a platform with unistd.h.
  [ -f "$dir/zconf.h" ] && cp "$dir/zconf.h" "$OUT/build-zlib/zconf.h" || cp "$dir/zconf.h.in" "$OUT/build-zlib/zconf.h"
  for f in adler32 compress crc32 deflate gzclose gzlib gzread gzwrite infback inffast inflate inftrees trees \
           uncompr zutil; do
    emcc -O2 -DHAVE_UNISTD_H -I"$OUT/build-zlib" -c "$dir/$f.c" -o "$OUT/build-zlib/$f.o"
    objs+=("$OUT/build-zlib/$f.o")
  done
  rm -f "$DEPS/lib/libz.a"
  emar rcs "$DEPS/lib/libz.a" "${objs[@]}"
  cp "$dir/zlib.h" "$OUT/build-zlib/zconf.h" "$DEPS/include/"
  cat "$SRC/zlib.dir" >"$stamp"
}
build_zlib
build_dep libpng "$(src_of libpng1.6)" -DPNG_SHARED=OFF -DPNG_STATIC=ON -DPNG_TESTS=OFF -DPNG_EXECUTABLES=OFF \
  -DPNG_HARDWARE_OPTIMIZATIONS=OFF -DZLIB_INCLUDE_DIR="$DEPS/include" -DZLIB_LIBRARY="$DEPS/lib/libz.a" \
  -Dld-version-script=OFF
# libjpeg-turbo takes a relative CMAKE_INSTALL_LIBDIR relative to the working directory: an absolute one.
# CMake's check_type_size misreads emscripten's objects (size_t came out as 9); wasm32's sizes are given.
build_dep libjpeg-turbo "$(src_of libjpeg-turbo)" -DENABLE_SHARED=OFF -DENABLE_STATIC=ON -DWITH_SIMD=OFF \
  -DWITH_TURBOJPEG=OFF -DWITH_JAVA=OFF -DCMAKE_INSTALL_LIBDIR="$DEPS/lib" \
  -DHAVE_SIZE_T=TRUE -DSIZE_T=4 -DHAVE_UNSIGNED_LONG=TRUE -DUNSIGNED_LONG=4
build_dep abseil "$(src_of abseil)" -DABSL_PROPAGATE_CXX_STD=ON -DCMAKE_CXX_STANDARD=20 -DBUILD_TESTING=OFF \
  -DABSL_BUILD_TESTING=OFF -DCMAKE_INSTALL_LIBDIR=lib

# FFmpeg: the demuxers and decoders hashing/video_decoder.cc accepts (its kContainers and kProbeDecoders, AV1
# excepted: the node decodes it with libdav1d, not built here), the raw demuxers FFmpeg probes an MPEG-PS or -TS
# stream's codec with (libavformat's fmt_id_type table), swscale (the node runs its C code too:
# av_force_cpu_flags(0)) and swresample (the opus decoder needs it). No assembly, threads, network or programs.
FFMPEG_FLAGS=(--target-os=none --arch=x86_32 --enable-cross-compile --disable-asm --disable-x86asm
  --disable-inline-asm --disable-programs --disable-doc --disable-debug --disable-runtime-cpudetect
  --disable-autodetect --disable-network --disable-pthreads --disable-w32threads --disable-os2threads
  --disable-everything --disable-avdevice --disable-avfilter --disable-postproc --enable-avformat --enable-avcodec
  --enable-swscale --enable-swresample
  --enable-decoder=h264,hevc,vp8,vp9,mpeg4,mpeg2video,mpeg1video,mjpeg,theora,h263,flv,aac,mp3float,mp3,opus,vorbis,flac,pcm_s16le,pcm_s24le,pcm_f32le,ac3,eac3,alac
  --enable-demuxer=mov,matroska,avi,flv,mpegts,mpegps,ogg,mpegvideo,m4v,h264,hevc,mjpeg,aac,ac3,eac3,mp3,loas
  --enable-parser=h264,hevc,vp8,vp9,mpeg4video,mpegvideo,mjpeg,h263,aac,mpegaudio,opus,vorbis,flac,ac3)
build_ffmpeg() {
  local dir stamp="$DEPS/.ffmpeg.stamp" want
  dir=$(src_of ffmpeg)
  want="$(cat "$SRC/ffmpeg.dir") ${FFMPEG_FLAGS[*]}"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  echo "build-wasm: building FFmpeg for WebAssembly (a few minutes)"
  rm -rf "$OUT/build-ffmpeg" && mkdir -p "$OUT/build-ffmpeg"
  (cd "$OUT/build-ffmpeg" &&
   emconfigure "$dir/configure" --prefix="$DEPS" --cc=emcc --cxx=em++ --ar=emar --ranlib=emranlib --nm=emnm \
     "${FFMPEG_FLAGS[@]}" --extra-cflags=-O2 >"$OUT/build-ffmpeg.log" 2>&1 &&
   emmake make -j "$JOBS" >>"$OUT/build-ffmpeg.log" 2>&1 &&
   emmake make install >>"$OUT/build-ffmpeg.log" 2>&1) || { tail -30 "$OUT/build-ffmpeg.log" >&2; exit 1; }
  echo "$want" >"$stamp"
}
build_ffmpeg

echo "build-wasm: building the hashing core"
if [ ! -f "$OUT/build-core/build.ninja" ]; then
  emcmake cmake -S "$ROOT/web/wasm" -B "$OUT/build-core" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DHASHBANK_ROOT="$ROOT" -DHASHBANK_WASM_DEPS="$DEPS" -DCMAKE_PREFIX_PATH="$DEPS" -DCMAKE_FIND_ROOT_PATH="$DEPS" \
    >"$OUT/build-core.log" 2>&1 || { tail -30 "$OUT/build-core.log" >&2; exit 1; }
fi
cmake --build "$OUT/build-core" -j "$JOBS" >>"$OUT/build-core.log" 2>&1 || { tail -40 "$OUT/build-core.log" >&2; exit 1; }
for core in hashbank_core hashbank_video_core; do
  cp "$OUT/build-core/$core.mjs" "$OUT/build-core/$core.wasm" "$OUT/"
  echo "build-wasm: $OUT/$core.wasm ($(stat -c %s "$OUT/$core.wasm") bytes)"
done
