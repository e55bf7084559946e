#include "node/https_server.h"

#include <openssl/ssl.h>

#include <atomic>
#include <condition_variable>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "node/tls_peer.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace hashbank {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr size_t kHeaderLimit = 16 * 1024;

// The node id in a verified peer certificate's URI SAN, or "".

struct Shared {
  HttpsServerOptions options;
  HttpsServer::Handler handler;
  HttpsServer::Precheck precheck;
  asio::thread_pool* workers = nullptr;
  std::atomic<bool> stopping{false};
  std::atomic<int> in_flight{0};
  std::atomic<int64_t> timeout_ms{30000};  // options.timeout, replaced by SetTimeout

  std::chrono::milliseconds Timeout() const { return std::chrono::milliseconds(timeout_ms.load()); }
  std::mutex mu;
  std::condition_variable idle;

  void Done() {
    if (in_flight.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(mu);
      idle.notify_all();
    }
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  // The session keeps the TLS context it was accepted with (a reload swaps in a new one for later sessions).
  Session(tcp::socket&& socket, std::shared_ptr<ssl::context> ctx, std::shared_ptr<Shared> shared)
      : tls_(std::move(ctx)), stream_(std::move(socket), *tls_), shared_(std::move(shared)) {}

  void Run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->DoHandshake(); });
  }

 private:
  void DoHandshake() {
    beast::get_lowest_layer(stream_).expires_after(shared_->Timeout());
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) { self->OnHandshake(ec); });
  }
  void OnHandshake(beast::error_code ec) {
    if (ec) return;  // not TLS 1.3, bad client hello, no or unverifiable client certificate, timeout: drop
    if (!shared_->options.client_ca_path.empty()) {
      // The chain was verified by OpenSSL against the federation CA; now the identity must be a peer.
      peer_id_ = TlsPeerNodeId(stream_.native_handle());
      peer_sha256_ = TlsPeerCertificateSha256(stream_.native_handle());
      if (!PeerAllowed()) return DoClose();
    }
    DoReadHeader();
  }

  // Whether the client certificate's identity may talk to this listener now. Asked at the handshake and
  // again before every request on the connection, so a member removed or a pin changed by a reload loses
  // its open connections at their next request.
  bool PeerAllowed() const {
    if (shared_->options.client_ca_path.empty()) return true;
    return !peer_id_.empty() && shared_->options.allow_peer && shared_->options.allow_peer(peer_id_, peer_sha256_);
  }

  void DoReadHeader() {
    if (shared_->stopping) return DoClose();
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // No body limit while the header is parsed: Beast would reject a large Content-Length inside the header
    // read, and the connection would close without an answer. OnHeader applies the route's limit and
    // answers 413 itself.
    parser_->body_limit(boost::none);
    beast::get_lowest_layer(stream_).expires_after(shared_->Timeout());
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return DoClose();
    if (!PeerAllowed()) return DoClose();
    const auto& req = parser_->get();
    // HEAD is answered as GET (routing, roles, status, headers) without the body (RFC 9110 9.3.2).
    head_ = req.method() == http::verb::head;
    const std::string method = head_ ? std::string("GET") : std::string(req.method_string());
    const std::string target(req.target());
    const size_t limit = shared_->options.body_limit ? shared_->options.body_limit(method, target)
                                                     : shared_->options.max_json_body_bytes;
    if (parser_->content_length() && *parser_->content_length() > limit) {
      return SendError(413, "too_large", absl::StrCat("the body is over this endpoint's limit of ", limit, " bytes"));
    }
    if (shared_->precheck) {
      // Authentication before the body: an anonymous client cannot make the node buffer a large body.
      PrecheckResult checked = shared_->precheck(method, target, std::string(req[http::field::authorization]));
      if (checked.answer) {
        keep_alive_ = false;
        return Write(std::move(*checked.answer), false);
      }
      ticket_ = std::move(checked.ticket);  // held until the response is written
    }
    parser_->body_limit(limit);
    // A client that sent "Expect: 100-continue" (curl does for bodies over 1 MiB) waits for this interim
    // answer before it sends the body; it comes only after the size, route and token checks above.
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      continue_.emplace(http::status::continue_, 11);
      continue_->set(http::field::server, "hashbank");
      beast::get_lowest_layer(stream_).expires_after(shared_->Timeout());
      return http::async_write(stream_, *continue_, [self = shared_from_this()](beast::error_code ec2, size_t) {
        if (ec2) return self->DoClose();
        self->DoReadBody();
      });
    }
    DoReadBody();
  }

  void DoReadBody() {
    beast::get_lowest_layer(stream_).expires_after(shared_->Timeout());
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::body_limit) return SendError(413, "too_large", "the body is over this endpoint's limit");
    if (ec) return DoClose();
    http::request<http::string_body> req = parser_->release();
    keep_alive_ = req.keep_alive();
    HttpRequest r;
    r.method = head_ ? std::string("GET") : std::string(req.method_string());
    r.target = std::string(req.target());
    r.authorization = std::string(req[http::field::authorization]);
    r.content_type = std::string(req[http::field::content_type]);
    r.body = std::move(req.body());
    r.peer_id = peer_id_;
    {
      beast::error_code ep_ec;
      const tcp::endpoint ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ep_ec);
      if (!ep_ec) r.remote_address = ep.address().to_string();
    }
    shared_->in_flight.fetch_add(1);
    if (shared_->options.run_inline && shared_->options.run_inline(r.method, r.target)) {
      return Write(shared_->handler(r), true);
    }
    asio::post(*shared_->workers, [self = shared_from_this(), r = std::move(r)]() mutable {
      HttpResponse resp = self->shared_->handler(r);
      asio::post(self->stream_.get_executor(),
                 [self, resp = std::move(resp)]() mutable { self->Write(std::move(resp), true); });
    });
  }

  void SendError(int status, std::string_view code, std::string_view message) {
    keep_alive_ = false;
    HttpResponse resp;
    resp.status = status;
    resp.body = ErrorBody(code, message);
    Write(std::move(resp), false);
  }

  void Write(HttpResponse resp, bool counted) {
    counted_ = counted;
    response_ = {};
    response_.version(11);
    response_.result(static_cast<http::status>(resp.status));
    response_.set(http::field::server, "hashbank");
    response_.set(http::field::content_type, resp.content_type);
    if (!resp.retry_after.empty()) response_.set(http::field::retry_after, resp.retry_after);
    response_.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : resp.headers) response_.set(name, value);
    response_.keep_alive(keep_alive_ && !shared_->stopping);
    response_.body() = std::move(resp.body);
    response_.prepare_payload();
    if (head_) {
      // The GET's Content-Length, and no body bytes: a body after a HEAD answer would be read as the next one.
      const size_t length = response_.body().size();
      response_.body().clear();
      response_.content_length(length);
    }
    beast::get_lowest_layer(stream_).expires_after(shared_->Timeout());
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    ticket_.reset();  // an upload slot is free once the answer is out
    if (counted_) shared_->Done();
    counted_ = false;
    if (ec || !response_.keep_alive()) return DoClose();
    DoReadHeader();
  }

  void DoClose() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  std::shared_ptr<ssl::context> tls_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  std::shared_ptr<Shared> shared_;
  std::optional<http::response<http::empty_body>> continue_;  // the interim "100 Continue", while written
  std::shared_ptr<void> ticket_;  // the precheck's ticket (an upload slot) for the request being served
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  bool keep_alive_ = false;
  bool counted_ = false;
  bool head_ = false;  // the request being answered is a HEAD
  std::string peer_id_;
  std::string peer_sha256_;  // of the client certificate (federation listener)
};

}  // namespace

// A server TLS context from the options' certificate, key and (for mutual TLS) client CA: TLS 1.3 only.
absl::StatusOr<std::shared_ptr<ssl::context>> MakeTlsContext(const HttpsServerOptions& options) {
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_server);
  beast::error_code ec;
  SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_3_VERSION);
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  tls->use_certificate_chain_file(options.cert_path, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("TLS certificate ", options.cert_path, ": ", ec.message()));
  tls->use_private_key_file(options.key_path, ssl::context::pem, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("TLS key ", options.key_path, ": ", ec.message()));
  if (SSL_CTX_check_private_key(tls->native_handle()) != 1) {
    return absl::FailedPreconditionError(absl::StrCat("TLS key ", options.key_path, " does not belong to ", options.cert_path));
  }
  if (!options.client_ca_path.empty()) {
    tls->load_verify_file(options.client_ca_path, ec);
    if (ec) return absl::FailedPreconditionError(absl::StrCat("federation CA ", options.client_ca_path, ": ", ec.message()));
    tls->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // Only clients whose certificate allows TLS client authentication.
    SSL_CTX_set_purpose(tls->native_handle(), X509_PURPOSE_SSL_CLIENT);
  }
  return tls;
}

struct HttpsServer::Impl {
  asio::io_context ioc;
  absl::Mutex tls_mu;
  std::shared_ptr<ssl::context> tls ABSL_GUARDED_BY(tls_mu);  // what new sessions use
  std::optional<tcp::acceptor> acceptor;
  asio::thread_pool workers;
  std::vector<std::thread> threads;
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  std::atomic<bool> shut_down{false};
  uint16_t port = 0;

  explicit Impl(int io_threads, int worker_threads)
      : ioc(io_threads), workers(static_cast<size_t>(std::max(1, worker_threads))) {}

  void DoAccept() {
    acceptor->async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || shared->stopping) return;
      } else {
        std::shared_ptr<ssl::context> ctx;
        {
          absl::MutexLock lock(&tls_mu);
          ctx = tls;
        }
        std::make_shared<Session>(std::move(socket), std::move(ctx), shared)->Run();
      }
      DoAccept();
    });
  }
};

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpsServer::~HttpsServer() { Shutdown(std::chrono::milliseconds(0)); }

absl::StatusOr<std::unique_ptr<HttpsServer>> HttpsServer::Start(const HttpsServerOptions& options, Handler handler,
                                                                 Precheck precheck) {
  auto impl = std::make_unique<Impl>(std::max(1, options.io_threads), options.worker_threads);
  impl->shared->options = options;
  impl->shared->timeout_ms.store(options.timeout.count());
  impl->shared->handler = std::move(handler);
  impl->shared->precheck = std::move(precheck);
  impl->shared->workers = &impl->workers;
  beast::error_code ec;
  auto tls = MakeTlsContext(options);
  if (!tls.ok()) return tls.status();
  {
    absl::MutexLock lock(&impl->tls_mu);
    impl->tls = std::move(*tls);
  }
  const auto address = asio::ip::make_address(options.host, ec);
  tcp::endpoint endpoint;
  if (!ec) {
    endpoint = tcp::endpoint(address, options.port);
  } else {
    tcp::resolver resolver(impl->ioc);
    auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
    if (ec || results.empty()) return absl::InvalidArgumentError(absl::StrCat("cannot resolve ", options.host));
    endpoint = *results.begin();
  }
  // The acceptor lives on a strand: its accept completions and the close at shutdown never run at once.
  impl->acceptor.emplace(asio::make_strand(impl->ioc));
  impl->acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor->bind(endpoint, ec);
  if (!ec) impl->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.host, ":", options.port, ": ", ec.message()));
  }
  impl->port = impl->acceptor->local_endpoint().port();
  impl->DoAccept();
  for (int i = 0; i < std::max(1, options.io_threads); ++i) impl->threads.emplace_back([ioc = &impl->ioc] { ioc->run(); });
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(impl)));
}

uint16_t HttpsServer::port() const { return impl_->port; }

void HttpsServer::SetTimeout(std::chrono::milliseconds timeout) { impl_->shared->timeout_ms.store(timeout.count()); }

absl::Status HttpsServer::ReloadTls() {
  auto tls = MakeTlsContext(impl_->shared->options);
  if (!tls.ok()) return tls.status();
  absl::MutexLock lock(&impl_->tls_mu);
  impl_->tls = std::move(*tls);
  return absl::OkStatus();
}

void HttpsServer::Shutdown(std::chrono::milliseconds drain) {
  if (impl_->shut_down.exchange(true)) return;
  Shared& shared = *impl_->shared;
  shared.stopping = true;
  asio::post(impl_->acceptor->get_executor(), [this] {
    beast::error_code ignored;
    impl_->acceptor->close(ignored);
  });
  {
    std::unique_lock<std::mutex> lock(shared.mu);
    shared.idle.wait_for(lock, drain, [&] { return shared.in_flight.load() == 0; });
  }
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->workers.join();
}

}  // namespace hashbank
