// Quoted: a piece of untrusted text (a config value, an environment variable) made safe to put in an error
// message: in double quotes, C-escaped (so control characters, quotes and bytes that are not printable ASCII
// cannot forge or break a log line), and cut after kMaxQuotedChars characters of input with "...".
// No errors; pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hashbank {

inline constexpr size_t kMaxQuotedChars = 64;

std::string Quoted(std::string_view text);

}  // namespace hashbank
