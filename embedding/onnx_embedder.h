// OnnxEmbedder: an image embedding model — an ONNX file — run in process on the CPU with OpenCV's DNN module
// (Debian's libopencv-dnn). The node computes embeddings itself when `matching.embedding_model` names a file.
//
// The model's identity is the SHA-256 of the file's bytes (its model_id, as a ModelFingerprint publishes it).
// Its input is one float tensor 1 x 3 x H x W (NCHW) made from an RgbImage of exactly W x H by the
// fingerprint's preprocessing (EmbeddingPreprocessing): value = (sample / 255 - mean[c]) / std[c], channels in
// the fingerprint's colour order. Its output is what cv::dnn::Net::forward() returns — the first output of
// the network's last layer — flattened: it must hold exactly `dimension` finite numbers (export a model with
// one output). The vector is returned as the model gives it (the bank normalises and salts it).
//
// Ownership: keeps the file's bytes (each concurrent caller gets a network of its own, read from them) and
// the networks it made, at most one per thread that ever called Embed at once.
// Thread-safety: thread-safe. A cv::dnn::Net is not safe for concurrent forward passes, so Embed takes a
// network from a pool (pool_mu_) and runs it outside the lock. Load sets OpenCV to one thread per forward
// pass (cv::setNumThreads(1), process-wide): the node's worker threads are the parallelism.
// Errors (never an exception):
//   Load:  NotFound / PermissionDenied / FailedPrecondition for the file (as ReadFileBounded); ResourceExhausted
//          when larger than max_file_bytes; InvalidArgument when OpenCV cannot read it as an ONNX model (the
//          message gives OpenCV's reason, never the path).
//   Embed: InvalidArgument when the preprocessing is not one this code runs (CheckPreprocessing) or the image
//          is not its size; FailedPrecondition when the model fails on the input or its output does not have
//          `dimension` finite numbers (a model that does not fit its published fingerprint).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "hashing/image_decoder.h"

namespace hashbank {

// Largest model file Load reads (protobuf's own limit is 2 GiB).
inline constexpr size_t kMaxModelFileBytes = size_t{1} << 30;
// Largest input side a fingerprint may ask for (the tensor is W x H x 3 floats).
inline constexpr int kMaxModelInputSide = 2048;

// How an image becomes the model's input, from the model's published fingerprint.
struct EmbeddingPreprocessing {
  int width = 0;              // input_width
  int height = 0;             // input_height
  bool bgr = false;           // colour_order "BGR": channel 0 of the tensor is blue
  std::vector<float> mean = {};  // 0 values: 0; 1: every channel; 3: per channel, in the tensor's order
  std::vector<float> std = {};   // 0 values: 1; 1: every channel; 3: per channel; never 0
  uint32_t dimension = 0;     // numbers in the output
};

// OK when Embed can run `pre`; InvalidArgument naming what does not fit otherwise (sizes 1..kMaxModelInputSide,
// 0/1/3 means and stds, no zero or non-finite std, a dimension).
absl::Status CheckPreprocessing(const EmbeddingPreprocessing& pre);

// The input tensor's values, NCHW (channel planes one after the other), as Embed feeds them.
std::vector<float> ModelInputTensor(const RgbImage& image, const EmbeddingPreprocessing& pre);

class OnnxEmbedder {
 public:
  static absl::StatusOr<std::unique_ptr<OnnxEmbedder>> Load(const std::string& path,
                                                           size_t max_file_bytes = kMaxModelFileBytes);
  ~OnnxEmbedder();
  OnnxEmbedder(const OnnxEmbedder&) = delete;
  OnnxEmbedder& operator=(const OnnxEmbedder&) = delete;

  // SHA-256 of the file, 64 lowercase hex.
  const std::string& model_id() const { return model_id_; }
  size_t file_bytes() const { return bytes_.size(); }

  // The model's output for `image` (exactly pre.width x pre.height).
  absl::StatusOr<std::vector<float>> Embed(const RgbImage& image, const EmbeddingPreprocessing& pre) const
      ABSL_LOCKS_EXCLUDED(pool_mu_);

 private:
  struct NetSlot;  // one cv::dnn::Net (onnx_embedder.cc)
  OnnxEmbedder(std::string bytes, std::string model_id);
  absl::StatusOr<std::unique_ptr<NetSlot>> NewNet() const;

  const std::string bytes_;
  const std::string model_id_;
  mutable absl::Mutex pool_mu_;
  mutable std::vector<std::unique_ptr<NetSlot>> idle_ ABSL_GUARDED_BY(pool_mu_);
};

}  // namespace hashbank
