#include "hashing/video_sniff.h"

#include <cstring>
#include <string_view>

namespace hashbank {

bool LooksLikeVideo(std::span<const uint8_t> h) {
  auto at = [&](size_t off, std::string_view s) {
    return h.size() >= off + s.size() && std::memcmp(h.data() + off, s.data(), s.size()) == 0;
  };
  if (at(4, "ftyp")) {
    // ISO BMFF: HEIF and AVIF still images share the box structure; their major brand says so.
    for (std::string_view brand : {"heic", "heix", "heim", "heis", "mif1", "msf1", "avif", "avis"}) {
      if (at(8, brand)) return false;
    }
    return true;
  }
  for (std::string_view box : {"moov", "mdat", "wide", "free", "skip", "pnot"}) {
    if (at(4, box)) return true;  // QuickTime without an ftyp box
  }
  if (at(0, "\x1A\x45\xDF\xA3")) return true;                // Matroska, WebM
  if (at(0, "RIFF") && at(8, "AVI ")) return true;           // AVI
  if (at(0, "FLV\x01")) return true;                         // FLV
  if (at(0, "OggS")) return true;                            // Ogg
  if (at(0, std::string_view("\x00\x00\x01\xBA", 4))) return true;  // MPEG program stream
  if (at(0, "GIF8")) return false;
  if (h.size() > 376 && h[0] == 0x47 && h[188] == 0x47 && h[376] == 0x47) return true;  // MPEG-TS
  if (h.size() > 388 && h[4] == 0x47 && h[196] == 0x47 && h[388] == 0x47) return true;  // M2TS (192-byte packets)
  return false;
}

}  // namespace hashbank
