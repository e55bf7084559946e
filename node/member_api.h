// MemberApi: the member HTTPS API's request logic — a function from request to response, with no socket,
// so every route and error is testable directly (tests/node) and through the real server (tests/integration).
//
// JSON in and out; errors are {"error": {"code", "message"}} with the HTTP status that fits: 400 bad input,
// 401 no or unknown token, 403 wrong role, 404, 405, 409 conflict (already withdrawn), 413 too large,
// 415 unsupported media type or image format, 422 quality below the floor, 429 rate limit, 500, 503.
// Request bodies are limited by the server before they get here (limits.max_*_body_bytes).
// Never logs or echoes a hash value. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "hashing/image_decoder.h"
#include "node/bank.h"
#include "node/metrics.h"

namespace hashbank {

struct HttpRequest {
  std::string method;         // "GET", "POST", ...
  std::string target;         // path and query, e.g. "/v1/audit?after=10"
  std::string authorization;  // the Authorization header, "" if absent
  std::string content_type;
  std::string body;
  std::string peer_id;  // mutual TLS: the verified node id of the client certificate
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string retry_after;  // seconds, for 429
};

struct ApiLimits {
  size_t max_batch_items = 1000;
  double requests_per_second_per_token = 5000;  // 0 = unlimited
  double burst_per_token = 10000;
  int pdq_quality_floor = 50;  // image matches skip PDQ below it
  int pdq_default_max_distance = 31;
  int pdq_max_distance_limit = 63;
  ImageLimits image;
};

// Which limit the server applies to a request's body (decided from the headers, before the body is read).
bool IsImageRoute(std::string_view method, std::string_view target);

class MemberApi {
 public:
  MemberApi(Bank* bank, ApiLimits limits, Metrics* metrics);
  HttpResponse Handle(const HttpRequest& request);
  // Called by the server with the headers only, before any body is read: an answer (401 for a missing or
  // unknown token on a route that needs one) means the body is not read at all.
  std::optional<HttpResponse> Precheck(std::string_view method, std::string_view target,
                                       std::string_view authorization);
  // Federation, when the node runs it: its status JSON and its gauges (set before serving).
  void SetFederationHooks(std::function<std::string()> status,
                          std::function<void(const std::function<void(std::string_view, std::string_view, double)>&)> gauges);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  bool Allow(const std::string& token_name);

  Bank* bank_;
  ApiLimits limits_;
  Metrics* metrics_;
  std::mutex rate_mu_;
  std::map<std::string, Bucket> buckets_;
  std::function<std::string()> federation_status_;
  std::function<void(const std::function<void(std::string_view, std::string_view, double)>&)> federation_gauges_;
};

// The JSON error body.
std::string ErrorBody(std::string_view code, std::string_view message);

}  // namespace hashbank
