// The HTTP request and response as the node's handlers see them (member API, federation listener), shared by
// the transports (https_server) without including any API. Plain values; no thread-safety concerns.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hashbank {

struct HttpRequest {
  std::string method;         // "GET", "POST", ...
  std::string target;         // path and query, e.g. "/v1/audit?after=10"
  std::string authorization;  // the Authorization header, "" if absent
  std::string content_type;
  std::string body;
  std::string peer_id;  // mutual TLS: the verified node id of the client certificate
  std::string remote_address;  // the client's IP address as the socket sees it ("" when unknown)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string retry_after;  // seconds, for 429
  // Further headers (the pages' Content-Security-Policy, ...); set after the defaults, so they override them.
  std::vector<std::pair<std::string, std::string>> headers;
};

// What a transport's precheck (headers only, before the body) decides: an answer instead of reading the body,
// or go on; `ticket` (may be null) is held by the transport until the response is written (an upload slot).
struct PrecheckResult {
  std::optional<HttpResponse> answer;
  std::shared_ptr<void> ticket;
};

// The JSON error body: {"error": {"code", "message"}}.
std::string ErrorBody(std::string_view code, std::string_view message);

}  // namespace hashbank
