#!/usr/bin/env bash
# Video hashing speed on one core: `hashbank hash` (in-process FFmpeg decode + vPDQ) on 30 s H.264 clips at
# 480p and 1080p, sampling one frame a second (the node's default) and every frame (the reference's default).
# Clips are made with the ffmpeg command from a photo in a Debian package (a slow pan, like filmed footage)
# into a temporary directory. Prints seconds of video per second of wall time (x real time).
# Also times what a node banks (one frame a second and 8 keyframes' local features, `--json`), and FFmpeg's own decode of the same file (the `ffmpeg` command, one thread, no output): the floor no
# hasher of every frame's sampling can go below.
# Usage: bench/video_hash_bench.sh [build dir = build]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
PHOTO=/usr/share/backgrounds/mate/nature/Storm.jpg
[ -f "$PHOTO" ] || PHOTO=tests/data/pdq-reference/images/$(ls tests/data/pdq-reference/images | head -1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for size in 854x480 1920x1080; do
  ffmpeg -v error -y -loop 1 -framerate 30 -t 30 -i "$PHOTO" -vf "scale=2560:1440:force_original_aspect_ratio=increase,crop=2560:1440,zoompan=z='1.1+0.2*on/900':x='(iw-iw/zoom)*on/900':y='(ih-ih/zoom)/2':d=1:s=$size:fps=30" \
    -t 30 -c:v libx264 -preset medium -crf 23 -pix_fmt yuv420p "$tmp/$size.mp4"
done
for size in 854x480 1920x1080; do
  start=$(date +%s.%N)
  taskset -c 0 ffmpeg -v error -threads 1 -i "$tmp/$size.mp4" -f null -
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v size="$size" 'BEGIN { printf "%-9s ffmpeg decode only: %.2f s wall = %.1fx real time\n", size, e - s, 30 / (e - s) }'
  # "1+" decodes every frame although one a second is hashed (--decode-every-frame): the baseline of skipping
  # the frames that are neither hashed nor referred to (the default); both print the same hashes.
  for interval in 1 1+ 0; do
    extra=""
    [ "$interval" = "1+" ] && extra=--decode-every-frame
    start=$(date +%s.%N)
    taskset -c 0 "$BUILD/hashbank" hash -j 1 --frame-interval "${interval%+}" $extra "$tmp/$size.mp4" > "$tmp/out$interval.txt"
    end=$(date +%s.%N)
    frames=$(wc -l < "$tmp/out$interval.txt")
    awk -v s="$start" -v e="$end" -v f="$frames" -v size="$size" -v i="$interval" \
      'BEGIN { w = e - s; printf "%-9s every %-18s %4d frames hashed, %.2f s wall for 30 s of video = %.1fx real time, %.0f frames hashed/s\n", size, (i == 0 ? "frame:" : (i == "1+" ? "1 s, all decoded:" : i " s:")), f, w, 30 / w, f / w }'
  done
  cmp -s "$tmp/out1.txt" "$tmp/out1+.txt" || { echo "$size: skipping changed the hashes" >&2; exit 1; }
  # What a node banks: one frame a second plus 8 keyframes' local features (--json prints them).
  start=$(date +%s.%N)
  taskset -c 0 "$BUILD/hashbank" hash -j 1 --json --frame-interval 1 "$tmp/$size.mp4" > "$tmp/out.json"
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v size="$size" \
    'BEGIN { w = e - s; printf "%-9s every 1 s with 8 keyframes (--json): %.2f s wall = %.1fx real time\n", size, w, 30 / w }'
done
