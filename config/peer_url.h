// PeerUrl: where a federation peer is reached, parsed from the "https://host[:port]" text of a config file.
//
// The scheme is "https" in lower case (federation only runs over TLS). The host is what ParseListenAddress
// accepts: an IPv4 literal, an IPv6 literal in brackets ("[::1]", stored without them) or a hostname. The
// port is 1..65535 in decimal, 443 when absent. After the host and port there is nothing or a single "/":
// no other path, no userinfo ("user@"), query ("?") or fragment ("#"). No I/O happens here.
// Errors: InvalidArgument saying what is wrong, quoting the text (the caller prefixes the key path).
// Value type; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hashbank {

inline constexpr uint16_t kDefaultHttpsPort = 443;

struct PeerUrl {
  std::string host;  // without brackets for IPv6
  uint16_t port = kDefaultHttpsPort;
};

absl::StatusOr<PeerUrl> ParsePeerUrl(std::string_view url);

}  // namespace hashbank
