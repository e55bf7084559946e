#include "config/listen_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "absl/strings/str_cat.h"
#include "config/quoted.h"

namespace hashbank {
namespace {

constexpr size_t kMaxHostnameLength = 253;
constexpr size_t kMaxLabelLength = 63;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool IsIpv4Literal(const std::string& host) {
  in_addr addr{};
  return ::inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

bool IsIpv6Literal(const std::string& host) {
  in6_addr addr{};
  return ::inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

// RFC 1123: dot-separated labels of 1..63 letters, digits and hyphens, no hyphen at either end of a label.
bool IsHostname(std::string_view host) {
  if (host.empty() || host.size() > kMaxHostnameLength) return false;
  size_t label_start = 0;
  for (size_t i = 0; i <= host.size(); ++i) {
    if (i < host.size() && host[i] != '.') {
      const char c = host[i];
      if (!IsLetter(c) && !IsDigit(c) && c != '-') return false;
      continue;
    }
    const std::string_view label = host.substr(label_start, i - label_start);
    if (label.empty() || label.size() > kMaxLabelLength || label.front() == '-' || label.back() == '-') return false;
    label_start = i + 1;
  }
  return true;
}

bool LooksLikeIpv4(std::string_view host) {
  for (const char c : host) {
    if (!IsDigit(c) && c != '.') return false;
  }
  return true;
}

absl::StatusOr<uint16_t> ParsePort(std::string_view port, std::string_view text) {
  if (port.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Quoted(text), " has an empty port; expected host:port"));
  }
  uint32_t value = 0;
  for (const char c : port) {
    if (!IsDigit(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quoted(text), " has a port that is not a decimal number: ", Quoted(port)));
    }
    value = value * 10 + static_cast<uint32_t>(c - '0');
    if (value > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quoted(text), " has port ", std::string(port), ", outside 0..65535"));
    }
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

std::string ListenAddress::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

bool IsValidHost(std::string_view host) {
  const std::string copy(host);
  if (host.find(':') != std::string_view::npos) return IsIpv6Literal(copy);
  if (LooksLikeIpv4(host)) return IsIpv4Literal(copy);
  return IsHostname(host);
}

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("is empty; expected host:port");
  ListenAddress out;
  std::string_view port;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(Quoted(text), " has no ']' after an IPv6 address"));
    }
    out.host = std::string(text.substr(1, close - 1));
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return absl::InvalidArgumentError(absl::StrCat(Quoted(text), " has no port; expected [ipv6]:port"));
    }
    if (!IsIpv6Literal(out.host)) {
      return absl::InvalidArgumentError(absl::StrCat(Quoted(text), " has an invalid IPv6 address in brackets"));
    }
    port = rest.substr(1);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(Quoted(text), " has no port; expected host:port"));
    }
    const std::string_view host = text.substr(0, colon);
    if (host.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quoted(text), " has no host; use 0.0.0.0 or [::] to listen on every interface"));
    }
    if (host.find(':') != std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quoted(text), " has an IPv6 address without brackets; write [address]:port"));
    }
    out.host = std::string(host);
    if (LooksLikeIpv4(host)) {
      if (!IsIpv4Literal(out.host)) {
        return absl::InvalidArgumentError(absl::StrCat(Quoted(text), " has an invalid IPv4 address"));
      }
    } else if (!IsHostname(host)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quoted(text), " has a host that is neither an IP address nor a valid hostname"));
    }
    port = text.substr(colon + 1);
  }
  absl::StatusOr<uint16_t> parsed_port = ParsePort(port, text);
  if (!parsed_port.ok()) return parsed_port.status();
  out.port = *parsed_port;
  return out;
}

}  // namespace hashbank
