// The node's embedded web files (web/CMakeLists.txt assembles them into the binary): the case page, the member
// dashboard and the browser SDK, each with its path on the server and content type.
//
// Immutable data with static storage; thread-safe. FindWebAsset returns nullptr for an unknown path.
#pragma once

#include <span>
#include <string_view>

namespace hashbank {

struct WebAsset {
  const char* path;          // "/", "/sdk/hashbank.js", ...
  const char* content_type;  // "text/html; charset=utf-8", ...
  const char* begin;
  const char* end;
  std::string_view bytes() const { return {begin, static_cast<size_t>(end - begin)}; }
};

// Every embedded file (generated table).
std::span<const WebAsset> WebAssets();
// Whether the SDK's WebAssembly core was built into this binary (HASHBANK_WEB_SDK).
bool WebSdkCoreBuilt();
const WebAsset* FindWebAsset(std::string_view path);

}  // namespace hashbank
