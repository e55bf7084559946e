// OnnxEmbedder against an independent computation: a small ONNX model made by make_onnx_model.py, whose
// expected embeddings come from numpy (its own PNG writer, resampling and float64 forward pass).
#include "embedding/onnx_embedder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "hashing/image_hasher.h"
#include "tests/support/onnx_model.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

using testing::MakeTestModel;
using testing::ReadFileBytes;
using testing::TempDir;
using testing::TestModel;

// Float32 inference against a float64 oracle: agreement to 1e-4 of the value's scale.
void ExpectClose(const std::vector<float>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-4 * std::max(1.0, std::abs(want[i]))) << what << " [" << i << "]";
  }
}

absl::StatusOr<std::vector<float>> EmbedFile(const OnnxEmbedder& embedder, const std::string& path,
                                            const EmbeddingPreprocessing& pre) {
  ImageHasher hasher;
  absl::StatusOr<ImageHashes> h = hasher.HashBytes(
      ReadFileBytes(path), HashOptions{.model_input_width = pre.width, .model_input_height = pre.height});
  if (!h.ok()) return h.status();
  return embedder.Embed(h->model_input, pre);
}

TEST(OnnxEmbedderTest, VectorsAgreeWithAnIndependentComputation) {
  TempDir dir("hashbank-onnx");
  absl::StatusOr<TestModel> model = MakeTestModel(dir.path().string());
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<std::unique_ptr<OnnxEmbedder>> embedder = OnnxEmbedder::Load(model->path);
  ASSERT_TRUE(embedder.ok()) << embedder.status();
  EXPECT_EQ((*embedder)->model_id(), model->model_id);  // OpenSSL's SHA-256 and Python's hashlib
  const EmbeddingPreprocessing pre{.width = 32, .height = 24, .dimension = 12};
  ASSERT_EQ(model->images.size(), 6u);
  for (const auto& [path, want] : model->images) {
    absl::StatusOr<std::vector<float>> got = EmbedFile(**embedder, path, pre);
    ASSERT_TRUE(got.ok()) << path << ": " << got.status();
    ExpectClose(*got, want, path);
  }
  // The images differ, and so do their embeddings (the check above could tell them apart).
  EXPECT_GT(std::abs(model->images[0].second[0] - model->images[4].second[0]), 1e-3);
}

TEST(OnnxEmbedderTest, ColourOrderMeanAndStdComeFromThePreprocessing) {
  TempDir dir("hashbank-onnx");
  absl::StatusOr<TestModel> model = MakeTestModel(
      dir.path().string(), "--bgr --mean 0.5,0.4,0.3 --std 0.25,0.5,0.2 --dimension 20 --width 40 --height 40 --seed 3");
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<std::unique_ptr<OnnxEmbedder>> embedder = OnnxEmbedder::Load(model->path);
  ASSERT_TRUE(embedder.ok()) << embedder.status();
  const EmbeddingPreprocessing pre{.width = 40, .height = 40, .bgr = true, .mean = {0.5f, 0.4f, 0.3f},
                                   .std = {0.25f, 0.5f, 0.2f}, .dimension = 20};
  for (const auto& [path, want] : model->images) {
    absl::StatusOr<std::vector<float>> got = EmbedFile(**embedder, path, pre);
    ASSERT_TRUE(got.ok()) << path << ": " << got.status();
    ExpectClose(*got, want, path);
  }
  // The same image in RGB order gives another vector: the order is applied, not ignored.
  EmbeddingPreprocessing rgb = pre;
  rgb.bgr = false;
  absl::StatusOr<std::vector<float>> other = EmbedFile(**embedder, model->images[0].first, rgb);
  ASSERT_TRUE(other.ok());
  double diff = 0;
  for (size_t i = 0; i < other->size(); ++i) diff += std::abs((*other)[i] - model->images[0].second[i]);
  EXPECT_GT(diff, 1e-2);
}

TEST(OnnxEmbedderTest, AModelThatDoesNotFitItsFingerprintIsRefused) {
  TempDir dir("hashbank-onnx");
  absl::StatusOr<TestModel> model = MakeTestModel(dir.path().string());
  ASSERT_TRUE(model.ok()) << model.status();
  auto embedder = OnnxEmbedder::Load(model->path);
  ASSERT_TRUE(embedder.ok());
  absl::StatusOr<std::vector<float>> wrong =
      EmbedFile(**embedder, model->images[0].first, {.width = 32, .height = 24, .dimension = 13});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong.status().message().find("gives 12 numbers"), std::string::npos) << wrong.status();
  // An image of another size than the preprocessing's.
  RgbImage small{.width = 2, .height = 2, .pixels = std::vector<uint8_t>(12, 9)};
  EXPECT_EQ((*embedder)->Embed(small, {.width = 32, .height = 24, .dimension = 12}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // It still serves after the failures.
  EXPECT_TRUE(EmbedFile(**embedder, model->images[0].first, {.width = 32, .height = 24, .dimension = 12}).ok());
}

TEST(OnnxEmbedderTest, FilesThatAreNotModelsAreRefusedAtLoad) {
  TempDir dir("hashbank-onnx");
  absl::StatusOr<TestModel> model = MakeTestModel(dir.path().string());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(OnnxEmbedder::Load(dir.File("missing.onnx")).status().code(), absl::StatusCode::kNotFound);
  const std::string text = dir.Write("text.onnx", "name: not a model\n");
  absl::Status s = OnnxEmbedder::Load(text).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message().find(text), std::string::npos) << "the path is not in the message: " << s;
  const std::vector<uint8_t> bytes = ReadFileBytes(model->path);
  const std::string half =
      dir.Write("half.onnx", std::string(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2)));
  EXPECT_EQ(OnnxEmbedder::Load(half).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OnnxEmbedder::Load(model->path, 100).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(OnnxEmbedder::Load(dir.path().string()).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(OnnxEmbedderTest, PreprocessingThisNodeCannotRunIsNamed) {
  EXPECT_TRUE(CheckPreprocessing({.width = 224, .height = 224, .mean = {0.5f}, .std = {0.5f}, .dimension = 512}).ok());
  const auto message = [](const EmbeddingPreprocessing& p) { return std::string(CheckPreprocessing(p).message()); };
  EXPECT_NE(message({.width = 0, .height = 224, .dimension = 8}).find("input_width"), std::string::npos);
  EXPECT_NE(message({.width = 4096, .height = 224, .dimension = 8}).find("2048"), std::string::npos);
  EXPECT_NE(message({.width = 8, .height = 8, .mean = {1, 2, 3, 4}, .dimension = 8}).find("mean has 4"),
            std::string::npos);
  EXPECT_NE(message({.width = 8, .height = 8, .std = {1, 0, 1}, .dimension = 8}).find("zero"), std::string::npos);
  EXPECT_NE(message({.width = 8, .height = 8, .std = {NAN}, .dimension = 8}).find("finite"), std::string::npos);
  EXPECT_NE(message({.width = 8, .height = 8}).find("dimension"), std::string::npos);
}

TEST(OnnxEmbedderTest, ConcurrentCallersGetTheSameVectors) {
  TempDir dir("hashbank-onnx");
  absl::StatusOr<TestModel> model = MakeTestModel(dir.path().string());
  ASSERT_TRUE(model.ok()) << model.status();
  auto embedder = OnnxEmbedder::Load(model->path);
  ASSERT_TRUE(embedder.ok());
  const EmbeddingPreprocessing pre{.width = 32, .height = 24, .dimension = 12};
  std::vector<std::vector<float>> alone;
  for (const auto& [path, want] : model->images) {
    absl::StatusOr<std::vector<float>> v = EmbedFile(**embedder, path, pre);
    ASSERT_TRUE(v.ok()) << v.status();
    alone.push_back(*std::move(v));
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round) {
        for (size_t i = 0; i < model->images.size(); ++i) {
          absl::StatusOr<std::vector<float>> got = EmbedFile(**embedder, model->images[i].first, pre);
          if (!got.ok() || *got != alone[i]) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t t = 0; t < mismatches.size(); ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace hashbank
