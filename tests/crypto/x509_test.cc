#include "crypto/x509.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace hashbank {
namespace {

using std::chrono::days;
using std::chrono::seconds;

bool MessageContains(const absl::Status& status, const std::string& needle) {
  return std::string(status.message()).find(needle) != std::string::npos;
}

bool IsLowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

KeyAndCertificate MakeCa(const std::string& cn = "hashbank federation CA", seconds validity = days(3650)) {
  absl::StatusOr<KeyAndCertificate> ca = CreateCertificateAuthority(cn, validity);
  EXPECT_TRUE(ca.ok()) << ca.status();
  return ca.ok() ? *ca : KeyAndCertificate{};
}

CertificateRequest ServerRequest() {
  CertificateRequest request;
  request.common_name = "localhost";
  request.dns_names = {"localhost", "hashbank.example.org"};
  request.ip_addresses = {"127.0.0.1", "::1"};
  return request;
}

CertificateRequest NodeRequest(const std::string& node_id) {
  CertificateRequest request;
  request.common_name = node_id;
  request.dns_names = {"localhost"};
  request.node_id = node_id;
  request.server_auth = true;
  request.client_auth = true;
  return request;
}

KeyAndCertificate Issue(const KeyAndCertificate& ca, const CertificateRequest& request) {
  absl::StatusOr<KeyAndCertificate> leaf = IssueCertificate(ca, request);
  EXPECT_TRUE(leaf.ok()) << leaf.status();
  return leaf.ok() ? *leaf : KeyAndCertificate{};
}

CertificateInfo Info(const std::string& cert_pem) {
  absl::StatusOr<CertificateInfo> info = InspectCertificate(cert_pem);
  EXPECT_TRUE(info.ok()) << info.status();
  return info.ok() ? *info : CertificateInfo{};
}

// ---- OpenSSL in the test, to check the certificates independently and to run real TLS handshakes ----------

template <auto kFree>
struct Free {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};
using BioPtr = std::unique_ptr<BIO, Free<BIO_free_all>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, Free<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Free<SSL_free>>;
using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;

X509Ptr ParseX509(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

EvpPkeyPtr ParseKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string ToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

// A TLS 1.3-only context. `identity` (may be null) is presented; `trusted_ca_pem` (may be empty) is trusted and
// the peer's certificate is required and verified against it.
SslCtxPtr MakeContext(bool server, const KeyAndCertificate* identity, const std::string& trusted_ca_pem) {
  SslCtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  EXPECT_TRUE(ctx);
  EXPECT_EQ(SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION), 1);
  if (identity != nullptr) {
    X509Ptr cert = ParseX509(identity->cert_pem);
    EvpPkeyPtr key = ParseKey(identity->key_pem);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx.get(), cert.get()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx.get(), key.get()), 1);
    EXPECT_EQ(SSL_CTX_check_private_key(ctx.get()), 1);
  }
  if (!trusted_ca_pem.empty()) {
    X509Ptr ca = ParseX509(trusted_ca_pem);
    EXPECT_EQ(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca.get()), 1);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ctx;
}

struct HandshakeOutcome {
  bool client_ok = false;
  bool server_ok = false;
  int client_version = 0;
  long client_verify_result = -1;
  long server_verify_result = -1;
  std::string client_cert_seen_by_server;  // PEM, empty when none
};

// Client and server joined by an in-memory BIO pair: no sockets, no network. Steps both sides until both finish
// or one fails.
HandshakeOutcome Handshake(SSL_CTX* client_ctx, SSL_CTX* server_ctx, const std::string& host) {
  SslPtr client(SSL_new(client_ctx));
  SslPtr server(SSL_new(server_ctx));
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  EXPECT_EQ(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
  SSL_set_bio(client.get(), client_bio, client_bio);  // each SSL takes its end
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());
  EXPECT_EQ(SSL_set1_host(client.get(), host.c_str()), 1);  // host name or IP address, checked against SANs

  HandshakeOutcome out;
  bool client_failed = false;
  bool server_failed = false;
  auto step = [](SSL* ssl, bool* ok, bool* failed) {
    const int rc = SSL_do_handshake(ssl);
    if (rc == 1) {
      *ok = true;
      return;
    }
    const int error = SSL_get_error(ssl, rc);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) *failed = true;
  };
  for (int round = 0; round < 32 && !(out.client_ok && out.server_ok) && !client_failed && !server_failed; ++round) {
    if (!out.client_ok) step(client.get(), &out.client_ok, &client_failed);
    if (!out.server_ok && !client_failed) step(server.get(), &out.server_ok, &server_failed);
  }
  out.client_version = SSL_version(client.get());
  out.client_verify_result = SSL_get_verify_result(client.get());
  out.server_verify_result = SSL_get_verify_result(server.get());
  if (out.server_ok) {
    X509Ptr peer(SSL_get1_peer_certificate(server.get()));
    if (peer) out.client_cert_seen_by_server = ToPem(peer.get());
  }
  ERR_clear_error();
  return out;
}

// ---- CreateCertificateAuthority ----------------------------------------------------------------------------

TEST(CreateCertificateAuthorityTest, IsSelfSignedAndMarkedCa) {
  const int64_t before = Now();
  const KeyAndCertificate ca = MakeCa("Example Federation CA", days(3650));
  const int64_t after = Now();

  const CertificateInfo info = Info(ca.cert_pem);
  EXPECT_TRUE(info.is_ca);
  EXPECT_EQ(info.subject_cn, "Example Federation CA");
  EXPECT_EQ(info.issuer_cn, "Example Federation CA");
  EXPECT_TRUE(info.dns_names.empty());
  EXPECT_TRUE(info.node_id.empty());
  EXPECT_EQ(info.sha256_fingerprint_hex.size(), 64u);
  EXPECT_GE(info.not_before_unix, before - 300);
  EXPECT_LE(info.not_before_unix, after - 300);
  EXPECT_EQ(info.not_after_unix - info.not_before_unix, 3650 * 86400 + 300);

  // Independently: signed by its own key, issued by itself, and a CA to OpenSSL.
  X509Ptr cert = ParseX509(ca.cert_pem);
  ASSERT_TRUE(cert);
  EvpPkeyPtr key = ParseKey(ca.key_pem);
  ASSERT_TRUE(key);
  EXPECT_EQ(X509_verify(cert.get(), key.get()), 1);
  EXPECT_EQ(X509_check_issued(cert.get(), cert.get()), X509_V_OK);
  EXPECT_EQ(X509_check_ca(cert.get()), 1);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_EQ(ca.key_pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
  EXPECT_EQ(ca.cert_pem.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 256);
  EXPECT_TRUE(EVP_PKEY_is_a(key.get(), "EC"));
}

TEST(CreateCertificateAuthorityTest, GivesFreshKeysAndSerials) {
  const KeyAndCertificate a = MakeCa();
  const KeyAndCertificate b = MakeCa();
  EXPECT_NE(a.key_pem, b.key_pem);
  const CertificateInfo ia = Info(a.cert_pem);
  const CertificateInfo ib = Info(b.cert_pem);
  EXPECT_NE(ia.serial_hex, ib.serial_hex);
  EXPECT_EQ(ia.serial_hex.size(), 32u);  // 127 bits with the top one set: always 16 bytes
  EXPECT_TRUE(IsLowerHex(ia.serial_hex));
}

TEST(CreateCertificateAuthorityTest, RejectsBadCommonNameAndValidity) {
  EXPECT_EQ(CreateCertificateAuthority("", days(1)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCertificateAuthority(std::string(65, 'a'), days(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCertificateAuthority("a\nb", days(1)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCertificateAuthority("bad \xff utf8", days(1)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCertificateAuthority("ca", seconds(0)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCertificateAuthority("ca", days(36501)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CreateCertificateAuthority("Fédération CA", days(1)).ok());
}

TEST(CreateCertificateAuthorityTest, PrintingRedactsTheKey) {
  const KeyAndCertificate ca = MakeCa();
  std::ostringstream os;
  os << ca;
  EXPECT_EQ(os.str().find("PRIVATE KEY"), std::string::npos) << os.str();
  EXPECT_NE(os.str().find("key_pem=<redacted>"), std::string::npos) << os.str();
}

// ---- IssueCertificate and InspectCertificate --------------------------------------------------------------

TEST(IssueCertificateTest, LeafVerifiesAndInspectShowsTheRequest) {
  const KeyAndCertificate ca = MakeCa();
  CertificateRequest request = NodeRequest("node-a.example_1");
  request.common_name = "Node A";
  request.dns_names = {"localhost", "node-a.example.org"};
  request.ip_addresses = {"127.0.0.1", "::1", "2001:db8:0:0::7"};
  request.validity = days(30);
  const int64_t before = Now();
  const KeyAndCertificate leaf = Issue(ca, request);
  const int64_t after = Now();

  EXPECT_TRUE(VerifyCertificate(leaf.cert_pem, ca.cert_pem, Now(), "node-a.example_1").ok());
  EXPECT_TRUE(VerifyCertificate(leaf.cert_pem, ca.cert_pem, Now(), "").ok());
  EXPECT_TRUE(VerifyCertificate(leaf.cert_pem, ca.cert_pem, Now(), "", CertificateUse::kTlsServer).ok());
  EXPECT_TRUE(VerifyCertificate(leaf.cert_pem, ca.cert_pem, Now(), "", CertificateUse::kTlsClient).ok());

  const CertificateInfo info = Info(leaf.cert_pem);
  EXPECT_EQ(info.subject_cn, "Node A");
  EXPECT_EQ(info.issuer_cn, "hashbank federation CA");
  EXPECT_EQ(info.dns_names, (std::vector<std::string>{"localhost", "node-a.example.org"}));
  EXPECT_EQ(info.ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1", "2001:db8::7"}));
  EXPECT_EQ(info.node_id, "node-a.example_1");
  EXPECT_FALSE(info.is_ca);
  EXPECT_TRUE(info.server_auth);
  EXPECT_TRUE(info.client_auth);
  EXPECT_EQ(info.sha256_fingerprint_hex.size(), 64u);
  EXPECT_TRUE(IsLowerHex(info.sha256_fingerprint_hex)) << info.sha256_fingerprint_hex;
  EXPECT_NE(info.sha256_fingerprint_hex, Info(ca.cert_pem).sha256_fingerprint_hex);
  EXPECT_GE(info.not_before_unix, before - 300);
  EXPECT_LE(info.not_before_unix, after - 300);
  EXPECT_EQ(info.not_after_unix - info.not_before_unix, 30 * 86400 + 300);

  // Independently: OpenSSL sees the CA as the issuer and the key as the certificate's.
  X509Ptr ca_cert = ParseX509(ca.cert_pem);
  X509Ptr cert = ParseX509(leaf.cert_pem);
  EvpPkeyPtr key = ParseKey(leaf.key_pem);
  ASSERT_TRUE(ca_cert && cert && key);
  EXPECT_EQ(X509_check_issued(ca_cert.get(), cert.get()), X509_V_OK);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
}

TEST(IssueCertificateTest, ServerOnlyCertificateIsNotForClientAuthentication) {
  const KeyAndCertificate ca = MakeCa();
  const KeyAndCertificate leaf = Issue(ca, ServerRequest());
  const CertificateInfo info = Info(leaf.cert_pem);
  EXPECT_TRUE(info.server_auth);
  EXPECT_FALSE(info.client_auth);
  EXPECT_TRUE(info.node_id.empty());
  const absl::Status status = VerifyCertificate(leaf.cert_pem, ca.cert_pem, Now(), "", CertificateUse::kTlsClient);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_TRUE(MessageContains(status, "extended key usage")) << status;
}

TEST(IssueCertificateTest, LeafValidityIsCappedAtTheCaExpiry) {
  const KeyAndCertificate ca = MakeCa("short CA", days(10));
  CertificateRequest request = ServerRequest();
  request.validity = days(825);
  const KeyAndCertificate leaf = Issue(ca, request);
  EXPECT_EQ(Info(leaf.cert_pem).not_after_unix, Info(ca.cert_pem).not_after_unix);
}

TEST(IssueCertificateTest, RejectsRequestWithoutCommonNameOrSubjectAltName) {
  const KeyAndCertificate ca = MakeCa();
  CertificateRequest request = ServerRequest();
  request.common_name.clear();
  absl::StatusOr<KeyAndCertificate> leaf = IssueCertificate(ca, request);
  EXPECT_EQ(leaf.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageContains(leaf.status(), "common name is empty")) << leaf.status();

  request = ServerRequest();
  request.dns_names.clear();
  request.ip_addresses.clear();
  leaf = IssueCertificate(ca, request);
  EXPECT_EQ(leaf.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageContains(leaf.status(), "no subject alternative name")) << leaf.status();

  request.node_id = "only-a-node-id";  // a node id alone is a SAN
  EXPECT_TRUE(IssueCertificate(ca, request).ok());
}

TEST(IssueCertificateTest, RejectsBadIpAddressNamingIt) {
  const KeyAndCertificate ca = MakeCa();
  for (const std::string ip : {"300.1.1.1", "1.2.3", " 1.2.3.4", "1.2.3.4 ", "localhost", "::g", ""}) {
    CertificateRequest request = ServerRequest();
    request.ip_addresses = {"127.0.0.1", ip};
    const absl::StatusOr<KeyAndCertificate> leaf = IssueCertificate(ca, request);
    EXPECT_EQ(leaf.status().code(), absl::StatusCode::kInvalidArgument) << ip;
    EXPECT_TRUE(MessageContains(leaf.status(), "IP address \"" + ip + "\"")) << leaf.status();
  }
}

TEST(IssueCertificateTest, RejectsBadDnsNames) {
  const KeyAndCertificate ca = MakeCa();
  const std::vector<std::string> bad = {"",    "*.example.org", "a..b",         "-a.example", "a-.example",
                                       "a b", "a,IP:1.2.3.4",  "example.org.", "10.0.0.1",   std::string(64, 'a') + ".org"};
  for (const std::string& name : bad) {
    CertificateRequest request = ServerRequest();
    request.dns_names = {name};
    EXPECT_EQ(IssueCertificate(ca, request).status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
  CertificateRequest request = ServerRequest();
  request.dns_names = {"10.0.0.1"};
  EXPECT_TRUE(MessageContains(IssueCertificate(ca, request).status(), "list it in ip_addresses"));
}

TEST(IssueCertificateTest, RejectsBadNodeId) {
  const KeyAndCertificate ca = MakeCa();
  for (const std::string& id : std::vector<std::string>{"Node-A", "a/b", "a b", "é", "-a", ".", std::string(65, 'a')}) {
    CertificateRequest request = NodeRequest("placeholder");
    request.node_id = id;
    const absl::StatusOr<KeyAndCertificate> leaf = IssueCertificate(ca, request);
    EXPECT_EQ(leaf.status().code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_TRUE(MessageContains(leaf.status(), "node id")) << leaf.status();
  }
  CertificateRequest longest = NodeRequest("placeholder");
  longest.node_id = std::string(64, 'a');
  EXPECT_TRUE(IssueCertificate(ca, longest).ok());
  EXPECT_TRUE(ValidateNodeId("a.b_c-9").ok());
  EXPECT_EQ(ValidateNodeId("").code(), absl::StatusCode::kInvalidArgument);
}

TEST(IssueCertificateTest, RejectsRequestWithoutExtendedKeyUsageOrWithBadValidity) {
  const KeyAndCertificate ca = MakeCa();
  CertificateRequest request = ServerRequest();
  request.server_auth = false;
  EXPECT_EQ(IssueCertificate(ca, request).status().code(), absl::StatusCode::kInvalidArgument);
  request = ServerRequest();
  request.validity = seconds(0);
  EXPECT_EQ(IssueCertificate(ca, request).status().code(), absl::StatusCode::kInvalidArgument);
  request = ServerRequest();
  request.not_before_skew = seconds(-1);
  EXPECT_EQ(IssueCertificate(ca, request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(IssueCertificateTest, RejectsCaKeyThatIsNotTheCas) {
  const KeyAndCertificate ca = MakeCa();
  const KeyAndCertificate other = MakeCa();
  const absl::StatusOr<KeyAndCertificate> leaf =
      IssueCertificate(KeyAndCertificate{.key_pem = other.key_pem, .cert_pem = ca.cert_pem}, ServerRequest());
  EXPECT_EQ(leaf.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageContains(leaf.status(), "CA key does not belong to the CA certificate")) << leaf.status();
  // No key material in the message.
  EXPECT_FALSE(MessageContains(leaf.status(), "PRIVATE KEY")) << leaf.status();
}

TEST(IssueCertificateTest, RejectsIssuerThatIsNotACaOrMalformed) {
  const KeyAndCertificate ca = MakeCa();
  const KeyAndCertificate leaf = Issue(ca, ServerRequest());
  absl::StatusOr<KeyAndCertificate> issued = IssueCertificate(leaf, ServerRequest());
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageContains(issued.status(), "not a CA certificate")) << issued.status();

  issued = IssueCertificate(KeyAndCertificate{.key_pem = "garbage", .cert_pem = ca.cert_pem}, ServerRequest());
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageContains(issued.status(), "CA key is not a PEM private key")) << issued.status();
}

TEST(InspectCertificateTest, RejectsMalformedPem) {
  const KeyAndCertificate ca = MakeCa();
  std::string corrupted = ca.cert_pem;
  corrupted[corrupted.size() / 2] = '!';  // inside the base64 body
  std::string truncated = ca.cert_pem.substr(0, ca.cert_pem.size() / 2);
  std::string flipped = ca.cert_pem;
  flipped[40] = flipped[40] == 'A' ? 'B' : 'A';  // valid base64, corrupt DER
  for (const std::string& pem : {std::string(), std::string("garbage"), corrupted, truncated, flipped, ca.key_pem,
                                 std::string(2 << 20, 'A')}) {
    const absl::StatusOr<CertificateInfo> info = InspectCertificate(pem);
    EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << pem.substr(0, 80) << info.status();
  }
  EXPECT_EQ(ERR_peek_error(), 0u);  // no OpenSSL error left behind
}

// ---- VerifyCertificate -----------------------------------------------------------------------------------

TEST(VerifyCertificateTest, RejectsLeafFromAnotherCaWithTheSameName) {
  const KeyAndCertificate ca = MakeCa("hashbank federation CA");
  const KeyAndCertificate impostor_ca = MakeCa("hashbank federation CA");
  const KeyAndCertificate leaf = Issue(impostor_ca, NodeRequest("node-a"));
  const absl::Status status = VerifyCertificate(leaf.cert_pem, ca.cert_pem, Now(), "node-a");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_TRUE(MessageContains(status, "not signed by the federation CA")) << status;
}

TEST(VerifyCertificateTest, RejectsExpiredCertificate) {
  const KeyAndCertificate ca = MakeCa();
  CertificateRequest request = ServerRequest();
  request.validity = seconds(1);
  const KeyAndCertificate leaf = Issue(ca, request);
  const CertificateInfo info = Info(leaf.cert_pem);
  EXPECT_TRUE(VerifyCertificate(leaf.cert_pem, ca.cert_pem, info.not_after_unix - 1, "").ok());
  const absl::Status status = VerifyCertificate(leaf.cert_pem, ca.cert_pem, info.not_after_unix + 1, "");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_TRUE(MessageContains(status, "certificate expired")) << status;
  EXPECT_FALSE(MessageContains(status, "federation CA certificate")) << status;
}

TEST(VerifyCertificateTest, RejectsCertificateNotYetValid) {
  const KeyAndCertificate ca = MakeCa();
  CertificateRequest request = ServerRequest();
  request.not_before_skew = seconds(0);  // valid from now, while the CA is backdated five minutes
  const KeyAndCertificate leaf = Issue(ca, request);
  const CertificateInfo info = Info(leaf.cert_pem);
  EXPECT_TRUE(VerifyCertificate(leaf.cert_pem, ca.cert_pem, info.not_before_unix, "").ok());
  absl::Status status = VerifyCertificate(leaf.cert_pem, ca.cert_pem, info.not_before_unix - 1, "");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_TRUE(MessageContains(status, "certificate is not yet valid")) << status;
  EXPECT_FALSE(MessageContains(status, "federation CA certificate")) << status;

  // Before the CA's own validity, the CA is named.
  status = VerifyCertificate(leaf.cert_pem, ca.cert_pem, Info(ca.cert_pem).not_before_unix - 1, "");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_TRUE(MessageContains(status, "not yet valid")) << status;
}

TEST(VerifyCertificateTest, RejectsWhenTheCaHasExpired) {
  const KeyAndCertificate ca = MakeCa("short CA", days(1));
  CertificateRequest request = ServerRequest();
  const KeyAndCertificate leaf = Issue(ca, request);
  const absl::Status status =
      VerifyCertificate(leaf.cert_pem, ca.cert_pem, Info(ca.cert_pem).not_after_unix + 1, "");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_TRUE(MessageContains(status, "expired")) << status;
}

TEST(VerifyCertificateTest, RejectsNodeIdMismatch) {
  const KeyAndCertificate ca = MakeCa();
  const KeyAndCertificate node = Issue(ca, NodeRequest("node-a"));
  absl::Status status = VerifyCertificate(node.cert_pem, ca.cert_pem, Now(), "node-b");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_TRUE(MessageContains(status, "node id mismatch")) << status;
  EXPECT_TRUE(MessageContains(status, "\"node-a\"")) << status;

  const KeyAndCertificate server = Issue(ca, ServerRequest());
  status = VerifyCertificate(server.cert_pem, ca.cert_pem, Now(), "node-a");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_TRUE(MessageContains(status, "node id mismatch")) << status;

  EXPECT_EQ(VerifyCertificate(node.cert_pem, ca.cert_pem, Now(), "Bad Id").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(VerifyCertificateTest, RejectsCaCertificatePresentedAsLeaf) {
  const KeyAndCertificate ca = MakeCa();
  const absl::Status status = VerifyCertificate(ca.cert_pem, ca.cert_pem, Now(), "");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_TRUE(MessageContains(status, "is a CA certificate")) << status;
}

TEST(VerifyCertificateTest, AcceptsCaBundleHoldingOldAndNewCa) {
  const KeyAndCertificate old_ca = MakeCa("CA 2024");
  const KeyAndCertificate new_ca = MakeCa("CA 2025");
  const std::string bundle = old_ca.cert_pem + new_ca.cert_pem;
  EXPECT_TRUE(VerifyCertificate(Issue(old_ca, NodeRequest("a")).cert_pem, bundle, Now(), "a").ok());
  EXPECT_TRUE(VerifyCertificate(Issue(new_ca, NodeRequest("b")).cert_pem, bundle, Now(), "b").ok());
}

TEST(VerifyCertificateTest, RejectsMalformedInputAndNonCaTrustAnchor) {
  const KeyAndCertificate ca = MakeCa();
  const KeyAndCertificate leaf = Issue(ca, ServerRequest());
  EXPECT_EQ(VerifyCertificate("garbage", ca.cert_pem, Now(), "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCertificate(leaf.cert_pem, "garbage", Now(), "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCertificate(leaf.cert_pem, ca.cert_pem + "-----BEGIN CERTIFICATE-----\nAAAA\n", Now(), "").code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status status = VerifyCertificate(leaf.cert_pem, leaf.cert_pem, Now(), "");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(MessageContains(status, "is not a CA certificate")) << status;
}

// ---- Real TLS 1.3 handshakes over memory BIOs --------------------------------------------------------------

TEST(TlsHandshakeTest, ServerCertificateCompletesTls13HandshakeCheckingTheHostName) {
  const KeyAndCertificate ca = MakeCa();
  const KeyAndCertificate server = Issue(ca, ServerRequest());
  SslCtxPtr server_ctx = MakeContext(true, &server, "");
  SslCtxPtr client_ctx = MakeContext(false, nullptr, ca.cert_pem);
  for (const std::string host : {"localhost", "hashbank.example.org", "127.0.0.1", "::1"}) {
    const HandshakeOutcome out = Handshake(client_ctx.get(), server_ctx.get(), host);
    EXPECT_TRUE(out.client_ok) << host << ": " << X509_verify_cert_error_string(out.client_verify_result);
    EXPECT_TRUE(out.server_ok) << host;
    EXPECT_EQ(out.client_version, TLS1_3_VERSION) << host;
    EXPECT_EQ(out.client_verify_result, X509_V_OK) << host;
  }
}

TEST(TlsHandshakeTest, ClientTrustingAnotherCaFailsTheHandshake) {
  const KeyAndCertificate ca = MakeCa("hashbank dev CA");
  const KeyAndCertificate other_ca = MakeCa("hashbank dev CA");
  const KeyAndCertificate server = Issue(ca, ServerRequest());
  SslCtxPtr server_ctx = MakeContext(true, &server, "");
  SslCtxPtr client_ctx = MakeContext(false, nullptr, other_ca.cert_pem);
  const HandshakeOutcome out = Handshake(client_ctx.get(), server_ctx.get(), "localhost");
  EXPECT_FALSE(out.client_ok);
  EXPECT_FALSE(out.server_ok);
  EXPECT_NE(out.client_verify_result, X509_V_OK);
}

TEST(TlsHandshakeTest, ClientRejectsAHostNameNotInTheSans) {
  const KeyAndCertificate ca = MakeCa();
  const KeyAndCertificate server = Issue(ca, ServerRequest());
  SslCtxPtr server_ctx = MakeContext(true, &server, "");
  SslCtxPtr client_ctx = MakeContext(false, nullptr, ca.cert_pem);
  for (const std::string host : {"evil.example.org", "10.0.0.1"}) {
    const HandshakeOutcome out = Handshake(client_ctx.get(), server_ctx.get(), host);
    EXPECT_FALSE(out.client_ok) << host;
    EXPECT_TRUE(out.client_verify_result == X509_V_ERR_HOSTNAME_MISMATCH ||
                out.client_verify_result == X509_V_ERR_IP_ADDRESS_MISMATCH)
        << host << ": " << X509_verify_cert_error_string(out.client_verify_result);
  }
}

TEST(TlsHandshakeTest, MutualTlsServerReadsTheClientsNodeId) {
  const KeyAndCertificate ca = MakeCa();
  const KeyAndCertificate node_a = Issue(ca, NodeRequest("node-a"));
  const KeyAndCertificate node_b = Issue(ca, NodeRequest("node-b"));
  SslCtxPtr server_ctx = MakeContext(true, &node_a, ca.cert_pem);
  SslCtxPtr client_ctx = MakeContext(false, &node_b, ca.cert_pem);
  const HandshakeOutcome out = Handshake(client_ctx.get(), server_ctx.get(), "localhost");
  ASSERT_TRUE(out.client_ok && out.server_ok) << X509_verify_cert_error_string(out.server_verify_result);
  EXPECT_EQ(out.client_version, TLS1_3_VERSION);
  EXPECT_EQ(out.server_verify_result, X509_V_OK);
  ASSERT_FALSE(out.client_cert_seen_by_server.empty());
  EXPECT_EQ(Info(out.client_cert_seen_by_server).node_id, "node-b");
  EXPECT_TRUE(
      VerifyCertificate(out.client_cert_seen_by_server, ca.cert_pem, Now(), "node-b", CertificateUse::kTlsClient)
          .ok());
}

TEST(TlsHandshakeTest, ServerRejectsClientCertificateWithoutClientAuthOrFromAnotherCa) {
  const KeyAndCertificate ca = MakeCa();
  const KeyAndCertificate other_ca = MakeCa();
  const KeyAndCertificate server = Issue(ca, NodeRequest("node-a"));
  SslCtxPtr server_ctx = MakeContext(true, &server, ca.cert_pem);

  CertificateRequest server_only = NodeRequest("node-b");
  server_only.client_auth = false;
  const KeyAndCertificate no_client_auth = Issue(ca, server_only);
  const KeyAndCertificate foreign = Issue(other_ca, NodeRequest("node-b"));
  for (const KeyAndCertificate* identity : {&no_client_auth, &foreign}) {
    SslCtxPtr client_ctx = MakeContext(false, identity, ca.cert_pem);
    const HandshakeOutcome out = Handshake(client_ctx.get(), server_ctx.get(), "localhost");
    EXPECT_FALSE(out.server_ok);
    EXPECT_NE(out.server_verify_result, X509_V_OK);
  }
  // And no client certificate at all.
  SslCtxPtr anonymous = MakeContext(false, nullptr, ca.cert_pem);
  EXPECT_FALSE(Handshake(anonymous.get(), server_ctx.get(), "localhost").server_ok);
}

}  // namespace
}  // namespace hashbank
