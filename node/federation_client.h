// FederationClient: a node's HTTPS client to one peer's federation listener (and, without a client
// certificate and with a bearer token, to a node's own member API, for CLI commands) — TLS 1.3 with this node's
// certificate (mutual TLS), the peer's certificate verified against the federation CA, its host name, and
// the node id in its URI SAN. One keep-alive connection, reopened when needed; a timeout on every step;
// responses larger than max_response_bytes are refused. Not thread-safe: one per peer and thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace hashbank {

struct FederationClientOptions {
  std::string ca_path;    // the federation CA
  std::string cert_path;  // this node's certificate (clientAuth) and key; both empty: no client certificate
  std::string key_path;
  std::string content_type = "application/x-protobuf";
  std::string authorization;  // an Authorization header value, "" for none (mTLS is the federation's auth)
  std::chrono::milliseconds timeout{10000};
  // When not "": the server's certificate must have exactly this SHA-256 (of its DER, 64 lowercase hex), on
  // top of the CA and node-id checks (federation.members[].certificate_sha256). PermissionDenied otherwise.
  std::string pinned_certificate_sha256;
  size_t max_response_bytes = size_t{256} << 20;  // a segment of 10 000 entries is a few MB
  // When set: a reload (SIGHUP) increments it, and the client's next request reads the CA, certificate and
  // key files again and reconnects, so peers see a renewed certificate without a restart. Files that do not
  // load leave the client with the ones it had (the request goes on with them).
  std::shared_ptr<const std::atomic<uint64_t>> tls_generation;
};

class FederationClient {
 public:
  // peer_id "": any certificate the CA signed (for tools that judge the data by its signatures alone).
  FederationClient(FederationClientOptions options, std::string host, uint16_t port, std::string peer_id);
  ~FederationClient();
  FederationClient(const FederationClient&) = delete;
  FederationClient& operator=(const FederationClient&) = delete;

  // The body of a 2xx answer. Unavailable for connection/TLS failures (message says which),
  // FailedPrecondition for another status (with the peer's error text), PermissionDenied when the peer's
  // certificate is not for peer_id.
  absl::StatusOr<std::string> Get(const std::string& target);
  absl::StatusOr<std::string> Post(const std::string& target, const std::string& body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hashbank
