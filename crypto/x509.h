// X.509 for hashbank's TLS: a certificate authority, the certificates it issues, and checking a presented
// certificate against it.
//
// Two uses. `hashbank serve` on embedded defaults makes a development CA and a server certificate for the member
// HTTPS API on first start. A federation runs one CA (`hashbank ca init`) that issues each node a certificate
// for mutual TLS (`hashbank node init`); the node's id is a URI SAN `hashbank://node/<id>`, its host names and
// addresses DNS and IP SANs, and a peer checks a presented certificate with VerifyCertificate.
//
// Every key is ECDSA P-256 and every signature ECDSA with SHA-256; serial numbers are 127 random bits. Keys
// and certificates cross this interface as PEM text (PKCS#8 "PRIVATE KEY", unencrypted, and "CERTIFICATE"), so
// no OpenSSL type appears here. Issuance reads the system clock; verification takes the time as an argument.
//
// Errors: InvalidArgument for a bad request or input that is not a certificate or key (naming the problem),
// PermissionDenied when a certificate is not one the CA vouches for, FailedPrecondition when it is outside
// its validity period, Internal for an OpenSSL failure that no input explains (with OpenSSL's error text).
// Every function is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/node_id.h"     // ValidateNodeId: the rule for CertificateRequest::node_id
#include "crypto/pem_file.h"  // WritePemFile / ReadTextFile, for callers that store what they issue

namespace hashbank {

// A private key and its certificate. `key_pem` is SECRET: never log it; write it with mode 0600. Printing the
// struct (operator<<, so also a failed test assertion) shows the certificate's size and never the key.
struct KeyAndCertificate {
  std::string key_pem;
  std::string cert_pem;
};

std::ostream& operator<<(std::ostream& os, const KeyAndCertificate& pair);

// What IssueCertificate puts in a certificate. A request needs a common name and at least one SAN (a DNS
// name, an IP address or a node id): TLS clients match host names against SANs only.
struct CertificateRequest {
  std::string common_name;                // 1..64 bytes of UTF-8, no control characters
  std::vector<std::string> dns_names;     // DNS SANs: host names of letters, digits and '-' labels, no wildcards
  std::vector<std::string> ip_addresses;  // IP SANs in inet_pton form: "127.0.0.1", "::1"
  std::string node_id;                    // optional: URI SAN hashbank://node/<node_id>; see ValidateNodeId
  bool server_auth = true;                // extendedKeyUsage serverAuth
  bool client_auth = false;               // extendedKeyUsage clientAuth; at least one of the two must be set
  // Valid from (now - not_before_skew), so peers with a clock a little behind accept it at once, until
  // (now + validity), capped at the CA certificate's own expiry.
  std::chrono::seconds validity = std::chrono::days(825);
  std::chrono::seconds not_before_skew = std::chrono::minutes(5);
};

// What a certificate says, for display and for authorization after VerifyCertificate.
struct CertificateInfo {
  std::string subject_cn;                 // empty when the subject has no common name
  std::string issuer_cn;
  std::string serial_hex;                 // lowercase hex, no leading zeros
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // in inet_ntop form ("::1")
  std::string node_id;                    // from a hashbank://node/ URI SAN; empty when there is none
  std::string sha256_fingerprint_hex;     // SHA-256 of the DER certificate, 64 lowercase hex digits
  int64_t not_before_unix = 0;
  int64_t not_after_unix = 0;
  bool is_ca = false;                     // basicConstraints CA:TRUE
  bool server_auth = false;               // usable for TLS server authentication (true with no EKU extension)
  bool client_auth = false;               // usable for TLS client authentication (true with no EKU extension)
};

// What a verified certificate must be usable for.
enum class CertificateUse { kAny, kTlsServer, kTlsClient };

// A node certificate's URI SAN is this prefix and the node id; ValidateNodeId (base/node_id.h) is the rule.
inline constexpr std::string_view kNodeIdUriPrefix = "hashbank://node/";

// A self-signed CA: basicConstraints CA:TRUE, pathlen:0 (it signs only end-entity certificates), keyUsage
// keyCertSign and cRLSign (both critical), subject and authority key identifiers. Valid from five minutes ago
// for `validity`. InvalidArgument for a bad common name or a validity outside (0, 100 years].
absl::StatusOr<KeyAndCertificate> CreateCertificateAuthority(const std::string& common_name,
                                                             std::chrono::seconds validity);

// An end-entity certificate signed by `ca`: basicConstraints CA:FALSE, keyUsage digitalSignature (critical),
// extendedKeyUsage per the request, the SANs, subject and authority key identifiers. InvalidArgument naming
// the problem for a bad request, or when `ca` is not a CA certificate with its matching key; FailedPrecondition
// when the CA certificate has expired.
absl::StatusOr<KeyAndCertificate> IssueCertificate(const KeyAndCertificate& ca, const CertificateRequest& request);

// Parses the first certificate in `cert_pem`. InvalidArgument when there is none or it is malformed, including
// a malformed SAN extension or more than one node id.
absl::StatusOr<CertificateInfo> InspectCertificate(const std::string& cert_pem);

// Checks that the first certificate in `cert_pem` is an end-entity certificate signed directly by a CA
// certificate in `ca_pem` (one or more, so a CA rotation can trust old and new), that both are valid at
// `now_unix`, that it is usable for `use`, and, when `expected_node_id` is not empty, that it names that node.
//   InvalidArgument     malformed input, `ca_pem` holding a certificate that is not a CA, a bad expected id
//   PermissionDenied    "not signed by the federation CA", "node id mismatch", a CA certificate presented as
//                       an end-entity one, the wrong extended key usage
//   FailedPrecondition  "expired" or "not yet valid" (of the certificate or of the CA certificate)
absl::Status VerifyCertificate(const std::string& cert_pem, const std::string& ca_pem, int64_t now_unix,
                               const std::string& expected_node_id, CertificateUse use = CertificateUse::kAny);

}  // namespace hashbank
