// One node-id rule, every caller: for each id of tests/base/node_id_cases.h, every place that takes a node id
// accepts it exactly when base's ValidateNodeId does, and names the same problem when it does not.
//   crypto/x509.h     IssueCertificate (the URI SAN), VerifyCertificate (the expected id)
//   crypto/signing.h  WriteSigningKeyFile, ReadSigningKeyFile, FormatPublicCard, ParsePublicCard
//   config            node.id (HASHBANK_NODE_ID), federation.members[].id
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/node_id.h"
#include "config/environment.h"
#include "config/node_config.h"
#include "crypto/pem_file.h"
#include "crypto/signing.h"
#include "crypto/x509.h"
#include "tests/base/node_id_cases.h"
#include "tests/support/temp_dir.h"

namespace hashbank {
namespace {

using ::hashbank::testing::InvalidNodeId;
using ::hashbank::testing::InvalidNodeIds;
using ::hashbank::testing::TempDir;
using ::hashbank::testing::ValidNodeIds;

constexpr char kSeedHex[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";  // RFC 8032 test 1
constexpr char kPublicKeyHex[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

bool Contains(const absl::Status& status, const std::string& needle) {
  return std::string(status.message()).find(needle) != std::string::npos;
}

// A JSON string literal for any bytes: \u00XX for everything but printable ASCII other than '"' and '\'.
std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f && c != '"' && c != '\\') {
      out += c;
    } else {
      // Bytes >= 0x80 are passed through as they are (UTF-8 stays UTF-8; Boost.JSON refuses invalid UTF-8).
      out += b >= 0x80 ? std::string(1, c) : absl::StrCat("\\u00", absl::Hex(b, absl::kZeroPad2));
    }
  }
  return out + "\"";
}

// A YAML single-quoted scalar: only the quote itself is escaped (by doubling it).
std::string YamlSingleQuoted(const std::string& s) {
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// Every caller's verdict on `id`: OK or the status it returned.
struct Verdicts {
  absl::Status issue_certificate, verify_certificate, write_key_file, read_key_file, format_card, parse_card,
      config_node_id, config_member_id;
};

class NodeIdAgreementTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<KeyAndCertificate> ca = CreateCertificateAuthority("node id test CA", std::chrono::hours(24));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = new KeyAndCertificate(*std::move(ca));
    CertificateRequest request;
    request.common_name = "node-x";
    request.node_id = "node-x";
    absl::StatusOr<KeyAndCertificate> leaf = IssueCertificate(*ca_, request);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    leaf_ = new KeyAndCertificate(*std::move(leaf));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete leaf_;
  }

  Verdicts VerdictsFor(const std::string& id) {
    Verdicts v;
    CertificateRequest request;
    request.common_name = "node";
    request.node_id = id;
    v.issue_certificate = IssueCertificate(*ca_, request).status();
    // A valid id other than the certificate's gets past the id check to the comparison: "node id mismatch".
    const absl::Status verified = VerifyCertificate(leaf_->cert_pem, ca_->cert_pem, std::time(nullptr), id);
    v.verify_certificate = Contains(verified, "node id mismatch") || id == "node-x" ? absl::OkStatus() : verified;

    const SigningKey key = *SigningKey::FromSeed(FromHex(kSeedHex));
    const std::string written = dir_.File("written-" + std::to_string(n_) + ".key");
    v.write_key_file = WriteSigningKeyFile(written, id, key);
    const std::string hand = dir_.File("hand-" + std::to_string(n_++) + ".key");
    EXPECT_TRUE(
        WritePemFile(hand, "{\"node_id\":" + JsonString(id) + ",\"ed25519_seed\":\"" + kSeedHex + "\"}", 0600).ok());
    v.read_key_file = ReadSigningKeyFile(hand).status();
    v.format_card = FormatPublicCard({id, key.public_key(), ""}).status();
    v.parse_card =
        ParsePublicCard("{\"node_id\":" + JsonString(id) + ",\"ed25519_public_key\":\"" + kPublicKeyHex + "\"}")
            .status();

    v.config_node_id = NodeConfig::LoadFromString("", Environment{{"HASHBANK_NODE_ID", id}}).status();
    v.config_member_id =
        NodeConfig::LoadFromString(absl::StrCat("federation:\n  members:\n    - {id: ", YamlSingleQuoted(id),
                                                ", public_key: \"", kPublicKeyHex, "\"}\n"),
                                   {})
            .status();
    return v;
  }

  static std::array<uint8_t, SigningKey::kSeedBytes> FromHex(std::string_view hex) {
    std::array<uint8_t, SigningKey::kSeedBytes> out{};
    for (size_t i = 0; i < out.size(); ++i) {
      out[i] = static_cast<uint8_t>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
    }
    return out;
  }

  static KeyAndCertificate* ca_;
  static KeyAndCertificate* leaf_;
  TempDir dir_{"hashbank-node-id"};
  int n_ = 0;
};

KeyAndCertificate* NodeIdAgreementTest::ca_ = nullptr;
KeyAndCertificate* NodeIdAgreementTest::leaf_ = nullptr;

TEST_F(NodeIdAgreementTest, EveryCallerAcceptsEveryValidId) {
  for (const std::string& id : ValidNodeIds()) {
    SCOPED_TRACE(id);
    const Verdicts v = VerdictsFor(id);
    EXPECT_TRUE(v.issue_certificate.ok()) << v.issue_certificate;
    EXPECT_TRUE(v.verify_certificate.ok()) << v.verify_certificate;
    EXPECT_TRUE(v.write_key_file.ok()) << v.write_key_file;
    EXPECT_TRUE(v.read_key_file.ok()) << v.read_key_file;
    EXPECT_TRUE(v.format_card.ok()) << v.format_card;
    EXPECT_TRUE(v.parse_card.ok()) << v.parse_card;
    EXPECT_TRUE(v.config_node_id.ok()) << v.config_node_id;
    EXPECT_TRUE(v.config_member_id.ok()) << v.config_member_id;
  }
}

TEST_F(NodeIdAgreementTest, EveryCallerRefusesEveryInvalidIdForTheSameReason) {
  for (const InvalidNodeId& c : InvalidNodeIds()) {
    SCOPED_TRACE(c.message + " for " + JsonString(c.id));
    const std::string problem = c.message.substr(std::string("node id ").size());  // "is empty", ...
    const Verdicts v = VerdictsFor(c.id);
    std::vector<const absl::Status*> crypto = {&v.write_key_file, &v.read_key_file, &v.format_card, &v.parse_card};
    // In a certificate request and in VerifyCertificate an empty id means "none" (no URI SAN, no id check).
    if (!c.id.empty()) crypto.insert(crypto.end(), {&v.issue_certificate, &v.verify_certificate});
    for (const absl::Status* status : crypto) {
      EXPECT_EQ(status->code(), absl::StatusCode::kInvalidArgument) << *status;
      EXPECT_TRUE(Contains(*status, c.message)) << *status;
    }
    // Config says it its own way, the label first: "HASHBANK_NODE_ID: is empty",
    // "federation.members[0].id: \"Node\" has a character outside [a-z0-9._-] at position 0".
    for (const auto& [status, label] : {std::pair{&v.config_node_id, "HASHBANK_NODE_ID: "},
                                        std::pair{&v.config_member_id, "federation.members[0].id: "}}) {
      EXPECT_EQ(status->code(), absl::StatusCode::kInvalidArgument) << *status;
      EXPECT_TRUE(Contains(*status, label)) << *status;
      EXPECT_TRUE(Contains(*status, problem)) << *status;
    }
  }
}

}  // namespace
}  // namespace hashbank
