#include "tests/support/onnx_model.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hashbank::testing {

absl::StatusOr<TestModel> MakeTestModel(const std::string& dir, const std::string& args) {
  // Debian's python (python3-onnx is a Debian package), never one from PATH.
  const std::string command = absl::StrCat("/usr/bin/python3 '", HASHBANK_SOURCE_DIR,
                                           "/tests/support/make_onnx_model.py' --out '", dir, "' ", args);
  if (const int rc = std::system(command.c_str()); rc != 0) {
    return absl::InternalError(absl::StrCat("make_onnx_model.py failed (", rc, "); is python3-onnx installed?"));
  }
  std::ifstream in(dir + "/expected.txt");
  if (!in) return absl::InternalError("make_onnx_model.py wrote no expected.txt");
  TestModel model;
  model.path = dir + "/model.onnx";
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string kind;
    row >> kind;
    if (kind == "model_id") {
      row >> model.model_id;
    } else if (kind == "image") {
      std::string file;
      size_t n = 0;
      row >> file >> n;
      std::vector<double> v(n);
      for (double& x : v) row >> x;
      if (!row) return absl::InternalError(absl::StrCat("expected.txt: malformed line for ", file));
      model.images.emplace_back(dir + "/" + file, std::move(v));
    }
  }
  if (model.model_id.size() != 64 || model.images.empty()) return absl::InternalError("expected.txt: incomplete");
  return model;
}

}  // namespace hashbank::testing
