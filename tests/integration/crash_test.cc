// `hashbank serve` (the real binary) killed with SIGKILL while a client submits as fast as it can, then
// restarted on the same data directory, several times: every signal that was acknowledged with 201 is
// still there, matches its PDQ at distance 0 as exactly that id, and no id was handed out twice.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "hashing/hash256.h"
#include "tests/support/https_client.h"
#include "tests/support/node_process.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using ::hashbank::testing::HttpsClient;
using ::hashbank::testing::NodeProcess;
using ::hashbank::testing::Response;

constexpr int kRounds = 4;
constexpr size_t kMatchBatch = 1000;  // the node's default max_batch_items

struct Acknowledged {
  std::string id;
  std::string pdq;
};

std::string RandomPdq(std::mt19937_64& rng) {
  Hash256 h;
  for (uint64_t& limb : h.limbs) limb = rng();
  return h.ToHex();
}

std::map<std::string, std::string> Headers(const std::string& token) {
  return {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
}

// Every acknowledged signal is present, live, and is the one and only match for its PDQ at distance 0.
void ExpectAllPresent(HttpsClient& client, const std::string& token, const std::vector<Acknowledged>& acked) {
  std::set<std::string> ids;
  for (const Acknowledged& a : acked) EXPECT_TRUE(ids.insert(a.id).second) << "id acknowledged twice: " << a.id;
  for (const Acknowledged& a : acked) {
    auto r = client.Request("GET", "/v1/signals/" + a.id, "", Headers(token));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200) << a.id << ": " << r->body;
    boost::system::error_code ec;
    const json::value v = json::parse(r->body, ec);
    ASSERT_TRUE(!ec && v.is_object()) << r->body;
    EXPECT_EQ(v.at("withdrawn"), json::value(false)) << a.id;
    EXPECT_EQ(v.at("signal_types"), json::value(json::array{"pdq"})) << a.id;
  }
  for (size_t start = 0; start < acked.size(); start += kMatchBatch) {
    const size_t end = std::min(acked.size(), start + kMatchBatch);
    json::array pdqs;
    for (size_t i = start; i < end; ++i) pdqs.emplace_back(acked[i].pdq);
    auto r = client.Request("POST", "/v1/match", json::serialize(json::object{{"pdq", pdqs}, {"max_distance", 0}}),
                            Headers(token));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200) << r->body;
    boost::system::error_code ec;
    const json::value v = json::parse(r->body, ec);
    ASSERT_TRUE(!ec && v.is_object() && v.at("matches").is_array()) << r->body;
    std::map<size_t, std::vector<std::string>> by_query;
    for (const json::value& m : v.at("matches").as_array()) {
      by_query[m.at("query").to_number<size_t>()].push_back(std::string(m.at("id").as_string()));
      EXPECT_EQ(m.at("distance"), json::value(0));
    }
    for (size_t i = start; i < end; ++i) {
      const std::vector<std::string>& got = by_query[i - start];
      ASSERT_EQ(got.size(), 1u) << acked[i].id << " matched " << got.size() << " signals";
      EXPECT_EQ(got[0], acked[i].id);
    }
  }
}

TEST(CrashTest, EveryAcknowledgedSignalSurvivesSigkillAndRestart) {
  std::string tmpl = (fs::temp_directory_path() / "hashbank-crash-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const fs::path root = tmpl;
  struct RemoveDir {
    fs::path path;
    ~RemoveDir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } cleanup{root};
  const std::string data_dir = (root / "data").string(), log = (root / "serve.log").string();
  auto log_tail = [&log] { return fs::exists(log) ? testing::ReadFileText(log) : std::string(); };

  std::mt19937_64 rng(20240611);
  std::vector<Acknowledged> acked;
  std::string admin;
  for (int round = 0; round <= kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round, ", ", acked.size(), " signals acknowledged so far"));
    auto node = NodeProcess::Start({"serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0"}, log);
    ASSERT_TRUE(node.ok()) << node.status() << "\n" << log_tail();
    const absl::StatusOr<uint16_t> port = (*node)->ServingPort(std::chrono::seconds(30));
    ASSERT_TRUE(port.ok()) << port.status() << "\n" << log_tail();
    if (round == 0) {
      admin = testing::ReadFileText(data_dir + "/admin.token");
      while (!admin.empty() && (admin.back() == '\n' || admin.back() == '\r')) admin.pop_back();
      ASSERT_EQ(admin.rfind("hbt_", 0), 0u);
    }
    const std::string ca = data_dir + "/tls/ca.pem";
    {
      HttpsClient checker("127.0.0.1", *port, ca);
      ASSERT_NO_FATAL_FAILURE(ExpectAllPresent(checker, admin, acked));
    }
    if (round == kRounds) break;

    // Load: one request at a time, as fast as the node acknowledges them, until the kill.
    std::vector<Acknowledged> got;
    std::vector<std::string> unexpected;
    std::atomic<bool> killing{false};
    const uint64_t writer_seed = rng();
    {
      std::jthread writer([&, port = *port](std::stop_token stop) {
        std::mt19937_64 wrng(writer_seed);
        HttpsClient client("127.0.0.1", port, ca);
        while (!stop.stop_requested()) {
          const std::string pdq = RandomPdq(wrng);
          auto r = client.Request("POST", "/v1/signals", json::serialize(json::object{{"pdq", pdq}, {"quality", 100}}),
                                  Headers(admin));
          if (!r.ok()) {
            if (!killing) unexpected.push_back(absl::StrCat("before the kill: ", r.status().ToString()));
            return;
          }
          if (r->status != 201) {
            unexpected.push_back(absl::StrCat("status ", r->status, ": ", r->body));
            return;
          }
          boost::system::error_code ec;
          const json::value v = json::parse(r->body, ec);
          if (ec || !v.is_object() || !v.as_object().contains("id") || !v.at("id").is_string()) {
            unexpected.push_back("201 without an id: " + r->body);
            return;
          }
          got.push_back({std::string(v.at("id").as_string()), pdq});
        }
      });
      const int delay_ms = std::uniform_int_distribution<int>(100, 600)(rng);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));  // the crash point is the test's input
      killing = true;
      const int status = (*node)->Kill();
      EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status << "\n" << log_tail();
    }  // joins the writer: its connection is gone, so its next request fails
    EXPECT_TRUE(unexpected.empty()) << unexpected.front();
    EXPECT_FALSE(got.empty()) << "no submission was acknowledged in round " << round;
    acked.insert(acked.end(), got.begin(), got.end());
  }
  std::printf("[ crash    ] %zu signals acknowledged over %d SIGKILLs, all present after restart\n", acked.size(),
              kRounds);
}

}  // namespace
}  // namespace hashbank
