#include "config/peer_url.h"

#include "absl/strings/str_cat.h"
#include "config/listen_address.h"
#include "config/quoted.h"

namespace hashbank {
namespace {

constexpr std::string_view kScheme = "https://";

absl::Status Invalid(std::string_view url, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(Quoted(url), " ", std::string(what)));
}

absl::StatusOr<uint16_t> ParsePort(std::string_view url, std::string_view port) {
  if (port.empty()) return Invalid(url, "has an empty port after ':'");
  uint32_t value = 0;
  for (const char c : port) {
    if (c < '0' || c > '9') return Invalid(url, "has a port that is not a decimal number");
    value = value * 10 + static_cast<uint32_t>(c - '0');
    if (value > 65535) return Invalid(url, "has a port outside 1..65535");
  }
  if (value == 0) return Invalid(url, "has port 0; a peer's port is 1..65535");
  return static_cast<uint16_t>(value);
}

}  // namespace

absl::StatusOr<PeerUrl> ParsePeerUrl(std::string_view url) {
  if (url.empty()) return absl::InvalidArgumentError("is empty; expected https://host[:port]");
  if (!url.starts_with(kScheme)) {
    if (url.starts_with("http://")) return Invalid(url, "is not https; federation only runs over TLS");
    return Invalid(url, "does not start with https://; expected https://host[:port]");
  }
  const std::string_view rest = url.substr(kScheme.size());
  const size_t end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  const std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) return Invalid(url, "has userinfo (user@); not allowed");
  if (tail.find('?') != std::string_view::npos) return Invalid(url, "has a query (?); not allowed");
  if (tail.find('#') != std::string_view::npos) return Invalid(url, "has a fragment (#); not allowed");
  if (!tail.empty() && tail != "/") return Invalid(url, "has a path; expected https://host[:port] and at most \"/\"");

  PeerUrl out;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Invalid(url, "has no ']' after an IPv6 address");
    const std::string_view host = authority.substr(1, close - 1);
    if (host.find(':') == std::string_view::npos || !IsValidHost(host)) {
      return Invalid(url, "has an invalid IPv6 address in brackets");
    }
    out.host = std::string(host);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Invalid(url, "has text after ']' that is not :port");
      has_port = true;
      port = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos && authority.find(':', colon + 1) != std::string_view::npos) {
      return Invalid(url, "has an IPv6 address without brackets; write https://[address]:port");
    }
    const std::string_view host = authority.substr(0, colon);
    if (host.empty()) return Invalid(url, "has no host; expected https://host[:port]");
    if (colon != std::string_view::npos) {
      has_port = true;
      port = authority.substr(colon + 1);
    }
    if (!IsValidHost(host)) return Invalid(url, "has a host that is neither an IP address nor a valid hostname");
    out.host = std::string(host);
  }
  if (has_port) {
    absl::StatusOr<uint16_t> parsed = ParsePort(url, port);
    if (!parsed.ok()) return parsed.status();
    out.port = *parsed;
  }
  return out;
}

}  // namespace hashbank
