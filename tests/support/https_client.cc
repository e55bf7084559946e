#include "tests/support/https_client.h"

#include <openssl/ssl.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/str_cat.h"

namespace hashbank::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr uint64_t kMaxResponseBody = uint64_t{64} << 20;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

absl::Status NetworkError(std::string_view step, const beast::error_code& ec) {
  if (ec == beast::error::timeout) return absl::DeadlineExceededError(absl::StrCat(std::string(step), ": timed out"));
  return absl::UnavailableError(absl::StrCat(std::string(step), ": ", ec.message()));
}

}  // namespace

struct HttpsClient::Impl {
  std::string host;
  uint16_t port = 0;
  std::string ca_pem_path;
  HttpsClientOptions options;

  asio::io_context ioc;
  ssl::context tls{ssl::context::tls_client};
  absl::Status tls_setup = absl::OkStatus();
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_stream;
  std::optional<beast::tcp_stream> plain_stream;
  beast::flat_buffer buffer;

  beast::tcp_stream& Lowest() {
    return tls_stream ? beast::get_lowest_layer(*tls_stream) : *plain_stream;
  }
  bool Open() const { return tls_stream.has_value() || plain_stream.has_value(); }

  void SetUpTls() {
    if (options.tls == TlsMode::kNone) return;
    SSL_CTX* ctx = tls.native_handle();
    if (options.tls == TlsMode::kTls13) {
      SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    } else {
      SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
      // OpenSSL's default security level refuses TLS < 1.2 anyway; 1.2 itself must stay on offer.
      SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    }
    beast::error_code ec;
    tls.load_verify_file(ca_pem_path, ec);
    if (ec) {
      tls_setup = absl::FailedPreconditionError(absl::StrCat("CA file ", ca_pem_path, ": ", ec.message()));
      return;
    }
    tls.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    if (!options.client_cert_path.empty()) {
      tls.use_certificate_chain_file(options.client_cert_path, ec);
      if (!ec) tls.use_private_key_file(options.client_key_path, ssl::context::pem, ec);
      if (ec) {
        tls_setup = absl::FailedPreconditionError(
            absl::StrCat("client certificate ", options.client_cert_path, ": ", ec.message()));
      }
    }
  }

  // Runs the event loop until `done` is true (every operation has a deadline, so this ends).
  void RunUntil(const bool& done) {
    ioc.restart();
    while (!done && !ioc.stopped()) {
      if (ioc.run_one() == 0) break;
    }
  }
  void Drain() {
    ioc.restart();
    ioc.run();
  }

  void Close() {
    if (!Open()) return;
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
    Drain();  // completes anything cancelled by the close
    tls_stream.reset();
    plain_stream.reset();
    buffer.clear();
  }

  absl::Status Connect() {
    Close();
    if (!tls_setup.ok()) return tls_setup;
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return NetworkError(absl::StrCat("resolve ", host), ec);
    if (options.tls == TlsMode::kNone) {
      plain_stream.emplace(ioc);
    } else {
      tls_stream.emplace(ioc, tls);
      SSL* ssl_handle = tls_stream->native_handle();
      if (SSL_set1_host(ssl_handle, options.verify_host.c_str()) != 1) {
        return absl::InternalError("SSL_set1_host failed");
      }
      // SNI (SSL_set_tlsext_host_name, spelled out: the macro casts).
      SSL_ctrl(ssl_handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(options.verify_host.c_str()));
    }
    bool done = false;
    beast::error_code result;
    Lowest().expires_after(options.timeout);
    Lowest().async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      result = e;
      done = true;
    });
    RunUntil(done);
    if (!done) result = asio::error::operation_aborted;
    if (result) {
      const absl::Status s = NetworkError(absl::StrCat("connect ", host, ":", port), result);
      Close();
      return s;
    }
    if (tls_stream) {
      done = false;
      Lowest().expires_after(options.timeout);
      tls_stream->async_handshake(ssl::stream_base::client, [&](beast::error_code e) {
        result = e;
        done = true;
      });
      RunUntil(done);
      if (!done) result = asio::error::operation_aborted;
      if (result) {
        const absl::Status s = NetworkError("TLS handshake", result);
        Close();
        return s;
      }
    }
    return absl::OkStatus();
  }

  // An idle keep-alive connection that has become readable was closed by the server (or holds bytes nobody
  // asked for); either way it cannot carry the next request.
  bool IdleConnectionLooksClosed() {
    if (!Open()) return true;
    if (buffer.size() > 0) return true;
    pollfd p{};
    p.fd = Lowest().socket().native_handle();
    p.events = POLLIN;
    return ::poll(&p, 1, 0) != 0;
  }

  template <class Stream>
  absl::StatusOr<Response> Exchange(Stream& stream, const std::string& bytes) {
    bool wrote = false, read = false;
    beast::error_code write_ec, read_ec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBody);
    Lowest().expires_after(options.timeout);
    asio::async_write(stream, asio::buffer(bytes), [&](beast::error_code e, size_t) {
      write_ec = e;
      wrote = true;
    });
    http::async_read(stream, buffer, parser, [&](beast::error_code e, size_t) {
      read_ec = e;
      read = true;
    });
    RunUntil(read);
    if (!read) read_ec = asio::error::operation_aborted;
    if (!wrote) {
      ioc.restart();
      ioc.poll();  // a write that finished alongside the read has its handler queued
    }
    if (read_ec || !wrote) {
      // A failed read, or an answer before the request was fully sent: the connection is done either way.
      const bool early_answer = !read_ec;
      Close();
      if (!early_answer) {
        if (write_ec) return NetworkError("write", write_ec);
        return NetworkError("read", read_ec);
      }
    }
    Response out;
    const auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    for (const auto& field : res) out.headers[Lower(std::string(field.name_string()))] = std::string(field.value());
    if (!res.keep_alive()) Close();
    return out;
  }

  absl::StatusOr<Response> Send(const std::string& bytes) {
    if (IdleConnectionLooksClosed()) {
      if (absl::Status s = Connect(); !s.ok()) return s;
    }
    if (tls_stream) return Exchange(*tls_stream, bytes);
    return Exchange(*plain_stream, bytes);
  }
};

HttpsClient::HttpsClient(std::string host, uint16_t port, std::string ca_pem_path, HttpsClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->ca_pem_path = std::move(ca_pem_path);
  impl_->options = std::move(options);
  impl_->SetUpTls();
}

HttpsClient::~HttpsClient() { impl_->Close(); }

absl::Status HttpsClient::Connect() { return impl_->Connect(); }
void HttpsClient::Close() { impl_->Close(); }
bool HttpsClient::connected() const { return impl_->Open(); }
bool HttpsClient::idle_connection_alive() { return !impl_->IdleConnectionLooksClosed(); }

absl::StatusOr<Response> HttpsClient::Request(const std::string& method, const std::string& target,
                                              const std::string& body,
                                              const std::map<std::string, std::string>& headers) {
  std::map<std::string, std::pair<std::string, std::string>> fields;  // lower-case name -> (name, value)
  auto set = [&fields](const std::string& name, const std::string& value) { fields[Lower(name)] = {name, value}; };
  set("Host", impl_->options.verify_host);
  set("User-Agent", "hashbank-test");
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE") {
    set("Content-Length", std::to_string(body.size()));
  }
  for (const auto& [name, value] : headers) set(name, value);
  std::string wire = absl::StrCat(method, " ", target, " HTTP/1.1\r\n");
  for (const auto& [lower, field] : fields) absl::StrAppend(&wire, field.first, ": ", field.second, "\r\n");
  absl::StrAppend(&wire, "\r\n", body);
  return impl_->Send(wire);
}

absl::StatusOr<Response> HttpsClient::SendRaw(const std::string& bytes) { return impl_->Send(bytes); }

}  // namespace hashbank::testing
