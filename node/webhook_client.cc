#include "node/webhook_client.h"

#include <openssl/ssl.h>

#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace hashbank {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct Url {
  bool https = false;
  std::string host, port, target;
};

absl::StatusOr<Url> ParseUrl(const std::string& url) {
  Url u;
  std::string_view rest(url);
  if (rest.starts_with("https://")) {
    u.https = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return absl::InvalidArgumentError("not an http(s) URL");
  }
  const size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  if (path.front() != '/') u.target = absl::StrCat("/", std::string(path));
  else u.target = std::string(path);
  if (const size_t hash = u.target.find('#'); hash != std::string::npos) u.target.resize(hash);
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return absl::InvalidArgumentError("bad IPv6 host");
    u.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (authority.starts_with(":")) u.port = std::string(authority.substr(1));
  } else {
    const size_t colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) u.port = std::string(authority.substr(colon + 1));
  }
  if (u.port.empty()) u.port = u.https ? "443" : "80";
  int port = 0;
  if (u.host.empty() || !absl::SimpleAtoi(u.port, &port) || port <= 0 || port > 65535) {
    return absl::InvalidArgumentError("bad host or port");
  }
  return u;
}

template <typename Stream>
absl::StatusOr<int> Exchange(asio::io_context& ioc, Stream& stream, beast::tcp_stream& tcp_layer, const Url& u,
                             const std::map<std::string, std::string>& headers, const std::string& body,
                             std::chrono::milliseconds timeout) {
  http::request<http::string_body> req{http::verb::post, u.target, 11};
  req.set(http::field::host, u.host);
  req.set(http::field::user_agent, "hashbank-webhooks");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.keep_alive(false);
  req.body() = body;
  req.prepare_payload();
  beast::error_code ec;
  tcp_layer.expires_after(timeout);
  http::async_write(stream, req, [&ec](beast::error_code e, size_t) { ec = e; });
  ioc.restart();
  ioc.run();
  if (ec) return absl::UnavailableError(absl::StrCat("sending: ", ec.message()));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  tcp_layer.expires_after(timeout);
  http::async_read(stream, buffer, parser, [&ec](beast::error_code e, size_t) { ec = e; });
  ioc.restart();
  ioc.run();
  // A receiver that answered and then sent too much body still answered.
  if (ec && !parser.is_header_done()) return absl::UnavailableError(absl::StrCat("no response: ", ec.message()));
  return static_cast<int>(parser.get().result_int());
}

}  // namespace

absl::StatusOr<int> PostWebhook(const std::string& url, const std::map<std::string, std::string>& headers,
                                const std::string& body, std::chrono::milliseconds timeout) {
  absl::StatusOr<Url> u = ParseUrl(url);
  if (!u.ok()) return absl::InvalidArgumentError(absl::StrCat("url: ", u.status().message()));
  asio::io_context ioc;
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  tcp::resolver::results_type endpoints;
  resolver.async_resolve(u->host, u->port, [&](beast::error_code e, tcp::resolver::results_type r) {
    ec = e;
    endpoints = std::move(r);
  });
  ioc.run_for(timeout);
  if (!ioc.stopped()) return absl::UnavailableError(absl::StrCat("resolving ", u->host, ": timed out"));
  if (ec) return absl::UnavailableError(absl::StrCat("resolving ", u->host, ": ", ec.message()));
  if (!u->https) {
    beast::tcp_stream stream(ioc);
    stream.expires_after(timeout);
    stream.async_connect(endpoints, [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
    ioc.restart();
    ioc.run();
    if (ec) return absl::UnavailableError(absl::StrCat("connecting to ", u->host, ":", u->port, ": ", ec.message()));
    return Exchange(ioc, stream, stream, *u, headers, body, timeout);
  }
  ssl::context tls{ssl::context::tls_client};
  tls.set_default_verify_paths(ec);
  tls.set_verify_mode(ssl::verify_peer);
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, tls);
  if (SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(u->host.c_str())) != 1 ||
      !SSL_set1_host(stream.native_handle(), u->host.c_str())) {
    return absl::InternalError("cannot set the TLS host name");
  }
  auto& tcp_layer = beast::get_lowest_layer(stream);
  tcp_layer.expires_after(timeout);
  tcp_layer.async_connect(endpoints, [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
  ioc.restart();
  ioc.run();
  if (ec) return absl::UnavailableError(absl::StrCat("connecting to ", u->host, ":", u->port, ": ", ec.message()));
  tcp_layer.expires_after(timeout);
  stream.async_handshake(ssl::stream_base::client, [&ec](beast::error_code e) { ec = e; });
  ioc.restart();
  ioc.run();
  if (ec) return absl::UnavailableError(absl::StrCat("TLS handshake with ", u->host, ": ", ec.message()));
  return Exchange(ioc, stream, tcp_layer, *u, headers, body, timeout);
}

}  // namespace hashbank
