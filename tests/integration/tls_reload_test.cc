// HttpsServer::ReloadTls (what SIGHUP does to both listeners), on a real TLS listener on loopback: new
// connections get the new certificate, a connection opened before the reload stays open and keeps working,
// and files that do not load (a key that is not the certificate's, a missing file) change nothing.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <memory>
#include <filesystem>
#include <string>

#include "crypto/pem_file.h"
#include "crypto/x509.h"
#include "node/https_server.h"
#include "tests/support/https_client.h"
#include "tests/support/temp_dir.h"

namespace hashbank {
namespace {

// The common name of the certificate a fresh TLS 1.3 connection to 127.0.0.1:port is shown ("" on failure).
std::string PresentedCommonName(uint16_t port) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  std::string cn;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
    SSL_set_fd(ssl.get(), fd);
    if (SSL_connect(ssl.get()) == 1) {
      std::unique_ptr<X509, decltype(&X509_free)> cert(SSL_get1_peer_certificate(ssl.get()), X509_free);
      char buf[256] = {};
      if (cert && X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, buf, sizeof(buf)) > 0) cn = buf;
      SSL_shutdown(ssl.get());
    }
  }
  ::close(fd);
  return cn;
}

KeyAndCertificate Issue(const KeyAndCertificate& ca, const std::string& cn) {
  CertificateRequest req;
  req.common_name = cn;
  req.ip_addresses = {"127.0.0.1"};
  req.dns_names = {"localhost"};
  auto issued = IssueCertificate(ca, req);
  EXPECT_TRUE(issued.ok()) << issued.status();
  return issued.ok() ? *issued : KeyAndCertificate{};
}

TEST(TlsReloadTest, NewConnectionsGetTheNewCertificateOpenOnesStayAndBadFilesChangeNothing) {
  testing::TempDir dir("hashbank-tls-reload");
  auto ca = CreateCertificateAuthority("reload test CA", std::chrono::hours(24));
  ASSERT_TRUE(ca.ok()) << ca.status();
  const std::string ca_path = (dir.path() / "ca.pem").string();
  const std::string cert_path = (dir.path() / "cert.pem").string(), key_path = (dir.path() / "key.pem").string();
  ASSERT_TRUE(WritePemFile(ca_path, ca->cert_pem, 0644).ok());
  const KeyAndCertificate one = Issue(*ca, "first"), two = Issue(*ca, "second");
  auto install = [&](const KeyAndCertificate& pair) {
    ASSERT_TRUE(WritePemFile(cert_path, pair.cert_pem, 0644).ok());
    ASSERT_TRUE(WritePemFile(key_path, pair.key_pem, 0600).ok());
  };
  ASSERT_NO_FATAL_FAILURE(install(one));

  HttpsServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.cert_path = cert_path;
  options.key_path = key_path;
  options.timeout = std::chrono::seconds(10);
  auto server = HttpsServer::Start(options, [](const HttpRequest&) {
    HttpResponse r;
    r.status = 200;
    r.body = "ok";
    return r;
  });
  ASSERT_TRUE(server.ok()) << server.status();
  const uint16_t port = (*server)->port();
  EXPECT_EQ(PresentedCommonName(port), "first");
  testing::HttpsClient open_before(std::string("127.0.0.1"), port, ca_path);
  auto r = open_before.Request("GET", "/");
  ASSERT_TRUE(r.ok() && r->status == 200) << r.status();

  ASSERT_NO_FATAL_FAILURE(install(two));
  EXPECT_EQ(PresentedCommonName(port), "first");  // files alone change nothing until the reload
  ASSERT_TRUE((*server)->ReloadTls().ok());
  EXPECT_EQ(PresentedCommonName(port), "second");
  EXPECT_TRUE(open_before.idle_connection_alive());  // the reload closed nothing
  r = open_before.Request("GET", "/");
  ASSERT_TRUE(r.ok() && r->status == 200) << r.status();

  // A key that is not the certificate's: refused, the running pair stays.
  ASSERT_TRUE(WritePemFile(key_path, one.key_pem, 0600).ok());
  const absl::Status mismatched = (*server)->ReloadTls();
  EXPECT_TRUE(absl::IsFailedPrecondition(mismatched)) << mismatched;
  EXPECT_NE(mismatched.message().find(key_path), std::string::npos) << mismatched;
  EXPECT_EQ(PresentedCommonName(port), "second");
  // A missing certificate: the same.
  std::filesystem::remove(cert_path);
  const absl::Status missing = (*server)->ReloadTls();
  EXPECT_TRUE(absl::IsFailedPrecondition(missing)) << missing;
  EXPECT_NE(missing.message().find(cert_path), std::string::npos) << missing;
  EXPECT_EQ(PresentedCommonName(port), "second");
  (*server)->Shutdown(std::chrono::seconds(2));
}

}  // namespace
}  // namespace hashbank
