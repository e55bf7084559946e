#include "config/quoted.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace hashbank {

std::string Quoted(std::string_view text) {
  const bool cut = text.size() > kMaxQuotedChars;
  const std::string shown(cut ? text.substr(0, kMaxQuotedChars) : text);
  return absl::StrCat("\"", absl::CHexEscape(shown), cut ? "...\"" : "\"");
}

}  // namespace hashbank
