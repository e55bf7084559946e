// ListenAddress: where a server listens, parsed from the "host:port" text of a config file.
//
// The host is an IPv4 literal ("0.0.0.0"), an IPv6 literal in brackets ("[::1]", stored without them) or a
// DNS hostname ("localhost", "node-1.example.org"); a host is required. The port is 0..65535 in decimal, 0
// meaning any free port. Zone ids ("[fe80::1%eth0]") are not accepted. Resolving a hostname is the server's
// job, not the parser's: no I/O happens here.
// Errors: InvalidArgument saying what is wrong, quoting the text (the caller prefixes the key path).
// Value type; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hashbank {

struct ListenAddress {
  std::string host;  // without brackets for IPv6
  uint16_t port = 0;

  // "host:port", with brackets around an IPv6 host: parses back to the same value.
  std::string ToString() const;
};

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text);

// Whether `host`, without brackets, is a host ParseListenAddress accepts: an IPv4 literal, an IPv6 literal
// or a hostname. For other parsers of host names (ParsePeerUrl).
bool IsValidHost(std::string_view host);

}  // namespace hashbank
