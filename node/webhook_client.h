// PostWebhook: one HTTP/1.1 POST of a webhook delivery — Boost.Beast over TLS (1.2 or newer, the system's CA
// store, the host name checked) for https://, plain TCP for http:// (which ValidateWebhookUrl allows only to
// loopback addresses). One connection per delivery, closed after it; every step (resolve, connect,
// handshake, write, read) bounded by `timeout`; the response body is read up to 64 KiB and discarded.
//
// Returns the response's status code, or Unavailable (with the reason) when no response arrived. Stateless;
// thread-safe (each call has its own I/O context).
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace hashbank {

absl::StatusOr<int> PostWebhook(const std::string& url, const std::map<std::string, std::string>& headers,
                                const std::string& body, std::chrono::milliseconds timeout);

}  // namespace hashbank
