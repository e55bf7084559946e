// Helpers shared by the Bank tests of node_tests: a temp dir, a Bank opened in it with a fixed clock, a
// signing key and the test federation salt (optionally on an injected file system), random raw signals, and
// the refs a bank returns for a signal's values.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "crypto/federation_salt.h"
#include "crypto/salting.h"
#include "crypto/signing.h"
#include "node/bank.h"

namespace rocksdb {
class FileSystem;
}  // namespace rocksdb

namespace hashbank {

// Readable failure messages for refs (argument-dependent lookup). Defined once for node_tests, in
// signed_log_test.cc.
void PrintTo(const SignalRef& ref, std::ostream* os);

namespace node_test {

inline constexpr char kSaltHex[] = "8f1c2a3b4d5e6f708192a3b4c5d6e7f80112233445566778899aabbccddeeff0";
inline constexpr int64_t kNow = 1'700'000'000'000;
inline const Actor kMember{"member-1", Role::kSubmit};
inline const Actor kAdmin{"admin-1", Role::kAdmin};

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "hashbank-node-XXXXXX").string();
    const char* made = ::mkdtemp(pattern.data());
    if (made == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = made == nullptr ? std::filesystem::path() : std::filesystem::path(made);
  }
  ~TempDir() {
    std::error_code ignored;  // best effort: a leftover temp dir fails nothing
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::shared_ptr<const SigningKey> KeyFromSeed(uint8_t fill) {
  std::array<uint8_t, SigningKey::kSeedBytes> seed{};
  seed.fill(fill);
  return std::make_shared<SigningKey>(SigningKey::FromSeed(seed).value());
}

// One node's data dir and identity; `bank` is open after construction and after Reopen().
struct BankHarness {
  explicit BankHarness(std::shared_ptr<rocksdb::FileSystem> file_system = nullptr)
      : fs(std::move(file_system)) {
    Open();
  }

  void Open() {
    BankOptions options;
    options.data_dir = dir.path().string();
    options.node_id = id;
    options.signing_key = key;
    options.now_ms = [] { return kNow; };
    options.store.file_system = fs;
    auto opened = Bank::Open(std::move(options), std::make_unique<Salter>(FederationSalt::FromHex("test-salt", kSaltHex).value()));
    ASSERT_TRUE(opened.ok()) << opened.status();
    bank = std::move(*opened);
  }
  void Reopen() {
    bank.reset();
    Open();
  }

  TempDir dir;
  std::string id = "node-a";
  std::shared_ptr<const SigningKey> key = KeyFromSeed(0xA1);
  std::shared_ptr<rocksdb::FileSystem> fs;
  std::unique_ptr<Bank> bank;
};

// One raw signal as a member submits it (PDQ quality 100, an MD5, a label).
struct RawSignal {
  Hash256 pdq;
  Md5Digest md5{};
  SignalInput Input() const {
    SignalInput in;
    in.pdq = pdq;
    in.quality = 100;
    in.md5 = md5;
    in.labels = {"ndii"};
    return in;
  }
};

inline RawSignal RandomSignal(std::mt19937_64& rng) {
  RawSignal s;
  for (auto& limb : s.pdq.limbs) limb = rng();
  for (auto& b : s.md5) b = static_cast<uint8_t>(rng() & 0xFF);
  return s;
}

// The refs `bank` returns for an exact (distance 0) PDQ query.
inline std::vector<SignalRef> PdqMatches(const Bank& bank, const Hash256& raw) {
  auto m = bank.MatchPdq(std::span<const Hash256>(&raw, 1), 0);
  EXPECT_TRUE(m.ok()) << m.status();
  std::vector<SignalRef> refs;
  if (!m.ok()) return refs;
  for (const Match& x : *m) {
    EXPECT_EQ(x.distance, 0);
    refs.push_back(x.ref);
  }
  return refs;
}

inline std::vector<SignalRef> Md5Matches(const Bank& bank, const Md5Digest& raw) {
  auto m = bank.MatchMd5(raw);
  EXPECT_TRUE(m.ok()) << m.status();
  std::vector<SignalRef> refs;
  if (m.ok()) {
    for (const Match& x : *m) refs.push_back(x.ref);
  }
  return refs;
}

inline uint64_t OwnLogSize(const Bank& bank) {
  auto cp = bank.LatestCheckpoint(bank.node_id());
  EXPECT_TRUE(cp.ok()) << cp.status();
  return cp.ok() && cp->has_value() ? (*cp)->tree_size : 0;
}

}  // namespace node_test
}  // namespace hashbank
