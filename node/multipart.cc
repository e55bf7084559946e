#include "node/multipart.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hashbank {
namespace {

constexpr size_t kMaxPartHeaders = 8192;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of parameter `name` in a header value's "; name=value" list (quoted or not), or nullopt.
std::optional<std::string> Param(std::string_view header, std::string_view name) {
  constexpr size_t npos = std::string_view::npos;
  size_t i = header.find(';');
  while (i != npos && i < header.size()) {
    ++i;
    const size_t eq = header.find('=', i);
    size_t semi = header.find(';', i);
    if (eq == npos || (semi != npos && semi < eq)) {
      i = semi;
      continue;
    }
    const std::string key = Lower(Trim(header.substr(i, eq - i)));
    size_t j = eq + 1;
    while (j < header.size() && (header[j] == ' ' || header[j] == '\t')) ++j;
    std::string value;
    if (j < header.size() && header[j] == '"') {
      for (++j; j < header.size() && header[j] != '"'; ++j) {
        if (header[j] == '\\' && j + 1 < header.size()) ++j;
        value.push_back(header[j]);
      }
      semi = header.find(';', j);
    } else {
      value = std::string(Trim(header.substr(j, semi == npos ? npos : semi - j)));
    }
    if (key == name) return value;
    i = semi;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> MultipartBoundary(std::string_view content_type) {
  const std::string lower = Lower(content_type);
  if (lower.rfind("multipart/form-data", 0) != 0) return std::nullopt;
  std::optional<std::string> b = Param(content_type, "boundary");
  if (!b || b->empty() || b->size() > 70) return std::nullopt;
  return b;
}

absl::StatusOr<std::vector<MultipartPart>> ParseMultipart(std::string_view content_type, std::string_view body) {
  const std::optional<std::string> boundary = MultipartBoundary(content_type);
  if (!boundary) return absl::InvalidArgumentError("Missing multipart/form-data file upload");
  const std::string delimiter = absl::StrCat("--", *boundary);
  // The first delimiter (a preamble before it is allowed and ignored).
  size_t pos = body.find(delimiter);
  if (pos == std::string_view::npos || (pos != 0 && (pos < 2 || body.substr(pos - 2, 2) != "\r\n"))) {
    return absl::InvalidArgumentError("malformed multipart body: no opening boundary");
  }
  const std::string next_delimiter = absl::StrCat("\r\n", delimiter);
  std::vector<MultipartPart> parts;
  pos += delimiter.size();
  for (;;) {
    if (body.substr(pos, 2) == "--") return parts;  // the closing delimiter
    // Transport padding, then CRLF.
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") return absl::InvalidArgumentError("malformed multipart body: boundary line");
    pos += 2;
    const size_t headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos || headers_end - pos > kMaxPartHeaders) {
      return absl::InvalidArgumentError("malformed multipart body: part headers");
    }
    MultipartPart part;
    bool form_data = false;
    std::string_view headers = body.substr(pos, headers_end - pos);
    while (!headers.empty()) {
      const size_t eol = headers.find("\r\n");
      const std::string_view line = headers.substr(0, eol);
      headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) return absl::InvalidArgumentError("malformed multipart body: header line");
      const std::string name = Lower(Trim(line.substr(0, colon)));
      const std::string_view value = Trim(line.substr(colon + 1));
      if (name == "content-disposition") {
        form_data = Lower(value.substr(0, value.find(';'))) == "form-data";
        if (std::optional<std::string> n = Param(value, "name")) part.name = *n;
        part.filename = Param(value, "filename");
      } else if (name == "content-type") {
        part.content_type = std::string(value);
      }
    }
    if (!form_data || part.name.empty()) {
      return absl::InvalidArgumentError("malformed multipart body: a part without Content-Disposition: form-data; name=");
    }
    pos = headers_end + 4;
    const size_t end = body.find(next_delimiter, pos);
    if (end == std::string_view::npos) return absl::InvalidArgumentError("malformed multipart body: unterminated part");
    part.data = body.substr(pos, end - pos);
    if (parts.size() == kMaxMultipartParts) {
      return absl::InvalidArgumentError(absl::StrCat("multipart body: more than ", kMaxMultipartParts, " parts"));
    }
    parts.push_back(std::move(part));
    pos = end + next_delimiter.size();
  }
}

}  // namespace hashbank
