// docs/api/openapi.yaml against the real `hashbank serve`: tools/openapi/contract.mjs (Node.js, with the
// pinned Ajv and yaml of tools/openapi) calls every documented operation with its documented example request
// and checks what comes back against the document — status, Content-Type and JSON body — plus 401 without a
// token, 403 for a role an operation does not list, 405 for an unlisted method and HEAD with no body (the
// script's header lists each check). The node is a federation member (node init; a second member eu-2 that is
// not running), so the federation routes answer as they do in production.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "tests/support/browser_script.h"
#include "tests/support/node_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

namespace json = boost::json;
using testing::NodeProcess;

int RunCommand(const std::vector<std::string>& args, const std::string& log) {
  auto child = NodeProcess::Start(args, log);
  if (!child.ok()) return -1;
  return testing::ExitCode((*child)->Wait());
}

TEST(OpenApiContractTest, EveryDocumentedOperationAnswersItsExampleAsDocumented) {
  testing::TempDir dir("hashbank-contract");
  const std::string root = dir.path().string();
  const std::string log = root + "/node.log";
  ASSERT_EQ(RunCommand({"ca", "init", "--dir", root + "/ca"}, log), 0) << testing::ReadFileText(log);
  for (const char* id : {"eu-1", "eu-2"}) {
    ASSERT_EQ(RunCommand({"node", "init", "--ca", root + "/ca", "--id", id, "--host", "localhost", "--out", root + "/" + id}, log), 0)
        << testing::ReadFileText(log);
  }
  const json::object card_a = json::parse(testing::ReadFileText(root + "/eu-1/card.json")).as_object();
  const json::object card_b = json::parse(testing::ReadFileText(root + "/eu-2/card.json")).as_object();
  // eu-2 never runs: its peer URL is a closed port (sync errors are counted, nothing else changes).
  std::string config = testing::ReadFileText(root + "/eu-1/hashbank.yaml");
  absl::StrAppend(&config, "federation:\n  members:\n",
                  "    - {id: eu-1, public_key: \"", std::string(card_a.at("ed25519_public_key").as_string()), "\"}\n",
                  "    - {id: eu-2, public_key: \"", std::string(card_b.at("ed25519_public_key").as_string()), "\"}\n",
                  "  peers:\n    - {id: eu-2, url: \"https://localhost:1\"}\n");
  std::ofstream(root + "/eu-1/hashbank.yaml", std::ios::trunc) << config;

  auto node = NodeProcess::Start({"serve", "--config", root + "/eu-1/hashbank.yaml", "--listen", "127.0.0.1:0"}, log);
  ASSERT_TRUE(node.ok()) << node.status();
  auto port = (*node)->ServingPort(std::chrono::seconds(60));
  ASSERT_TRUE(port.ok()) << port.status() << "\n" << testing::ReadFileText(log);
  std::string token = testing::ReadFileText(root + "/eu-1/admin.token");
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  std::filesystem::create_directories(root + "/scratch");

  const std::string source = testing::SourceDir();
  const json::object cfg{{"url", absl::StrCat("https://127.0.0.1:", *port)},
                         {"ca", root + "/eu-1/tls/ca.pem"},
                         {"token", token},
                         {"spec", source + "/docs/api/openapi.yaml"},
                         {"image", testing::DataPath("pdq-reference/images/reg-test-input/dih/bridge-1-original.jpg")},
                         {"video", testing::DataPath("vpdq-reference/videos/test-padded-dimensions.mp4")},
                         {"tmp", root + "/scratch"}};
  auto r = testing::RunNodeScript(source + "/tools/openapi", "contract.mjs", json::serialize(cfg), 240);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->output << "\nnode log:\n" << testing::ReadFileText(log);
  EXPECT_NE(r->output.find("contract: all checks passed"), std::string::npos) << r->output;
  std::cout << r->output;  // the counts, in ctest's log
}

}  // namespace
}  // namespace hashbank
