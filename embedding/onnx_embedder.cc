#include "embedding/onnx_embedder.h"

#include <cmath>
#include <exception>
#include <utility>

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/file_io.h"
#include "crypto/sha256.h"

namespace hashbank {

struct OnnxEmbedder::NetSlot {
  cv::dnn::Net net;
};

namespace {

// OpenCV's exception text, first line only and at most 300 bytes (it can quote the model's layer names).
std::string Reason(const std::exception& e) {
  std::string what = e.what();
  if (const auto* cv_error = dynamic_cast<const cv::Exception*>(&e)) what = cv_error->err;
  if (const size_t nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
  if (what.size() > 300) what.resize(300);
  return what;
}

float ChannelValue(const std::vector<float>& values, int c, float fallback) {
  if (values.empty()) return fallback;
  return values.size() == 1 ? values[0] : values[static_cast<size_t>(c)];
}

}  // namespace

absl::Status CheckPreprocessing(const EmbeddingPreprocessing& pre) {
  if (pre.width < 1 || pre.height < 1) {
    return absl::InvalidArgumentError("the model's fingerprint gives no input_width and input_height");
  }
  if (pre.width > kMaxModelInputSide || pre.height > kMaxModelInputSide) {
    return absl::InvalidArgumentError(absl::StrCat("input ", pre.width, "x", pre.height, " is over this node's ",
                                                   kMaxModelInputSide, " a side"));
  }
  if (pre.dimension == 0) return absl::InvalidArgumentError("the model's fingerprint gives no dimension");
  for (const auto& [name, values] : {std::pair<const char*, const std::vector<float>*>{"mean", &pre.mean},
                                     std::pair<const char*, const std::vector<float>*>{"std", &pre.std}}) {
    if (values->size() != 0 && values->size() != 1 && values->size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(name, " has ", values->size(),
                                                     " values; this node feeds 3 channels (0, 1 or 3 values)"));
    }
    for (const float v : *values) {
      if (!std::isfinite(v)) return absl::InvalidArgumentError(absl::StrCat(name, " has a value that is not finite"));
    }
  }
  for (const float v : pre.std) {
    if (v == 0.0f) return absl::InvalidArgumentError("std has a zero value");
  }
  return absl::OkStatus();
}

std::vector<float> ModelInputTensor(const RgbImage& image, const EmbeddingPreprocessing& pre) {
  const size_t plane = static_cast<size_t>(image.width) * static_cast<size_t>(image.height);
  std::vector<float> out(plane * 3);
  for (int c = 0; c < 3; ++c) {
    const int source = pre.bgr ? 2 - c : c;  // the tensor's channel c is this sample of R, G, B
    const float mean = ChannelValue(pre.mean, c, 0.0f);
    const float std = ChannelValue(pre.std, c, 1.0f);
    float* dst = out.data() + static_cast<size_t>(c) * plane;
    for (size_t i = 0; i < plane; ++i) {
      dst[i] = (static_cast<float>(image.pixels[3 * i + static_cast<size_t>(source)]) / 255.0f - mean) / std;
    }
  }
  return out;
}

OnnxEmbedder::OnnxEmbedder(std::string bytes, std::string model_id)
    : bytes_(std::move(bytes)), model_id_(std::move(model_id)) {}

OnnxEmbedder::~OnnxEmbedder() = default;

absl::StatusOr<std::unique_ptr<OnnxEmbedder::NetSlot>> OnnxEmbedder::NewNet() const {
  try {
    auto slot = std::make_unique<NetSlot>();
    slot->net = cv::dnn::readNetFromONNX(bytes_.data(), bytes_.size());
    if (slot->net.empty()) return absl::InvalidArgumentError("not an ONNX model OpenCV can run: no layers");
    slot->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    slot->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    return slot;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not an ONNX model OpenCV can run: ", Reason(e)));
  }
}

absl::StatusOr<std::unique_ptr<OnnxEmbedder>> OnnxEmbedder::Load(const std::string& path, size_t max_file_bytes) {
  std::string bytes;
  if (absl::Status s = ReadFileBounded(path, max_file_bytes, &bytes); !s.ok()) return s;
  const Sha256Hash digest = Sha256(bytes);
  std::string id = absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
  cv::setNumThreads(1);
  std::unique_ptr<OnnxEmbedder> embedder(new OnnxEmbedder(std::move(bytes), std::move(id)));
  // Parsed once here so that a file OpenCV cannot read stops the start, not the first request.
  absl::StatusOr<std::unique_ptr<NetSlot>> first = embedder->NewNet();
  if (!first.ok()) return first.status();
  {
    absl::MutexLock lock(&embedder->pool_mu_);
    embedder->idle_.push_back(std::move(*first));
  }
  return embedder;
}

absl::StatusOr<std::vector<float>> OnnxEmbedder::Embed(const RgbImage& image, const EmbeddingPreprocessing& pre) const {
  if (absl::Status s = CheckPreprocessing(pre); !s.ok()) return s;
  if (image.width != pre.width || image.height != pre.height ||
      image.pixels.size() != static_cast<size_t>(image.width) * static_cast<size_t>(image.height) * 3) {
    return absl::InvalidArgumentError(absl::StrCat("the model's input is ", pre.width, "x", pre.height,
                                                   ", the image ", image.width, "x", image.height));
  }
  std::unique_ptr<NetSlot> slot;
  {
    absl::MutexLock lock(&pool_mu_);
    if (!idle_.empty()) {
      slot = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!slot) {
    absl::StatusOr<std::unique_ptr<NetSlot>> made = NewNet();
    if (!made.ok()) return absl::FailedPreconditionError(std::string(made.status().message()));
    slot = std::move(*made);
  }
  std::vector<float> tensor = ModelInputTensor(image, pre);
  absl::StatusOr<std::vector<float>> result;
  try {
    const int shape[] = {1, 3, pre.height, pre.width};
    const cv::Mat blob(4, shape, CV_32F, tensor.data());
    slot->net.setInput(blob);
    cv::Mat output = slot->net.forward();
    if (!output.isContinuous()) output = output.clone();
    if (output.depth() != CV_32F) {
      result = absl::FailedPreconditionError("the model's output is not 32-bit float");
    } else if (const size_t numbers = output.total() * static_cast<size_t>(output.channels());
               numbers != pre.dimension) {
      result = absl::FailedPreconditionError(
          absl::StrCat("the model gives ", numbers, " numbers; its fingerprint says ", pre.dimension));
    } else {
      const float* p = output.ptr<float>();
      std::vector<float> v(p, p + pre.dimension);
      bool finite = true;
      for (const float x : v) finite = finite && std::isfinite(x);
      if (finite) {
        result = std::move(v);
      } else {
        result = absl::FailedPreconditionError("the model's output has a number that is not finite");
      }
    }
  } catch (const std::exception& e) {
    result = absl::FailedPreconditionError(absl::StrCat("the model failed on the input: ", Reason(e)));
  }
  {
    absl::MutexLock lock(&pool_mu_);
    idle_.push_back(std::move(slot));
  }
  return result;
}

}  // namespace hashbank
