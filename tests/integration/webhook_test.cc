// Signed webhooks against the real `hashbank serve` and a real HTTP receiver on loopback
// (tests/support/webhook_receiver.h): a retroactive match of a watched upload, signed as documented (checked
// here with OpenSSL's HMAC, not the node's code), retried while the receiver answers 503 with the same event
// id and body, then delivered; the withdrawal of the matched signal; delivery after a node restart while the
// receiver was down; a receiver that dedupes by event id processes each event once; bad registrations.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "tests/support/https_client.h"
#include "tests/support/node_process.h"
#include "tests/support/photo_edits.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "tests/support/video_clips.h"
#include "tests/support/webhook_receiver.h"

namespace hashbank {
namespace {

namespace json = boost::json;
using ::hashbank::testing::HttpsClient;
using ::hashbank::testing::NodeProcess;
using ::hashbank::testing::Response;
using ::hashbank::testing::WebhookReceiver;
using namespace std::chrono_literals;

// Two PDQ hashes 2 bits apart (HMA's first two examples) and an unrelated one.
constexpr char kBanked[] = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
constexpr char kUpload[] = "f8f8f0cee0f4a84f06370a2a038f63f0b36e26d596621e1d33e6b39c4e9c9b22";
constexpr char kOther[] = "62c9789627838f69f23cf98c29e37836d61c87c31c59587c4b49a783f496725c";

std::string HmacHex(const std::string& key, const std::string& message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), out, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 15]);
  }
  return hex;
}

// A receiver's check, as docs/webhooks.md tells one to write it: t=...,v1=... over "t.body".
bool SignatureValid(const WebhookReceiver::Received& r, const std::string& secret) {
  auto it = r.headers.find("hashbank-signature");
  if (it == r.headers.end()) return false;
  const std::string& h = it->second;
  const size_t comma = h.find(",v1=");
  if (!h.starts_with("t=") || comma == std::string::npos) return false;
  const std::string t = h.substr(2, comma - 2);
  return h.substr(comma + 4) == HmacHex(secret, t + "." + r.body);
}

json::object BodyOf(const WebhookReceiver::Received& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  EXPECT_FALSE(ec) << r.body;
  return v.is_object() ? v.as_object() : json::object{};
}

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<testing::TempDir>("hashbank-webhooks");
    data_ = dir_->path().string() + "/data";
    ASSERT_NO_FATAL_FAILURE(StartNode());
  }

  void StartNode() {
    auto node = NodeProcess::Start({"serve", "--data-dir", data_, "--listen", "127.0.0.1:0"}, dir_->path().string() + "/node.log");
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = std::move(*node);
    const absl::StatusOr<uint16_t> port = node_->ServingPort(60s);
    ASSERT_TRUE(port.ok()) << port.status() << "\n" << testing::ReadFileText(dir_->path().string() + "/node.log");
    token_ = testing::ReadFileText(data_ + "/admin.token");
    while (!token_.empty() && (token_.back() == '\n' || token_.back() == '\r')) token_.pop_back();
    client_ = std::make_unique<HttpsClient>("127.0.0.1", *port, data_ + "/tls/ca.pem");
  }

  Response Post(const std::string& target, const json::value& body, const std::string& token = "") {
    auto r = client_->Request("POST", target, json::serialize(body),
                              {{"Authorization", "Bearer " + (token.empty() ? token_ : token)},
                               {"Content-Type", "application/json"}});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Response{};
  }
  Response Call(const std::string& method, const std::string& target) {
    auto r = client_->Request(method, target, "", {{"Authorization", "Bearer " + token_}});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Response{};
  }
  static json::value Json(const Response& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    EXPECT_FALSE(ec) << r.status << " " << r.body;
    return v;
  }
  // Registers a webhook for the admin token's watch list; its secret.
  std::string Register(uint16_t port) {
    const Response r = Post("/v1/webhooks", json::object{{"url", "http://127.0.0.1:" + std::to_string(port) + "/hook"},
                                                         {"events", json::array{"match.retroactive", "signal.withdrawn", "signal.disputed"}},
                                                         {"member", "admin"}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? std::string(Json(r).at("secret").as_string()) : "";
  }
  void WatchUpload(const std::string& ref, const char* pdq) {
    const Response r = Post("/v1/watch", json::object{{"items", json::array{json::object{{"content_ref", ref}, {"pdq", pdq}}}}});
    ASSERT_EQ(r.status, 201) << r.body;
  }
  // The robust fingerprint /v1/hash gives for an image (base64, as a device would send it).
  std::string RobustOf(const std::string& image) {
    auto r = client_->Request("POST", "/v1/hash", image, {{"Authorization", "Bearer " + token_}, {"Content-Type", "image/jpeg"}});
    EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.status().ToString());
    if (!r.ok() || r->status != 200) return "";
    const json::value v = Json(*r);
    const json::value* robust = v.at("hashes").as_object().if_contains("robust");
    EXPECT_NE(robust, nullptr) << r->body;
    return robust != nullptr ? std::string(robust->as_string()) : "";
  }
  std::string BankImage(const std::string& image) {
    auto r = client_->Request("POST", "/v1/signals/image?labels=ndii", image,
                              {{"Authorization", "Bearer " + token_}, {"Content-Type", "image/jpeg"}});
    EXPECT_TRUE(r.ok() && r->status == 201) << (r.ok() ? r->body : r.status().ToString());
    return r.ok() && r->status == 201 ? std::string(Json(*r).at("id").as_string()) : "";
  }
  std::string Bank(const char* pdq) {
    const Response r = Post("/v1/signals", json::object{{"pdq", pdq}, {"quality", 100}, {"labels", json::array{"ndii"}}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? std::string(Json(r).at("id").as_string()) : "";
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::string data_;
  std::unique_ptr<NodeProcess> node_;
  std::unique_ptr<HttpsClient> client_;
  std::string token_;
};

TEST_F(WebhookTest, RetroactiveMatchIsSignedRetriedWhileTheReceiverFailsAndThenDelivered) {
  WebhookReceiver receiver;
  receiver.SetStatus(503);
  const std::string secret = Register(receiver.port());
  ASSERT_TRUE(secret.starts_with("whsec_"));
  WatchUpload("upload-42", kUpload);
  WatchUpload("unrelated-upload", kOther);
  const std::string id = Bank(kBanked);  // banked after the upload went live

  ASSERT_TRUE(receiver.WaitFor([](const auto& got) { return got.size() >= 2; }, 30s)) << "no retry";
  receiver.SetStatus(200);
  ASSERT_TRUE(receiver.WaitFor([](const auto& got) { return !got.empty() && got.back().answered == 200; }, 30s));
  const std::vector<WebhookReceiver::Received> got = receiver.received();
  // Every attempt is the same event: same id, same body; each signed with its own timestamp.
  for (const auto& r : got) {
    EXPECT_EQ(r.body, got[0].body);
    EXPECT_EQ(r.headers.at("hashbank-event-id"), got[0].headers.at("hashbank-event-id"));
    EXPECT_TRUE(SignatureValid(r, secret)) << r.headers.at("hashbank-signature");
    EXPECT_FALSE(SignatureValid(r, secret + "x"));
    EXPECT_EQ(r.target, "/hook");
  }
  json::object event = BodyOf(got.back());
  EXPECT_EQ(event.at("type"), "match.retroactive");
  EXPECT_EQ(event.at("id"), json::value(got[0].headers.at("hashbank-event-id")));
  EXPECT_EQ(event.at("data").at("content_ref"), "upload-42");
  EXPECT_EQ(event.at("data").at("signal").at("id"), json::value(id));
  EXPECT_EQ(event.at("data").at("signal").at("signal_type"), "pdq");
  EXPECT_EQ(event.at("data").at("signal").at("distance"), 2);
  EXPECT_EQ(event.at("data").at("signal").at("labels"), json::array{"ndii"});

  // The status says so; the queue is empty. (The receiver has answered 200 before the node reads the answer
  // and records the delivery: the status is read until it does, for at most 10 s.)
  json::value hooks = Json(Call("GET", "/v1/webhooks"));
  for (int i = 0; i < 100 && hooks.at("webhooks").as_array().at(0).at("status").at("delivered") != json::value(1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    hooks = Json(Call("GET", "/v1/webhooks"));
  }
  const json::object& st = hooks.at("webhooks").as_array().at(0).at("status").as_object();
  EXPECT_EQ(st.at("delivered"), 1);
  EXPECT_EQ(st.at("queued"), 0);
  EXPECT_GE(st.at("failed_attempts").as_int64(), 1);
  EXPECT_FALSE(hooks.at("webhooks").as_array().at(0).as_object().contains("secret"));  // shown once only

  // The victim withdraws: the member whose upload matched is told.
  const size_t before = receiver.received().size();
  ASSERT_EQ(Call("DELETE", "/v1/signals/" + id).status, 200);
  ASSERT_TRUE(receiver.WaitFor([&](const auto& all) { return all.size() > before; }, 30s));
  event = BodyOf(receiver.received().back());
  EXPECT_EQ(event.at("type"), "signal.withdrawn");
  EXPECT_EQ(event.at("data").at("content_ref"), "upload-42");
  EXPECT_EQ(event.at("data").at("signal_id"), json::value(id));
  // Nothing about the unrelated upload ever.
  for (const auto& r : receiver.received()) EXPECT_EQ(r.body.find("unrelated-upload"), std::string::npos);
}

TEST_F(WebhookTest, EventQueuedWhileTheReceiverIsDownIsDeliveredAfterANodeRestartAndProcessedOnce) {
  uint16_t port = 0;
  {
    WebhookReceiver probe;  // a free port, closed again: the receiver is down
    port = probe.port();
  }
  const std::string secret = Register(port);
  WatchUpload("upload-7", kUpload);
  Bank(kBanked);
  std::this_thread::sleep_for(1500ms);  // queued, at least one attempt failed to connect
  ASSERT_EQ(node_->Signal(SIGKILL) != -1, true);
  node_.reset();
  WebhookReceiver receiver(port);
  ASSERT_NO_FATAL_FAILURE(StartNode());
  ASSERT_TRUE(receiver.WaitFor([](const auto& got) { return !got.empty(); }, 60s)) << "not delivered after the restart";
  // A receiver that dedupes by event id processes every event once, however often it arrives.
  std::this_thread::sleep_for(1s);
  std::set<std::string> processed;
  for (const auto& r : receiver.received()) {
    ASSERT_TRUE(SignatureValid(r, secret));
    processed.insert(r.headers.at("hashbank-event-id"));
  }
  EXPECT_EQ(processed.size(), 1u);
  EXPECT_EQ(BodyOf(receiver.received()[0]).at("data").at("content_ref"), "upload-7");

  // The webhook's counters outlive both starts: the failed attempts before the kill, the delivery after it.
  auto status = [&] {
    const Response r = Call("GET", "/v1/webhooks");
    EXPECT_EQ(r.status, 200) << r.body;
    return Json(r).at("webhooks").as_array().at(0).at("status").as_object();
  };
  for (auto until = std::chrono::steady_clock::now() + 30s;
       status().at("delivered").to_number<uint64_t>() < 1 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(50ms);
  }
  const json::object before = status();
  EXPECT_GE(before.at("failed_attempts").to_number<uint64_t>(), 1u) << json::serialize(before);
  EXPECT_FALSE(before.at("last_failure_ms").is_null()) << json::serialize(before);
  ASSERT_EQ(testing::ExitCode(node_->Signal(SIGTERM)), 0);
  node_.reset();
  ASSERT_NO_FATAL_FAILURE(StartNode());
  const json::object after = status();
  for (const char* counter : {"delivered", "failed_attempts", "dropped", "last_success_ms", "last_failure_ms"}) {
    EXPECT_EQ(after.at(counter), before.at(counter)) << counter << ": " << json::serialize(after);
  }
  EXPECT_EQ(after.at("queued"), 0) << json::serialize(after);
}

// The race a platform cannot close itself: the hash is banked after its /v1/match but before its /v1/watch.
// Registering the watch reports what already matches; a bank whose matching is off here reports nothing.
TEST_F(WebhookTest, AWatchRegisteredAfterTheHashWasBankedIsToldAtOnce) {
  WebhookReceiver receiver;
  Register(receiver.port());
  const std::string id = Bank(kBanked);
  WatchUpload("upload-late", kUpload);
  ASSERT_TRUE(receiver.WaitFor([](const auto& got) { return !got.empty(); }, 30s));
  const json::object event = BodyOf(receiver.received()[0]);
  EXPECT_EQ(event.at("type"), "match.retroactive");
  EXPECT_EQ(event.at("data").at("content_ref"), "upload-late");
  EXPECT_EQ(event.at("data").at("signal").at("id"), json::value(id));
  // DEFAULT set to ratio 0 on this node: a new matching signal fires nothing.
  auto r = client_->Request("PUT", "/c/bank/DEFAULT", R"({"enabled_ratio": 0})",
                            {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/json"}});
  ASSERT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.status().ToString());
  WatchUpload("upload-off", kOther);
  Bank(kOther);
  std::this_thread::sleep_for(2s);
  for (const auto& got : receiver.received()) EXPECT_EQ(got.body.find("upload-off"), std::string::npos);
}

// Watched by its robust fingerprint alone, a cropped and captioned upload is told when its original is banked
// (PDQ cannot catch these edits), from the index rebuilt after a restart too, and at once when the original
// was banked first. An unrelated watched upload is never told.
TEST_F(WebhookTest, AnEditedUploadWatchedByItsRobustFingerprintIsToldWhenTheOriginalIsBanked) {
  WebhookReceiver receiver;
  Register(receiver.port());
  const testing::RgbPhoto pen = testing::LoadRgbPhoto("pdq-reference/images/reg-test-input/pen-and-coaster.png");
  const testing::RgbPhoto bridge = testing::LoadRgbPhoto("pdq-reference/images/reg-test-input/dih/bridge-1-original.jpg");
  const testing::RgbPhoto other = testing::LoadRgbPhoto("pdq-reference/images/reg-test-input/labelme-subset/q0746.jpg");
  // About a quarter of the area cropped away, unevenly, and re-encoded.
  const std::string pen_crop = testing::JpegString(testing::CropMirror(pen, 60, 10, 480, 420, false), 75);
  const std::string bridge_crop = testing::JpegString(
      testing::CropMirror(bridge, bridge.width / 8, 0, bridge.width, bridge.height * 7 / 8, false), 75);
  auto watch_robust = [&](const std::string& ref, const std::string& image) {
    const std::string robust = RobustOf(image);
    ASSERT_FALSE(robust.empty());
    const Response r = Post("/v1/watch", json::object{{"items", json::array{json::object{{"content_ref", ref}, {"robust", robust}}}}});
    ASSERT_EQ(r.status, 201) << r.body;
  };
  ASSERT_NO_FATAL_FAILURE(watch_robust("pen-crop", pen_crop));
  // A mirrored crop, watched with its mirror fingerprint too (the member hashes the upload flipped back).
  const std::string pen_mirror_crop = testing::JpegString(testing::CropMirror(pen, 40, 60, 470, 470, true), 75);
  const std::string pen_mirror_crop_flipped = testing::JpegString(testing::CropMirror(pen, 40, 60, 470, 470, false), 75);
  {
    const std::string robust = RobustOf(pen_mirror_crop), flipped = RobustOf(pen_mirror_crop_flipped);
    ASSERT_FALSE(robust.empty() || flipped.empty());
    Response r = Post("/v1/watch", json::object{{"items", json::array{json::object{
                                                  {"content_ref", "pen-mirror-crop"}, {"robust", robust}, {"robust_mirrored", flipped}}}}});
    ASSERT_EQ(r.status, 201) << r.body;
    // Without its mirror fingerprint the same upload is not caught (below): the mirror is what finds it.
    r = Post("/v1/watch", json::object{{"items", json::array{json::object{{"content_ref", "pen-mirror-crop-alone"}, {"robust", robust}}}}});
    ASSERT_EQ(r.status, 201) << r.body;
  }
  ASSERT_NO_FATAL_FAILURE(watch_robust("bridge-crop", bridge_crop));
  ASSERT_NO_FATAL_FAILURE(watch_robust("unrelated", testing::JpegString(other, 80)));
  auto told = [&](const std::string& ref) {
    std::vector<json::object> events;
    for (const auto& got : receiver.received()) {
      json::object e = BodyOf(got);
      if (e.at("data").as_object().if_contains("content_ref") != nullptr && e.at("data").at("content_ref") == json::value(ref)) {
        events.push_back(std::move(e));
      }
    }
    return events;
  };

  const std::string pen_id = BankImage(testing::JpegString(pen, 92));
  ASSERT_TRUE(receiver.WaitFor([&](const auto&) { return !told("pen-crop").empty(); }, 30s)) << "pen-crop never told";
  const json::object event = told("pen-crop")[0];
  EXPECT_EQ(event.at("type"), "match.retroactive");
  EXPECT_EQ(event.at("data").at("signal").at("id"), json::value(pen_id));
  EXPECT_EQ(event.at("data").at("signal").at("signal_type"), "robust") << json::serialize(event);
  EXPECT_GE(event.at("data").at("signal").at("inliers").as_int64(), 10) << json::serialize(event);
  EXPECT_EQ(event.at("data").at("signal").at("mirrored"), false);
  ASSERT_TRUE(receiver.WaitFor([&](const auto&) { return !told("pen-mirror-crop").empty(); }, 30s)) << "never told";
  const json::object mirrored_event = told("pen-mirror-crop")[0];
  EXPECT_EQ(mirrored_event.at("data").at("signal").at("id"), json::value(pen_id));
  EXPECT_EQ(mirrored_event.at("data").at("signal").at("signal_type"), "robust");
  EXPECT_EQ(mirrored_event.at("data").at("signal").at("mirrored"), true) << json::serialize(mirrored_event);

  // The watch list's robust index is rebuilt from its rows.
  ASSERT_EQ(testing::ExitCode(node_->Signal(SIGTERM)), 0);
  node_.reset();
  ASSERT_NO_FATAL_FAILURE(StartNode());
  const std::string bridge_id = BankImage(testing::JpegString(bridge, 92));
  ASSERT_TRUE(receiver.WaitFor([&](const auto&) { return !told("bridge-crop").empty(); }, 30s)) << "bridge-crop never told";
  EXPECT_EQ(told("bridge-crop")[0].at("data").at("signal").at("id"), json::value(bridge_id));
  EXPECT_EQ(told("bridge-crop")[0].at("data").at("signal").at("signal_type"), "robust");

  // Banked first, watched after: told at once.
  const std::string pen_caption = testing::JpegString(testing::CropMirror(pen, 0, 80, pen.width, pen.height, false), 70);
  ASSERT_NO_FATAL_FAILURE(watch_robust("pen-late", pen_caption));
  ASSERT_TRUE(receiver.WaitFor([&](const auto&) { return !told("pen-late").empty(); }, 30s)) << "pen-late never told";
  EXPECT_EQ(told("pen-late")[0].at("data").at("signal").at("id"), json::value(pen_id));
  EXPECT_EQ(told("pen-late")[0].at("data").at("signal").at("signal_type"), "robust");

  std::this_thread::sleep_for(2s);
  EXPECT_TRUE(told("unrelated").empty());
  EXPECT_TRUE(told("pen-mirror-crop-alone").empty()) << "a mirrored upload without its mirror fingerprint";
  EXPECT_EQ(told("pen-crop").size(), 1u);  // once, not again for the bridge
}

// A video upload watched by its vPDQ (the frame list /v1/hash prints, as a device or the platform's own hasher
// sends it). The clips' recipes (tests/support/video_clips.h) give the expectations: Trim() is seconds [3, 9)
// of Banked(), re-encoded; Compilation() holds Banked() at [6, 18) of its 24 s; Unrelated() shares nothing.
TEST_F(WebhookTest, AVideoUploadWatchedByItsVpdqIsToldWhenTheVideoItIsCutFromIsBanked) {
  WebhookReceiver receiver;
  Register(receiver.port());
  testing::VideoClips& clips = testing::VideoClips::Get();
  auto vpdq_of = [&](const std::string& video) {
    auto r = client_->Request("POST", "/v1/hash", video, {{"Authorization", "Bearer " + token_}, {"Content-Type", "video/mp4"}});
    EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.status().ToString());
    return r.ok() && r->status == 200 ? Json(*r).at("hashes").at("vpdq") : json::value();
  };
  auto watch_video = [&](const std::string& ref, const std::string& video) {
    const json::value frames = vpdq_of(video);
    ASSERT_TRUE(frames.is_array() && !frames.as_array().empty());
    const Response r = Post("/v1/watch", json::object{{"items", json::array{json::object{{"content_ref", ref}, {"vpdq", frames}}}}});
    ASSERT_EQ(r.status, 201) << r.body;
  };
  ASSERT_NO_FATAL_FAILURE(watch_video("trim", clips.Trim()));
  ASSERT_NO_FATAL_FAILURE(watch_video("compilation", clips.Compilation()));
  ASSERT_NO_FATAL_FAILURE(watch_video("unrelated", clips.Unrelated()));
  auto told = [&](const std::string& ref) {
    std::vector<json::object> events;
    for (const auto& got : receiver.received()) {
      json::object e = BodyOf(got);
      if (e.at("data").as_object().if_contains("content_ref") != nullptr && e.at("data").at("content_ref") == json::value(ref)) {
        events.push_back(std::move(e));
      }
    }
    return events;
  };
  auto number = [](const json::value& v) { return v.is_double() ? v.as_double() : static_cast<double>(v.as_int64()); };

  // The watch list's video index is rebuilt from its rows at start.
  ASSERT_EQ(testing::ExitCode(node_->Signal(SIGTERM)), 0);
  node_.reset();
  ASSERT_NO_FATAL_FAILURE(StartNode());

  auto r = client_->Request("POST", "/v1/signals/video?labels=ndii", clips.Banked(),
                            {{"Authorization", "Bearer " + token_}, {"Content-Type", "video/mp4"}});
  ASSERT_TRUE(r.ok() && r->status == 201) << (r.ok() ? r->body : r.status().ToString());
  const std::string banked_id(Json(*r).at("id").as_string());

  ASSERT_TRUE(receiver.WaitFor([&](const auto&) { return !told("trim").empty(); }, 30s)) << "trim never told";
  const json::object trim = told("trim")[0];
  const json::value& s = trim.at("data").at("signal");
  EXPECT_EQ(trim.at("type"), "match.retroactive");
  EXPECT_EQ(s.at("id"), json::value(banked_id));
  EXPECT_EQ(s.at("signal_type"), "vpdq") << json::serialize(trim);
  EXPECT_GE(number(s.at("upload_match_percent")), 80) << "the excerpt's frames are the banked video's";
  EXPECT_NEAR(number(s.at("upload_range").as_array()[0]), 0, 1) << json::serialize(trim);
  EXPECT_NEAR(number(s.at("signal_range").as_array()[0]), 3, 1) << "the trim starts 3 s into the banked video";
  EXPECT_NEAR(number(s.at("signal_range").as_array()[1]), 8, 1);
  EXPECT_GE(number(s.at("matched_seconds")), 4);

  ASSERT_TRUE(receiver.WaitFor([&](const auto&) { return !told("compilation").empty(); }, 30s)) << "compilation never told";
  const json::value c = told("compilation")[0].at("data").at("signal");
  EXPECT_EQ(c.at("signal_type"), "vpdq") << json::serialize(c);
  EXPECT_GE(number(c.at("signal_match_percent")), 80) << "the banked video's frames are all inside the upload";
  EXPECT_LT(number(c.at("upload_match_percent")), 80) << "half the compilation is something else";
  EXPECT_NEAR(number(c.at("upload_range").as_array()[0]), 6, 1) << json::serialize(c);
  EXPECT_NEAR(number(c.at("upload_range").as_array()[1]), 17, 1);

  // Banked first, watched after: told at once (the watched frames as the query, as /v1/match/video).
  ASSERT_NO_FATAL_FAILURE(watch_video("half-scale", clips.HalfScale()));
  ASSERT_TRUE(receiver.WaitFor([&](const auto&) { return !told("half-scale").empty(); }, 30s)) << "half-scale never told";
  const json::value h = told("half-scale")[0].at("data").at("signal");
  EXPECT_EQ(h.at("id"), json::value(banked_id));
  EXPECT_EQ(h.at("signal_type"), "vpdq") << json::serialize(h);
  EXPECT_GE(number(h.at("upload_match_percent")), 80);
  EXPECT_GE(number(h.at("signal_match_percent")), 80);

  std::this_thread::sleep_for(2s);
  EXPECT_TRUE(told("unrelated").empty());
  EXPECT_EQ(told("trim").size(), 1u);
}

TEST_F(WebhookTest, BadRegistrationsAndWatchItemsAreRefusedWithClearErrors) {
  auto code = [](const Response& r) { return std::string(Json(r).at("error").at("code").as_string()); };
  Response r = Post("/v1/webhooks", json::object{{"url", "http://example.com/hook"}, {"events", json::array{"match.retroactive"}}, {"member", "admin"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("loopback"), std::string::npos) << r.body;
  r = Post("/v1/webhooks", json::object{{"url", "https://user@example.com/"}, {"events", json::array{"match.retroactive"}}, {"member", "admin"}});
  EXPECT_EQ(r.status, 400);
  r = Post("/v1/webhooks", json::object{{"url", "https://example.com/hook"}, {"events", json::array{"match.everything"}}, {"member", "admin"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(code(r), "invalid_argument");
  r = Post("/v1/watch", json::object{{"items", json::array{json::object{{"content_ref", "x"}}}}});
  EXPECT_EQ(r.status, 400);
  r = Post("/v1/watch", json::object{{"items", json::array{json::object{{"content_ref", "x"}, {"pdq", "zz"}}}}});
  EXPECT_EQ(r.status, 400);
  r = Post("/v1/watch", json::object{{"items", json::array{json::object{{"content_ref", "x"}, {"robust", "AAAA"}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("items[0].robust"), std::string::npos) << r.body;
  r = Post("/v1/watch", json::object{{"items", json::array{json::object{{"content_ref", "x"}, {"robust", "not base64!"}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("items[0].robust"), std::string::npos) << r.body;
  r = Post("/v1/watch", json::object{{"items", json::array{json::object{{"content_ref", "x"}, {"pdq", kUpload}, {"robust_mirrored", "AAAA"}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("items[0].robust_mirrored: only with robust"), std::string::npos) << r.body;
  r = Post("/v1/watch", json::object{{"items", json::array{json::object{{"content_ref", "x"}, {"vpdq", json::array{}}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("items[0].vpdq: 1 to"), std::string::npos) << r.body;
  r = Post("/v1/watch", json::object{{"items", json::array{json::object{
                                         {"content_ref", "x"},
                                         {"vpdq", json::array{json::object{{"pdq", kUpload}, {"quality", 100}, {"timestamp", 2}},
                                                              json::object{{"pdq", kUpload}, {"quality", 100}, {"timestamp", 1}}}}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("items[0].vpdq[1].timestamp"), std::string::npos) << r.body;
  r = Post("/v1/watch", json::object{{"items", json::array{json::object{
                                         {"content_ref", "x"}, {"vpdq", json::array{json::object{{"pdq", kUpload}, {"quality", 10}, {"timestamp", 0}}}}}}}});
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("quality floor"), std::string::npos) << r.body;
  EXPECT_EQ(Call("DELETE", "/v1/webhooks/wh_0000000000000000").status, 404);
  // Registered and deleted: gone from the list.
  r = Post("/v1/webhooks", json::object{{"url", "https://hooks.example.com/hashbank"}, {"events", json::array{"signal.withdrawn"}}, {"member", "admin"}});
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id(Json(r).at("id").as_string());
  EXPECT_EQ(Call("GET", "/v1/webhooks/" + id).status, 200);
  EXPECT_EQ(Call("DELETE", "/v1/webhooks/" + id).status, 200);
  EXPECT_EQ(Json(Call("GET", "/v1/webhooks")).at("webhooks").as_array().size(), 0u);
}

}  // namespace
}  // namespace hashbank
