#include "crypto/x509.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/node_id.h"

namespace hashbank {
namespace {

// ---- OpenSSL boundary: owners and error conversion ------------------------------------------------------------

template <auto kFree>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};

using Asn1OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, OpenSslDeleter<ASN1_OCTET_STRING_free>>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, OpenSslDeleter<ASN1_STRING_free>>;
using BigNumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OpenSslDeleter<EVP_PKEY_CTX_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, OpenSslDeleter<GENERAL_NAME_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE_free>>;

// OpenSSL reports failures on a thread-local queue. Each public function starts and ends with it empty, so an
// error is attributed to the call that caused it and none is left behind for an unrelated caller.
class OpenSslErrorScope {
 public:
  OpenSslErrorScope() { ERR_clear_error(); }
  ~OpenSslErrorScope() { ERR_clear_error(); }
  OpenSslErrorScope(const OpenSslErrorScope&) = delete;
  OpenSslErrorScope& operator=(const OpenSslErrorScope&) = delete;
};

// Drains the queue into "error:...; error:...".
std::string DrainOpenSslErrors() {
  std::string out;
  char line[256];
  for (unsigned long err = ERR_get_error(); err != 0; err = ERR_get_error()) {
    ERR_error_string_n(err, line, sizeof line);
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out;
}

// `what` plus OpenSSL's explanation, if it gave one.
absl::Status OpenSslStatus(absl::StatusCode code, const std::string& what) {
  const std::string detail = DrainOpenSslErrors();
  return absl::Status(code, detail.empty() ? what : absl::StrCat(what, ": ", detail));
}

absl::Status OpenSslInternal(const std::string& what) { return OpenSslStatus(absl::StatusCode::kInternal, what); }

// PEM input is small; the bound keeps a hostile blob from reaching the parser and fits BIO's int length.
constexpr size_t kMaxPemBytes = size_t{1} << 20;
constexpr std::chrono::seconds kMaxValidity = std::chrono::days(36500);
constexpr size_t kMaxCommonNameBytes = 64;  // ub-common-name
constexpr size_t kMaxDnsNameLength = 253;
constexpr size_t kSerialBytes = 16;
constexpr std::chrono::seconds kCaNotBeforeSkew = std::chrono::minutes(5);

absl::StatusOr<BioPtr> ReadOnlyBio(const std::string& pem, const std::string& what) {
  if (pem.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", pem.size(), " bytes, over the limit of ", kMaxPemBytes));
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslInternal("BIO_new_mem_buf failed");
  return bio;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  if (data == nullptr || size <= 0) return std::string();
  return std::string(data, static_cast<size_t>(size));
}

// Refuses to prompt for a passphrase: an encrypted key is an error, never a read from the terminal.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

absl::StatusOr<X509Ptr> ParseCertificate(const std::string& pem, const std::string& what) {
  absl::StatusOr<BioPtr> bio = ReadOnlyBio(pem, what);
  if (!bio.ok()) return bio.status();
  X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, NoPassphrase, nullptr));
  if (!cert) return OpenSslStatus(absl::StatusCode::kInvalidArgument, absl::StrCat(what, " is not a PEM certificate"));
  return cert;
}

// Every certificate in `pem`; at least one.
absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(const std::string& pem, const std::string& what) {
  absl::StatusOr<BioPtr> bio = ReadOnlyBio(pem, what);
  if (!bio.ok()) return bio.status();
  std::vector<X509Ptr> certs;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, NoPassphrase, nullptr));
    if (!cert) break;
    certs.push_back(std::move(cert));
  }
  // The loop ends on "no start line" at the end of the input; anything else is a malformed block.
  const unsigned long err = ERR_peek_last_error();
  if (certs.empty() || !(ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE)) {
    return OpenSslStatus(absl::StatusCode::kInvalidArgument, absl::StrCat(what, " is not a PEM certificate"));
  }
  ERR_clear_error();
  return certs;
}

absl::StatusOr<EvpPkeyPtr> ParsePrivateKey(const std::string& pem, const std::string& what) {
  absl::StatusOr<BioPtr> bio = ReadOnlyBio(pem, what);
  if (!bio.ok()) return bio.status();
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, NoPassphrase, nullptr));
  // OpenSSL's text names the failing decoder, never key material.
  if (!key) return OpenSslStatus(absl::StatusCode::kInvalidArgument, absl::StrCat(what, " is not a PEM private key"));
  return key;
}

absl::StatusOr<std::string> CertificatePem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return OpenSslInternal("cannot encode a certificate as PEM");
  return BioContents(bio.get());
}

absl::StatusOr<std::string> PrivateKeyPem(EVP_PKEY* key) {
  // Secure-heap memory BIO: the buffer holding the key is cleansed when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslInternal("cannot encode a private key as PEM");
  }
  return BioContents(bio.get());
}

// ---- Validation ----------------------------------------------------------------------------------------------

std::string Quoted(const std::string& s) { return absl::StrCat("\"", absl::CHexEscape(s), "\""); }

absl::Status ValidateCommonName(const std::string& cn) {
  if (cn.empty()) return absl::InvalidArgumentError("common name is empty");
  if (cn.size() > kMaxCommonNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("common name is ", cn.size(), " bytes, the limit is ", kMaxCommonNameBytes));
  }
  for (size_t i = 0; i < cn.size(); ++i) {
    const auto c = static_cast<unsigned char>(cn[i]);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat("common name has a control character at position ", i));
    }
  }
  return absl::OkStatus();  // UTF-8 validity is checked by OpenSSL when the name is built
}

absl::Status ValidateValidity(std::chrono::seconds validity, const std::string& what) {
  if (validity <= std::chrono::seconds(0) || validity > kMaxValidity) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", validity.count(), " s; it must be positive and at most 100 years"));
  }
  return absl::OkStatus();
}

bool IsLdhCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

std::optional<std::vector<uint8_t>> ParseIpAddress(const std::string& text) {
  unsigned char buf[16];
  if (::inet_pton(AF_INET, text.c_str(), buf) == 1) return std::vector<uint8_t>(buf, buf + 4);
  if (::inet_pton(AF_INET6, text.c_str(), buf) == 1) return std::vector<uint8_t>(buf, buf + 16);
  return std::nullopt;
}

// RFC 1123 host names: dot-separated labels of 1..63 letters, digits and '-', not starting or ending with '-'.
// Wildcards and trailing dots are refused: hashbank names specific hosts.
absl::Status ValidateDnsName(const std::string& name) {
  const std::string shown = Quoted(name);
  if (name.empty()) return absl::InvalidArgumentError("DNS name is empty");
  if (name.size() > kMaxDnsNameLength) {
    return absl::InvalidArgumentError(absl::StrCat("DNS name is over ", kMaxDnsNameLength, " characters"));
  }
  if (ParseIpAddress(name).has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("DNS name ", shown, " is an IP address; list it in ip_addresses"));
  }
  size_t label_start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '.') {
      if (!IsLdhCharacter(name[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("DNS name ", shown, " has a character outside [A-Za-z0-9.-] at position ", i));
      }
      continue;
    }
    const size_t length = i - label_start;
    if (length == 0 || length > 63) {
      return absl::InvalidArgumentError(absl::StrCat("DNS name ", shown, " has an empty or over-long label"));
    }
    if (name[label_start] == '-' || name[i - 1] == '-') {
      return absl::InvalidArgumentError(absl::StrCat("DNS name ", shown, " has a label starting or ending in '-'"));
    }
    label_start = i + 1;
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const CertificateRequest& request) {
  if (absl::Status s = ValidateCommonName(request.common_name); !s.ok()) return s;
  if (request.dns_names.empty() && request.ip_addresses.empty() && request.node_id.empty()) {
    return absl::InvalidArgumentError(
        "certificate request has no subject alternative name (DNS name, IP address or node id)");
  }
  for (const std::string& name : request.dns_names) {
    if (absl::Status s = ValidateDnsName(name); !s.ok()) return s;
  }
  for (const std::string& ip : request.ip_addresses) {
    if (!ParseIpAddress(ip).has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("IP address ", Quoted(ip), " is not an IPv4 or IPv6 address"));
    }
  }
  if (!request.node_id.empty()) {
    if (absl::Status s = ValidateNodeId(request.node_id); !s.ok()) return s;
  }
  if (!request.server_auth && !request.client_auth) {
    return absl::InvalidArgumentError("certificate request allows neither serverAuth nor clientAuth");
  }
  if (absl::Status s = ValidateValidity(request.validity, "validity"); !s.ok()) return s;
  if (request.not_before_skew < std::chrono::seconds(0) || request.not_before_skew > kMaxValidity) {
    return absl::InvalidArgumentError(
        absl::StrCat("not_before_skew is ", request.not_before_skew.count(), " s; it must be 0 to 100 years"));
  }
  return absl::OkStatus();
}

// ---- Building certificates -----------------------------------------------------------------------------------

absl::StatusOr<EvpPkeyPtr> GenerateP256Key() {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") != 1) {
    return OpenSslInternal("cannot set up P-256 key generation");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &raw) != 1) return OpenSslInternal("P-256 key generation failed");
  return EvpPkeyPtr(raw);
}

absl::Status SetRandomSerial(X509* cert) {
  unsigned char bytes[kSerialBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return OpenSslInternal("RAND_bytes failed");
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);  // positive, and exactly 127 significant bits
  BigNumPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpenSslInternal("cannot set the serial number");
  }
  return absl::OkStatus();
}

absl::Status SetSubjectCommonName(X509* cert, const std::string& cn) {
  X509_NAME* name = X509_get_subject_name(cert);
  const auto* bytes = reinterpret_cast<const unsigned char*>(cn.data());
  if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, bytes, static_cast<int>(cn.size()), -1, 0) != 1) {
    return OpenSslStatus(absl::StatusCode::kInvalidArgument, "common name is not valid UTF-8");
  }
  return absl::OkStatus();
}

// A certificate with everything but issuer, extensions and signature: v3, random serial, validity, subject, key.
absl::StatusOr<X509Ptr> NewCertificate(const std::string& cn, EVP_PKEY* key, int64_t not_before_unix,
                                       int64_t not_after_unix) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return OpenSslInternal("cannot create a certificate");
  if (absl::Status s = SetRandomSerial(cert.get()); !s.ok()) return s;
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(not_before_unix)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(not_after_unix)) == nullptr) {
    return OpenSslInternal("cannot set the validity period");
  }
  if (absl::Status s = SetSubjectCommonName(cert.get(), cn); !s.ok()) return s;
  if (X509_set_pubkey(cert.get(), key) != 1) return OpenSslInternal("cannot set the public key");
  return cert;
}

// Adds an extension written in openssl.cnf syntax ("critical,CA:TRUE"); `ctx` names issuer and subject.
absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslInternal(absl::StrCat("cannot add extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

absl::Status PushName(GENERAL_NAMES* names, int type, ASN1_STRING* value) {
  GeneralNamePtr name(GENERAL_NAME_new());
  if (!name) {
    ASN1_STRING_free(value);
    return OpenSslInternal("GENERAL_NAME_new failed");
  }
  GENERAL_NAME_set0_value(name.get(), type, value);  // takes `value`
  if (sk_GENERAL_NAME_push(names, name.get()) == 0) return OpenSslInternal("cannot add a subject alternative name");
  name.release();  // owned by `names`
  return absl::OkStatus();
}

absl::Status PushStringName(GENERAL_NAMES* names, int type, const std::string& text) {
  Asn1StringPtr value(ASN1_IA5STRING_new());
  if (!value || ASN1_STRING_set(value.get(), text.data(), static_cast<int>(text.size())) != 1) {
    return OpenSslInternal("cannot build a subject alternative name");
  }
  return PushName(names, type, value.release());
}

// The SANs are built as GENERAL_NAMEs, not from "DNS:a,IP:b" text, so no input can smuggle in another name.
absl::Status AddSubjectAltNames(X509* cert, const CertificateRequest& request) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) return OpenSslInternal("GENERAL_NAMES_new failed");
  for (const std::string& dns : request.dns_names) {
    if (absl::Status s = PushStringName(names.get(), GEN_DNS, dns); !s.ok()) return s;
  }
  for (const std::string& ip : request.ip_addresses) {
    const std::optional<std::vector<uint8_t>> bytes = ParseIpAddress(ip);  // validated already
    Asn1OctetStringPtr value(ASN1_OCTET_STRING_new());
    if (!bytes || !value ||
        ASN1_OCTET_STRING_set(value.get(), bytes->data(), static_cast<int>(bytes->size())) != 1) {
      return OpenSslInternal("cannot build an IP subject alternative name");
    }
    if (absl::Status s = PushName(names.get(), GEN_IPADD, value.release()); !s.ok()) return s;
  }
  if (!request.node_id.empty()) {
    const std::string uri = absl::StrCat(std::string(kNodeIdUriPrefix), request.node_id);
    if (absl::Status s = PushStringName(names.get(), GEN_URI, uri); !s.ok()) return s;
  }
  // Not critical: every certificate also has a subject common name.
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslInternal("cannot add the subjectAltName extension");
  }
  return absl::OkStatus();
}

absl::StatusOr<KeyAndCertificate> Finish(X509* cert, EVP_PKEY* signing_key, EVP_PKEY* subject_key) {
  if (X509_sign(cert, signing_key, EVP_sha256()) <= 0) return OpenSslInternal("cannot sign the certificate");
  absl::StatusOr<std::string> cert_pem = CertificatePem(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = PrivateKeyPem(subject_key);
  if (!key_pem.ok()) return key_pem.status();
  return KeyAndCertificate{.key_pem = *std::move(key_pem), .cert_pem = *std::move(cert_pem)};
}

int64_t NowUnix() { return static_cast<int64_t>(std::time(nullptr)); }

// ---- Reading certificates ------------------------------------------------------------------------------------

absl::StatusOr<int64_t> Asn1TimeToUnix(const ASN1_TIME* t, const char* what) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return OpenSslStatus(absl::StatusCode::kInvalidArgument, absl::StrCat("certificate has a malformed ", what));
  }
  return static_cast<int64_t>(::timegm(&tm));
}

std::string FormatUnixTime(int64_t unix_time) {
  const auto t = static_cast<time_t>(unix_time);
  struct tm tm {};
  char text[32];
  if (::gmtime_r(&t, &tm) == nullptr || std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return absl::StrCat("unix time ", unix_time);
  }
  return text;
}

std::string Asn1StringText(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

std::string Hex(const unsigned char* bytes, size_t size) {
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes), size));
}

std::string CommonName(const X509_NAME* name) {
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return std::string();
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return std::string();
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return out;
}

bool IsCa(X509* cert) { return (X509_get_extension_flags(cert) & EXFLAG_CA) != 0; }

absl::Status ReadSubjectAltNames(X509* cert, CertificateInfo* info) {
  int critical = 0;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  if (!names) {
    if (critical == -1) return absl::OkStatus();  // no SAN extension
    return OpenSslStatus(absl::StatusCode::kInvalidArgument,
                         critical == -2 ? "certificate has more than one subjectAltName extension"
                                        : "certificate has a malformed subjectAltName extension");
  }
  int node_ids = 0;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &type));
    if (type == GEN_DNS) {
      info->dns_names.push_back(Asn1StringText(value));
    } else if (type == GEN_IPADD) {
      const int length = ASN1_STRING_length(value);
      const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : AF_UNSPEC;
      char text[INET6_ADDRSTRLEN];
      if (family == AF_UNSPEC || ::inet_ntop(family, ASN1_STRING_get0_data(value), text, sizeof text) == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("certificate has an IP address SAN of ", length, " bytes"));
      }
      info->ip_addresses.push_back(text);
    } else if (type == GEN_URI) {
      const std::string uri = Asn1StringText(value);
      if (uri.rfind(kNodeIdUriPrefix, 0) != 0) continue;  // another URI: not ours to interpret
      const std::string id = uri.substr(kNodeIdUriPrefix.size());
      if (absl::Status s = ValidateNodeId(id); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("certificate carries an invalid node id: ", s.message()));
      }
      if (++node_ids > 1) return absl::InvalidArgumentError("certificate carries more than one node id");
      info->node_id = id;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CertificateInfo> Inspect(X509* cert) {
  CertificateInfo info;
  info.subject_cn = CommonName(X509_get_subject_name(cert));
  info.issuer_cn = CommonName(X509_get_issuer_name(cert));
  {
    BigNumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
    char* hex = serial ? BN_bn2hex(serial.get()) : nullptr;
    if (hex == nullptr) return OpenSslStatus(absl::StatusCode::kInvalidArgument, "certificate has a malformed serial");
    info.serial_hex = hex;
    OPENSSL_free(hex);
    for (char& c : info.serial_hex) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
  }
  if (absl::Status s = ReadSubjectAltNames(cert, &info); !s.ok()) return s;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &digest_size) != 1) return OpenSslInternal("cannot hash the certificate");
  info.sha256_fingerprint_hex = Hex(digest, digest_size);
  absl::StatusOr<int64_t> not_before = Asn1TimeToUnix(X509_get0_notBefore(cert), "notBefore");
  if (!not_before.ok()) return not_before.status();
  absl::StatusOr<int64_t> not_after = Asn1TimeToUnix(X509_get0_notAfter(cert), "notAfter");
  if (!not_after.ok()) return not_after.status();
  info.not_before_unix = *not_before;
  info.not_after_unix = *not_after;
  info.is_ca = IsCa(cert);
  const uint32_t usage = X509_get_extended_key_usage(cert);  // all bits when there is no EKU extension
  info.server_auth = (usage & XKU_SSL_SERVER) != 0;
  info.client_auth = (usage & XKU_SSL_CLIENT) != 0;
  // X509_get_extension_flags marks a certificate whose extensions failed to decode; refuse it.
  if ((X509_get_extension_flags(cert) & EXFLAG_INVALID) != 0) {
    return absl::InvalidArgumentError("certificate has malformed extensions");
  }
  return info;
}

// Maps X509_verify_cert's verdict on a one-level chain to our codes and messages. `failing` is the certificate
// the error is about: the leaf (depth 0) or the CA (depth 1).
absl::Status VerifyError(int error, int depth, const CertificateInfo& leaf, X509* failing, int64_t now_unix) {
  const std::string subject = depth > 0 ? "the federation CA certificate" : "certificate";
  switch (error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
    case X509_V_ERR_AKID_SKID_MISMATCH:
    case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
      return absl::PermissionDeniedError(absl::StrCat("certificate for ", Quoted(leaf.subject_cn),
                                                      " is not signed by the federation CA (its issuer is ",
                                                      Quoted(leaf.issuer_cn), ")"));
    case X509_V_ERR_CERT_HAS_EXPIRED: {
      absl::StatusOr<int64_t> when = Asn1TimeToUnix(X509_get0_notAfter(failing), "notAfter");
      return absl::FailedPreconditionError(absl::StrCat(subject, " expired at ",
                                                        FormatUnixTime(when.ok() ? *when : leaf.not_after_unix),
                                                        " (now is ", FormatUnixTime(now_unix), ")"));
    }
    case X509_V_ERR_CERT_NOT_YET_VALID: {
      absl::StatusOr<int64_t> when = Asn1TimeToUnix(X509_get0_notBefore(failing), "notBefore");
      return absl::FailedPreconditionError(absl::StrCat(subject, " is not yet valid: valid from ",
                                                        FormatUnixTime(when.ok() ? *when : leaf.not_before_unix),
                                                        " (now is ", FormatUnixTime(now_unix), ")"));
    }
    case X509_V_ERR_INVALID_PURPOSE:
      return absl::PermissionDeniedError(
          absl::StrCat(subject, " is not valid for this use (its extended key usage does not allow it)"));
    default:
      return absl::PermissionDeniedError(absl::StrCat(subject, " failed verification against the federation CA: ",
                                                      X509_verify_cert_error_string(error)));
  }
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const KeyAndCertificate& pair) {
  return os << "KeyAndCertificate{cert_pem=<" << pair.cert_pem.size() << " bytes>, key_pem=<redacted>}";
}

absl::StatusOr<KeyAndCertificate> CreateCertificateAuthority(const std::string& common_name,
                                                             std::chrono::seconds validity) {
  OpenSslErrorScope errors;
  if (absl::Status s = ValidateCommonName(common_name); !s.ok()) return s;
  if (absl::Status s = ValidateValidity(validity, "CA validity"); !s.ok()) return s;
  absl::StatusOr<EvpPkeyPtr> key = GenerateP256Key();
  if (!key.ok()) return key.status();
  const int64_t now = NowUnix();
  absl::StatusOr<X509Ptr> cert =
      NewCertificate(common_name, key->get(), now - kCaNotBeforeSkew.count(), now + validity.count());
  if (!cert.ok()) return cert.status();
  X509* x = cert->get();
  if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1) return OpenSslInternal("cannot set the issuer name");
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                   std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                                   std::pair{NID_subject_key_identifier, "hash"},
                                   std::pair{NID_authority_key_identifier, "keyid:always"}}) {
    if (absl::Status s = AddExtension(x, &ctx, nid, value); !s.ok()) return s;
  }
  return Finish(x, key->get(), key->get());
}

absl::StatusOr<KeyAndCertificate> IssueCertificate(const KeyAndCertificate& ca, const CertificateRequest& request) {
  OpenSslErrorScope errors;
  if (absl::Status s = ValidateRequest(request); !s.ok()) return s;
  absl::StatusOr<X509Ptr> ca_cert = ParseCertificate(ca.cert_pem, "CA certificate");
  if (!ca_cert.ok()) return ca_cert.status();
  if (!IsCa(ca_cert->get())) return absl::InvalidArgumentError("the issuing certificate is not a CA certificate");
  absl::StatusOr<EvpPkeyPtr> ca_key = ParsePrivateKey(ca.key_pem, "CA key");
  if (!ca_key.ok()) return ca_key.status();
  if (X509_check_private_key(ca_cert->get(), ca_key->get()) != 1) {
    return OpenSslStatus(absl::StatusCode::kInvalidArgument, "the CA key does not belong to the CA certificate");
  }
  absl::StatusOr<int64_t> ca_not_after = Asn1TimeToUnix(X509_get0_notAfter(ca_cert->get()), "notAfter");
  if (!ca_not_after.ok()) return ca_not_after.status();
  const int64_t now = NowUnix();
  if (*ca_not_after <= now) {
    return absl::FailedPreconditionError(
        absl::StrCat("the CA certificate expired at ", FormatUnixTime(*ca_not_after)));
  }

  absl::StatusOr<EvpPkeyPtr> key = GenerateP256Key();
  if (!key.ok()) return key.status();
  const int64_t not_after = std::min(now + request.validity.count(), *ca_not_after);
  absl::StatusOr<X509Ptr> cert =
      NewCertificate(request.common_name, key->get(), now - request.not_before_skew.count(), not_after);
  if (!cert.ok()) return cert.status();
  X509* x = cert->get();
  if (X509_set_issuer_name(x, X509_get_subject_name(ca_cert->get())) != 1) {
    return OpenSslInternal("cannot set the issuer name");
  }
  std::string eku;
  if (request.server_auth) eku = "serverAuth";
  if (request.client_auth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert->get(), x, nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                                   std::pair{NID_key_usage, "critical,digitalSignature"},
                                   std::pair{NID_ext_key_usage, eku.c_str()},
                                   std::pair{NID_subject_key_identifier, "hash"},
                                   std::pair{NID_authority_key_identifier, "keyid:always"}}) {
    if (absl::Status s = AddExtension(x, &ctx, nid, value); !s.ok()) return s;
  }
  if (absl::Status s = AddSubjectAltNames(x, request); !s.ok()) return s;
  return Finish(x, ca_key->get(), key->get());
}

absl::StatusOr<CertificateInfo> InspectCertificate(const std::string& cert_pem) {
  OpenSslErrorScope errors;
  absl::StatusOr<X509Ptr> cert = ParseCertificate(cert_pem, "certificate");
  if (!cert.ok()) return cert.status();
  return Inspect(cert->get());
}

absl::Status VerifyCertificate(const std::string& cert_pem, const std::string& ca_pem, int64_t now_unix,
                               const std::string& expected_node_id, CertificateUse use) {
  OpenSslErrorScope errors;
  if (!expected_node_id.empty()) {
    if (absl::Status s = ValidateNodeId(expected_node_id); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("expected ", s.message()));
    }
  }
  absl::StatusOr<X509Ptr> cert = ParseCertificate(cert_pem, "certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<CertificateInfo> info = Inspect(cert->get());
  if (!info.ok()) return info.status();
  absl::StatusOr<std::vector<X509Ptr>> cas = ParseCertificates(ca_pem, "federation CA certificate");
  if (!cas.ok()) return cas.status();

  X509StorePtr store(X509_STORE_new());
  if (!store) return OpenSslInternal("X509_STORE_new failed");
  for (const X509Ptr& ca : *cas) {
    if (!IsCa(ca.get())) {
      const std::string cn = CommonName(X509_get_subject_name(ca.get()));
      return absl::InvalidArgumentError(
          absl::StrCat("federation CA certificate ", Quoted(cn), " is not a CA certificate"));
    }
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1) return OpenSslInternal("cannot add a CA to the trust store");
  }
  if (info->is_ca) {
    return absl::PermissionDeniedError(
        absl::StrCat("certificate for ", Quoted(info->subject_cn), " is a CA certificate, not a node or server one"));
  }

  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr) != 1) {
    return OpenSslInternal("cannot set up certificate verification");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now_unix));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  X509_VERIFY_PARAM_set_depth(param, 0);  // leaf + trust anchor, no intermediates
  if (use != CertificateUse::kAny) {
    const int purpose = use == CertificateUse::kTlsServer ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT;
    if (X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1) return OpenSslInternal("cannot set the purpose");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    X509* failing = X509_STORE_CTX_get_current_cert(ctx.get());
    return VerifyError(error, depth, *info, failing != nullptr ? failing : cert->get(), now_unix);
  }

  if (!expected_node_id.empty() && info->node_id != expected_node_id) {
    return absl::PermissionDeniedError(
        info->node_id.empty()
            ? absl::StrCat("node id mismatch: the certificate carries no node id, expected ", Quoted(expected_node_id))
            : absl::StrCat("node id mismatch: the certificate is for node ", Quoted(info->node_id), ", expected ",
                           Quoted(expected_node_id)));
  }
  return absl::OkStatus();
}

}  // namespace hashbank
