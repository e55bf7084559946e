#include "crypto/signing.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "crypto/pem_file.h"
#include "tests/support/temp_dir.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;
using ::hashbank::testing::TempDir;

constexpr SignatureDomain kDomainA{"hashbank test domain a"};
constexpr SignatureDomain kDomainB{"hashbank test domain b"};

static_assert(kDomainA.name() == "hashbank test domain a");
static_assert(kDomainA.bytes() == std::string_view("hashbank test domain a\0", 23));

std::vector<uint8_t> FromHex(std::string_view hex) {
  auto nibble = [](char c) -> uint8_t {
    if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
    ADD_FAILURE() << "bad hex in test data: " << c;
    return 0;
  };
  EXPECT_EQ(hex.size() % 2, 0u);
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>((nibble(hex[i]) << 4) | nibble(hex[i + 1])));
  }
  return out;
}

template <size_t N>
std::string ToHex(const std::array<uint8_t, N>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

bool MessageContains(const absl::Status& status, const std::string& needle) {
  return std::string(status.message()).find(needle) != std::string::npos;
}

SigningKey KeyFromSeedHex(std::string_view seed_hex) {
  absl::StatusOr<SigningKey> key = SigningKey::FromSeed(FromHex(seed_hex));
  if (!key.ok()) {
    ADD_FAILURE() << key.status();
    std::abort();
  }
  return *std::move(key);
}

// RFC 8032 section 7.1: "SECRET KEY" is the 32-byte seed.
struct Rfc8032Vector {
  const char* name;
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};

constexpr char kTest1024Message[] =
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1"
    "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
    "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a"
    "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
    "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10"
    "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
    "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d"
    "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
    "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b"
    "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
    "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b"
    "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
    "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d"
    "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
    "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7"
    "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
    "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09"
    "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
    "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161"
    "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
    "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca"
    "c60c905c15fc910840b94c00a0b9d0";

constexpr char kShaAbcMessage[] =
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd"
    "454d4423643ce80e2a9ac94fa54ca49f";

constexpr Rfc8032Vector kRfc8032Vectors[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe"
     "24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb430"
     "2aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716e"
     "d28dc027beceea1ec40a"},
    {"TEST 1024", "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e", kTest1024Message,
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e"
     "30a6ac00a9704a188a03"},
    {"TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf", kShaAbcMessage,
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138a"
     "c17ad9bef1177331a704"},
};

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<unsigned>(st.st_mode) & 07777u;
}

// --- RFC 8032 known answers -------------------------------------------------------------------------------

TEST(SigningKeyTest, Rfc8032VectorsGiveThePublicKeyAndSignature) {
  for (const Rfc8032Vector& v : kRfc8032Vectors) {
    SCOPED_TRACE(v.name);
    ASSERT_EQ(std::string_view(v.seed).size(), 64u);
    ASSERT_EQ(std::string_view(v.public_key).size(), 64u);
    ASSERT_EQ(std::string_view(v.signature).size(), 128u);
    const SigningKey key = KeyFromSeedHex(v.seed);
    EXPECT_EQ(ToHex(key.public_key()), v.public_key);
    EXPECT_EQ(key.SeedHex(), v.seed);

    const std::vector<uint8_t> message = FromHex(v.message);
    const Ed25519Signature signature = key.SignRaw(message);
    EXPECT_EQ(ToHex(signature), v.signature);
    EXPECT_TRUE(VerifyRaw(key.public_key(), message, signature).ok());

    // Verification from the published values alone, with no SigningKey involved.
    absl::StatusOr<Ed25519PublicKey> public_key = ParsePublicKeyHex(v.public_key);
    ASSERT_TRUE(public_key.ok()) << public_key.status();
    Ed25519Signature published{};
    const std::vector<uint8_t> signature_bytes = FromHex(v.signature);
    std::copy(signature_bytes.begin(), signature_bytes.end(), published.begin());
    EXPECT_TRUE(VerifyRaw(*public_key, message, published).ok());
  }
}

TEST(SigningKeyTest, Rfc8032LongVectorsHaveTheirPublishedMessages) {
  EXPECT_EQ(FromHex(kTest1024Message).size(), 1023u);
  // TEST SHA(abc) signs SHA-512("abc").
  std::array<uint8_t, crypto_hash_sha512_BYTES> digest{};
  crypto_hash_sha512(digest.data(), reinterpret_cast<const unsigned char*>("abc"), 3);
  EXPECT_EQ(ToHex(digest), kShaAbcMessage);
}

// --- SigningKey -------------------------------------------------------------------------------------------

TEST(SigningKeyTest, FromSeedRejectsWrongLength) {
  for (size_t size : {0u, 31u, 33u, 64u}) {
    const std::vector<uint8_t> seed(size, 7);
    absl::StatusOr<SigningKey> key = SigningKey::FromSeed(seed);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument) << size;
    EXPECT_TRUE(MessageContains(key.status(), "an Ed25519 seed is 32 bytes, got " + std::to_string(size)))
        << key.status();
  }
}

TEST(SigningKeyTest, GenerateGivesDistinctKeysThatSignAndVerify) {
  absl::StatusOr<SigningKey> a = SigningKey::Generate();
  absl::StatusOr<SigningKey> b = SigningKey::Generate();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->public_key(), b->public_key());
  EXPECT_NE(a->SeedHex(), b->SeedHex());
  const Ed25519Signature signature = a->Sign(kDomainA, "checkpoint");
  EXPECT_TRUE(VerifySignature(a->public_key(), kDomainA, "checkpoint", signature).ok());
}

TEST(SigningKeyTest, SeedHexRecreatesTheSameKey) {
  absl::StatusOr<SigningKey> key = SigningKey::Generate();
  ASSERT_TRUE(key.ok());
  const std::string seed_hex = key->SeedHex();
  ASSERT_EQ(seed_hex.size(), 64u);
  const SigningKey again = KeyFromSeedHex(seed_hex);
  EXPECT_EQ(again.public_key(), key->public_key());
  EXPECT_EQ(again.Sign(kDomainA, "m"), key->Sign(kDomainA, "m"));
}

TEST(SigningKeyTest, SigningIsDeterministic) {
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[0].seed);
  EXPECT_EQ(key.Sign(kDomainA, "same message"), key.Sign(kDomainA, "same message"));
  EXPECT_NE(key.Sign(kDomainA, "same message"), key.Sign(kDomainA, "other message"));
}

TEST(SigningKeyTest, MovedKeyKeepsSigningAndMovedFromKeyAborts) {
  SigningKey original = KeyFromSeedHex(kRfc8032Vectors[1].seed);
  const Ed25519Signature expected = original.SignRaw({});
  SigningKey moved(std::move(original));
  EXPECT_EQ(moved.SignRaw({}), expected);
  SigningKey assigned = KeyFromSeedHex(kRfc8032Vectors[2].seed);
  assigned = std::move(moved);
  EXPECT_EQ(assigned.SignRaw({}), expected);
  EXPECT_EQ(ToHex(assigned.public_key()), kRfc8032Vectors[1].public_key);
  // Use after move is a programming error: it stops the process rather than signing with no key.
  EXPECT_DEATH((void)original.SignRaw({}), "moved-from SigningKey");  // NOLINT(bugprone-use-after-move)
}

TEST(SigningKeyTest, ToStringAndStreamShowOnlyThePublicKey) {
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[0].seed);
  const std::string expected = std::string("SigningKey{public_key=") + kRfc8032Vectors[0].public_key + "}";
  EXPECT_EQ(key.ToString(), expected);
  std::ostringstream os;
  os << key;
  EXPECT_EQ(os.str(), expected);
  EXPECT_EQ(os.str().find(std::string(kRfc8032Vectors[0].seed).substr(0, 16)), std::string::npos);
}

// --- Domain separation and tampering ----------------------------------------------------------------------

TEST(SignTest, SignatureCoversTheDomainNameItsNulAndTheMessage) {
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[2].seed);
  const Ed25519Signature signature = key.Sign(kDomainA, "payload");
  const std::string signed_bytes = std::string("hashbank test domain a") + '\0' + "payload";
  EXPECT_EQ(signature, key.SignRaw(Bytes(signed_bytes)));
  EXPECT_TRUE(VerifyRaw(key.public_key(), Bytes(signed_bytes), signature).ok());
  // The string and byte-span overloads sign the same bytes.
  EXPECT_EQ(signature, key.Sign(kDomainA, Bytes("payload")));
  EXPECT_TRUE(VerifySignature(key.public_key(), kDomainA, Bytes("payload"), signature).ok());
}

TEST(SignTest, EmptyMessageIsSignedUnderItsDomain) {
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[0].seed);
  const Ed25519Signature signature = key.Sign(kDomainA, std::span<const uint8_t>());
  EXPECT_TRUE(VerifySignature(key.public_key(), kDomainA, "", signature).ok());
  EXPECT_FALSE(VerifyRaw(key.public_key(), {}, signature).ok());
  EXPECT_EQ(ToHex(key.SignRaw({})), kRfc8032Vectors[0].signature);
}

TEST(SignTest, SignatureForOneDomainDoesNotVerifyForAnotherOrRaw) {
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[1].seed);
  const Ed25519Signature signature = key.Sign(kDomainA, "tree size 10");
  EXPECT_TRUE(VerifySignature(key.public_key(), kDomainA, "tree size 10", signature).ok());

  const absl::Status other_domain = VerifySignature(key.public_key(), kDomainB, "tree size 10", signature);
  EXPECT_EQ(other_domain.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(other_domain.message(), "signature does not verify");
  EXPECT_EQ(VerifyRaw(key.public_key(), Bytes("tree size 10"), signature).code(),
            absl::StatusCode::kPermissionDenied);

  // And the other way round: a raw signature does not verify under any domain.
  const Ed25519Signature raw = key.SignRaw(Bytes("tree size 10"));
  EXPECT_EQ(VerifySignature(key.public_key(), kDomainA, "tree size 10", raw).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(SignTest, DomainBoundaryCannotBeShiftedIntoTheMessage) {
  // Without the NUL, "ab" + "c" and "a" + "bc" would be the same signed bytes.
  static constexpr SignatureDomain kAb{"ab"};
  static constexpr SignatureDomain kA{"a"};
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[2].seed);
  const Ed25519Signature signature = key.Sign(kAb, "c");
  EXPECT_TRUE(VerifySignature(key.public_key(), kAb, "c", signature).ok());
  EXPECT_EQ(VerifySignature(key.public_key(), kA, "bc", signature).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifySignature(key.public_key(), kA, std::string("b\0c", 3), signature).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(SignTest, FlippingAnySignatureBitFailsVerification) {
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[3].seed);
  const Ed25519Signature signature = key.Sign(kDomainA, "checkpoint bytes");
  for (size_t bit = 0; bit < signature.size() * 8; ++bit) {
    Ed25519Signature tampered = signature;
    tampered[bit / 8] = static_cast<uint8_t>(tampered[bit / 8] ^ (1u << (bit % 8)));
    const absl::Status status = VerifySignature(key.public_key(), kDomainA, "checkpoint bytes", tampered);
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << "bit " << bit;
  }
}

TEST(SignTest, FlippingAnyMessageBitFailsVerification) {
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[4].seed);
  std::vector<uint8_t> message(96);
  for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<uint8_t>(i * 37 + 11);
  const Ed25519Signature signature = key.Sign(kDomainA, message);
  ASSERT_TRUE(VerifySignature(key.public_key(), kDomainA, message, signature).ok());
  for (size_t bit = 0; bit < message.size() * 8; ++bit) {
    std::vector<uint8_t> tampered = message;
    tampered[bit / 8] = static_cast<uint8_t>(tampered[bit / 8] ^ (1u << (bit % 8)));
    EXPECT_EQ(VerifySignature(key.public_key(), kDomainA, tampered, signature).code(),
              absl::StatusCode::kPermissionDenied)
        << "bit " << bit;
  }
  // Truncated and extended messages fail too.
  EXPECT_FALSE(VerifySignature(key.public_key(), kDomainA, std::span(message).first(95), signature).ok());
  message.push_back(0);
  EXPECT_FALSE(VerifySignature(key.public_key(), kDomainA, message, signature).ok());
}

TEST(SignTest, FlippingAnyPublicKeyBitFailsVerification) {
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[0].seed);
  const Ed25519Signature signature = key.Sign(kDomainB, "m");
  for (size_t bit = 0; bit < key.public_key().size() * 8; ++bit) {
    Ed25519PublicKey tampered = key.public_key();
    tampered[bit / 8] = static_cast<uint8_t>(tampered[bit / 8] ^ (1u << (bit % 8)));
    EXPECT_EQ(VerifySignature(tampered, kDomainB, "m", signature).code(), absl::StatusCode::kPermissionDenied)
        << "bit " << bit;
  }
}

TEST(SignTest, SignatureFromAnotherKeyFails) {
  const SigningKey signer = KeyFromSeedHex(kRfc8032Vectors[0].seed);
  const SigningKey other = KeyFromSeedHex(kRfc8032Vectors[1].seed);
  const Ed25519Signature signature = other.Sign(kDomainA, "m");
  EXPECT_EQ(VerifySignature(signer.public_key(), kDomainA, "m", signature).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(VerifySignature(other.public_key(), kDomainA, "m", signature).ok());
}

TEST(SignTest, AllZeroSignatureAndKeyFail) {
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[0].seed);
  EXPECT_EQ(VerifySignature(key.public_key(), kDomainA, "m", Ed25519Signature{}).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifySignature(Ed25519PublicKey{}, kDomainA, "m", key.Sign(kDomainA, "m")).code(),
            absl::StatusCode::kPermissionDenied);
}

// --- Public key hex ---------------------------------------------------------------------------------------

TEST(PublicKeyHexTest, RoundTripsAndAcceptsUpperCase) {
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[1].seed);
  const std::string hex = PublicKeyHex(key.public_key());
  EXPECT_EQ(hex, kRfc8032Vectors[1].public_key);
  absl::StatusOr<Ed25519PublicKey> parsed = ParsePublicKeyHex(hex);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, key.public_key());

  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  parsed = ParsePublicKeyHex(upper);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, key.public_key());
}

TEST(PublicKeyHexTest, RejectsWrongLength) {
  const std::string hex = kRfc8032Vectors[1].public_key;
  for (const std::string& bad : {std::string(), hex.substr(0, 63), hex + "0", hex + hex, hex.substr(0, 32)}) {
    absl::StatusOr<Ed25519PublicKey> parsed = ParsePublicKeyHex(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad.size();
    EXPECT_TRUE(MessageContains(parsed.status(), "an Ed25519 public key is 64 hex digits, got " +
                                                     std::to_string(bad.size()) + " characters"))
        << parsed.status();
  }
}

TEST(PublicKeyHexTest, RejectsNonHexNamingThePosition) {
  for (size_t position : {0u, 17u, 63u}) {
    std::string hex = kRfc8032Vectors[1].public_key;
    hex[position] = 'g';
    absl::StatusOr<Ed25519PublicKey> parsed = ParsePublicKeyHex(hex);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(MessageContains(parsed.status(), "non-hex character at position " + std::to_string(position)))
        << parsed.status();
  }
  std::string spaced = kRfc8032Vectors[1].public_key;
  spaced[10] = ' ';
  EXPECT_EQ(ParsePublicKeyHex(spaced).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PublicKeyHexTest, RejectsPointsThatAreNotValidPublicKeys) {
  const std::string small_order_zero(64, '0');  // y = 0: a point of order 4
  const std::string identity = "01" + std::string(62, '0');
  const std::string non_canonical = std::string(62, 'f') + "7f";  // y = 2^255 - 1 >= p
  for (const std::string& hex : {small_order_zero, identity, non_canonical}) {
    absl::StatusOr<Ed25519PublicKey> parsed = ParsePublicKeyHex(hex);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << hex;
    EXPECT_TRUE(MessageContains(parsed.status(), "main subgroup")) << parsed.status();
  }
}

// --- Identity key files -----------------------------------------------------------------------------------

TEST(SigningKeyFileTest, WriteThenReadRoundTripsWithModeSixHundred) {
  TempDir dir{"hashbank-signing"};
  const std::string path = dir.File("keys/node.key");
  absl::StatusOr<SigningKey> key = SigningKey::Generate();
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(WriteSigningKeyFile(path, "node-1.example", *key).ok());
  EXPECT_EQ(ModeOf(path), 0600u);

  absl::StatusOr<LoadedSigningKey> loaded = ReadSigningKeyFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->node_id, "node-1.example");
  EXPECT_EQ(loaded->key.public_key(), key->public_key());
  EXPECT_EQ(loaded->key.Sign(kDomainA, "m"), key->Sign(kDomainA, "m"));

  // The documented format, exactly.
  absl::StatusOr<std::string> text = ReadTextFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "{\"node_id\":\"node-1.example\",\"ed25519_seed\":\"" + key->SeedHex() + "\"}\n");
}

TEST(SigningKeyFileTest, ReadsAHandWrittenFileWithWhitespaceAndUpperCaseHex) {
  TempDir dir{"hashbank-signing"};
  const std::string path = dir.File("node.key");
  std::string seed = kRfc8032Vectors[0].seed;
  for (char& c : seed) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_TRUE(WritePemFile(path, "{\n  \"ed25519_seed\": \"" + seed + "\",\n  \"node_id\": \"n1\"\n}\n", 0600).ok());
  absl::StatusOr<LoadedSigningKey> loaded = ReadSigningKeyFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->node_id, "n1");
  EXPECT_EQ(ToHex(loaded->key.public_key()), kRfc8032Vectors[0].public_key);
}

TEST(SigningKeyFileTest, ExistingFileIsNotOverwritten) {
  TempDir dir{"hashbank-signing"};
  const std::string path = dir.File("node.key");
  const SigningKey first = KeyFromSeedHex(kRfc8032Vectors[0].seed);
  const SigningKey second = KeyFromSeedHex(kRfc8032Vectors[1].seed);
  ASSERT_TRUE(WriteSigningKeyFile(path, "first", first).ok());
  const absl::Status again = WriteSigningKeyFile(path, "second", second);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;

  absl::StatusOr<LoadedSigningKey> loaded = ReadSigningKeyFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->node_id, "first");
  EXPECT_EQ(loaded->key.public_key(), first.public_key());
}

TEST(SigningKeyFileTest, FileOthersCanAccessIsRefused) {
  TempDir dir{"hashbank-signing"};
  const std::string path = dir.File("node.key");
  ASSERT_TRUE(WriteSigningKeyFile(path, "n1", KeyFromSeedHex(kRfc8032Vectors[0].seed)).ok());
  for (unsigned mode : {0640u, 0604u, 0660u, 0602u, 0610u, 0644u}) {
    ASSERT_EQ(::chmod(path.c_str(), static_cast<mode_t>(mode)), 0);
    absl::StatusOr<LoadedSigningKey> loaded = ReadSigningKeyFile(path);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition) << std::oct << mode;
    std::ostringstream mode_text;
    mode_text << "(mode 0" << std::oct << mode << ")";
    EXPECT_TRUE(MessageContains(loaded.status(), path + " is accessible by group or others " + mode_text.str()))
        << loaded.status();
    EXPECT_TRUE(MessageContains(loaded.status(), "chmod 600 " + path)) << loaded.status();
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);  // owner read-only is fine
  EXPECT_TRUE(ReadSigningKeyFile(path).ok());
}

TEST(SigningKeyFileTest, MissingFileIsNotFound) {
  TempDir dir{"hashbank-signing"};
  absl::StatusOr<LoadedSigningKey> loaded = ReadSigningKeyFile(dir.File("absent.key"));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound) << loaded.status();
}

TEST(SigningKeyFileTest, MalformedJsonIsInvalidArgumentWithASpecificMessage) {
  TempDir dir{"hashbank-signing"};
  const std::string seed = kRfc8032Vectors[0].seed;
  const struct {
    std::string text;
    std::string message;
  } cases[] = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {"node_id=n1", "not valid JSON"},
      {"{\"node_id\":\"n1\",\"ed25519_seed\":\"" + seed + "\"} trailing", "not valid JSON"},
      {"[\"n1\"]", "expected a JSON object {\"node_id\": \"...\", \"ed25519_seed\": \"...\"}"},
      {"\"n1\"", "expected a JSON object"},
      {"{\"ed25519_seed\":\"" + seed + "\"}", "missing field \"node_id\""},
      {"{\"node_id\":\"n1\"}", "missing field \"ed25519_seed\""},
      {"{\"node_id\":7,\"ed25519_seed\":\"" + seed + "\"}", "field \"node_id\" is not a string"},
      {"{\"node_id\":\"n1\",\"ed25519_seed\":null}", "field \"ed25519_seed\" is not a string"},
      {"{\"node_id\":\"n1\",\"ed25519_seed\":\"" + seed + "\",\"comment\":\"x\"}", "unexpected field"},
      {"{\"node_id\":\"\",\"ed25519_seed\":\"" + seed + "\"}", "node id is empty"},
      {"{\"node_id\":\"a b\",\"ed25519_seed\":\"" + seed + "\"}",
       "node id has a character outside [a-z0-9._-] at position 1"},
      {"{\"node_id\":\"Node-1\",\"ed25519_seed\":\"" + seed + "\"}",
       "node id has a character outside [a-z0-9._-] at position 0"},
      {"{\"node_id\":\"-n1\",\"ed25519_seed\":\"" + seed + "\"}", "node id must start with a letter or a digit"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const std::string path = dir.File("bad" + std::to_string(n++) + ".key");
    ASSERT_TRUE(WritePemFile(path, c.text, 0600).ok());
    absl::StatusOr<LoadedSigningKey> loaded = ReadSigningKeyFile(path);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_TRUE(MessageContains(loaded.status(), path + ": ")) << loaded.status();
    EXPECT_TRUE(MessageContains(loaded.status(), c.message)) << c.text << " -> " << loaded.status();
  }
}

TEST(SigningKeyFileTest, BadSeedHexIsRefusedWithoutEchoingIt) {
  TempDir dir{"hashbank-signing"};
  std::string seed = kRfc8032Vectors[0].seed;
  seed[40] = 'z';
  const std::string path = dir.File("node.key");
  ASSERT_TRUE(WritePemFile(path, "{\"node_id\":\"n1\",\"ed25519_seed\":\"" + seed + "\"}", 0600).ok());
  absl::StatusOr<LoadedSigningKey> loaded = ReadSigningKeyFile(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageContains(loaded.status(), "ed25519_seed has a non-hex character at position 40"))
      << loaded.status();
  EXPECT_FALSE(MessageContains(loaded.status(), seed.substr(0, 16))) << loaded.status();
}

TEST(SigningKeyFileTest, WrongSeedLengthIsRefused) {
  TempDir dir{"hashbank-signing"};
  const std::string seed = kRfc8032Vectors[0].seed;
  for (const std::string& bad : {seed.substr(0, 62), seed + "00", std::string(), seed + seed}) {
    const std::string path = dir.File("node" + std::to_string(bad.size()) + ".key");
    ASSERT_TRUE(WritePemFile(path, "{\"node_id\":\"n1\",\"ed25519_seed\":\"" + bad + "\"}", 0600).ok());
    absl::StatusOr<LoadedSigningKey> loaded = ReadSigningKeyFile(path);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(MessageContains(loaded.status(),
                                "ed25519_seed is 64 hex digits, got " + std::to_string(bad.size()) + " characters"))
        << loaded.status();
  }
}

TEST(SigningKeyFileTest, WriteRefusesABadNodeIdAndWritesNothing) {
  TempDir dir{"hashbank-signing"};
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[0].seed);
  for (const std::string& id : {std::string(), std::string(65, 'a'), std::string("a\"b"), std::string("a/b")}) {
    const std::string path = dir.File("node.key");
    const absl::Status status = WriteSigningKeyFile(path, id, key);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_TRUE(MessageContains(status, "node id")) << status;
    EXPECT_FALSE(fs::exists(path));
  }
  EXPECT_TRUE(WriteSigningKeyFile(dir.File("max.key"), std::string(64, 'a'), key).ok());
}

// --- Public card ------------------------------------------------------------------------------------------

TEST(PublicCardTest, ACertificateDigestIsOptionalAndChecked) {
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[2].seed);
  const std::string sha(64, 'c');
  absl::StatusOr<std::string> text = FormatPublicCard({"node-3", key.public_key(), sha});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("\"certificate_sha256\":\"" + sha + "\""), std::string::npos) << *text;
  absl::StatusOr<PublicCard> card = ParsePublicCard(*text);
  ASSERT_TRUE(card.ok()) << card.status();
  EXPECT_EQ(card->certificate_sha256, sha);
  EXPECT_EQ(FormatPublicCard({"node-3", key.public_key(), "ABC"}).status().code(), absl::StatusCode::kInvalidArgument);
  std::string upper = *text;
  upper.replace(upper.find(sha), 64, std::string(64, 'C'));
  EXPECT_EQ(ParsePublicCard(upper).status().code(), absl::StatusCode::kInvalidArgument) << "lowercase, as computed";
}

TEST(PublicCardTest, FormatThenParseRoundTrips) {
  const SigningKey key = KeyFromSeedHex(kRfc8032Vectors[2].seed);
  absl::StatusOr<std::string> text = FormatPublicCard({"node-3", key.public_key(), ""});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, std::string("{\"node_id\":\"node-3\",\"ed25519_public_key\":\"") +
                       kRfc8032Vectors[2].public_key + "\"}\n");
  EXPECT_EQ(text->find(key.SeedHex()), std::string::npos);
  absl::StatusOr<PublicCard> card = ParsePublicCard(*text);
  ASSERT_TRUE(card.ok()) << card.status();
  EXPECT_EQ(card->node_id, "node-3");
  EXPECT_EQ(card->public_key, key.public_key());
}

TEST(PublicCardTest, ParseRejectsBadCards) {
  const std::string pk = kRfc8032Vectors[2].public_key;
  const struct {
    std::string text;
    std::string message;
  } cases[] = {
      {"{", "not valid JSON"},
      {"{\"node_id\":\"n\"}", "missing field \"ed25519_public_key\""},
      {"{\"node_id\":\"n\",\"ed25519_public_key\":\"" + pk + "\",\"x\":1}", "unexpected field"},
      {"{\"node_id\":\"n\",\"ed25519_public_key\":\"" + pk.substr(2) + "\"}",
       "an Ed25519 public key is 64 hex digits, got 62 characters"},
      {"{\"node_id\":\"n\",\"ed25519_public_key\":\"" + std::string(64, '0') + "\"}", "main subgroup"},
      {"{\"node_id\":\"n n\",\"ed25519_public_key\":\"" + pk + "\"}", "node id has a character outside"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<PublicCard> card = ParsePublicCard(c.text);
    EXPECT_EQ(card.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_TRUE(MessageContains(card.status(), c.message)) << c.text << " -> " << card.status();
  }
  EXPECT_EQ(FormatPublicCard({"", Ed25519PublicKey{}, ""}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hashbank
