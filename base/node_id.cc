#include "base/node_id.h"

#include "absl/strings/str_cat.h"

namespace hashbank {
namespace {

bool IsLowerLetterOrDigit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsNodeIdCharacter(char c) { return IsLowerLetterOrDigit(c) || c == '.' || c == '_' || c == '-'; }

}  // namespace

absl::Status ValidateNodeIdUnlabelled(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("is empty");
  if (id.size() > kMaxNodeIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("is ", id.size(), " characters, the limit is ", kMaxNodeIdLength));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    if (!IsNodeIdCharacter(id[i])) {
      return absl::InvalidArgumentError(absl::StrCat("has a character outside [a-z0-9._-] at position ", i));
    }
  }
  if (!IsLowerLetterOrDigit(id.front())) return absl::InvalidArgumentError("must start with a letter or a digit");
  return absl::OkStatus();
}

absl::Status ValidateNodeId(std::string_view id) {
  absl::Status status = ValidateNodeIdUnlabelled(id);
  if (status.ok()) return status;
  return absl::InvalidArgumentError(absl::StrCat("node id ", status.message()));
}

}  // namespace hashbank
