#include "crypto/federation_salt.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace hashbank {
namespace {

constexpr char kKeyHex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

bool MessageContains(const absl::Status& status, const std::string& needle) {
  return std::string(status.message()).find(needle) != std::string::npos;
}

TEST(FederationSaltTest, FromHexRoundTripsAndDecodesBytesInOrder) {
  auto salt = FederationSalt::FromHex("fed-2024.a_1", kKeyHex);
  ASSERT_TRUE(salt.ok()) << salt.status();
  EXPECT_EQ(salt->id, "fed-2024.a_1");
  for (size_t i = 0; i < salt->key.size(); ++i) EXPECT_EQ(salt->key[i], i);
  EXPECT_EQ(salt->ToHex(), kKeyHex);
}

TEST(FederationSaltTest, FromHexAcceptsUpperCaseAndPrintsLowerCase) {
  std::string upper = kKeyHex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto salt = FederationSalt::FromHex("s", upper);
  ASSERT_TRUE(salt.ok()) << salt.status();
  EXPECT_EQ(salt->ToHex(), kKeyHex);
}

TEST(FederationSaltTest, FromHexRejectsWrongLength) {
  for (const std::string& hex : {std::string(), std::string(63, 'a'), std::string(65, 'a'), std::string(32, 'a')}) {
    auto salt = FederationSalt::FromHex("s", hex);
    EXPECT_EQ(salt.status().code(), absl::StatusCode::kInvalidArgument) << hex.size();
    EXPECT_TRUE(MessageContains(salt.status(), "64 hex digits")) << salt.status();
    EXPECT_TRUE(MessageContains(salt.status(), "got " + std::to_string(hex.size()))) << salt.status();
  }
}

TEST(FederationSaltTest, FromHexRejectsNonHexNamingOnlyThePosition) {
  std::string hex = kKeyHex;
  hex[17] = 'g';
  auto salt = FederationSalt::FromHex("s", hex);
  EXPECT_EQ(salt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageContains(salt.status(), "non-hex character at position 17")) << salt.status();
  // The (possibly mistyped) secret never appears in the message.
  EXPECT_FALSE(MessageContains(salt.status(), hex.substr(0, 16))) << salt.status();

  hex = kKeyHex;
  hex[0] = ' ';
  EXPECT_TRUE(MessageContains(FederationSalt::FromHex("s", hex).status(), "position 0"));
}

TEST(FederationSaltTest, RejectsEmptyId) {
  auto salt = FederationSalt::FromHex("", kKeyHex);
  EXPECT_EQ(salt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageContains(salt.status(), "salt id is empty")) << salt.status();
}

TEST(FederationSaltTest, RejectsIdOverSixtyFourCharacters) {
  EXPECT_TRUE(FederationSalt::FromHex(std::string(64, 'a'), kKeyHex).ok());
  auto salt = FederationSalt::FromHex(std::string(65, 'a'), kKeyHex);
  EXPECT_EQ(salt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageContains(salt.status(), "salt id is 65 characters, the limit is 64")) << salt.status();
}

TEST(FederationSaltTest, RejectsIdWithCharacterOutsideTheAlphabet) {
  for (const std::string id : {"a b", "a/b", "a\nb", "a:b", "a\xc3\xa9"}) {
    auto salt = FederationSalt::FromHex(id, kKeyHex);
    EXPECT_EQ(salt.status().code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_TRUE(MessageContains(salt.status(), "outside [A-Za-z0-9._-] at position 1")) << salt.status();
  }
}

TEST(FederationSaltTest, GenerateGivesFreshKeysAndValidatesTheId) {
  auto a = FederationSalt::Generate("gen");
  auto b = FederationSalt::Generate("gen");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id, "gen");
  EXPECT_NE(a->key, b->key);
  EXPECT_NE(a->key, (std::array<uint8_t, 32>{}));
  auto again = FederationSalt::FromHex(a->id, a->ToHex());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->key, a->key);

  EXPECT_EQ(FederationSalt::Generate("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FederationSalt::Generate("no spaces").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FederationSaltTest, ToStringAndStreamNeverShowTheKey) {
  auto salt = FederationSalt::FromHex("prod-1", kKeyHex);
  ASSERT_TRUE(salt.ok());
  std::ostringstream streamed;
  streamed << *salt;
  for (const std::string& text : {salt->ToString(), streamed.str(), ::testing::PrintToString(*salt)}) {
    EXPECT_EQ(text, "FederationSalt{id=\"prod-1\", key=<redacted>}");
    EXPECT_EQ(text.find("0001020304"), std::string::npos);
  }
}

}  // namespace
}  // namespace hashbank

namespace hashbank {
namespace {

TEST(FederationSaltCheckTest, CheckValueDependsOnTheKeyAloneAndHidesIt) {
  auto a = FederationSalt::FromHex("one", std::string(64, 'a'));
  auto a_renamed = FederationSalt::FromHex("two", std::string(64, 'a'));
  auto b = FederationSalt::FromHex("one", std::string(63, 'a') + "b");
  ASSERT_TRUE(a.ok() && a_renamed.ok() && b.ok());
  EXPECT_EQ(a->CheckValue(), a_renamed->CheckValue());  // the id plays no part
  EXPECT_NE(a->CheckValue(), b->CheckValue());          // one bit of key changes it
  EXPECT_EQ(a->CheckValue().size(), 32u);
  EXPECT_EQ(a->CheckValue().find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(a->ToHex().find(a->CheckValue()), std::string::npos);  // not a piece of the key
  // An independent computation: HMAC-SHA-256 under the key (32 bytes of 0xaa) of the fixed label, first 16
  // bytes (openssl dgst -sha256 -mac HMAC -macopt hexkey:aa..aa on "hashbank federation salt check v1").
  EXPECT_EQ(a->CheckValue(), "153b54e99221a513c4d0257ea99ba72e");
}

TEST(FederationSaltCheckTest, RandomIdsAreValidAndDistinct) {
  const std::string x = FederationSalt::RandomId(), y = FederationSalt::RandomId();
  EXPECT_NE(x, y);
  EXPECT_TRUE(FederationSalt::ValidateId(x).ok()) << x;
  EXPECT_EQ(x.rfind("fed-", 0), 0u);
  EXPECT_EQ(x.size(), 20u);
}

}  // namespace
}  // namespace hashbank
