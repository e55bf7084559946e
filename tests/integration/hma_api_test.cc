// HMA compatibility: HMA 1.1.7's own API tests (facebook/ThreatExchange, hasher-matcher-actioner/src/
// OpenMediaMatch/tests: test_api.py, test_api_banks.py, test_match_api.py, test_e2e_workflow.py), replayed
// request by request against the real `hashbank serve` binary over TLS, with their assertions, field by field.
// Where HMA's test fetches a URL (`?url=`), the same image is uploaded as multipart/form-data (a node does not
// fetch URLs: docs/hma-compatibility.md). Expected values come from HMA's tests and sources (the example
// hashes, the ids 1, 2, 16, the messages), never from this node's output.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "tests/support/https_client.h"
#include "tests/support/node_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

namespace json = boost::json;
using ::hashbank::testing::HttpsClient;
using ::hashbank::testing::NodeProcess;
using ::hashbank::testing::Response;

// PdqSignal.get_examples() of python-threatexchange, in order: HMA's e2e test adds them as contents 1..16.
const std::vector<std::string> kPdqExamples = {
    "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
    "f8f8f0cee0f4a84f06370a2a038f63f0b36e26d596621e1d33e6b39c4e9c9b22",
    "f8f8f0cee0f4a84f0637022a038f67f0b36e26d596621e1d33e6b39c4e9c9b22",
    "f8f8f0cee0f4a84f06370a2a068f67f0b36e26d596621e1d33e6339c4e9c9b22",
    "f8f8f0cee0f4a84f06370a22038f67f0b36e2ed596221e1d33e6b39c4e9c9b22",
    "f8f8f0cee0f4a84f0e370a22038f67f0b36e2ed596221e1d33e6b39c4a9c9b22",
    "d8f8f0cec0f4a84f8e370a22038f67f0b36a2ed597231e1d72e6b39c4a9c9b22",
    "f8f8f0cee0f4a84f06370a22038f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "d0f8f1ccc0f4a84d0a370a3a228f67f0b36e2ed5b6623e1d33e6339c4e9c9b22",
    "d8f8f1eec0f4a84f0e37022a078f63f0b36e2ed596621e1d33e6239c4e9c9b22",
    "d8f8f0cec4f4a84f0637022a078f67f0b36e2ee5b6621e1d33e6239c4e9c9b22",
    "d8f8f0cec0f4a84f0637022a278f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "e64cc9d91c623882f8d1f1d9a398e78c9f199b3bd83924f2b7e11e0bf861b064",
    "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d",
    "c186f9619659658c4b6916daf934496985f4259c72c39676ab9edb631c3c349c",
    "62c9789627838f69f23cf98c29e37836d61c87c31c59587c4b49a783f496725c",
};
// VideoMD5Signal.get_examples().
constexpr char kMd5Example[] = "cab08b36195edb1a1231d2d09fa450e0";
// Two of the PDQ reference's images (their PDQ hashes are > 31 apart, as HMA's two test images are).
constexpr char kImage1[] = "pdq-reference/images/reg-test-input/dih/bridge-1-original.jpg";
constexpr char kImage2[] = "pdq-reference/images/reg-test-input/dih/bridge-2-rotate-90.jpg";
// The reference's PDQ of kImage1 (tests/data/pdq-reference: the reference tool's output).
constexpr char kImage1Pdq[] = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";

class HmaApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<testing::TempDir>("hashbank-hma");
    const std::string data = dir_->path().string() + "/data";
    auto node = NodeProcess::Start({"serve", "--data-dir", data, "--listen", "127.0.0.1:0"}, dir_->path().string() + "/node.log");
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = std::move(*node);
    const absl::StatusOr<uint16_t> port = node_->ServingPort(std::chrono::seconds(60));
    ASSERT_TRUE(port.ok()) << port.status() << "\n" << testing::ReadFileText(dir_->path().string() + "/node.log");
    token_ = testing::ReadFileText(data + "/admin.token");
    while (!token_.empty() && (token_.back() == '\n' || token_.back() == '\r')) token_.pop_back();
    client_ = std::make_unique<HttpsClient>("127.0.0.1", *port, data + "/tls/ca.pem");
  }

  Response Call(const std::string& method, const std::string& target, const std::string& body = "",
                const std::string& content_type = "", bool auth = true) {
    std::map<std::string, std::string> headers;
    if (auth) headers["Authorization"] = "Bearer " + token_;
    if (!content_type.empty()) headers["Content-Type"] = content_type;
    auto r = client_->Request(method, target, body, headers);
    if (!r.ok()) {
      ADD_FAILURE() << method << " " << target << ": " << r.status();
      return Response{};
    }
    return *r;
  }
  Response Json(const std::string& method, const std::string& target, const json::value& body) {
    return Call(method, target, json::serialize(body), "application/json");
  }
  // A multipart/form-data body with one file under `field` and extra plain fields.
  Response Upload(const std::string& target, const std::string& field, const std::string& bytes,
                  const std::vector<std::pair<std::string, std::string>>& fields = {}) {
    const std::string b = "hmaTestBoundary7MA4YWxkTrZu0gW";
    std::string body;
    for (const auto& [name, value] : fields) {
      body += "--" + b + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
    }
    body += "--" + b + "\r\nContent-Disposition: form-data; name=\"" + field + "\"; filename=\"upload.bin\"\r\n" +
            "Content-Type: application/octet-stream\r\n\r\n" + bytes + "\r\n--" + b + "--\r\n";
    return Call("POST", target, body, "multipart/form-data; boundary=" + b);
  }
  static json::value Body(const Response& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (ec) {
      ADD_FAILURE() << "not JSON (status " << r.status << "): " << r.body;
      return nullptr;
    }
    return v;
  }
  void CreateBank(const std::string& name) {
    const Response r = Json("POST", "/c/banks", json::object{{"name", name}});
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(Body(r), (json::value(json::object{{"matching_enabled_ratio", 1.0}, {"name", name}})));
  }
  static std::string Image(const char* path) { return testing::ReadFileText(testing::DataPath(path)); }

  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<NodeProcess> node_;
  std::unique_ptr<HttpsClient> client_;
  std::string token_;
};

// test_api.py: test_status_response (first step), test_status_live_always_alive.
TEST_F(HmaApiTest, StatusAndLiveAnswerIAmAlive) {
  for (const char* path : {"/status", "/status/live"}) {
    const Response r = Call("GET", path, "", "", /*auth=*/false);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "I-AM-ALIVE");
  }
}

// test_api.py: test_compare_hashes.
TEST_F(HmaApiTest, CompareGivesDistanceAndRejectsMalformedInput) {
  const std::string a = "facd8bcb2a49bcebdec1985298d5fe84bcd006c187c598c720c3c087b3fdb318";
  const std::string b = "facd8bcb2a49bcebdec1985228d5ae84bcd006c187c598c720c2b087b3fdb318";
  const Response r = Json("POST", "/m/compare", json::object{{"pdq", json::array{a, b}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), json::parse(R"({"pdq": [true, {"distance": 9}]})"));
  for (const char* bad : {R"(["banana"])", R"({"pdq": "banana"})", R"({"pdq": []})", R"({"pdq": ["banana", "banana"]})"}) {
    EXPECT_EQ(Call("POST", "/m/compare", bad, "application/json").status, 400) << bad;
  }
  EXPECT_EQ(Json("POST", "/m/compare", json::object{{"pdq", json::array{a, b, a}}}).status, 400);
}

// test_api_banks.py: test_banks_empty_index, test_banks_create, test_banks_update, test_banks_delete.
TEST_F(HmaApiTest, BanksAreCreatedValidatedUpdatedAndDeletedAsInHma) {
  Response r = Call("GET", "/c/banks");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r), json::array{});
  EXPECT_EQ(Json("POST", "/c/banks", json::object{{"name", "01_TEST_BANK"}}).status, 400);
  EXPECT_EQ(Json("POST", "/c/banks", json::object{{"name", "my_test_bank"}}).status, 400);
  ASSERT_NO_FATAL_FAILURE(CreateBank("MY_TEST_BANK_01"));
  r = Call("GET", "/c/banks");
  EXPECT_EQ(Body(r), json::parse(R"([{"matching_enabled_ratio": 1.0, "name": "MY_TEST_BANK_01"}])"));
  // Duplicate: HMA's 403.
  r = Json("POST", "/c/banks", json::object{{"name", "MY_TEST_BANK_01"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Body(r), json::parse(R"({"message": "Bank already exists"})"));

  ASSERT_NO_FATAL_FAILURE(CreateBank("MY_TEST_BANK"));
  EXPECT_EQ(Json("PUT", "/c/bank/MY_TEST_BANK", json::object{{"name", "1_invalid_name"}}).status, 400);
  r = Json("PUT", "/c/bank/MY_TEST_BANK", json::object{{"name", "MY_TEST_BANK_RENAMED"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r).at("name"), "MY_TEST_BANK_RENAMED");
  r = Json("PUT", "/c/bank/MY_TEST_BANK_RENAMED", json::object{{"enabled", false}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r).at("matching_enabled_ratio").to_number<double>(), 0.0);
  r = Json("PUT", "/c/bank/MY_TEST_BANK_RENAMED", json::object{{"enabled_ratio", 0.5}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r).at("matching_enabled_ratio").to_number<double>(), 0.5);
  r = Call("GET", "/c/bank/MY_TEST_BANK_RENAMED");
  EXPECT_EQ(Body(r), json::parse(R"({"name": "MY_TEST_BANK_RENAMED", "matching_enabled_ratio": 0.5})"));
  EXPECT_EQ(Call("GET", "/c/bank/MY_TEST_BANK").status, 404);

  EXPECT_EQ(Call("DELETE", "/c/bank/MY_TEST_BANK_RENAMED").status, 200);
  r = Call("DELETE", "/c/bank/MY_TEST_BANK_RENAMED");  // again: HMA answers Done too
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Body(r), json::parse(R"({"message": "Done"})"));
  EXPECT_EQ(Body(Call("GET", "/c/banks")), json::parse(R"([{"matching_enabled_ratio": 1.0, "name": "MY_TEST_BANK_01"}])"));
  // pydantic's 422 for a missing required field, in its own shape.
  r = Json("POST", "/c/banks", json::object{});
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(Body(r).as_array().at(0).at("type"), "missing");
  EXPECT_EQ(Body(r).as_array().at(0).at("loc"), json::array{"name"});
}

// test_api_banks.py: test_banks_add_content, test_bank_get_content(_404), test_bank_get_content_with_signals,
// test_bank_update_content(_400), test_banks_delete_content, test_banks_add_metadata, the note tests.
TEST_F(HmaApiTest, ContentIsAddedReadUpdatedAndDeletedAsInHma) {
  EXPECT_EQ(Call("GET", "/c/bank/NEW_BANK/content/1").status, 404);  // no bank yet
  ASSERT_NO_FATAL_FAILURE(CreateBank("NEW_BANK"));
  EXPECT_EQ(Call("GET", "/c/bank/NEW_BANK/content/1").status, 404);  // no content yet
  Response r = Upload("/c/bank/NEW_BANK/content", "photo", Image(kImage1));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), (json::value(json::object{{"id", 1}, {"signals", json::object{{"pdq", kImage1Pdq}}}})));

  r = Call("GET", "/c/bank/NEW_BANK/content/1");
  ASSERT_EQ(r.status, 200) << r.body;
  json::object got = Body(r).as_object();
  EXPECT_EQ(got.at("id"), 1);
  EXPECT_EQ(got.at("disable_until_ts"), 1);
  EXPECT_TRUE(got.at("original_media_uri").is_null());
  EXPECT_EQ(got.at("bank"), json::parse(R"({"matching_enabled_ratio": 1.0, "name": "NEW_BANK"})"));
  EXPECT_FALSE(got.contains("signals"));
  EXPECT_FALSE(got.contains("note"));      // test_bank_add_content_without_note_omitted
  EXPECT_FALSE(got.contains("metadata"));  // test_bank_get_content_without_metadata_omitted

  // test_bank_update_content and _400.
  const int64_t in_a_year = static_cast<int64_t>(std::time(nullptr)) + 365 * 86400;
  r = Json("PUT", "/c/bank/NEW_BANK/content/1", json::object{{"disable_until_ts", in_a_year}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r).at("disable_until_ts"), in_a_year);
  EXPECT_EQ(Json("PUT", "/c/bank/NEW_BANK/content/1", json::object{{"disable_until_ts", 9999999999}}).status, 400);
  // Disabled content matches nowhere (lookup); enabled again, it matches.
  r = Call("GET", std::string("/m/lookup?signal_type=pdq&signal=") + kImage1Pdq);
  EXPECT_EQ(Body(r), json::object{});
  ASSERT_EQ(Json("PUT", "/c/bank/NEW_BANK/content/1", json::object{{"disable_until_ts", 1}}).status, 200);
  r = Call("GET", std::string("/m/lookup?signal_type=pdq&signal=") + kImage1Pdq);
  EXPECT_EQ(Body(r), json::parse(R"({"NEW_BANK": [{"bank_content_id": 1, "distance": "0"}]})"));

  // test_bank_update_content_note.
  for (const char* note : {"Initial note", "Updated note"}) {
    ASSERT_EQ(Json("PUT", "/c/bank/NEW_BANK/content/1", json::object{{"note", note}}).status, 200);
    EXPECT_EQ(Body(Call("GET", "/c/bank/NEW_BANK/content/1")).at("note"), note);
  }
  ASSERT_EQ(Json("PUT", "/c/bank/NEW_BANK/content/1", json::object{{"note", ""}}).status, 200);
  EXPECT_FALSE(Body(Call("GET", "/c/bank/NEW_BANK/content/1")).as_object().contains("note"));

  // test_banks_add_metadata and test_bank_get_content_returns_stored_metadata (metadata as a form field).
  EXPECT_EQ(Upload("/c/bank/NEW_BANK/content", "photo", Image(kImage2), {{"metadata", R"({"invalid_metadata": 5})"}}).status, 400);
  r = Upload("/c/bank/NEW_BANK/content", "photo", Image(kImage2),
             {{"metadata", R"({"content_id": "ext-id-123", "content_uri": "https://example.com/item/123", "json": {"source": "test", "nested": {"key": "value"}}})"},
              {"note", "Reported by user X"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const int64_t id2 = Body(r).at("id").as_int64();
  got = Body(Call("GET", "/c/bank/NEW_BANK/content/" + std::to_string(id2))).as_object();
  EXPECT_EQ(got.at("note"), "Reported by user X");
  EXPECT_EQ(got.at("metadata").at("content_id"), "ext-id-123");
  EXPECT_EQ(got.at("metadata").at("content_uri"), "https://example.com/item/123");
  EXPECT_EQ(got.at("metadata").at("json"), json::parse(R"({"source": "test", "nested": {"key": "value"}})"));
  got = Body(Call("GET", "/c/bank/NEW_BANK/content/" + std::to_string(id2) + "?include_metadata=false")).as_object();
  EXPECT_FALSE(got.contains("metadata"));
  // test_bank_add_note_too_long.
  EXPECT_EQ(Upload("/c/bank/NEW_BANK/content", "photo", Image(kImage2), {{"note", std::string(256, 'x')}}).status, 400);
  // HMA counts characters (Python's len), not bytes: 255 two-byte characters are a note, 256 are not; bytes
  // that are not UTF-8 are no note at all.
  std::string e255;
  for (int i = 0; i < 255; ++i) e255 += "\xC3\xA9";  // U+00E9
  EXPECT_EQ(Json("PUT", "/c/bank/NEW_BANK/content/1", json::object{{"note", e255}}).status, 200);
  EXPECT_EQ(Body(Call("GET", "/c/bank/NEW_BANK/content/1")).at("note"), json::value(e255));
  const Response longer = Json("PUT", "/c/bank/NEW_BANK/content/1", json::object{{"note", e255 + "\xC3\xA9"}});
  EXPECT_EQ(longer.status, 400);
  EXPECT_NE(longer.body.find("at most 255 characters"), std::string::npos) << longer.body;
  const Response not_text = Upload("/c/bank/NEW_BANK/content", "photo", Image(kImage2), {{"note", "caf\xC3"}});
  EXPECT_EQ(not_text.status, 400);
  EXPECT_NE(not_text.body.find("UTF-8"), std::string::npos) << not_text.body;
  EXPECT_EQ(Upload("/c/bank/NEW_BANK/content", "photo", Image(kImage2), {{"note", e255}}).status, 200);

  // test_banks_delete_content: deleting withdraws the signal.
  r = Call("DELETE", "/c/bank/NEW_BANK/content/1");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r), json::parse(R"({"deleted": 1})"));
  EXPECT_EQ(Call("GET", "/c/bank/NEW_BANK/content/1").status, 404);
  EXPECT_EQ(Body(Call("GET", std::string("/m/lookup?signal_type=pdq&signal=") + kImage1Pdq)), json::object{});
  EXPECT_EQ(Body(Call("DELETE", "/c/bank/NEW_BANK/content/1")), json::parse(R"({"deleted": 0})"));
  // HMA's <int:content_id>: anything else is a routing 404 (Werkzeug's HTML page).
  r = Call("GET", "/c/bank/NEW_BANK/content/abc");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("<title>404 Not Found</title>"), std::string::npos);
}

// test_api_banks.py: test_banks_add_hash_index (raw_lookup finds each image's own content).
TEST_F(HmaApiTest, RawLookupFindsEachImagesContent) {
  ASSERT_NO_FATAL_FAILURE(CreateBank("NEW_BANK"));
  ASSERT_NO_FATAL_FAILURE(CreateBank("NEW_BANK_2"));
  std::string pdq[2];
  int i = 0;
  for (const char* path : {kImage1, kImage2}) {
    const Response r = Upload("/c/bank/NEW_BANK/content", "photo", Image(path));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Body(r).at("id"), i + 1);
    pdq[i++] = std::string(Body(r).at("signals").at("pdq").as_string());
  }
  for (int k = 0; k < 2; ++k) {
    const Response r = Call("GET", "/m/raw_lookup?signal_type=pdq&signal=" + pdq[k]);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Body(r), (json::value(json::object{{"matches", json::array{k + 1}}})));
  }
  // POST /h/hash gives the same PDQ the upload banked.
  const Response h = Upload("/h/hash", "photo", Image(kImage1));
  ASSERT_EQ(h.status, 200);
  EXPECT_EQ(Body(h), (json::value(json::object{{"pdq", kImage1Pdq}})));
  // POST /m/lookup with the file (test_lookup_success); a field that is no content type (test_lookup_without_role's).
  const Response l = Upload("/m/lookup", "photo", Image(kImage1));
  ASSERT_EQ(l.status, 200) << l.body;
  EXPECT_EQ(Body(l), json::parse(R"({"pdq": {"NEW_BANK": [{"bank_content_id": 1, "distance": "0"}]}})"));
  EXPECT_EQ(Upload("/m/lookup", "file", Image(kImage1)).status, 400);
}

// test_e2e_workflow.py: test_add_hashes_and_find_match.
TEST_F(HmaApiTest, SixteenExamplesAreBankedAndTheLastIsFoundAsContent16) {
  ASSERT_NO_FATAL_FAILURE(CreateBank("TEST_BANK"));
  for (const std::string& ex : kPdqExamples) {
    const Response r = Json("POST", "/c/bank/TEST_BANK/signal", json::object{{"pdq", ex}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  Response r = Call("GET", "/m/index/status?signal_type=pdq");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r).at("pdq").at("present"), true);
  EXPECT_EQ(Body(r).at("pdq").at("size"), 16);
  r = Call("GET", "/m/lookup?signal_type=pdq&signal=" + kPdqExamples.back());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r), json::parse(R"({"TEST_BANK": [{"bank_content_id": 16, "distance": "0"}]})"));
  r = Call("GET", "/m/lookup?signal_type=pdq&signal=" + std::string(64, '5'));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r), json::object{});
  // test_bank_add_hash_with_note.
  r = Json("POST", "/c/bank/TEST_BANK/signal", json::object{{"pdq", std::string(64, '0')}, {"note", "Hash from campaign ABC"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(Call("GET", "/c/bank/TEST_BANK/content/" + std::to_string(Body(r).at("id").as_int64()))).at("note"),
            "Hash from campaign ABC");
}

// test_match_api.py: test_raw_lookups, test_lookups (the SAMPLE bank) and the bank filters (BANK_A/B/C).
TEST_F(HmaApiTest, LookupsFilterByBank) {
  ASSERT_NO_FATAL_FAILURE(CreateBank("SAMPLE"));
  ASSERT_EQ(Json("POST", "/c/bank/SAMPLE/signal", json::object{{"video_md5", kMd5Example}}).status, 200);
  Response r = Call("GET", std::string("/m/raw_lookup?signal_type=video_md5&signal=") + kMd5Example + "&include_distance=True");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Body(r).at("matches").as_array().size(), 1u);
  EXPECT_TRUE(Body(r).at("matches").as_array()[0].as_object().contains("bank_content_id"));
  EXPECT_EQ(Body(r).at("matches").as_array()[0].at("distance"), "-");

  for (const char* b : {"BANK_A", "BANK_B", "BANK_C"}) {
    ASSERT_NO_FATAL_FAILURE(CreateBank(b));
    ASSERT_EQ(Json("POST", std::string("/c/bank/") + b + "/signal", json::object{{"pdq", kPdqExamples[0]}}).status, 200);
  }
  const std::string base = "/m/raw_lookup?signal_type=pdq&signal=" + kPdqExamples[0];
  EXPECT_EQ(Body(Call("GET", base)).at("matches").as_array().size(), 3u);
  EXPECT_EQ(Body(Call("GET", base + "&banks=BANK_A")).at("matches").as_array().size(), 1u);
  EXPECT_EQ(Body(Call("GET", base + "&banks=BANK_A,BANK_B")).at("matches").as_array().size(), 2u);
  EXPECT_EQ(Body(Call("GET", base + "&banks=NON_EXISTENT_BANK")).at("matches").as_array().size(), 0u);
  const std::string lookup = "/m/lookup?signal_type=pdq&signal=" + kPdqExamples[0];
  EXPECT_EQ(Body(Call("GET", lookup)).as_object().size(), 3u);
  r = Call("GET", lookup + "&banks=BANK_A,BANK_C");
  EXPECT_TRUE(Body(r).as_object().contains("BANK_A") && Body(r).as_object().contains("BANK_C"));
  EXPECT_EQ(Body(r).as_object().size(), 2u);
  EXPECT_EQ(Body(Call("GET", lookup + "&banks=NON_EXISTENT_BANK")), json::object{});
  // A bank with matching disabled (ratio 0) is left out of every match.
  ASSERT_EQ(Json("PUT", "/c/bank/BANK_B", json::object{{"enabled", false}}).status, 200);
  EXPECT_FALSE(Body(Call("GET", lookup)).as_object().contains("BANK_B"));
  // Missing required arguments: pydantic's 422; a bad hash: HMA's 400.
  r = Call("GET", "/m/raw_lookup?signal_type=pdq");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(Body(r).as_array().at(0).at("loc"), json::array{"signal"});
  r = Call("GET", "/m/lookup?signal_type=pdq&signal=banana");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r), json::parse(R"({"message": "invalid signal: invalid PDQ hash"})"));
}

// Bytes as HMA (Flask) writes them: keys sorted, compact, floats with a point, a final newline.
TEST_F(HmaApiTest, ResponsesAreFlaskShapedBytes) {
  ASSERT_NO_FATAL_FAILURE(CreateBank("X"));
  const Response r = Call("GET", "/c/bank/X");
  EXPECT_EQ(r.body, "{\"matching_enabled_ratio\":1.0,\"name\":\"X\"}\n");
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  // Unknown paths and methods under HMA's prefixes: Werkzeug's pages; no token: HMA's message shape.
  EXPECT_EQ(Call("PATCH", "/c/banks").status, 405);
  EXPECT_EQ(Call("GET", "/c/no_such_thing").status, 404);
  const Response unauth = Call("GET", "/c/banks", "", "", /*auth=*/false);
  EXPECT_EQ(unauth.status, 401);
  EXPECT_TRUE(Body(unauth).as_object().contains("message"));
  EXPECT_EQ(Call("GET", "/c/signal_type").body,
            "[{\"enabled_ratio\":1.0,\"name\":\"pdq\"},{\"enabled_ratio\":1.0,\"name\":\"video_md5\"}]\n");
}

}  // namespace
}  // namespace hashbank
