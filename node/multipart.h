// ParseMultipart: a multipart/form-data body (RFC 7578) split into its parts, as HMA's upload routes take
// them (the file's form field names the content type: "photo" or "video"). The parts view into the body:
// the body must outlive them. Bounded: at most kMaxMultipartParts parts, part headers at most 8 KiB each;
// the body itself is bounded by the server before it gets here.
//
// Errors (InvalidArgument, with a message for the client): no boundary in the Content-Type, a body that does
// not start with the boundary or never closes it, a part without Content-Disposition: form-data or without a
// name, too many parts. Stateless; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hashbank {

inline constexpr size_t kMaxMultipartParts = 32;

struct MultipartPart {
  std::string name;                     // the form field
  std::optional<std::string> filename;  // present for file uploads
  std::string content_type;             // the part's Content-Type, "" if none
  std::string_view data;
};

// The boundary parameter of a multipart/form-data Content-Type, or nullopt if it is not one.
std::optional<std::string> MultipartBoundary(std::string_view content_type);
absl::StatusOr<std::vector<MultipartPart>> ParseMultipart(std::string_view content_type, std::string_view body);

}  // namespace hashbank
