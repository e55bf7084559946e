// The member API's video routes through the real HTTPS server: a node assembled as `hashbank serve` assembles
// it (the node_setup.h functions on a temp data dir, MemberApi with the config's video limits and match rule,
// HttpsServer on 127.0.0.1 port 0) and a TLS 1.3 client. POST /v1/signals/video, POST /v1/match/video,
// POST /v1/hash for a video, vPDQ in POST /v1/signals JSON, the errors of each (and the node healthy after
// every one), withdrawal, and a restart on the same data directory.
//
// The videos are made by ffmpeg at test time (tests/support/video_clips.h): a 12 s 320x240 30 fps clip and
// edits of it whose content is known from how they were made (the trim is the banked clip's [3, 9) s, the
// compilation holds it at [6, 18) s of 24 s), so frame counts and matched ranges are expected from the
// recipes: a banked video is sampled every video_frame_interval_ms (1 s), a query every
// video_query_frame_interval_ms (0.5 s), so the query frames at whole seconds are the banked frames (their
// re-encodes) and the ones in between need not match anything. MD5 and SHA-256 of a clip come from the md5sum
// and sha256sum tools, not from the node.
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "config/node_config.h"
#include "hashing/hash256.h"
#include "matcher/video_index.h"
#include "node/bank.h"
#include "node/https_server.h"
#include "node/member_api.h"
#include "node/cli/serve_settings.h"
#include "node/metrics.h"
#include "node/node_setup.h"
#include "protocol/entries.pb.h"
#include "protocol/log.pb.h"
#include "tests/support/https_client.h"
#include "tests/support/video_clips.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace pb = ::hashbank::protocol;
using ::hashbank::testing::HttpsClient;
using ::hashbank::testing::Response;
using ::hashbank::testing::VideoClips;

constexpr uint64_t kVideoLimit = 4 << 20;  // max_video_body_bytes: every clip fits, 413 is cheap to reach
constexpr uint64_t kImageLimit = 4 << 20;  // max_image_body_bytes: /v1/hash takes videos within it

std::vector<std::string> Strings(const json::value& array) {
  std::vector<std::string> out;
  for (const json::value& v : array.as_array()) out.emplace_back(v.as_string());
  return out;
}

double Number(const json::value& v) { return v.to_number<double>(); }

// The value of an unlabelled Prometheus sample `name` in a /metrics body, or -1.
double Gauge(const std::string& metrics, const std::string& name) {
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

// The hex digest a coreutils tool (md5sum, sha256sum) prints for a file: independent of the node.
std::string ToolDigest(const std::string& tool, const std::string& path) {
  const std::string command = tool + " '" + path + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return "";
  }
  char buffer[256] = {};
  std::string out;
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  ::pclose(pipe);
  return out.substr(0, out.find(' '));
}

std::string RandomPdq(std::mt19937_64& rng) {
  Hash256 h;
  for (uint64_t& limb : h.limbs) limb = rng();
  return h.ToHex();
}

// `n` frames as POST /v1/signals takes them: random PDQ, quality `quality`, one a second from 0.
json::array JsonFrames(size_t n, int quality, std::mt19937_64& rng) {
  json::array frames;
  for (size_t i = 0; i < n; ++i) {
    frames.push_back(json::object{{"frame", i * 30}, {"quality", quality}, {"pdq", RandomPdq(rng)},
                                  {"timestamp", static_cast<double>(i)}});
  }
  return frames;
}

class VideoApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "hashbank-video-api-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ASSERT_NO_FATAL_FAILURE(StartNode());
  }

  void TearDown() override {
    StopNode();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Assembles the node on dir_ as `hashbank serve` does (node/cli/serve_command.cc), with `tweak` applied to
  // the config; the first start also makes the three tokens.
  void StartNode(const std::function<void(NodeConfig&)>& tweak = {}) {
    config_ = NodeConfig{};
    config_.node.data_dir = dir_;
    config_.api.listen = "127.0.0.1:0";
    config_.limits.max_video_body_bytes = kVideoLimit;
    config_.limits.max_image_body_bytes = kImageLimit;
    if (tweak) tweak(config_);
    ASSERT_TRUE(config_.Validate().ok()) << config_.Validate();
    std::ostringstream log;
    ASSERT_TRUE(EnsureDataDir(config_).ok());
    auto salter = LoadOrCreateSalt(config_, log);
    ASSERT_TRUE(salter.ok()) << salter.status();
    absl::Status tls = EnsureTlsFiles(config_, log);
    ASSERT_TRUE(tls.ok()) << tls;
    auto bank = OpenBank(config_, std::move(*salter));
    ASSERT_TRUE(bank.ok()) << bank.status();
    bank_ = std::move(*bank);
    if (admin_token_.empty()) {
      const Actor system{"system", Role::kAdmin};
      auto admin = bank_->CreateToken(Role::kAdmin, "admin", system);
      auto submit = bank_->CreateToken(Role::kSubmit, "submitter", system);
      auto query = bank_->CreateToken(Role::kQuery, "querier", system);
      ASSERT_TRUE(admin.ok() && submit.ok() && query.ok());
      admin_token_ = *admin;
      submit_token_ = *submit;
      query_token_ = *query;
    }
    metrics_ = std::make_unique<Metrics>();
    const ApiLimits limits = ApiLimitsFromConfig(config_);
    api_ = std::make_unique<MemberApi>(bank_.get(), limits, metrics_.get());
    HttpsServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.cert_path = config_.TlsCertPath();
    options.key_path = config_.TlsKeyPath();
    options.io_threads = 2;
    options.worker_threads = 2;
    options.max_json_body_bytes = config_.limits.max_json_body_bytes;
    options.body_limit = [api = api_.get()](std::string_view m, std::string_view t) { return api->BodyLimit(m, t); };
    options.run_inline = MemberApiRunsInline;
    options.timeout = std::chrono::seconds(30);
    MemberApi* api = api_.get();
    auto server = HttpsServer::Start(
        options, [api](const HttpRequest& r) { return api->Handle(r); },
        [api](std::string_view m, std::string_view t, std::string_view a) { return api->Precheck(m, t, a); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    client_ = std::make_unique<HttpsClient>("127.0.0.1", server_->port(), dir_ + "/tls/ca.pem",
                                            testing::HttpsClientOptions{.timeout = std::chrono::seconds(60)});
  }

  void StopNode() {
    client_.reset();
    if (server_) server_->Shutdown(std::chrono::seconds(5));
    server_.reset();
    api_.reset();
    metrics_.reset();
    bank_.reset();
  }

  Response Call(const std::string& method, const std::string& target, const std::string& token,
                const std::string& body = "", const std::string& content_type = "application/json") {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    if (method == "POST" && !content_type.empty()) headers["Content-Type"] = content_type;
    auto r = client_->Request(method, target, body, headers);
    if (!r.ok()) {
      ADD_FAILURE() << method << " " << target << ": " << r.status();
      return Response{};
    }
    return *r;
  }
  Response PostVideo(const std::string& target, const std::string& token, const std::string& video) {
    return Call("POST", target, token, video, "video/mp4");
  }

  static json::value Body(const Response& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (ec) {
      ADD_FAILURE() << "not JSON (status " << r.status << "): " << r.body;
      return json::object{};
    }
    return v;
  }

  // POST /v1/signals/video, expecting 201; the answer.
  json::object SubmitVideo(const std::string& video, const std::string& params = "") {
    const Response r = PostVideo("/v1/signals/video" + params, submit_token_, video);
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201) return {};
    return Body(r).as_object();
  }
  std::string SubmitVideoId(const std::string& video) {
    const json::object o = SubmitVideo(video);
    return o.contains("id") ? std::string(o.at("id").as_string()) : "";
  }

  // POST /v1/match/video, expecting 200; the whole answer.
  json::object MatchVideoAnswer(const std::string& video, const std::string& params = "") {
    const Response r = PostVideo("/v1/match/video" + params, query_token_, video);
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return {};
    return Body(r).as_object();
  }
  json::array MatchVideo(const std::string& video, const std::string& params = "") {
    const json::object o = MatchVideoAnswer(video, params);
    return o.contains("matches") ? o.at("matches").as_array() : json::array{};
  }
  // The matches of one signal type.
  static std::vector<json::object> OfType(const json::array& matches, const std::string& type) {
    std::vector<json::object> out;
    for (const json::value& m : matches) {
      if (m.at("signal_type") == json::value(type)) out.push_back(m.as_object());
    }
    return out;
  }

  // The response is the JSON error (status, code, and a message containing `message_part`), and the node
  // still answers GET /v1/health afterwards on the same client (reconnecting if the server closed).
  ::testing::AssertionResult IsErrorAndNodeHealthy(const Response& r, int status, const std::string& code,
                                                   const std::string& message_part = "") {
    if (r.status != status) {
      return ::testing::AssertionFailure() << "status " << r.status << ", want " << status << "; body: " << r.body;
    }
    boost::system::error_code ec;
    const json::value v = json::parse(r.body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("error") || !v.at("error").is_object()) {
      return ::testing::AssertionFailure() << "not a JSON error body: " << r.body;
    }
    const json::object& e = v.at("error").as_object();
    if (!e.contains("code") || e.at("code") != json::value(code)) {
      return ::testing::AssertionFailure() << "error code in " << r.body << ", want \"" << code << "\"";
    }
    if (!e.contains("message") || !e.at("message").is_string() ||
        std::string(e.at("message").as_string()).find(message_part) == std::string::npos) {
      return ::testing::AssertionFailure() << "error message in " << r.body << " does not contain \"" << message_part
                                           << "\"";
    }
    auto health = client_->Request("GET", "/v1/health");
    if (!health.ok()) return ::testing::AssertionFailure() << "GET /v1/health after the error: " << health.status();
    if (health->status != 200) {
      return ::testing::AssertionFailure() << "GET /v1/health after the error: " << health->status << " "
                                           << health->body;
    }
    return ::testing::AssertionSuccess();
  }

  // The stored entry of this node's signal `id` ("local:<n>"), read back from its own signed log.
  pb::Entry StoredEntry(const std::string& id) {
    const uint64_t sequence = std::stoull(id.substr(id.find(':') + 1));
    auto segment_bytes = bank_->ExportSegment("local", sequence - 1, 1);
    pb::LogSegment segment;
    pb::Entry entry;
    if (!segment_bytes.ok() || !segment.ParseFromString(*segment_bytes) || segment.leaves_size() != 1 ||
        !entry.ParseFromString(segment.leaves(0).entry())) {
      ADD_FAILURE() << "cannot read entry " << id << " back from the log";
    }
    return entry;
  }

  VideoClips& clips() { return VideoClips::Get(); }
  // Query frames of a clip of `seconds` (POST /v1/match/video samples every video_query_frame_interval_ms).
  int64_t QueryFrames(double seconds) const {
    return static_cast<int64_t>(seconds * 1000 / config_.matching.video_query_frame_interval_ms + 0.5);
  }

  std::string dir_;
  NodeConfig config_;
  std::unique_ptr<Bank> bank_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<MemberApi> api_;
  std::unique_ptr<HttpsServer> server_;
  std::unique_ptr<HttpsClient> client_;
  std::string admin_token_, submit_token_, query_token_;
  std::mt19937_64 rng_{20240805};
};

// --- Submit -----------------------------------------------------------------------------------------------

TEST_F(VideoApiTest, SubmitIs201WithThreeTypesAndOneFrameASecondAndKeepsLabelsAndCaseRef) {
  const std::string& video = clips().Banked();
  ASSERT_FALSE(video.empty());
  const json::object answer = SubmitVideo(video, "?labels=ndii,sextortion&case_ref=case%2017");
  ASSERT_TRUE(answer.contains("id")) << json::serialize(answer);
  const std::string id(answer.at("id").as_string());
  EXPECT_EQ(id.rfind("local:", 0), 0u) << id;
  EXPECT_EQ(Strings(answer.at("signal_types")), (std::vector<std::string>{"md5", "sha256", "vpdq"}));
  EXPECT_EQ(answer.at("frames").to_number<int64_t>(), 12) << "12 s at one frame a second";
  EXPECT_FALSE(answer.contains("vpdq_skipped")) << json::serialize(answer);

  const Response got = Call("GET", "/v1/signals/" + id, query_token_);
  ASSERT_EQ(got.status, 200) << got.body;
  const json::value v = Body(got);
  EXPECT_EQ(Strings(v.at("signal_types")), (std::vector<std::string>{"md5", "sha256", "vpdq"}));
  EXPECT_EQ(Strings(v.at("labels")), (std::vector<std::string>{"ndii", "sextortion"}));
  EXPECT_EQ(v.at("submitted_by"), "submitter");
  EXPECT_EQ(v.at("withdrawn"), false);
  EXPECT_EQ(got.body.find("case 17"), std::string::npos) << "the case reference is not shown";

  // What was stored: the case reference, and one frame a second with its timestamp (30 fps, every 30th frame).
  const pb::Entry entry = StoredEntry(id);
  ASSERT_TRUE(entry.has_signal());
  EXPECT_EQ(entry.signal().case_ref(), "case 17");
  EXPECT_EQ(std::vector<std::string>(entry.signal().labels().begin(), entry.signal().labels().end()),
            (std::vector<std::string>{"ndii", "sextortion"}));
  ASSERT_TRUE(entry.signal().has_video());
  const pb::VideoFingerprint& fp = entry.signal().video();
  ASSERT_EQ(fp.timestamp_ms_size(), 12);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(fp.timestamp_ms(i), static_cast<uint32_t>(1000 * i)) << i;
  EXPECT_EQ(fp.quality().size(), 12u);
  EXPECT_EQ(fp.pdq().size(), 12u * 32);
  EXPECT_EQ(fp.frame_interval_ms(), 1000u);
  EXPECT_NEAR(static_cast<double>(fp.duration_ms()), 12000.0, 50.0);
  EXPECT_EQ(entry.signal().md5().size(), 32u);
  EXPECT_EQ(entry.signal().sha256().size(), 32u);

  const BankStats stats = bank_->Stats();
  EXPECT_EQ(stats.videos, 1u);
  EXPECT_EQ(stats.video_frames, 12u) << "testsrc2's frames are all above the quality floor";
  const Response metrics = Call("GET", "/metrics", admin_token_);
  ASSERT_EQ(metrics.status, 200) << metrics.body;
  EXPECT_EQ(Gauge(metrics.body, "hashbank_video_index_videos"), 1);
  EXPECT_EQ(Gauge(metrics.body, "hashbank_video_index_frames"), 12);
}

// --- Match --------------------------------------------------------------------------------------------------

TEST_F(VideoApiTest, TheSameFileMatchesByVpdqMd5AndSha256) {
  const std::string& video = clips().Banked();
  const std::string id = SubmitVideoId(video);
  ASSERT_FALSE(id.empty());
  SubmitVideoId(clips().Unrelated());  // banked too; must not match

  const json::object answer = MatchVideoAnswer(video);
  ASSERT_TRUE(answer.contains("matches"));
  const json::object& hashes = answer.at("hashes").as_object();
  EXPECT_EQ(hashes.at("type"), "video");
  EXPECT_EQ(hashes.at("frames").to_number<int64_t>(), QueryFrames(12));
  EXPECT_EQ(hashes.at("width").to_number<int64_t>(), 320);
  EXPECT_EQ(hashes.at("height").to_number<int64_t>(), 240);
  EXPECT_EQ(hashes.at("md5"), json::value(ToolDigest("md5sum", clips().Path("banked.mp4"))));
  EXPECT_EQ(hashes.at("sha256"), json::value(ToolDigest("sha256sum", clips().Path("banked.mp4"))));
  EXPECT_FALSE(hashes.contains("vpdq")) << "a query's frames are not echoed";

  const json::array& matches = answer.at("matches").as_array();
  ASSERT_EQ(matches.size(), 3u) << json::serialize(matches);
  for (const char* type : {"vpdq", "md5", "sha256"}) {
    const std::vector<json::object> m = OfType(matches, type);
    ASSERT_EQ(m.size(), 1u) << type << ": " << json::serialize(matches);
    EXPECT_EQ(m[0].at("id"), json::value(id));
    EXPECT_EQ(m[0].at("origin"), "local");
  }
  const json::object vpdq = OfType(matches, "vpdq")[0];
  // Every banked frame is found (the query's whole-second frames are the same decoded frames); at least those
  // half of the query's frames are found.
  EXPECT_EQ(Number(vpdq.at("target_match_percent")), 100.0) << json::serialize(vpdq);
  EXPECT_EQ(Number(vpdq.at("range_match_percent")), 100.0) << json::serialize(vpdq);
  EXPECT_GE(Number(vpdq.at("query_match_percent")), 50.0) << json::serialize(vpdq);
  EXPECT_LE(Number(vpdq.at("query_match_percent")), 100.0);
  EXPECT_GE(Number(vpdq.at("matched_seconds")), 11.0) << json::serialize(vpdq);
  EXPECT_LE(Number(vpdq.at("matched_seconds")), 12.0);
  EXPECT_EQ(Number(vpdq.at("query_range").as_array()[0]), 0.0);
  EXPECT_GE(Number(vpdq.at("query_range").as_array()[1]), 11.0);
  EXPECT_EQ(Number(vpdq.at("target_range").as_array()[0]), 0.0);
  EXPECT_EQ(Number(vpdq.at("target_range").as_array()[1]), 11.0);
  EXPECT_EQ(vpdq.at("mirrored"), false);
  EXPECT_EQ(vpdq.at("bars_removed"), false);
  EXPECT_FALSE(vpdq.contains("distance"));
}

// The banked clip's [3, 9) s, re-encoded: its whole-second frames are the banked frames at 3..8 s — half of
// the banked video, all of the banked range they span.
TEST_F(VideoApiTest, TrimOfTheMiddleHalfMatchesWithItsRange) {
  const std::string id = SubmitVideoId(clips().Banked());
  ASSERT_FALSE(id.empty());
  const json::object answer = MatchVideoAnswer(clips().Trim());
  ASSERT_TRUE(answer.contains("hashes"));
  EXPECT_EQ(answer.at("hashes").at("frames").to_number<int64_t>(), QueryFrames(6));
  const json::array& matches = answer.at("matches").as_array();
  ASSERT_EQ(matches.size(), 1u) << "vPDQ only: another file" << json::serialize(matches);
  const json::object& m = matches[0].as_object();
  EXPECT_EQ(m.at("signal_type"), "vpdq");
  EXPECT_EQ(m.at("id"), json::value(id));
  EXPECT_GE(Number(m.at("query_match_percent")), 50.0 - 100.0 / 12 - 0.1) << json::serialize(m);  // 6 of 12, +-1
  EXPECT_NEAR(Number(m.at("target_match_percent")), 50.0, 100.0 / 12 + 0.1) << json::serialize(m);  // 6 of 12, +-1
  EXPECT_GE(Number(m.at("range_match_percent")), 80.0) << json::serialize(m);  // a contiguous excerpt
  EXPECT_GE(Number(m.at("matched_seconds")), 5.0) << json::serialize(m);
  EXPECT_LE(Number(m.at("matched_seconds")), 6.0);
  const json::array& q = m.at("query_range").as_array();
  const json::array& t = m.at("target_range").as_array();
  EXPECT_NEAR(Number(q[0]), 0.0, 1.0) << json::serialize(m);
  EXPECT_NEAR(Number(q[1]), 5.0, 1.0) << json::serialize(m);
  EXPECT_NEAR(Number(t[0]), 3.0, 1.0) << json::serialize(m);
  EXPECT_NEAR(Number(t[1]), 8.0, 1.0) << json::serialize(m);
  EXPECT_GE(Number(t[0]), 2.0);
  EXPECT_LE(Number(t[1]), 10.0);
  EXPECT_EQ(m.at("mirrored"), false);
}

// 6 s unrelated + the banked clip + 6 s unrelated: all of the banked clip, found at [6, 18) s of the query.
TEST_F(VideoApiTest, CompilationMatchesByTargetPercentWithItsRange) {
  const std::string id = SubmitVideoId(clips().Banked());
  ASSERT_FALSE(id.empty());
  const json::object answer = MatchVideoAnswer(clips().Compilation());
  ASSERT_TRUE(answer.contains("hashes"));
  EXPECT_EQ(answer.at("hashes").at("frames").to_number<int64_t>(), QueryFrames(24));
  const json::array& matches = answer.at("matches").as_array();
  ASSERT_EQ(matches.size(), 1u) << json::serialize(matches);
  const json::object& m = matches[0].as_object();
  EXPECT_EQ(m.at("signal_type"), "vpdq");
  EXPECT_EQ(m.at("id"), json::value(id));
  EXPECT_GE(Number(m.at("target_match_percent")), 80.0) << json::serialize(m);
  // The 12 s of the banked clip are half of the 24 s query; of its query frames, at least the whole seconds.
  EXPECT_GE(Number(m.at("query_match_percent")), 25.0 - 100.0 / 48 - 0.1) << json::serialize(m);
  EXPECT_LE(Number(m.at("query_match_percent")), 50.0 + 100.0 / 48 + 0.1) << json::serialize(m);
  EXPECT_GE(Number(m.at("matched_seconds")), 10.0);
  const json::array& q = m.at("query_range").as_array();
  const json::array& t = m.at("target_range").as_array();
  EXPECT_NEAR(Number(q[0]), 6.0, 1.0) << json::serialize(m);
  EXPECT_NEAR(Number(q[1]), 17.0, 1.0) << json::serialize(m);
  EXPECT_NEAR(Number(t[0]), 0.0, 1.0) << json::serialize(m);
  EXPECT_NEAR(Number(t[1]), 11.0, 1.0) << json::serialize(m);
}

TEST_F(VideoApiTest, HalfScaleReencodeMatchesByBothPercentages) {
  const std::string id = SubmitVideoId(clips().Banked());
  ASSERT_FALSE(id.empty());
  const json::object answer = MatchVideoAnswer(clips().HalfScale());
  ASSERT_TRUE(answer.contains("hashes"));
  EXPECT_EQ(answer.at("hashes").at("width").to_number<int64_t>(), 160);
  EXPECT_EQ(answer.at("hashes").at("frames").to_number<int64_t>(), QueryFrames(12));
  const json::array& matches = answer.at("matches").as_array();
  ASSERT_EQ(matches.size(), 1u) << json::serialize(matches);
  const json::object& m = matches[0].as_object();
  EXPECT_EQ(m.at("signal_type"), "vpdq");
  EXPECT_EQ(m.at("id"), json::value(id));
  EXPECT_GE(Number(m.at("query_match_percent")), 50.0 - 100.0 / 24 - 0.1) << json::serialize(m);
  EXPECT_GE(Number(m.at("target_match_percent")), 80.0) << json::serialize(m);
  EXPECT_NEAR(Number(m.at("target_range").as_array()[0]), 0.0, 1.0) << json::serialize(m);
  EXPECT_NEAR(Number(m.at("target_range").as_array()[1]), 11.0, 1.0) << json::serialize(m);
  EXPECT_EQ(m.at("mirrored"), false);
}

TEST_F(VideoApiTest, MirroredCopyMatchesThroughItsMirrorFramesOnly) {
  const std::string id = SubmitVideoId(clips().Banked());
  ASSERT_FALSE(id.empty());
  const json::array matches = MatchVideo(clips().Mirrored());
  ASSERT_EQ(matches.size(), 1u) << json::serialize(matches);
  const json::object& m = matches[0].as_object();
  EXPECT_EQ(m.at("signal_type"), "vpdq");
  EXPECT_EQ(m.at("id"), json::value(id));
  EXPECT_EQ(m.at("mirrored"), true) << json::serialize(m);
  EXPECT_EQ(m.at("bars_removed"), false);
  EXPECT_GE(Number(m.at("target_match_percent")), 80.0) << json::serialize(m);
  EXPECT_NEAR(Number(m.at("target_range").as_array()[0]), 0.0, 1.0) << json::serialize(m);
  EXPECT_NEAR(Number(m.at("target_range").as_array()[1]), 11.0, 1.0) << json::serialize(m);

  // Without the mirror frames the mirrored copy is unrelated; the original still matches directly.
  EXPECT_TRUE(MatchVideo(clips().Mirrored(), "?mirrored=false").empty());
  const std::vector<json::object> direct = OfType(MatchVideo(clips().Banked(), "?mirrored=false"), "vpdq");
  ASSERT_EQ(direct.size(), 1u);
  EXPECT_EQ(direct[0].at("mirrored"), false);
}

// The banked clip squeezed into 320x180 between black bars: its frames with the bars cut off are the banked
// frames, resampled.
TEST_F(VideoApiTest, LetterboxedCopyMatchesWithItsBarsRemoved) {
  const std::string id = SubmitVideoId(clips().Banked());
  ASSERT_FALSE(id.empty());
  const json::array matches = MatchVideo(clips().Letterboxed());
  ASSERT_EQ(matches.size(), 1u) << json::serialize(matches);
  const json::object& m = matches[0].as_object();
  EXPECT_EQ(m.at("signal_type"), "vpdq");
  EXPECT_EQ(m.at("id"), json::value(id));
  EXPECT_EQ(m.at("bars_removed"), true) << json::serialize(m);
  EXPECT_EQ(m.at("mirrored"), false);
  EXPECT_GE(Number(m.at("target_match_percent")), 80.0) << json::serialize(m);
  EXPECT_NEAR(Number(m.at("target_range").as_array()[0]), 0.0, 1.0) << json::serialize(m);
  EXPECT_NEAR(Number(m.at("target_range").as_array()[1]), 11.0, 1.0) << json::serialize(m);
}

// A crop defeats every frame's PDQ; the keyframes' local features catch it. The banked clip has 12 sampled
// frames, so it keeps 6 keyframes (KeyframeOptions' rule with 8: frames 0, 2, 4, 6, 8 and 10).
TEST_F(VideoApiTest, CroppedCopyMatchesThroughItsKeyframes) {
  const Response submitted = PostVideo("/v1/signals/video", submit_token_, clips().Banked());
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  EXPECT_EQ(Body(submitted).at("keyframes"), json::value(6)) << submitted.body;
  const std::string id = json::value_to<std::string>(Body(submitted).at("id"));
  const json::array matches = MatchVideo(clips().Cropped());
  EXPECT_TRUE(OfType(matches, "vpdq").empty()) << json::serialize(matches);
  const std::vector<json::object> robust = OfType(matches, "robust");
  ASSERT_EQ(robust.size(), 1u) << json::serialize(matches);
  EXPECT_EQ(robust[0].at("id"), json::value(id));
  EXPECT_GE(robust[0].at("keyframes").to_number<int64_t>(), 2) << json::serialize(robust[0]);
  EXPECT_EQ(robust[0].at("mirrored"), false);
  // Its mirror image too, through the query keyframes' mirrored features.
  const std::vector<json::object> mirrored = OfType(MatchVideo(clips().Make(
      "cropped-mirrored.mp4", "-i '" + clips().Path("cropped.mp4") + "' -vf hflip -c:v libx264 -pix_fmt yuv420p")), "robust");
  ASSERT_EQ(mirrored.size(), 1u);
  EXPECT_EQ(mirrored[0].at("mirrored"), true);
  // Withdrawn: the keyframes go with the frames.
  ASSERT_EQ(Call("DELETE", "/v1/signals/" + id, submit_token_).status, 200);
  EXPECT_TRUE(MatchVideo(clips().Cropped()).empty());
}

TEST_F(VideoApiTest, UnrelatedClipMatchesNothing) {
  ASSERT_FALSE(SubmitVideoId(clips().Banked()).empty());
  const json::object answer = MatchVideoAnswer(clips().Unrelated());
  ASSERT_TRUE(answer.contains("matches"));
  EXPECT_EQ(answer.at("hashes").at("frames").to_number<int64_t>(), QueryFrames(8));
  EXPECT_TRUE(answer.at("matches").as_array().empty()) << json::serialize(answer);
}

TEST_F(VideoApiTest, PerRequestThresholdsAreBoundedAndApplied) {
  ASSERT_FALSE(SubmitVideoId(clips().Banked()).empty());
  // The same file decodes to the same frames: distance 0. The half-scale copy's frames are a dozen or more
  // bits off (a resample and a re-encode): within the default 31, not within 8.
  EXPECT_EQ(OfType(MatchVideo(clips().Banked(), "?max_distance=0"), "vpdq").size(), 1u);
  EXPECT_EQ(OfType(MatchVideo(clips().HalfScale(), "?max_distance=31"), "vpdq").size(), 1u);
  EXPECT_TRUE(OfType(MatchVideo(clips().HalfScale(), "?max_distance=8"), "vpdq").empty());
  for (const std::string bad : {"?max_distance=64", "?max_distance=-1", "?max_distance=x", "?query_match_percent=0",
                                "?query_match_percent=101", "?target_match_percent=0", "?target_match_percent=1.5"}) {
    EXPECT_TRUE(IsErrorAndNodeHealthy(PostVideo("/v1/match/video" + bad, query_token_, clips().Trim()), 400,
                                      "invalid_argument"))
        << bad;
  }
}

// --- Withdrawal and restart ---------------------------------------------------------------------------------

TEST_F(VideoApiTest, AfterWithdrawalNothingMatches) {
  const std::string id = SubmitVideoId(clips().Banked());
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(MatchVideo(clips().Banked()).size(), 3u);
  const Response withdrawn = Call("DELETE", "/v1/signals/" + id, submit_token_);
  ASSERT_EQ(withdrawn.status, 200) << withdrawn.body;
  EXPECT_TRUE(MatchVideo(clips().Banked()).empty());
  EXPECT_TRUE(MatchVideo(clips().Trim()).empty());
  EXPECT_TRUE(MatchVideo(clips().Mirrored()).empty());
  const Response got = Call("GET", "/v1/signals/" + id, query_token_);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Body(got).at("withdrawn"), true);
  EXPECT_TRUE(Body(got).at("signal_types").as_array().empty()) << got.body;
  EXPECT_EQ(bank_->Stats().videos, 0u);
  EXPECT_EQ(bank_->Stats().video_frames, 0u);
}

TEST_F(VideoApiTest, RestartRebuildsTheVideoIndexFromTheStore) {
  const std::string id = SubmitVideoId(clips().Banked());
  ASSERT_FALSE(id.empty());
  const std::string gone = SubmitVideoId(clips().Unrelated());  // withdrawn before the restart
  ASSERT_EQ(Call("DELETE", "/v1/signals/" + gone, submit_token_).status, 200);

  StopNode();
  ASSERT_NO_FATAL_FAILURE(StartNode());
  EXPECT_EQ(bank_->Stats().videos, 1u);
  EXPECT_EQ(bank_->Stats().video_frames, 12u);
  const std::vector<json::object> trim = OfType(MatchVideo(clips().Trim()), "vpdq");
  ASSERT_EQ(trim.size(), 1u);
  EXPECT_EQ(trim[0].at("id"), json::value(id));
  EXPECT_NEAR(Number(trim[0].at("target_range").as_array()[0]), 3.0, 1.0);
  EXPECT_EQ(OfType(MatchVideo(clips().Mirrored()), "vpdq").size(), 1u);
  EXPECT_EQ(MatchVideo(clips().Banked()).size(), 3u);
  EXPECT_TRUE(MatchVideo(clips().Unrelated()).empty()) << "a withdrawn video stays withdrawn";
  // A new video after the restart goes into the rebuilt index.
  const std::string later = SubmitVideoId(clips().Unrelated());
  ASSERT_FALSE(later.empty());
  const std::vector<json::object> unrelated = OfType(MatchVideo(clips().Unrelated()), "vpdq");
  ASSERT_EQ(unrelated.size(), 1u);
  EXPECT_EQ(unrelated[0].at("id"), json::value(later));
}

// --- Refusals -------------------------------------------------------------------------------------------------

TEST_F(VideoApiTest, RolesAreChecked) {
  const std::string& video = clips().Banked();
  EXPECT_TRUE(IsErrorAndNodeHealthy(PostVideo("/v1/signals/video", query_token_, video), 403, "permission_denied"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(PostVideo("/v1/match/video", submit_token_, video), 403, "permission_denied"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(PostVideo("/v1/signals/video", "", video), 401, "unauthenticated"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(PostVideo("/v1/match/video", "not-a-token", video), 401, "unauthenticated"));
  // A fixed path, not a signal id: its other methods are 405.
  EXPECT_TRUE(IsErrorAndNodeHealthy(Call("GET", "/v1/signals/video", submit_token_), 405, "method_not_allowed"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(Call("GET", "/v1/match/video", query_token_), 405, "method_not_allowed"));
  EXPECT_EQ(bank_->Stats().signals, 0u);
  // The admin may do both.
  EXPECT_EQ(PostVideo("/v1/signals/video", admin_token_, video).status, 201);
  EXPECT_EQ(PostVideo("/v1/match/video", admin_token_, video).status, 200);
}

TEST_F(VideoApiTest, BadBodiesAreRefusedWithTheirStatusAndTheNodeKeepsServing) {
  for (const char* route : {"/v1/signals/video", "/v1/match/video"}) {
    SCOPED_TRACE(route);
    const std::string token = std::string(route) == "/v1/signals/video" ? submit_token_ : query_token_;
    EXPECT_TRUE(IsErrorAndNodeHealthy(PostVideo(route, token, ""), 400, "invalid_argument"));
    std::string text;
    for (int i = 0; i < 40; ++i) text += "This is a plain text file, not a video at all. ";
    EXPECT_TRUE(IsErrorAndNodeHealthy(Call("POST", route, token, text, "text/plain"), 400, "invalid_argument"));
    EXPECT_TRUE(IsErrorAndNodeHealthy(PostVideo(route, token, clips().Ffv1Mkv()), 415, "unsupported_media_type", "ffv1"));
    // A truncated MP4 (its first half: the index at the end is missing).
    const std::string& whole = clips().Banked();
    EXPECT_TRUE(IsErrorAndNodeHealthy(PostVideo(route, token, whole.substr(0, whole.size() / 2)), 400, "invalid_argument"));
    // Over max_video_body_bytes: refused from the Content-Length.
    std::string big;
    while (big.size() <= kVideoLimit) big += whole;
    EXPECT_TRUE(IsErrorAndNodeHealthy(PostVideo(route, token, big), 413, "too_large"));
  }
  EXPECT_EQ(bank_->Stats().signals, 0u);
  EXPECT_EQ(bank_->Stats().videos, 0u);
}

TEST_F(VideoApiTest, OverMaxVideoSecondsIs413) {
  StopNode();
  ASSERT_NO_FATAL_FAILURE(StartNode([](NodeConfig& c) { c.limits.max_video_seconds = 10; }));
  EXPECT_TRUE(IsErrorAndNodeHealthy(PostVideo("/v1/signals/video", submit_token_, clips().Banked()), 413, "too_large"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(PostVideo("/v1/match/video", query_token_, clips().Banked()), 413, "too_large"));
  // The 8 s clip is within it.
  EXPECT_EQ(PostVideo("/v1/signals/video", submit_token_, clips().Unrelated()).status, 201);
}

TEST_F(VideoApiTest, FlatBlackVideoIsStoredWithoutVpdqAndSaysWhy) {
  const json::object answer = SubmitVideo(clips().FlatBlack());
  ASSERT_TRUE(answer.contains("id")) << json::serialize(answer);
  const std::string id(answer.at("id").as_string());
  EXPECT_EQ(Strings(answer.at("signal_types")), (std::vector<std::string>{"md5", "sha256"}));
  ASSERT_TRUE(answer.contains("vpdq_skipped")) << json::serialize(answer);
  EXPECT_NE(std::string(answer.at("vpdq_skipped").as_string()).find("quality floor"), std::string::npos);
  EXPECT_EQ(answer.at("frames").to_number<int64_t>(), 0);
  const Response got = Call("GET", "/v1/signals/" + id, query_token_);
  EXPECT_EQ(Strings(Body(got).at("signal_types")), (std::vector<std::string>{"md5", "sha256"}));
  EXPECT_EQ(bank_->Stats().videos, 0u);
  // The same file matches by its digests only.
  const json::array m = MatchVideo(clips().FlatBlack());
  ASSERT_EQ(m.size(), 2u) << json::serialize(m);
  EXPECT_EQ(OfType(m, "md5").size(), 1u);
  EXPECT_EQ(OfType(m, "sha256").size(), 1u);
}

// --- /v1/hash -------------------------------------------------------------------------------------------------

TEST_F(VideoApiTest, HashOfAnMp4IsAVideoWithItsVpdqFramesAndNothingIsStored) {
  const Response r = Call("POST", "/v1/hash", query_token_, clips().Banked(), "video/mp4");
  ASSERT_EQ(r.status, 200) << r.body;
  const json::value body = Body(r);
  const json::object& h = body.at("hashes").as_object();
  EXPECT_EQ(h.at("type"), "video");
  EXPECT_EQ(h.at("md5"), json::value(ToolDigest("md5sum", clips().Path("banked.mp4"))));
  EXPECT_EQ(h.at("sha256"), json::value(ToolDigest("sha256sum", clips().Path("banked.mp4"))));
  EXPECT_EQ(h.at("width").to_number<int64_t>(), 320);
  EXPECT_EQ(h.at("height").to_number<int64_t>(), 240);
  EXPECT_EQ(h.at("codec"), "h264");
  EXPECT_EQ(Number(h.at("frame_rate")), 30.0);
  EXPECT_NEAR(Number(h.at("duration")), 12.0, 0.05);
  EXPECT_EQ(Number(h.at("seconds_per_frame")), 1.0);
  const json::array& frames = h.at("vpdq").as_array();
  ASSERT_EQ(frames.size(), 12u);
  for (size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE(i);
    const json::object& f = frames[i].as_object();
    EXPECT_EQ(f.at("frame").to_number<int64_t>(), static_cast<int64_t>(30 * i));  // every 30th frame at 30 fps
    EXPECT_EQ(Number(f.at("timestamp")), static_cast<double>(i));
    EXPECT_GE(f.at("quality").to_number<int64_t>(), 50) << "testsrc2 is all edges";
    EXPECT_LE(f.at("quality").to_number<int64_t>(), 100);
    const std::string pdq(f.at("pdq").as_string());
    EXPECT_TRUE(Hash256::FromHex(pdq).ok()) << pdq;
    EXPECT_EQ(pdq.size(), 64u);
  }
  EXPECT_EQ(bank_->Stats().signals, 0u);
  // Any role may hash.
  EXPECT_EQ(Call("POST", "/v1/hash", submit_token_, clips().Trim(), "video/mp4").status, 200);
}

// --- vPDQ in POST /v1/signals --------------------------------------------------------------------------------

TEST_F(VideoApiTest, JsonVpdqTakenFromHashIsAcceptedAndTheFileMatchesIt) {
  const Response hashed = Call("POST", "/v1/hash", query_token_, clips().Banked(), "video/mp4");
  ASSERT_EQ(hashed.status, 200) << hashed.body;
  const json::array frames = Body(hashed).at("hashes").at("vpdq").as_array();
  const std::string md5 = ToolDigest("md5sum", clips().Path("banked.mp4"));
  const Response submitted = Call("POST", "/v1/signals", submit_token_,
                                  json::serialize(json::object{{"vpdq", frames}, {"md5", md5}, {"duration", 12.0},
                                                               {"labels", json::array{"ndii"}}}));
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::string id(Body(submitted).at("id").as_string());
  const Response got = Call("GET", "/v1/signals/" + id, query_token_);
  EXPECT_EQ(Strings(Body(got).at("signal_types")), (std::vector<std::string>{"md5", "vpdq"}));
  const pb::Entry entry = StoredEntry(id);
  EXPECT_EQ(entry.signal().video().frame_interval_ms(), 1000u) << "the median step of the timestamps";
  EXPECT_EQ(entry.signal().video().duration_ms(), 12000u);

  const json::array m = MatchVideo(clips().Banked());
  ASSERT_EQ(m.size(), 2u) << json::serialize(m);
  const std::vector<json::object> vpdq = OfType(m, "vpdq");
  ASSERT_EQ(vpdq.size(), 1u);
  EXPECT_EQ(vpdq[0].at("id"), json::value(id));
  EXPECT_EQ(Number(vpdq[0].at("target_match_percent")), 100.0) << json::serialize(vpdq[0]);
  EXPECT_EQ(Number(vpdq[0].at("target_range").as_array()[1]), 11.0);
  EXPECT_EQ(Strings(vpdq[0].at("labels")), std::vector<std::string>{"ndii"});
  const std::vector<json::object> by_md5 = OfType(m, "md5");
  ASSERT_EQ(by_md5.size(), 1u);
  EXPECT_EQ(by_md5[0].at("id"), json::value(id));
  // An edit matches it too.
  EXPECT_EQ(OfType(MatchVideo(clips().Trim()), "vpdq").size(), 1u);
  // Without keyframes a crop is not caught; /v1/hash's keyframes, sent with the frames, catch it.
  EXPECT_TRUE(MatchVideo(clips().Cropped()).empty());
  ASSERT_EQ(Call("DELETE", "/v1/signals/" + id, submit_token_).status, 200);
  const json::array keyframes = Body(hashed).at("hashes").at("vpdq_keyframes").as_array();
  EXPECT_EQ(keyframes.size(), 6u) << "12 sampled frames keep 6 keyframes";
  const Response with_keyframes = Call(
      "POST", "/v1/signals", submit_token_,
      json::serialize(json::object{{"vpdq", frames}, {"vpdq_keyframes", keyframes}, {"duration", 12.0}}));
  ASSERT_EQ(with_keyframes.status, 201) << with_keyframes.body;
  const std::vector<json::object> cropped = OfType(MatchVideo(clips().Cropped()), "robust");
  ASSERT_EQ(cropped.size(), 1u);
  EXPECT_EQ(cropped[0].at("id"), Body(with_keyframes).at("id"));
  // Keyframes without vpdq, or malformed ones, are refused naming the field.
  for (const json::value& bad : {json::value(json::object{{"vpdq_keyframes", keyframes}, {"md5", md5}}),
                                 json::value(json::object{{"vpdq", frames},
                                                          {"vpdq_keyframes", json::array{json::object{{"timestamp", 1}}}}}),
                                 json::value(json::object{{"vpdq", frames},
                                                          {"vpdq_keyframes", json::array{json::object{
                                                                                 {"timestamp", 1}, {"robust", "AAAA"}}}}})}) {
    const Response r = Call("POST", "/v1/signals", submit_token_, json::serialize(bad));
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("vpdq_keyframes"), std::string::npos) << r.body;
  }
}

TEST_F(VideoApiTest, MalformedVpdqJsonIs400NamingTheField) {
  const json::array good = JsonFrames(5, 100, rng_);
  auto submit = [&](const json::value& vpdq, const json::object& extra = {}) {
    json::object o{{"vpdq", vpdq}};
    for (const auto& kv : extra) o[kv.key()] = kv.value();
    return Call("POST", "/v1/signals", submit_token_, json::serialize(o));
  };
  auto with = [&](size_t i, const std::string& key, const json::value& value) {
    json::array a = good;
    a[i].as_object()[key] = value;
    return a;
  };
  auto without = [&](size_t i, const std::string& key) {
    json::array a = good;
    a[i].as_object().erase(key);
    return a;
  };
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(with(2, "quality", 101)), 400, "invalid_argument", "vpdq[2].quality"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(with(2, "quality", -1)), 400, "invalid_argument", "vpdq[2].quality"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(with(2, "quality", "high")), 400, "invalid_argument", "vpdq[2].quality"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(without(2, "quality")), 400, "invalid_argument", "vpdq[2].quality"));
  const std::string pdq(good[1].at("pdq").as_string());
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(with(1, "pdq", json::string("zz" + pdq.substr(2)))), 400, "invalid_argument", "vpdq[1].pdq"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(with(1, "pdq", json::string(pdq.substr(1)))), 400, "invalid_argument", "vpdq[1].pdq"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(with(1, "pdq", 12345)), 400, "invalid_argument", "vpdq[1].pdq"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(without(1, "pdq")), 400, "invalid_argument", "vpdq[1].pdq"));
  // Timestamps 0, 1, 2, 1.5, 4: the fourth goes back.
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(with(3, "timestamp", 1.5)), 400, "invalid_argument", "vpdq[3].timestamp"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(with(0, "timestamp", -1)), 400, "invalid_argument", "vpdq[0].timestamp"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(without(0, "timestamp")), 400, "invalid_argument", "vpdq[0].timestamp"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(with(4, "frame", -3)), 400, "invalid_argument", "vpdq[4].frame"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(with(0, "colour", "red")), 400, "invalid_argument", "vpdq[0].colour"));
  json::array not_objects = good;
  not_objects[2] = "frame";
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(not_objects), 400, "invalid_argument", "vpdq[2]"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(json::array{}), 400, "invalid_argument", "vpdq"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit("0,100,abc,0.0"), 400, "invalid_argument", "vpdq"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(JsonFrames(7201, 100, rng_)), 400, "invalid_argument", "vpdq"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(good, {{"duration", 0}}), 400, "invalid_argument", "duration"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(good, {{"duration", "long"}}), 400, "invalid_argument", "duration"));
  EXPECT_TRUE(IsErrorAndNodeHealthy(
      Call("POST", "/v1/signals", submit_token_, json::serialize(json::object{{"md5", std::string(32, 'a')}, {"duration", 5}})),
      400, "invalid_argument", "duration"));
  // Every frame under the node's quality floor (50): such frames match unrelated videos.
  EXPECT_TRUE(IsErrorAndNodeHealthy(submit(JsonFrames(5, 49, rng_)), 422, "failed_precondition", "vpdq"));
  EXPECT_EQ(bank_->Stats().signals, 0u);

  // The bounds themselves are accepted: 7200 frames, quality 0 beside quality 100, equal timestamps.
  EXPECT_EQ(submit(JsonFrames(7200, 100, rng_)).status, 201);
  json::array edges = good;
  edges[0].as_object()["quality"] = 0;
  edges[4].as_object()["timestamp"] = 3.0;  // equal to the one before: non-decreasing
  EXPECT_EQ(submit(edges).status, 201);
  EXPECT_EQ(bank_->Stats().signals, 2u);
  EXPECT_EQ(bank_->Stats().video_frames, 7200u + 4);
}

// A node whose quality floor is under 50 accepts a video whose frames are of quality 30..49 (they reach its
// floor), stores it with vPDQ and says so; the same frames must then find it.
// limits.max_concurrent_video_decodes: 1 on two workers. While one video decodes (every frame of a 40 s
// 640x480 clip: seconds of work, seen through the /metrics gauge), a second video is refused at once with 429
// and Retry-After, and a JSON match is answered by the other worker; then the first video's answer is whole
// and the slot is free again.
TEST_F(VideoApiTest, AVideoBeyondTheDecodeSlotsGets429AndJsonKeepsAWorker) {
  StopNode();
  ASSERT_NO_FATAL_FAILURE(StartNode([](NodeConfig& c) {
    c.limits.max_concurrent_video_decodes = 1;
    c.limits.max_image_body_bytes = 64 << 20;  // the long clip below (12 MB), through /v1/hash
    c.limits.max_video_body_bytes = 64 << 20;
    c.matching.video_frame_interval_ms = 0;    // every frame: a long decode
  }));
  const std::string& video = clips().Make(
      "long-640x480.mp4", "-f lavfi -i testsrc2=size=640x480:rate=30 -t 40 -c:v libx264 -preset ultrafast -pix_fmt yuv420p");
  ASSERT_FALSE(video.empty());
  auto in_flight = [&] { return Gauge(Call("GET", "/metrics", admin_token_).body, "hashbank_video_decodes_in_flight"); };
  EXPECT_EQ(in_flight(), 0);
  HttpsClient first_client("127.0.0.1", server_->port(), dir_ + "/tls/ca.pem",
                           testing::HttpsClientOptions{.timeout = std::chrono::seconds(120)});
  std::future<absl::StatusOr<Response>> first = std::async(std::launch::async, [&] {
    return first_client.Request("POST", "/v1/hash", video, {{"Authorization", "Bearer " + query_token_}, {"Content-Type", "video/mp4"}});
  });
  bool decoding = false;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
       !decoding && std::chrono::steady_clock::now() < until;) {
    decoding = in_flight() == 1;
    if (!decoding) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!decoding) {
    const absl::StatusOr<Response> early = first.get();
    FAIL() << "the first video never started decoding: "
           << (early.ok() ? std::to_string(early->status) + " " + early->body : early.status().ToString());
  }
  const Response second = PostVideo("/v1/hash", submit_token_, clips().Banked());
  const Response json_match = Call("POST", "/v1/match", query_token_, R"({"md5": "900150983cd24fb0d6963f7d28e17f72"})");
  const double still = in_flight();
  EXPECT_EQ(second.status, 429) << second.body;
  EXPECT_EQ(second.headers.count("retry-after") ? second.headers.at("retry-after") : "", "2");
  EXPECT_NE(second.body.find("rate_limited"), std::string::npos) << second.body;
  EXPECT_NE(second.body.find("at most 1 video"), std::string::npos) << second.body;
  EXPECT_EQ(json_match.status, 200) << json_match.body;
  EXPECT_EQ(still, 1) << "the first video had finished: the checks above did not run during its decode";
  const absl::StatusOr<Response> done = first.get();
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->status, 200) << done->body;
  EXPECT_EQ(Body(*done).at("hashes").at("vpdq").as_array().size(), 1200u);  // 40 s at 30 fps, every frame
  EXPECT_EQ(in_flight(), 0);
  EXPECT_EQ(PostVideo("/v1/hash", submit_token_, clips().Banked()).status, 200) << "the slot is free again";
}

TEST_F(VideoApiTest, OnANodeWithAFloorOf30AVideoOfQuality40FramesIsMatchable) {
  StopNode();
  ASSERT_NO_FATAL_FAILURE(StartNode([](NodeConfig& c) { c.matching.pdq_quality_floor = 30; }));
  const json::array frames = JsonFrames(10, 40, rng_);
  const Response r = Call("POST", "/v1/signals", submit_token_, json::serialize(json::object{{"vpdq", frames}}));
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id(Body(r).at("id").as_string());
  const Response got = Call("GET", "/v1/signals/" + id, query_token_);
  EXPECT_EQ(Strings(Body(got).at("signal_types")), std::vector<std::string>{"vpdq"});

  // The frames as POST /v1/match/video would query them on this node: quality floor 30.
  std::vector<VideoFrame> query;
  for (const json::value& f : frames) {
    query.push_back({*Hash256::FromHex(std::string(f.at("pdq").as_string())), 40, Number(f.at("timestamp"))});
  }
  VideoMatchRule rule;
  rule.min_quality = 30;
  std::vector<VideoQueryPass> passes(1);
  passes[0].frames = query;
  auto matches = bank_->MatchVideo(passes, 1.0, rule);
  ASSERT_TRUE(matches.ok()) << matches.status();
  ASSERT_EQ(matches->size(), 1u) << "a stored vpdq signal that its own frames do not find";
  EXPECT_EQ(bank_->Stats().video_frames, 10u);
}

}  // namespace
}  // namespace hashbank
