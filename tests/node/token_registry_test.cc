// Token names are unique (TokenRegistry checks the name and commits under one lock): 8 threads creating a
// token of one name at once, on a real Bank in a temp dir — exactly one succeeds, the rest get
// AlreadyExists, one token and one audit record exist for the name, and after a restart still exactly one,
// which authenticates, while the name stays taken.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <latch>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "node/bank.h"
#include "tests/node/bank_test_util.h"

namespace hashbank {
namespace {

using node_test::BankHarness;
using node_test::kAdmin;

size_t CreateAudits(const Bank& bank, const std::string& name) {
  auto audit = bank.Audit(0, 1'000'000);
  EXPECT_TRUE(audit.ok()) << audit.status();
  if (!audit.ok()) return 0;
  return static_cast<size_t>(std::count_if(audit->begin(), audit->end(), [&](const AuditRecord& r) {
    return r.action == "token.create" && r.target.rfind(name + " (", 0) == 0;
  }));
}

TEST(TokenRegistryTest, ConcurrentCreationOfOneNameSucceedsOnce) {
  BankHarness h;
  ASSERT_NE(h.bank, nullptr);
  auto pre = h.bank->CreateToken(Role::kQuery, "pre-existing", kAdmin);
  ASSERT_TRUE(pre.ok()) << pre.status();
  ASSERT_EQ(h.bank->token_count(), 1u);

  constexpr size_t kThreads = 8;
  const std::vector<std::string> names = {"svc-alpha", "svc-beta", "svc.gamma", "svc_delta", "svc-epsilon"};
  std::vector<std::string> winners;  // the one token created per name
  for (size_t n = 0; n < names.size(); ++n) {
    const std::string& name = names[n];
    SCOPED_TRACE(name);
    std::vector<absl::StatusOr<std::string>> results(kThreads, absl::UnknownError("not run"));
    std::latch start(static_cast<std::ptrdiff_t>(kThreads));
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        results[t] = h.bank->CreateToken(Role::kSubmit, name, kAdmin);
      });
    }
    for (std::thread& th : threads) th.join();

    std::optional<std::string> winner;
    size_t already = 0;
    for (const auto& r : results) {
      if (r.ok()) {
        EXPECT_FALSE(winner.has_value()) << "a second token was created for " << name;
        winner = *r;
      } else if (r.status().code() == absl::StatusCode::kAlreadyExists) {
        ++already;
      } else {
        ADD_FAILURE() << "unexpected status: " << r.status();
      }
    }
    ASSERT_TRUE(winner.has_value());
    EXPECT_EQ(already, kThreads - 1);
    EXPECT_EQ(h.bank->token_count(), 1u + n + 1);
    EXPECT_EQ(CreateAudits(*h.bank, name), 1u);
    const std::optional<Actor> actor = h.bank->Authenticate(*winner);
    ASSERT_TRUE(actor.has_value());
    EXPECT_EQ(actor->name, name);
    EXPECT_EQ(actor->role, Role::kSubmit);
    winners.push_back(*winner);
  }

  ASSERT_NO_FATAL_FAILURE(h.Reopen());
  EXPECT_EQ(h.bank->token_count(), 1u + names.size());
  const std::optional<Actor> pre_actor = h.bank->Authenticate(*pre);
  ASSERT_TRUE(pre_actor.has_value());
  EXPECT_EQ(pre_actor->name, "pre-existing");
  for (size_t n = 0; n < names.size(); ++n) {
    SCOPED_TRACE(names[n]);
    const std::optional<Actor> actor = h.bank->Authenticate(winners[n]);
    ASSERT_TRUE(actor.has_value());
    EXPECT_EQ(actor->name, names[n]);
    EXPECT_EQ(actor->role, Role::kSubmit);
    EXPECT_EQ(CreateAudits(*h.bank, names[n]), 1u);
    // The name is still taken after the restart.
    EXPECT_EQ(h.bank->CreateToken(Role::kQuery, names[n], kAdmin).status().code(), absl::StatusCode::kAlreadyExists);
  }
  EXPECT_FALSE(h.bank->Authenticate("hbt_" + std::string(64, '0')).has_value());
  EXPECT_EQ(h.bank->token_count(), 1u + names.size());
}

// Expiry and revocation, durable across a restart; the last live admin token cannot be revoked.
TEST(TokenRegistryTest, ExpiredAndRevokedTokensStopAuthenticatingAndTheLastAdminStays) {
  BankHarness h;
  const int64_t now = node_test::kNow;  // the harness's clock
  auto admin = h.bank->CreateToken(Role::kAdmin, "admin-a", kAdmin);
  auto query = h.bank->CreateToken(Role::kQuery, "platform-q", kAdmin, now + 86'400'000);
  auto old = h.bank->CreateToken(Role::kAdmin, "admin-old", kAdmin, now - 1);
  ASSERT_TRUE(admin.ok() && query.ok() && old.ok());
  EXPECT_TRUE(h.bank->Authenticate(*query).has_value());
  EXPECT_FALSE(h.bank->Authenticate(*old).has_value());  // expired at creation
  // admin-old has expired: admin-a is the last live admin.
  EXPECT_TRUE(absl::IsFailedPrecondition(h.bank->RevokeToken("admin-a", kAdmin)));
  EXPECT_TRUE(absl::IsNotFound(h.bank->RevokeToken("nobody", kAdmin)));
  ASSERT_TRUE(h.bank->RevokeToken("platform-q", kAdmin).ok());
  EXPECT_FALSE(h.bank->Authenticate(*query).has_value());
  const auto listed = h.bank->ListTokens();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].name, "admin-a");
  EXPECT_EQ(listed[0].expires_ms, 0);
  EXPECT_EQ(listed[1].name, "admin-old");
  EXPECT_EQ(listed[1].expires_ms, now - 1);
  h.Reopen();
  EXPECT_FALSE(h.bank->Authenticate(*query).has_value());
  EXPECT_FALSE(h.bank->Authenticate(*old).has_value());
  EXPECT_TRUE(h.bank->Authenticate(*admin).has_value());
  auto second = h.bank->CreateToken(Role::kAdmin, "admin-b", kAdmin);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(h.bank->RevokeToken("admin-a", kAdmin).ok());  // another live admin exists now
  EXPECT_FALSE(h.bank->Authenticate(*admin).has_value());
  auto audit = h.bank->Audit(0, 1000);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(std::count_if(audit->begin(), audit->end(), [](const AuditRecord& r) { return r.action == "token.revoke"; }), 2);
}

}  // namespace
}  // namespace hashbank
