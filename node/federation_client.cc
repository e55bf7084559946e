#include "node/federation_client.h"

#include <openssl/ssl.h>

#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "node/tls_peer.h"
#include "absl/strings/str_cat.h"

namespace hashbank {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;


}  // namespace

struct FederationClient::Impl {
  FederationClientOptions options;
  std::string host;
  uint16_t port;
  std::string peer_id;
  asio::io_context ioc;
  std::unique_ptr<ssl::context> tls;  // what `stream` was made with
  uint64_t tls_generation = 0;        // of options.tls_generation when `tls` was loaded
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
  absl::Status setup = absl::OkStatus();

  // Runs the queued asynchronous operation to completion (each step has its own deadline).
  void Run() {
    ioc.restart();
    ioc.run();
  }

  // A TLS client context from the option's files (TLS 1.3, the CA, this node's certificate and key).
  absl::StatusOr<std::unique_ptr<ssl::context>> LoadTls() const {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    beast::error_code ec;
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_3_VERSION);
    ctx->set_verify_mode(ssl::verify_peer);
    ctx->load_verify_file(options.ca_path, ec);
    if (!ec && !options.cert_path.empty()) {
      ctx->use_certificate_chain_file(options.cert_path, ec);
      if (!ec) ctx->use_private_key_file(options.key_path, ssl::context::pem, ec);
      if (!ec && SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
        return absl::FailedPreconditionError("federation TLS files: the key is not the certificate's");
      }
    }
    if (ec) return absl::FailedPreconditionError(absl::StrCat("federation TLS files: ", ec.message()));
    return ctx;
  }

  // After a reload: the files again, and a new connection with them (the old context stays if they fail).
  void FollowReload() {
    if (!options.tls_generation) return;
    const uint64_t now = options.tls_generation->load();
    if (now == tls_generation) return;
    tls_generation = now;
    auto fresh = LoadTls();
    if (!fresh.ok()) return;
    stream.reset();
    tls = std::move(*fresh);
    setup = absl::OkStatus();
  }

  absl::Status Connect() {
    stream.emplace(ioc, *tls);
    buffer.clear();
    // SNI (SSL_set_tlsext_host_name is a macro with an old-style cast; this is what it expands to).
    if (SSL_ctrl(stream->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(host.c_str())) != 1 ||
        !SSL_set1_host(stream->native_handle(), host.c_str())) {
      return absl::InternalError("cannot set the TLS host name");
    }
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": ", ec.message()));
    auto& tcp_layer = beast::get_lowest_layer(*stream);
    tcp_layer.expires_after(options.timeout);
    tcp_layer.async_connect(endpoints, [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
    Run();
    if (ec) return absl::UnavailableError(absl::StrCat("cannot connect to ", host, ":", port, ": ", ec.message()));
    tcp_layer.expires_after(options.timeout);
    stream->async_handshake(ssl::stream_base::client, [&ec](beast::error_code e) { ec = e; });
    Run();
    if (ec) return absl::UnavailableError(absl::StrCat("TLS handshake with ", host, ":", port, " failed: ", ec.message()));
    const std::string id = TlsPeerNodeId(stream->native_handle());
    if (!peer_id.empty() && id != peer_id) {
      stream.reset();
      return absl::PermissionDeniedError(absl::StrCat("the peer at ", host, ":", port, " presented the certificate of \"",
                                                      id, "\", not \"", peer_id, "\""));
    }
    if (!options.pinned_certificate_sha256.empty() &&
        TlsPeerCertificateSha256(stream->native_handle()) != options.pinned_certificate_sha256) {
      stream.reset();
      return absl::PermissionDeniedError(absl::StrCat("the peer at ", host, ":", port,
                                                      " presented a certificate other than the one pinned for \"",
                                                      peer_id, "\" (federation.members[].certificate_sha256)"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Request(http::verb verb, const std::string& target, const std::string& body) {
    FollowReload();
    if (!setup.ok()) return setup;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = stream.has_value();
      if (!stream) {
        if (absl::Status s = Connect(); !s.ok()) return s;
      }
      http::request<http::string_body> req{verb, target, 11};
      req.set(http::field::host, host);
      req.set(http::field::user_agent, "hashbank-federation");
      req.set(http::field::content_type, options.content_type);
      if (!options.authorization.empty()) req.set(http::field::authorization, options.authorization);
      req.keep_alive(true);
      req.body() = body;
      req.prepare_payload();
      beast::error_code ec;
      beast::get_lowest_layer(*stream).expires_after(options.timeout);
      http::async_write(*stream, req, [&ec](beast::error_code e, size_t) { ec = e; });
      Run();
      http::response_parser<http::string_body> parser;
      parser.body_limit(options.max_response_bytes);
      if (!ec) {
        beast::get_lowest_layer(*stream).expires_after(options.timeout);
        http::async_read(*stream, buffer, parser, [&ec](beast::error_code e, size_t) { ec = e; });
        Run();
      }
      if (ec == http::error::body_limit) {
        stream.reset();
        return absl::ResourceExhaustedError(absl::StrCat("response from ", host, ":", port, " is over ",
                                                         options.max_response_bytes, " bytes"));
      }
      if (ec) {
        stream.reset();
        if (reused && attempt == 0) continue;  // the peer closed an idle connection: reconnect once
        return absl::UnavailableError(absl::StrCat("request to ", host, ":", port, " failed: ", ec.message()));
      }
      auto res = parser.release();
      if (!res.keep_alive()) stream.reset();
      const unsigned status = res.result_int();
      if (status < 200 || status >= 300) {
        return absl::FailedPreconditionError(absl::StrCat("peer answered ", status, ": ", res.body().substr(0, 300)));
      }
      return std::move(res.body());
    }
    return absl::UnavailableError("unreachable");
  }
};

FederationClient::FederationClient(FederationClientOptions options, std::string host, uint16_t port, std::string peer_id)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->peer_id = std::move(peer_id);
  if (impl_->options.tls_generation) impl_->tls_generation = impl_->options.tls_generation->load();
  auto tls = impl_->LoadTls();
  if (tls.ok()) {
    impl_->tls = std::move(*tls);
  } else {
    impl_->setup = tls.status();
    impl_->tls = std::make_unique<ssl::context>(ssl::context::tls_client);  // never used: setup fails first
  }
}

FederationClient::~FederationClient() = default;

absl::StatusOr<std::string> FederationClient::Get(const std::string& target) {
  return impl_->Request(http::verb::get, target, "");
}

absl::StatusOr<std::string> FederationClient::Post(const std::string& target, const std::string& body) {
  return impl_->Request(http::verb::post, target, body);
}

}  // namespace hashbank
