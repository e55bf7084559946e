// JSON text for the WebAssembly cores' answers (image_entry.cc, video_entry.cc): the same fields, in the same
// order, as `hashbank hash --json` (node/cli/hash_command.cc, node/api_support.cc's VideoHashesJson), without
// "path" (the SDK adds the file's name). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "hashing/image_hasher.h"
#include "hashing/vpdq.h"

namespace hashbank::wasm {

// A JSON string literal: quotes, backslashes and control characters escaped.
std::string JsonString(std::string_view s);
// {"error":{"code":"INVALID_ARGUMENT","message":"..."}}: the status code's name as absl prints it.
std::string ErrorJson(const absl::Status& status);
std::string ImageJson(const ImageHashes& h);
std::string VideoJson(const VideoHashes& h);

}  // namespace hashbank::wasm
