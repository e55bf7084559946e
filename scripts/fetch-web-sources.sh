#!/usr/bin/env bash
# Downloads, from Debian's archive, the sources of the C libraries that the WebAssembly build of the hashing code
# (scripts/build-wasm.sh) compiles with emscripten: libjpeg-turbo, libpng, zlib, Abseil and FFmpeg, the same upstream
# versions the native node links, with Debian's patches applied (apt-get source runs dpkg-source). Nothing is
# vendored into the repository: the sources land in third_party/debian-src/ (ignored by git).
#
# Needs deb-src entries in APT's sources; adds them to /etc/apt/sources.list.d/debian.sources when missing.
# Idempotent: a package already unpacked is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=third_party/debian-src
mkdir -p "$DEST"
PKGS=(libjpeg-turbo libpng1.6 zlib abseil ffmpeg)

have_all=1
for p in "${PKGS[@]}"; do
  [ -f "$DEST/$p.dir" ] && [ -d "$DEST/$(cat "$DEST/$p.dir")" ] || have_all=0
done
if [ "$have_all" = 1 ]; then
  echo "fetch-web-sources: all ${#PKGS[@]} source packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! apt-cache showsrc zlib 2>/dev/null | grep -q '^Version:'; then
  src=/etc/apt/sources.list.d/debian.sources
  if [ -f "$src" ] && grep -q '^Types: deb$' "$src"; then
    echo "fetch-web-sources: enabling deb-src in $src"
    $SUDO sed -i 's/^Types: deb$/Types: deb deb-src/' "$src"
  elif [ -f /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list; then
    echo "fetch-web-sources: enabling deb-src in /etc/apt/sources.list"
    $SUDO sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | $SUDO tee /etc/apt/sources.list.d/hashbank-deb-src.list >/dev/null
  fi
  $SUDO apt-get update -qq
fi

for p in "${PKGS[@]}"; do
  if [ -f "$DEST/$p.dir" ] && [ -d "$DEST/$(cat "$DEST/$p.dir")" ]; then continue; fi
  work=$(mktemp -d "$DEST/.fetch.XXXXXX")
  ok=0
  # The candidate first; if a mirror lacks it (security updates are not on every mirror), each older version.
  for v in "" $(apt-cache showsrc "$p" | sed -n 's/^Version: //p' | sort -rV); do
    spec="$p"
    [ -n "$v" ] && spec="$p=$v"
    if (cd "$work" && apt-get source -qq "$spec" >/dev/null 2>&1); then ok=1; break; fi
    rm -rf "${work:?}"/*
  done
  if [ "$ok" != 1 ]; then
    echo "fetch-web-sources: cannot download the source of $p (are deb-src entries reachable?)" >&2
    rm -rf "$work"
    exit 1
  fi
  dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -1)
  rm -rf "$DEST/$(basename "$dir")"
  mv "$dir" "$DEST/"
  basename "$dir" >"$DEST/$p.dir"
  rm -rf "$work"
  echo "fetch-web-sources: $p -> $DEST/$(cat "$DEST/$p.dir")"
done
