// Uploads never stall the node: image bodies held at once are bounded in all and per token (429 before the
// body is read), and the health check and metrics answer on the I/O thread, never behind image hashing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <sstream>
#include <thread>

#include "node/https_server.h"
#include "node/member_api.h"
#include "node/node_setup.h"
#include "tests/support/https_client.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;

class UploadBoundsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("hashbank-uploads-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    config_.node.data_dir = dir_;
    std::ostringstream log;
    ASSERT_TRUE(EnsureDataDir(config_).ok());
    auto salter = LoadOrCreateSalt(config_, log);
    ASSERT_TRUE(salter.ok()) << salter.status();
    ASSERT_TRUE(EnsureTlsFiles(config_, log).ok());
    auto bank = OpenBank(config_, std::move(*salter));
    ASSERT_TRUE(bank.ok()) << bank.status();
    bank_ = std::move(*bank);
    const Actor system{"system", Role::kAdmin};
    a_ = bank_->CreateToken(Role::kQuery, "platform-a", system).value();
    b_ = bank_->CreateToken(Role::kQuery, "platform-b", system).value();
    c_ = bank_->CreateToken(Role::kQuery, "platform-c", system).value();
  }
  void TearDown() override {
    bank_.reset();
    fs::remove_all(dir_);
  }

  std::string dir_;
  NodeConfig config_;
  std::unique_ptr<Bank> bank_;
  std::string a_, b_, c_;
};

TEST_F(UploadBoundsTest, ImageUploadsInFlightAreBoundedPerTokenAndInAll) {
  Metrics metrics;
  ApiLimits limits;
  limits.max_concurrent_uploads = 3;
  limits.max_concurrent_uploads_per_token = 2;
  MemberApi api(bank_.get(), limits, &metrics);
  auto admit = [&](const std::string& token, const char* path = "/v1/hash") {
    return api.Precheck("POST", path, "Bearer " + token);
  };
  PrecheckResult a1 = admit(a_), a2 = admit(a_, "/v1/match/image");
  ASSERT_FALSE(a1.answer || a2.answer);
  ASSERT_TRUE(a1.ticket && a2.ticket);
  const PrecheckResult a3 = admit(a_);  // the token's third body
  ASSERT_TRUE(a3.answer);
  EXPECT_EQ(a3.answer->status, 429);
  EXPECT_EQ(a3.answer->retry_after, "1");
  PrecheckResult b1 = admit(b_);
  ASSERT_FALSE(b1.answer);
  const PrecheckResult c1 = admit(c_);  // 3 in flight: the node's bound
  ASSERT_TRUE(c1.answer);
  EXPECT_EQ(c1.answer->status, 429);
  // JSON routes are not uploads: never refused by the bound.
  EXPECT_FALSE(api.Precheck("POST", "/v1/match", "Bearer " + c_).answer);
  a1.ticket.reset();  // one answered: its slot is free again
  const PrecheckResult c2 = admit(c_);
  EXPECT_FALSE(c2.answer);
  EXPECT_TRUE(c2.ticket);
}

// A reload lowers the bounds while bodies are in flight: those keep their slots, nothing new is admitted
// until enough are released; the body limits follow the new values at once.
TEST_F(UploadBoundsTest, NewLimitsApplyToNewUploadsAndSlotsHeldStay) {
  Metrics metrics;
  ApiLimits limits;
  limits.max_concurrent_uploads = 4;
  limits.max_concurrent_uploads_per_token = 2;
  limits.max_json_body_bytes = 1000;
  limits.image.max_file_bytes = 2000;
  limits.video.max_file_bytes = 3000;
  MemberApi api(bank_.get(), limits, &metrics);
  EXPECT_EQ(api.BodyLimit("POST", "/v1/match"), 1000u);
  EXPECT_EQ(api.BodyLimit("POST", "/v1/match/image"), 2000u);
  EXPECT_EQ(api.BodyLimit("POST", "/v1/signals/video"), 3000u);
  auto admit = [&](const std::string& token) { return api.Precheck("POST", "/v1/hash", "Bearer " + token); };
  PrecheckResult a1 = admit(a_), a2 = admit(a_), b1 = admit(b_);
  ASSERT_TRUE(a1.ticket && a2.ticket && b1.ticket);

  limits.max_concurrent_uploads = 2;
  limits.max_concurrent_uploads_per_token = 1;
  limits.max_json_body_bytes = 500;
  limits.image.max_file_bytes = 700;
  limits.video.max_file_bytes = 900;
  api.SetLimits(limits);
  EXPECT_EQ(api.limits().max_concurrent_uploads, 2u);
  EXPECT_EQ(api.BodyLimit("POST", "/v1/match"), 500u);
  EXPECT_EQ(api.BodyLimit("POST", "/v1/hash"), 700u);
  EXPECT_EQ(api.BodyLimit("POST", "/v1/match/video"), 900u);
  // Three held, the node's bound is now 2: c (holding none) is refused; the held tickets are untouched.
  const PrecheckResult c1 = admit(c_);
  ASSERT_TRUE(c1.answer);
  EXPECT_EQ(c1.answer->status, 429);
  a1.ticket.reset();
  a2.ticket.reset();  // one held (b's) now
  PrecheckResult c2 = admit(c_);
  ASSERT_FALSE(c2.answer);
  EXPECT_TRUE(c2.ticket);
  const PrecheckResult c3 = admit(c_);  // the new per-token bound of 1
  ASSERT_TRUE(c3.answer);
  EXPECT_EQ(c3.answer->status, 429);
}

TEST_F(UploadBoundsTest, HealthAnswersWhileTheOnlyWorkerIsBusy) {
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  Metrics metrics;
  MemberApi api(bank_.get(), ApiLimits{}, &metrics);
  HttpsServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.cert_path = config_.TlsCertPath();
  options.key_path = config_.TlsKeyPath();
  options.io_threads = 1;
  options.worker_threads = 1;
  options.run_inline = MemberApiRunsInline;
  // The one worker is kept busy by a slow request (standing in for hashing a large image).
  auto server = HttpsServer::Start(options, [&](const HttpRequest& r) {
    if (r.target == "/slow") {
      entered.set_value();
      released.wait();
      HttpResponse done;
      done.body = "{}";
      return done;
    }
    return api.Handle(r);
  });
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string ca = (fs::path(dir_) / "tls" / "ca.pem").string();
  testing::HttpsClient slow_client("127.0.0.1", (*server)->port(), ca);
  testing::HttpsClient health_client("127.0.0.1", (*server)->port(), ca);
  std::future<absl::StatusOr<testing::Response>> slow =
      std::async(std::launch::async, [&] { return slow_client.Request("GET", "/slow"); });
  // Whatever happens below, the slow request is released before `slow` is waited for
  // (declared after it, so destroyed first: a failed check must not hang the test).
  struct Releaser {
    std::promise<void>* p;
    bool done = false;
    void Release() {
      if (!done) p->set_value();
      done = true;
    }
    ~Releaser() { Release(); }
  } releaser{&release};
  ASSERT_EQ(entered.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  // The worker is occupied; the health check is answered anyway (else this request would time out).
  auto health = health_client.Request("GET", "/v1/health");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  auto metrics_text = health_client.Request("GET", "/metrics", "", {{"Authorization", "Bearer " + a_}});
  ASSERT_TRUE(metrics_text.ok()) << metrics_text.status();
  EXPECT_EQ(metrics_text->status, 403);  // answered (a query token may not read metrics), not queued
  releaser.Release();
  auto slow_answer = slow.get();
  ASSERT_TRUE(slow_answer.ok()) << slow_answer.status();
  EXPECT_EQ(slow_answer->status, 200);
  (*server)->Shutdown(std::chrono::seconds(5));
}

}  // namespace
}  // namespace hashbank
