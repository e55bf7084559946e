// UTF-8 well-formedness: what protobuf's proto3 `string` fields and JSON require of text. Stateless,
// thread-safe, no errors (nullopt / false for malformed input).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace hashbank {

// The characters (Unicode code points) of `s` if it is well-formed UTF-8 (no overlong forms, surrogates or
// values over U+10FFFF), else nullopt.
std::optional<size_t> Utf8Characters(std::string_view s);
inline bool IsUtf8(std::string_view s) { return Utf8Characters(s).has_value(); }

}  // namespace hashbank
