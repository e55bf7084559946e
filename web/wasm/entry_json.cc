#include "web/wasm/entry_json.h"

#include <cmath>
#include <cstdio>
#include <optional>
#include <span>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "hashing/hash256.h"
#include "hashing/robust_fingerprint.h"

namespace hashbank::wasm {
namespace {

std::string Hex(std::span<const uint8_t> d) { return BytesToHex(d.data(), d.size()); }

// The shortest text that reads back as the same double.
std::string JsonNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// As node/api_support.cc rounds the video's times.
double Round3(double x) { return std::round(x * 1000) / 1000; }

}  // namespace

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string ErrorJson(const absl::Status& status) {
  return absl::StrCat("{\"error\":{\"code\":", JsonString(absl::StatusCodeToString(status.code())),
                      ",\"message\":", JsonString(std::string(status.message())), "}}");
}

std::string ImageJson(const ImageHashes& h) {
  std::string out = absl::StrCat("{\"pdq\":\"", h.pdq.ToHex(), "\",\"quality\":", h.quality, ",\"md5\":\"",
                                 Hex(h.exact.md5), "\",\"sha256\":\"", Hex(h.exact.sha256), "\",\"width\":", h.width,
                                 ",\"height\":", h.height, ",\"format\":\"", std::string(ImageFormatName(h.format)),
                                 "\"");
  if (std::optional<std::string> robust = BankableRobust(h.features, h.width, h.height)) {
    absl::StrAppend(&out, ",\"robust\":\"", absl::Base64Escape(*robust), "\"");
  }
  if (h.dihedral) {
    out += ",\"dihedral\":{";
    for (int i = 0; i < kNumDihedral; ++i) {
      absl::StrAppend(&out, i == 0 ? "" : ",", "\"", std::string(DihedralName(static_cast<Dihedral>(i))), "\":\"",
                      (*h.dihedral)[static_cast<size_t>(i)].ToHex(), "\"");
    }
    out += "}";
  }
  out += "}";
  return out;
}

std::string VideoJson(const VideoHashes& h) {
  std::string out = absl::StrCat("{\"type\":\"video\",\"md5\":\"", Hex(h.exact.md5), "\",\"sha256\":\"",
                                 Hex(h.exact.sha256), "\",\"width\":", h.info.width, ",\"height\":", h.info.height,
                                 ",\"codec\":", JsonString(h.info.codec), ",\"frame_rate\":",
                                 JsonNumber(Round3(h.info.frame_rate)), ",\"duration\":",
                                 JsonNumber(Round3(h.info.duration_seconds)), ",\"seconds_per_frame\":",
                                 JsonNumber(h.seconds_per_frame), ",\"vpdq\":[");
  for (size_t i = 0; i < h.frames.size(); ++i) {
    const VpdqFrame& f = h.frames[i];
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"frame\":", f.frame_number, ",\"quality\":", f.quality,
                    ",\"pdq\":\"", f.pdq.ToHex(), "\",\"timestamp\":", JsonNumber(Round3(f.timestamp)), "}");
  }
  out += "]";
  // The keyframes a node banks, as the node's VideoHashesJson prints them.
  std::string keyframes;
  for (const auto& [fp, time] : BankableKeyframes(h)) {
    absl::StrAppend(&keyframes, keyframes.empty() ? "" : ",", "{\"timestamp\":", JsonNumber(Round3(time)),
                    ",\"robust\":\"", absl::Base64Escape(fp), "\"}");
  }
  if (!keyframes.empty()) absl::StrAppend(&out, ",\"vpdq_keyframes\":[", keyframes, "]");
  out += "}";
  return out;
}

}  // namespace hashbank::wasm
