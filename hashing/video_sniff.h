// LooksLikeVideo: tells videos from images by their first bytes, with no decoder (in hashbank_hashing, so the
// WebAssembly image core can ask it without carrying FFmpeg). Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <span>

namespace hashbank {

// True if the first bytes look like a container the video decoder accepts (MP4/MOV, Matroska/WebM, AVI, FLV,
// MPEG-TS, MPEG-PS, Ogg; not HEIF/AVIF stills): what POST /v1/hash and `hashbank hash` use to tell videos
// from images. Give it the first 512 bytes (or the whole file if shorter).
bool LooksLikeVideo(std::span<const uint8_t> head);

}  // namespace hashbank
