// Fuzz target for what an HMA client uploads: multipart/form-data bodies (node/multipart.h) under a few
// Content-Type headers, and the Flask-shaped JSON writer (node/hma_json.h) on any JSON the bytes parse to.
// Must never crash or read outside the body; every part's data must lie inside the body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <boost/json.hpp>

#include "node/hma_json.h"
#include "node/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (std::string_view ct : {"multipart/form-data; boundary=B", "multipart/form-data; boundary=\"a b;c\"",
                              "Multipart/Form-Data; charset=x; boundary=--"}) {
    auto parts = hashbank::ParseMultipart(ct, body);
    if (!parts.ok()) continue;
    if (parts->size() > hashbank::kMaxMultipartParts) std::abort();
    for (const hashbank::MultipartPart& p : *parts) {
      if (p.data.data() < body.data() || p.data.data() + p.data.size() > body.data() + body.size()) std::abort();
      if (p.name.empty()) std::abort();
    }
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (!ec) {
    const std::string text = hashbank::HmaJsonText(v);
    if (text.empty() || text.back() != '\n') std::abort();
    for (char c : text) {
      if (static_cast<unsigned char>(c) >= 0x80) std::abort();  // ensure_ascii
    }
  }
  return 0;
}
