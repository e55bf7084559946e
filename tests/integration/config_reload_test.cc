// SIGHUP reloads the `limits`, `matching`, `webhooks` and `cases` sections of a running node (the real
// binary): what the old configuration refused is accepted after the reload on the same open connection, a
// setting that needs a restart is named and keeps its running value, and a configuration that does not
// validate changes nothing.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>

#include <boost/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "crypto/pem_file.h"
#include "tests/support/https_client.h"
#include "tests/support/node_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::HttpsClient;
using testing::NodeProcess;

std::string RandomHex(std::mt19937_64& rng, size_t chars) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < chars; ++i) out += kHex[rng() % 16];
  return out;
}

// The node's configuration: the data directory beside it, and the sections under test.
std::string Config(uint32_t max_batch_items, uint32_t max_json_body_bytes, uint32_t pdq_max_distance_limit,
                   uint32_t pdq_quality_floor, bool public_cases) {
  return absl::StrCat("node:\n  id: reload-node\n  data_dir: data\n",
                      "limits:\n  max_batch_items: ", max_batch_items, "\n  max_json_body_bytes: ", max_json_body_bytes,
                      "\nmatching:\n  pdq_max_distance_limit: ", pdq_max_distance_limit,
                      "\n  pdq_quality_floor: ", pdq_quality_floor,
                      "\ncases:\n  public_submission: ", public_cases ? "true" : "false", "\n");
}

class ConfigReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.Write("hashbank.yaml", Config(2, 4096, 40, 50, false));
    auto child = NodeProcess::Start({"serve", "--config", config_, "--listen", "127.0.0.1:0"}, dir_.File("serve.log"));
    ASSERT_TRUE(child.ok()) << child.status();
    node_ = std::move(*child);
    auto port = node_->ServingPort(30s);
    ASSERT_TRUE(port.ok()) << port.status() << "\n" << testing::ReadFileText(dir_.File("serve.log"));
    auto token = ReadTextFile(dir_.File("data/admin.token"));
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = std::string(absl::StripAsciiWhitespace(*token));
    client_ = std::make_unique<HttpsClient>("127.0.0.1", *port, dir_.File("data/tls/ca.pem"));
  }

  absl::StatusOr<testing::Response> Post(const std::string& path, const std::string& body, bool with_token = true) {
    std::map<std::string, std::string> headers{{"Content-Type", "application/json"}};
    if (with_token) headers["Authorization"] = "Bearer " + token_;
    return client_->Request("POST", path, body, headers);
  }

  // A batch of `n` MD5 signals.
  std::string Batch(size_t n) {
    json::array items;
    for (size_t i = 0; i < n; ++i) items.push_back(json::object{{"md5", RandomHex(rng_, 32)}});
    return json::serialize(json::object{{"signals", items}});
  }

  // A match request for one PDQ hash within `max_distance`, padded with whitespace to `bytes` bytes.
  std::string Match(size_t bytes, int max_distance) {
    std::string body = json::serialize(json::object{{"pdq", RandomHex(rng_, 64)}, {"max_distance", max_distance}});
    if (body.size() < bytes) body.append(bytes - body.size(), ' ');
    return body;
  }

  // A signal at PDQ quality `quality`.
  std::string PdqSignal(int quality) {
    return json::serialize(json::object{{"pdq", RandomHex(rng_, 64)}, {"quality", quality}});
  }

  std::string CaseBody() {
    return json::serialize(json::object{{"hashes", json::array{json::object{{"md5", RandomHex(rng_, 32)}}}}});
  }

  testing::TempDir dir_{"hashbank-reload"};
  std::mt19937_64 rng_{20261206};
  std::string config_, token_;
  std::unique_ptr<NodeProcess> node_;
  std::unique_ptr<HttpsClient> client_;
};

TEST_F(ConfigReloadTest, SighupAppliesNewLimitsMatchingAndCasesOnAnOpenConnection) {
  // Under the configuration the node started with.
  auto r = Post("/v1/signals:batch", Batch(3));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("1 to 2 items"), std::string::npos) << r->body;
  r = Post("/v1/match", Match(6000, 31));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413) << r->body;
  r = Post("/v1/match", Match(100, 50));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("0 to 40"), std::string::npos) << r->body;
  r = Post("/v1/cases", CaseBody(), /*with_token=*/false);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 403) << r->body;
  r = Post("/v1/signals", PdqSignal(55));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201) << r->body;  // above the floor of 50

  // New limits, matching and cases; and a quality floor of 60, which needs a restart.
  ASSERT_TRUE(WritePemFile(config_, Config(5, 65536, 63, 60, true), 0644).ok());
  node_->Send(SIGHUP);
  ASSERT_TRUE(node_->WaitForText("hashbank: reloaded", 30s).ok()) << node_->out();
  EXPECT_NE(node_->out().find("need a restart and keep their running values: matching.pdq_quality_floor"),
            std::string::npos)
      << node_->out();
  EXPECT_NE(node_->out().find("reload: limits, matching, cases applied"), std::string::npos) << node_->out();

  // The connection opened before the reload is still open and carries every request below.
  EXPECT_TRUE(client_->idle_connection_alive());
  r = Post("/v1/signals:batch", Batch(3));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body).at("results").as_array().size(), 3u) << r->body;
  r = Post("/v1/signals:batch", Batch(6));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("1 to 5 items"), std::string::npos) << r->body;
  r = Post("/v1/match", Match(6000, 31));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  r = Post("/v1/match", Match(100, 50));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  r = Post("/v1/cases", CaseBody(), /*with_token=*/false);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201) << r->body;
  // The floor kept its running value: quality 55 is still banked.
  r = Post("/v1/signals", PdqSignal(55));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201) << r->body;

  // A configuration that does not validate: refused, and the limits in force stay.
  ASSERT_TRUE(WritePemFile(config_, Config(0, 65536, 63, 50, true), 0644).ok());
  node_->Send(SIGHUP);
  ASSERT_TRUE(node_->WaitForText("reload refused", 30s).ok()) << node_->out();
  EXPECT_NE(node_->out().find("max_batch_items"), std::string::npos) << node_->out();
  r = Post("/v1/signals:batch", Batch(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(client_->idle_connection_alive());
  EXPECT_EQ(testing::ExitCode(node_->Signal(SIGTERM)), 0) << node_->out();
}

}  // namespace
}  // namespace hashbank
