#include "web/web_assets.h"

namespace hashbank {

const WebAsset* FindWebAsset(std::string_view path) {
  for (const WebAsset& a : WebAssets()) {
    if (path == a.path) return &a;
  }
  return nullptr;
}

}  // namespace hashbank
