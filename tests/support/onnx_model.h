// MakeTestModel: a small image-embedding ONNX model, test images and their expected embeddings, made by
// tests/support/make_onnx_model.py with Debian's python3-onnx and numpy (an oracle independent of OpenCV and of
// the node's code: its own PNG writer, resampling and float64 forward pass).
//
// Ownership: the files are written into `dir` (a TempDir the caller owns). Thread-safety: none needed (runs a
// child process and reads its output). Errors: Internal when the script fails or its output is malformed
// (the message says which); a test ASSERTs on it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace hashbank::testing {

struct TestModel {
  std::string path;      // model.onnx
  std::string model_id;  // the script's SHA-256 of it
  // (image path, expected embedding) per test image: same size as the input, downscaled by 2, uneven
  // downscale, stretched, smaller than the input, grey.
  std::vector<std::pair<std::string, std::vector<double>>> images;
};

// `args`: extra arguments for the script (e.g. "--bgr --mean 0.5,0.4,0.3 --std 0.2 --dimension 20").
absl::StatusOr<TestModel> MakeTestModel(const std::string& dir, const std::string& args = "");

}  // namespace hashbank::testing
