// A wrong salt can never pass silently: a database remembers its salt's check value, and a node started with
// another salt of the same id refuses to start (before, it started and every match returned nothing).
#include <gtest/gtest.h>

#include <random>

#include "tests/node/bank_test_util.h"

namespace hashbank {
namespace {

using namespace node_test;  // NOLINT: the shared helpers of tests/node

absl::StatusOr<std::unique_ptr<Bank>> OpenWith(const BankHarness& h, const FederationSalt& salt) {
  BankOptions options;
  options.data_dir = h.dir.path().string();
  options.node_id = h.id;
  options.signing_key = h.key;
  options.now_ms = [] { return kNow; };
  return Bank::Open(std::move(options), std::make_unique<Salter>(salt));
}

TEST(SaltCheckTest, AnotherSaltWithTheSameIdIsRefusedAtStart) {
  BankHarness h;
  std::mt19937_64 rng(5);
  const RawSignal s = RandomSignal(rng);
  ASSERT_TRUE(h.bank->Submit(s.Input(), kMember).ok());
  h.bank.reset();

  // The same id ("test-salt") with another key: what replacing salt.json with another federation's does.
  auto other = FederationSalt::Generate("test-salt");
  ASSERT_TRUE(other.ok());
  ASSERT_NE(other->CheckValue(), FederationSalt::FromHex("test-salt", kSaltHex)->CheckValue());
  auto refused = OpenWith(h, *other);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("not the salt this database was salted with"), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find(other->CheckValue()), std::string::npos) << refused.status();

  // The right salt still opens, and the signal still matches (nothing was written by the refused start).
  h.Open();
  EXPECT_EQ(PdqMatches(*h.bank, s.pdq).size(), 1u);
}

}  // namespace
}  // namespace hashbank
