// Helpers shared by the Bank tests of node_tests: a Bank opened in a temp dir (tests/support/temp_dir.h) with
// a fixed clock, a signing key and the test federation salt (optionally on an injected file system), random
// raw signals and what was submitted for them, the refs a bank returns for a signal's values, and a check
// that the stored logs verify.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "crypto/federation_salt.h"
#include "crypto/salting.h"
#include "crypto/signing.h"
#include "node/bank.h"
#include "tests/support/temp_dir.h"

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
    options.keep_at_origin = keep;
    auto opened = Bank::Open(std::move(options), std::make_unique<Salter>(FederationSalt::FromHex("test-salt", kSaltHex).value()));
    ASSERT_TRUE(opened.ok()) << opened.status();
    bank = std::move(*opened);
  }
  void Reopen() {
    bank.reset();
    Open();
  }

  testing::TempDir dir{"hashbank-node"};
  std::string id = "node-a";
  std::shared_ptr<const SigningKey> key = KeyFromSeed(0xA1);
  std::shared_ptr<rocksdb::FileSystem> fs;
  KeepAtOrigin keep;  // federation.keep_at_origin; Reopen() applies a change
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

// A signal as submitted, and the ref the bank returned for it.
struct Submitted {
  RawSignal raw;
  SignalRef ref;
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

// `s` is found at `bank` by its PDQ (distance 0) and by its MD5, each time as exactly its own ref.
inline void ExpectMatchesExactly(const Bank& bank, const Submitted& s) {
  SCOPED_TRACE(FormatSignalId(s.ref));
  EXPECT_EQ(PdqMatches(bank, s.raw.pdq), std::vector<SignalRef>{s.ref});
  EXPECT_EQ(Md5Matches(bank, s.raw.md5), std::vector<SignalRef>{s.ref});
}

// Every log `bank` stores (its own and its peers') verifies; on failure, the verifier's report is printed.
inline void ExpectVerifies(const Bank& bank) {
  std::ostringstream report;
  const absl::Status s = bank.VerifyStoredLogs(report);
  EXPECT_TRUE(s.ok()) << s << "\n" << report.str();
}

inline uint64_t OwnLogSize(const Bank& bank) {
  auto cp = bank.LatestCheckpoint(bank.node_id());
  EXPECT_TRUE(cp.ok()) << cp.status();
  return cp.ok() && cp->has_value() ? (*cp)->tree_size : 0;
}

}  // namespace node_test
}  // namespace hashbank
