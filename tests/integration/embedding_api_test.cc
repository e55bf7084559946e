// Embeddings computed by the node from images (matching.embedding_model), through the real binary: the
// model's fingerprint decides whether and how it runs, the vectors agree with an independent computation
// (numpy, tests/support/make_onnx_model.py), a signal banked from an image is found by that independent
// vector and by the image, and a file that is not a model stops the start with a clear error.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "crypto/pem_file.h"
#include "tests/support/https_client.h"
#include "tests/support/node_process.h"
#include "tests/support/onnx_model.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::HttpsClient;
using testing::NodeProcess;
using testing::ReadFileText;
using testing::Response;

class EmbeddingApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = testing::MakeTestModel(dir_.File("model"));
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model);
  }

  void Start(const std::string& model_path) {
    const std::string config = dir_.Write(
        "hashbank.yaml", absl::StrCat("node:\n  id: embed-node\n  data_dir: data\nmatching:\n  embedding_model: ",
                                      model_path, "\n"));
    auto child = NodeProcess::Start({"serve", "--config", config, "--listen", "127.0.0.1:0"}, dir_.File("serve.log"));
    ASSERT_TRUE(child.ok()) << child.status();
    node_ = std::move(*child);
    auto port = node_->ServingPort(30s);
    ASSERT_TRUE(port.ok()) << port.status() << "\n" << ReadFileText(dir_.File("serve.log"));
    auto token = ReadTextFile(dir_.File("data/admin.token"));
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = std::string(absl::StripAsciiWhitespace(*token));
    client_ = std::make_unique<HttpsClient>("127.0.0.1", *port, dir_.File("data/tls/ca.pem"));
  }

  Response Post(const std::string& path, const std::string& body, const std::string& type) {
    auto r = client_->Request("POST", path, body, {{"Authorization", "Bearer " + token_}, {"Content-Type", type}});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Response{};
  }
  Response PostImage(const std::string& path, const std::string& file) {
    const std::vector<uint8_t> bytes = testing::ReadFileBytes(file);
    return Post(path, std::string(bytes.begin(), bytes.end()), "image/png");
  }
  Response PostJson(const std::string& path, const json::value& body) {
    return Post(path, json::serialize(body), "application/json");
  }

  json::object Fingerprint(double threshold) const {
    return json::object{{"model_id", model_.model_id}, {"name", "hashbank-test-embedder"}, {"version", "1"},
                        {"dimension", 12},          {"input_width", 32},                 {"input_height", 24},
                        {"threshold", threshold}};
  }

  // True if `matches` has an embedding match of `id`.
  static bool HasEmbeddingMatch(const json::value& answer, const std::string& id) {
    for (const json::value& m : answer.at("matches").as_array()) {
      if (m.at("signal_type") == json::value("embedding") && m.at("id") == json::value(id)) return true;
    }
    return false;
  }

  testing::TempDir dir_{"hashbank-embed"};
  testing::TestModel model_;
  std::string token_;
  std::unique_ptr<NodeProcess> node_;
  std::unique_ptr<HttpsClient> client_;
};

TEST_F(EmbeddingApiTest, ImagesGetTheModelsEmbeddingOnceItsFingerprintIsPublished) {
  ASSERT_NO_FATAL_FAILURE(Start(model_.path));
  EXPECT_NE(node_->out().find(absl::StrCat("embedding model ", model_.model_id)), std::string::npos) << node_->out();
  EXPECT_NE(node_->out().find("not published yet"), std::string::npos) << node_->out();
  const auto& [same_png, same_vector] = model_.images[0];
  const auto& [half_png, half_vector] = model_.images[1];

  // Before the fingerprint is published: the image is banked without an embedding, and the answer says why.
  Response r = PostImage("/v1/signals/image", same_png);
  ASSERT_EQ(r.status, 201) << r.body;
  json::value v = json::parse(r.body);
  EXPECT_NE(json::value_to<std::string>(v.at("embedding_skipped")).find("no published fingerprint"), std::string::npos)
      << r.body;
  for (const json::value& t : v.at("signal_types").as_array()) EXPECT_NE(t, json::value("embedding")) << r.body;

  r = PostJson("/v1/models", Fingerprint(0.9999));
  ASSERT_EQ(r.status, 201) << r.body;

  // /v1/hash prints the vector, in the shape POST /v1/signals takes; it is numpy's.
  r = PostImage("/v1/hash", half_png);
  ASSERT_EQ(r.status, 200) << r.body;
  v = json::parse(r.body);
  EXPECT_FALSE(v.as_object().contains("embedding_skipped")) << r.body;
  const json::object& embedding = v.at("hashes").at("embedding").as_object();
  EXPECT_EQ(embedding.at("model_id"), json::value(model_.model_id));
  const json::array& got = embedding.at("vector").as_array();
  ASSERT_EQ(got.size(), half_vector.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i].to_number<double>(), half_vector[i], 1e-4 * std::max(1.0, std::abs(half_vector[i]))) << i;
  }

  // Banked from the image: the embedding is one of its signal types.
  r = PostImage("/v1/signals/image?labels=ndii", half_png);
  ASSERT_EQ(r.status, 201) << r.body;
  v = json::parse(r.body);
  const std::string id = json::value_to<std::string>(v.at("id"));
  bool listed = false;
  for (const json::value& t : v.at("signal_types").as_array()) listed = listed || t == json::value("embedding");
  EXPECT_TRUE(listed) << r.body;
  // The statistics count it (they said 0 embeddings whatever was banked, before session 12).
  auto stats = client_->Request("GET", "/v1/stats", "", {{"Authorization", "Bearer " + token_}});
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->status, 200) << stats->body;
  EXPECT_EQ(json::parse(stats->body).at("by_type").at("embedding"), json::value(1)) << stats->body;

  // Numpy's vector of that image finds it through /v1/match (salted at rest, matched by cosine).
  json::array numpy_vector;
  for (const double x : half_vector) numpy_vector.emplace_back(x);
  r = PostJson("/v1/match", json::object{{"embedding", json::object{{"model_id", model_.model_id},
                                                                    {"vector", numpy_vector}}},
                                         {"min_similarity", 0.9999}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(HasEmbeddingMatch(json::parse(r.body), id)) << r.body;

  // The image itself finds it through /v1/match/image (the fingerprint's threshold, 0.9999) ...
  r = PostImage("/v1/match/image", half_png);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(HasEmbeddingMatch(json::parse(r.body), id)) << r.body;
  // ... and another image of the set does not (its numpy cosine to this one is 0.998 or less).
  r = PostImage("/v1/match/image", model_.images[4].first);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(HasEmbeddingMatch(json::parse(r.body), id)) << r.body;
  // A label filter that the signal does not carry hides its embedding match.
  r = PostImage("/v1/match/image?labels=other", half_png);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(HasEmbeddingMatch(json::parse(r.body), id)) << r.body;

  // After a restart the model and its fingerprint are back (the fingerprint from the log).
  node_->Signal(SIGTERM);
  ASSERT_NO_FATAL_FAILURE(Start(model_.path));
  EXPECT_EQ(node_->out().find("not published yet"), std::string::npos) << node_->out();
  r = PostImage("/v1/match/image", half_png);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(HasEmbeddingMatch(json::parse(r.body), id)) << r.body;
}

// The first fingerprint of a model id is the model's everywhere: the node that runs the model refuses one
// that does not fit it, and images are still banked and matched by their other fingerprints meanwhile.
TEST_F(EmbeddingApiTest, AFingerprintThatDoesNotFitTheModelIsRefusedAndImagesStillCount) {
  ASSERT_NO_FATAL_FAILURE(Start(model_.path));
  json::object f = Fingerprint(0.9);
  f["dimension"] = 13;  // the model gives 12 numbers
  Response r = PostJson("/v1/models", f);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("gives 12 numbers"), std::string::npos) << r.body;
  f = Fingerprint(0.9);
  f["input_width"] = 0;  // no input size: this node could not run it
  r = PostJson("/v1/models", f);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("input_width"), std::string::npos) << r.body;
  // Another model's fingerprint is not this node's to judge.
  json::object other = Fingerprint(0.9);
  other["model_id"] = std::string(64, 'e');
  other["dimension"] = 13;
  EXPECT_EQ(PostJson("/v1/models", other).status, 201);

  r = PostImage("/v1/signals/image", model_.images[0].first);
  ASSERT_EQ(r.status, 201) << r.body;
  const json::value v = json::parse(r.body);
  EXPECT_NE(json::value_to<std::string>(v.at("embedding_skipped")).find("no published fingerprint"), std::string::npos)
      << r.body;
  r = PostImage("/v1/match/image", model_.images[0].first);
  ASSERT_EQ(r.status, 200) << r.body;  // the other fingerprints still match
  EXPECT_FALSE(json::parse(r.body).at("matches").as_array().empty()) << r.body;
  // The fitting fingerprint is still accepted afterwards.
  EXPECT_EQ(PostJson("/v1/models", Fingerprint(0.9)).status, 201);
}

TEST_F(EmbeddingApiTest, AFileThatIsNotAModelStopsTheStart) {
  const std::string bad = dir_.Write("not-a-model.onnx", "this is not a protobuf");
  const std::string config = dir_.Write(
      "hashbank.yaml", absl::StrCat("node:\n  id: embed-node\n  data_dir: data\nmatching:\n  embedding_model: ", bad, "\n"));
  auto child = NodeProcess::Start({"serve", "--config", config, "--listen", "127.0.0.1:0"}, dir_.File("serve.log"));
  ASSERT_TRUE(child.ok()) << child.status();
  const int status = (*child)->Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  const std::string log = ReadFileText(dir_.File("serve.log"));
  EXPECT_NE(log.find("matching.embedding_model: not an ONNX model OpenCV can run"), std::string::npos) << log;
  EXPECT_EQ(log.find("serving"), std::string::npos) << log;

  const std::string missing = dir_.File("missing.onnx");
  dir_.Write("hashbank.yaml", absl::StrCat("node:\n  id: embed-node\n  data_dir: data\nmatching:\n  embedding_model: ",
                                           missing, "\n"));
  child = NodeProcess::Start({"serve", "--config", config, "--listen", "127.0.0.1:0"}, dir_.File("serve2.log"));
  ASSERT_TRUE(child.ok()) << child.status();
  const int status2 = (*child)->Wait();
  EXPECT_TRUE(WIFEXITED(status2) && WEXITSTATUS(status2) == 1) << status2;
  EXPECT_NE(ReadFileText(dir_.File("serve2.log")).find("matching.embedding_model: "), std::string::npos);
}

}  // namespace
}  // namespace hashbank
