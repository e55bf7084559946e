// `hashbank hash`: hash image and video files and print, per image, one line in the PDQ reference tool's
// formats, per video its vPDQ in the vPDQ reference's text format (`frame,quality,pdq,timestamp` lines, after a
// `# path` line when several files are hashed), or one JSON object per file (--json). Files are told apart
// by their first bytes (LooksLikeVideo). Bad files are reported on `err` (one line naming the file and the
// reason) and the rest are still hashed. A video's progress is drawn on `err` when `progress` is set (a
// terminal). Returns the process exit code: 0 if every file hashed, 1 otherwise.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "hashing/image_decoder.h"
#include "hashing/video_decoder.h"

namespace hashbank {

struct HashCommandOptions {
  std::vector<std::string> paths;  // files, directories (recursed, sorted) or "-" for stdin
  bool dihedral = false;           // the reference's --pdqdih-across layout
  bool json = false;               // one JSON object per line
  int jobs = 0;                    // worker threads; 0 = one per core
  ImageLimits limits;
  VideoLimits video_limits;
  double video_frame_interval = 1.0;  // seconds between hashed frames; 0 = every frame (the reference's default)
  bool decode_every_frame = false;    // decode unsampled non-reference frames too (VideoDecodeOptions)
  bool progress = false;              // draw a progress line for videos on `err`
};

int RunHashCommand(const HashCommandOptions& options, std::ostream& out, std::ostream& err);

}  // namespace hashbank
