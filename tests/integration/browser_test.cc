// The browser SDK in a real headless chromium (Debian's, driven by playwright-core) against a real
// `hashbank serve`: tests/browser/sdk_parity.mjs checks that the SDK's hashes, in the browser and in Node.js,
// equal `hashbank hash --json --dihedral` on every reference image and the hard cases (CMYK, alpha, grey,
// 16-bit, palette, EXIF, progressive, tiny, panorama, truncated, unsupported) and on videos (the vPDQ
// reference's samples, clips in every codec the node takes but AV1), that hashing makes no request,
// and that an oversized file gets the C++ message. The case page and the dashboard run in federation_test.cc
// (BrowserCaseFlow...), against three nodes.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "tests/support/browser_script.h"
#include "tests/support/node_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;
using testing::NodeProcess;

TEST(BrowserSdkTest, HashesInChromiumAndNodeJsEqualTheCppHasherOnEveryTestImageAndVideoAndNoRequestIsMadeWhileHashing) {
  testing::TempDir dir("hashbank-browser");
  const std::string data = dir.path().string() + "/data";
  auto node = NodeProcess::Start({"serve", "--data-dir", data, "--listen", "127.0.0.1:0"}, dir.path().string() + "/node.log");
  ASSERT_TRUE(node.ok()) << node.status();
  auto port = (*node)->ServingPort();
  ASSERT_TRUE(port.ok()) << port.status();

  boost::json::array images;
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(testing::DataPath("pdq-reference/images"))) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".jpg" || ext == ".png")) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 20u);
  for (const std::string& f : files) images.emplace_back(f);
  boost::json::array videos;
  for (const char* f : {"vpdq-reference/videos/doorknob-hd-no-bar.mp4", "vpdq-reference/videos/pattern-sd-grey-bar.mp4"}) {
    videos.emplace_back(testing::DataPath(f));
  }
  // Screenshots and generated images stay after the run (not in the source tree), for a person to look at.
  const std::string work = (fs::temp_directory_path() / "hashbank-browser-tests" / "sdk").string();
  const boost::json::object cfg{{"url", "https://127.0.0.1:" + std::to_string(*port)},
                                {"bin", testing::HashbankBinary()},
                                {"images", images},
                                {"videos", videos},
                                {"work", work}};
  auto r = testing::RunBrowserScript("sdk_parity.mjs", boost::json::serialize(cfg), 240);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->output;
  EXPECT_NE(r->output.find("all checks passed"), std::string::npos) << r->output;
  std::cout << r->output;
}

}  // namespace
}  // namespace hashbank
