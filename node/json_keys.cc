#include "node/json_keys.h"

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>

namespace hashbank {
namespace {

namespace json = boost::json;

// basic_parser's handler: one set of keys per open object (arrays push nothing). Returning false with an error
// code stops the parse.
struct KeyHandler {
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  int max_depth = 16;
  int depth = 0;
  std::vector<std::unordered_set<std::string>> objects;  // innermost last
  std::vector<bool> is_object;                           // per open container, innermost last
  std::string key;
  std::optional<std::string> duplicate;

  bool Open(bool object, json::error_code& ec) {
    if (++depth > max_depth) {
      ec = json::error::too_deep;
      return false;
    }
    is_object.push_back(object);
    if (object) objects.emplace_back();
    return true;
  }
  bool Close() {
    --depth;
    if (!is_object.empty()) {
      if (is_object.back()) objects.pop_back();
      is_object.pop_back();
    }
    return true;
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code& ec) { return Open(false, ec); }
  bool on_array_end(std::size_t, json::error_code&) { return Close(); }
  bool on_object_begin(json::error_code& ec) { return Open(true, ec); }
  bool on_object_end(std::size_t, json::error_code&) { return Close(); }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    key.append(s.data(), s.size());
    if (!objects.empty() && !objects.back().insert(key).second) {
      // At most 64 bytes, cut at a character boundary (the message is sent as JSON text).
      size_t n = std::min<size_t>(key.size(), 64);
      if (n < key.size()) {
        while (n > 0 && (static_cast<unsigned char>(key[n]) & 0xC0) == 0x80) --n;
      }
      duplicate = key.substr(0, n);
      ec = json::error::extra_data;  // any code: it only stops the parse
      return false;
    }
    key.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

}  // namespace

std::optional<std::string> FindDuplicateKey(std::string_view text, int max_depth) {
  json::basic_parser<KeyHandler> parser(json::parse_options{});
  parser.handler().max_depth = max_depth;
  json::error_code ec;
  parser.write_some(false, text.data(), text.size(), ec);
  return parser.handler().duplicate;
}

}  // namespace hashbank
