#include "node/tls_peer.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <string_view>

#include "absl/strings/escaping.h"

namespace hashbank {

std::string TlsPeerNodeId(void* handle) {
  constexpr std::string_view kPrefix = "hashbank://node/";
  X509* cert = SSL_get0_peer_certificate(static_cast<SSL*>(handle));
  if (cert == nullptr) return "";
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return "";
  std::string id;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const auto* uri = name->d.uniformResourceIdentifier;
    const std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                            static_cast<size_t>(ASN1_STRING_length(uri)));
    if (value.rfind(kPrefix, 0) == 0) id = value.substr(kPrefix.size());
  }
  GENERAL_NAMES_free(names);
  return id;
}

std::string TlsPeerCertificateSha256(void* handle) {
  X509* cert = SSL_get0_peer_certificate(static_cast<SSL*>(handle));
  if (cert == nullptr) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &length) != 1 || length != 32) return "";
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace hashbank
