// VideoDecoder: decode a video file held in memory with FFmpeg's libraries (libavformat, libavcodec,
// libswscale), in process, and hand every sampled frame to a callback as packed RGB24 — exactly the buffer
// Meta's vPDQ reference (facebook/ThreatExchange vpdq/cpp) hashes: the decoder's frame converted by
// sws_scale with SWS_AREA to the stream's width x height (or to a fixed downsample size).
//
// Nothing touches the disk: the bytes are read through a custom AVIOContext (seekable, so MP4s with the
// index at the end work), and the demuxer may open nothing else (io_open refuses; HLS, concat and every
// other demuxer that follows references are not on the format whitelist).
//
// Hostile input is bounded, as early as the container allows:
//   - file size before anything is parsed; probe size and analysis duration while probing;
//   - width, height and pixels from the stream header, and again for every decoded frame (the size may
//     change mid-stream);
//   - duration from the container when it says, and from frame timestamps while decoding when it does not;
//   - decoded frames and decode wall time while decoding.
// Errors (a specific message; never a crash, never a partial result):
//   InvalidArgument     empty, unrecognised, truncated or corrupt data; no video stream; no frame decoded
//   ResourceExhausted   over a limit (the message names which)
//   Unimplemented       a container or codec this decoder does not accept (the message names it)
//   DeadlineExceeded    decoding took longer than max_decode_seconds
// Thread-safe: no shared state between calls (FFmpeg's own globals are initialised once, thread-safely).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "hashing/video_sniff.h"  // LooksLikeVideo

namespace hashbank {

struct VideoLimits {
  size_t max_file_bytes = size_t{512} << 20;  // 512 MiB
  double max_duration_seconds = 2 * 3600;     // two hours
  int max_width = 8192;
  int max_height = 8192;
  uint64_t max_pixels = 8192ull * 4352;       // 8K UHD
  uint64_t max_frames = 500'000;              // decoded, sampled or not (about 4.6 h at 30 fps)
  double max_decode_seconds = 600;            // wall time
};

// What the container and the first decoded frames say about the video.
struct VideoInfo {
  std::string container;   // FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  std::string codec;       // e.g. "h264"
  int width = 0;           // the stream's (what frames are converted to unless downsampled)
  int height = 0;
  double frame_rate = 0;   // average frame rate (r_frame_rate when the average is unknown)
  double duration_seconds = 0;  // the container's, or the last frame's timestamp when it says nothing
  // Frames of the stream up to the last one decoded, in output order. Frames not decoded because they were
  // not sampled and no other frame refers to them (VideoDecodeOptions::decode_every_frame) are counted.
  uint64_t decoded_frames = 0;
  uint64_t skipped_frames = 0;  // of those, frames whose decoding was skipped
};

// One frame as the callback sees it: valid only during the call.
struct RgbFrame {
  const uint8_t* pixels = nullptr;  // packed RGB24 rows
  int width = 0;
  int height = 0;
  int stride = 0;                   // bytes per row (>= 3 * width)
  uint64_t number = 0;              // 0-based index of the frame in output (presentation) order
};

struct VideoDecodeOptions {
  // Hash every frame whose number is a multiple of max(1, int(seconds_per_frame * frame_rate)): the
  // reference's rule. 0 = every frame (the reference tool's default); 1 = one a second (pytx, HMA).
  double seconds_per_frame = 1.0;
  // Convert frames to this size instead of the stream's (the reference's -s option); 0 = the stream's.
  int downsample_width = 0;
  int downsample_height = 0;
  // H.264 and HEVC in MP4/MOV or Matroska: a frame that is not sampled and that no other frame refers to (a
  // non-reference frame; most B-frames) is not decoded at all. Frame numbers come from the container's
  // presentation timestamps, read in a demux-only pass first, so the sampled frames and their pixels are
  // exactly those of a decode of every frame (tests compare the two). true decodes every frame regardless
  // (for comparisons; slower at one frame a second by about a third for x264's default B-frames).
  bool decode_every_frame = false;
};

// Called for each sampled frame in order; a non-OK status stops decoding and is returned.
using FrameSink = std::function<absl::Status(const RgbFrame& frame, const VideoInfo& info)>;

// Decodes `file` and calls `sink` for every sampled frame. `info` (may be null) receives what was learnt,
// also on error where known.
absl::Status DecodeVideo(std::span<const uint8_t> file, const VideoLimits& limits, const VideoDecodeOptions& options,
                         const FrameSink& sink, VideoInfo* info);

}  // namespace hashbank
