// HttpsClient: a small synchronous HTTP/1.1 client for integration tests — Boost.Beast over TLS 1.3 that
// verifies the server's certificate against one CA file and a host name ("localhost" unless told otherwise).
//
// One keep-alive connection, opened on first use and opened again when the server has closed it (a response
// with "Connection: close", an error, or an idle connection that became readable, i.e. the server hung up).
// The request is written while the response is read, so an early answer (413 before the body is read) is
// received even when the server stops reading. Every network step has a deadline (`timeout`).
//
// For negative tests: TlsMode::kNone speaks plain HTTP over TCP and TlsMode::kTls12Max offers TLS 1.2 at
// most, to check that the server refuses both; SendRaw writes arbitrary bytes (e.g. a header whose
// Content-Length the body never honours), and a "Content-Length" in Request's headers replaces the computed
// one. Boost and OpenSSL types stay in the .cc.
//
// For mutual TLS, client_cert_path/client_key_path name a certificate to present (none when empty).
//
// Errors: Unavailable for a failed connect, handshake, write or read (the message names the step),
// DeadlineExceeded for a timeout, FailedPrecondition for an unreadable CA file or client certificate or key.
// Thread-compatible: use one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hashbank::testing {

struct Response {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
};

enum class TlsMode {
  kTls13,     // what the server requires
  kTls12Max,  // offers TLS 1.0-1.2 only: the server must refuse the handshake
  kNone,      // plain TCP: the server must not answer with HTTP
};

struct HttpsClientOptions {
  TlsMode tls = TlsMode::kTls13;
  std::string verify_host = "localhost";  // the name the certificate must carry; also Host and SNI
  std::chrono::milliseconds timeout{10000};
  // Mutual TLS: a client certificate (PEM chain) and its key to present; none when empty.
  std::string client_cert_path{};
  std::string client_key_path{};
};

class HttpsClient {
 public:
  HttpsClient(std::string host, uint16_t port, std::string ca_pem_path, HttpsClientOptions options = {});
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // Opens a fresh connection (closing any open one) and completes the TLS handshake.
  absl::Status Connect();
  void Close();
  bool connected() const;
  // True if a connection is open and the server has not closed it since the last response (nothing to read
  // on it): the next request will travel on this same connection.
  bool idle_connection_alive();

  // Sends one request on the open connection (connecting first if needed) and reads its response. Host,
  // User-Agent and Content-Length (when there is a body or the method is POST/PUT/PATCH/DELETE) are set;
  // `headers` add to or replace them.
  absl::StatusOr<Response> Request(const std::string& method, const std::string& target,
                                   const std::string& body = "",
                                   const std::map<std::string, std::string>& headers = {});

  // Writes `bytes` as they are and reads one HTTP response.
  absl::StatusOr<Response> SendRaw(const std::string& bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hashbank::testing
