// HttpsServer: the member API's listener — HTTP/1.1 over TLS 1.3 (Boost.Beast), keep-alive.
//
// One strand per connection; a timeout before every handshake, read and write; the header is read first so
// the body limit can depend on the route (images get limits.max_image_body_bytes, JSON the smaller
// max_json_body_bytes) and an oversized body is refused with 413 before it is read. Handlers run on a
// separate worker pool, never on the I/O threads, so a slow RocksDB sync or image decode does not stall
// other connections. Shutdown stops accepting, lets in-flight requests finish (up to a deadline) and
// returns. Asio/Beast types stay inside the .cc (separate compilation, fast builds).
// Thread-safety: Start/port/Shutdown may be called from any thread; the handler must be thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "node/http_types.h"

namespace hashbank {

struct HttpsServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8443;  // 0: any free port (see port())
  std::string cert_path, key_path;
  int io_threads = 2;
  int worker_threads = 2;
  // The body limit of a request, decided from its method and target before the body is read (an API's own
  // rule); unset: max_json_body_bytes for every request.
  std::function<size_t(std::string_view method, std::string_view target)> body_limit;
  // Requests for which this says true are answered on the I/O thread instead of the worker pool (cheap
  // routes such as a health check, which must never queue behind image hashing).
  std::function<bool(std::string_view method, std::string_view target)> run_inline;
  size_t max_json_body_bytes = 1 << 20;
  std::chrono::milliseconds timeout{30000};
  // Mutual TLS (the federation listener): when client_ca_path is set, a client certificate is required and
  // verified against it, and the node id in its URI SAN (hashbank://node/<id>) must be accepted by
  // allow_peer — all before a request is read; allow_peer is asked again before every later request on the
  // connection (a reload may have removed the member or changed its pin: the connection is then closed
  // without an answer). The id reaches the handler as HttpRequest::peer_id. allow_peer must be thread-safe.
  std::string client_ca_path;
  // node_id from the certificate's URI SAN; certificate_sha256 its DER's SHA-256, 64 lowercase hex.
  std::function<bool(const std::string& node_id, const std::string& certificate_sha256)> allow_peer;
};

class HttpsServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Sees method, target and Authorization before the body is read; an answer is sent instead of reading it.
  using Precheck = std::function<PrecheckResult(std::string_view, std::string_view, std::string_view)>;
  static absl::StatusOr<std::unique_ptr<HttpsServer>> Start(const HttpsServerOptions& options, Handler handler,
                                                             Precheck precheck = nullptr);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  uint16_t port() const;
  // Reads the certificate, key and client CA files again: connections accepted from now on use them; open
  // connections keep theirs. On an error (a missing file, a key that is not the certificate's) nothing
  // changes and the error names the file. Thread-safe.
  absl::Status ReloadTls();
  // Replaces options.timeout: every wait that starts from now on (handshake, read, write, on open
  // connections too) uses it. Thread-safe.
  void SetTimeout(std::chrono::milliseconds timeout);
  // Stops accepting; waits up to `drain` for in-flight requests; stops all threads. Idempotent.
  void Shutdown(std::chrono::milliseconds drain);

 private:
  struct Impl;
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hashbank
