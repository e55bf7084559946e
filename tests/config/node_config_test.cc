#include "config/node_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/environment.h"
#include "tests/support/temp_dir.h"

namespace hashbank {
namespace {

using ::hashbank::testing::TempDir;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// `result` failed with InvalidArgument and a message that starts with `prefix`.
::testing::AssertionResult FailsWith(const absl::StatusOr<NodeConfig>& result, const std::string& prefix) {
  if (result.ok()) return ::testing::AssertionFailure() << "loaded, expected an error starting with " << prefix;
  if (result.status().code() != absl::StatusCode::kInvalidArgument) {
    return ::testing::AssertionFailure() << "wrong code: " << result.status();
  }
  if (!Message(result.status()).starts_with(prefix)) {
    return ::testing::AssertionFailure() << "message does not start with '" << prefix << "': " << result.status();
  }
  return ::testing::AssertionSuccess();
}

bool Contains(const absl::Status& status, const std::string& needle) {
  return Message(status).find(needle) != std::string::npos;
}

absl::StatusOr<NodeConfig> FromYaml(const std::string& yaml, const Environment& env = {}) {
  return NodeConfig::LoadFromString(yaml, env);
}

constexpr char kFullYaml[] = R"(# every key, none at its default
node:
  id: "node-7.eu_west"
  data_dir: /srv/hashbank
api:
  listen: "[::1]:9443"
  tls_cert: /etc/hashbank/cert.pem
  tls_key: /etc/hashbank/key.pem
  threads: 16
salt:
  file: /etc/hashbank/salt.json
limits:
  max_json_body_bytes: 2048
  max_image_body_bytes: 1073741824
  max_image_pixels: 10000000000
  max_batch_items: 100000
  requests_per_second_per_token: 0
  burst_per_token: 100000000
  request_timeout_ms: 100
  max_video_body_bytes: 4294967296
  max_video_seconds: 86400
  max_video_pixels: 1000000000
  max_video_decode_seconds: 86400
matching:
  pdq_quality_floor: 0
  pdq_default_max_distance: 256
  pdq_max_distance_limit: 256
  video_frame_interval_ms: 60000
  video_query_frame_interval_ms: 60000
  video_range_match_percent: 100
  video_max_distance: 256
  video_query_match_percent: 100
  video_target_match_percent: 100
  embedding_model: /etc/hashbank/embedder.onnx
  video_min_matched_seconds: 3600
federation:
  listen: "0.0.0.0:9444"
  ca: /etc/hashbank/ca.pem
  sync_interval_ms: 3600000
  max_segment_entries: 1000000
  members:
    - id: node-7.eu_west
      public_key: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    - {id: node-8, public_key: "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"}
  peers:
    - id: node-8
      url: "https://node-8.example.org:9444/"
  suspended: [node-8]
  exclude_suspended_from_matching: true
  keep_at_origin: [robust, embedding]
)";

const std::string kKeyA(64, 'a');
const std::string kKeyB(64, 'b');
const std::string kKeyC(64, 'c');

// node.id node-a; members node-a, node-b, node-c; `extra` is appended under federation (indented 2).
std::string Federation(const std::string& extra) {
  return "node:\n  id: node-a\nfederation:\n  members:\n"
         "    - {id: node-a, public_key: \"" + kKeyA + "\"}\n"
         "    - {id: node-b, public_key: \"" + kKeyB + "\"}\n"
         "    - {id: node-c, public_key: \"" + kKeyC + "\"}\n" + extra;
}

TEST(NodeConfigTest, EmptyPathGivesTheDocumentedDefaults) {
  auto config = NodeConfig::Load("", {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->node.id, "local");
  EXPECT_EQ(config->node.data_dir, "./hashbank-data");
  EXPECT_EQ(config->api.listen, "127.0.0.1:8443");
  EXPECT_EQ(config->api.tls_cert, "");
  EXPECT_EQ(config->api.tls_key, "");
  EXPECT_EQ(config->api.threads, 2u);
  EXPECT_EQ(config->salt.file, "");
  EXPECT_EQ(config->limits.max_json_body_bytes, 1048576u);
  EXPECT_EQ(config->limits.max_image_body_bytes, 67108864u);
  EXPECT_EQ(config->limits.max_image_pixels, 100000000u);
  EXPECT_EQ(config->limits.max_batch_items, 1000u);
  EXPECT_EQ(config->limits.requests_per_second_per_token, 5000u);
  EXPECT_EQ(config->limits.burst_per_token, 10000u);
  EXPECT_EQ(config->limits.request_timeout_ms, 30000u);
  EXPECT_EQ(config->matching.pdq_quality_floor, 50u);
  EXPECT_EQ(config->matching.pdq_default_max_distance, 31u);
  EXPECT_EQ(config->matching.pdq_max_distance_limit, 63u);
  EXPECT_EQ(config->limits.max_video_body_bytes, 268435456u);  // 256 MiB
  EXPECT_EQ(config->limits.max_video_seconds, 3600u);
  EXPECT_EQ(config->limits.max_video_pixels, 35651584u);       // 8192 x 4352
  EXPECT_EQ(config->limits.max_video_decode_seconds, 300u);
  EXPECT_EQ(config->limits.max_concurrent_video_decodes, 1u);
  EXPECT_EQ(config->matching.video_frame_interval_ms, 1000u);
  EXPECT_EQ(config->matching.video_query_frame_interval_ms, 500u);
  EXPECT_EQ(config->matching.video_range_match_percent, 80u);
  EXPECT_EQ(config->matching.video_max_distance, 31u);
  EXPECT_EQ(config->matching.video_query_match_percent, 80u);
  EXPECT_EQ(config->matching.video_target_match_percent, 80u);
  EXPECT_EQ(config->matching.video_min_matched_seconds, 5u);
  EXPECT_EQ(config->federation.listen, "");
  EXPECT_EQ(config->federation.ca, "");
  EXPECT_EQ(config->federation.sync_interval_ms, 2000u);
  EXPECT_EQ(config->federation.max_segment_entries, 10000u);
  EXPECT_TRUE(config->federation.members.empty());
  EXPECT_TRUE(config->federation.peers.empty());
  EXPECT_TRUE(config->federation.suspended.empty());
  EXPECT_FALSE(config->federation.exclude_suspended_from_matching);
  EXPECT_FALSE(config->FederationEnabled());
  EXPECT_EQ(config->FederationCaPath(), "./hashbank-data/tls/ca.pem");
  EXPECT_TRUE(*config == NodeConfig{});
  EXPECT_TRUE(NodeConfig{}.Validate().ok());
}

TEST(NodeConfigTest, EmptyDocumentsAndSectionsKeepDefaults) {
  for (const std::string yaml : {"", "# only a comment\n", "---\n", "{}", "api:\n", "api: {}\nlimits:\n", "~\n",
                                 "federation:\n", "federation:\n  members: []\n  peers: []\n  suspended: []\n"}) {
    auto config = FromYaml(yaml);
    ASSERT_TRUE(config.ok()) << yaml << ": " << config.status();
    EXPECT_TRUE(*config == NodeConfig{}) << yaml;
  }
}

TEST(NodeConfigTest, FileOverridesEveryKey) {
  TempDir dir{"hashbank-config"};
  const std::string path = dir.Write("hashbank.yaml", kFullYaml);
  auto config = NodeConfig::Load(path, {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->node.id, "node-7.eu_west");
  EXPECT_EQ(config->node.data_dir, "/srv/hashbank");
  EXPECT_EQ(config->api.listen, "[::1]:9443");
  EXPECT_EQ(config->api.tls_cert, "/etc/hashbank/cert.pem");
  EXPECT_EQ(config->api.tls_key, "/etc/hashbank/key.pem");
  EXPECT_EQ(config->api.threads, 16u);
  EXPECT_EQ(config->salt.file, "/etc/hashbank/salt.json");
  EXPECT_EQ(config->limits.max_json_body_bytes, 2048u);
  EXPECT_EQ(config->limits.max_image_body_bytes, 1073741824u);
  EXPECT_EQ(config->limits.max_image_pixels, 10000000000u);
  EXPECT_EQ(config->limits.max_batch_items, 100000u);
  EXPECT_EQ(config->limits.requests_per_second_per_token, 0u);
  EXPECT_EQ(config->limits.burst_per_token, 100000000u);
  EXPECT_EQ(config->limits.request_timeout_ms, 100u);
  EXPECT_EQ(config->matching.pdq_quality_floor, 0u);
  EXPECT_EQ(config->matching.pdq_default_max_distance, 256u);
  EXPECT_EQ(config->matching.pdq_max_distance_limit, 256u);
  EXPECT_EQ(config->limits.max_video_body_bytes, 4294967296u);
  EXPECT_EQ(config->limits.max_video_seconds, 86400u);
  EXPECT_EQ(config->limits.max_video_pixels, 1000000000u);
  EXPECT_EQ(config->limits.max_video_decode_seconds, 86400u);
  EXPECT_EQ(config->matching.video_frame_interval_ms, 60000u);
  EXPECT_EQ(config->matching.video_query_frame_interval_ms, 60000u);
  EXPECT_EQ(config->matching.video_range_match_percent, 100u);
  EXPECT_EQ(config->matching.video_max_distance, 256u);
  EXPECT_EQ(config->matching.video_query_match_percent, 100u);
  EXPECT_EQ(config->matching.video_target_match_percent, 100u);
  EXPECT_EQ(config->matching.embedding_model, "/etc/hashbank/embedder.onnx");
  EXPECT_EQ(config->matching.video_min_matched_seconds, 3600u);
  EXPECT_EQ(config->federation.listen, "0.0.0.0:9444");
  EXPECT_EQ(config->federation.ca, "/etc/hashbank/ca.pem");
  EXPECT_EQ(config->federation.sync_interval_ms, 3600000u);
  EXPECT_EQ(config->federation.max_segment_entries, 1000000u);
  ASSERT_EQ(config->federation.members.size(), 2u);
  EXPECT_EQ(config->federation.members[1].public_key_hex,
            "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF");
  ASSERT_EQ(config->federation.peers.size(), 1u);
  EXPECT_EQ(config->federation.peers[0].host, "node-8.example.org");
  EXPECT_EQ(config->federation.suspended, std::vector<std::string>{"node-8"});
  EXPECT_TRUE(config->federation.exclude_suspended_from_matching);
  EXPECT_EQ(config->federation.keep_at_origin, (std::vector<std::string>{"robust", "embedding"}));
  EXPECT_EQ(config->FederationCaPath(), "/etc/hashbank/ca.pem");
}

TEST(NodeConfigTest, SmallestValuesAreAccepted) {
  auto config = FromYaml(R"(
limits:
  max_json_body_bytes: 1024
  max_image_body_bytes: 1024
  max_image_pixels: 1
  max_batch_items: 1
  requests_per_second_per_token: 1
  burst_per_token: 1
  request_timeout_ms: 100
  max_video_body_bytes: 1024
  max_video_seconds: 1
  max_video_pixels: 1
  max_video_decode_seconds: 1
matching:
  pdq_quality_floor: 0
  pdq_default_max_distance: 0
  pdq_max_distance_limit: 0
  video_frame_interval_ms: 0
  video_query_frame_interval_ms: 0
  video_range_match_percent: 1
  video_max_distance: 0
  video_query_match_percent: 1
  video_target_match_percent: 1
  video_min_matched_seconds: 0
api:
  listen: "0.0.0.0:0"
  threads: 1
node:
  id: "0"
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->limits.max_image_pixels, 1u);
  EXPECT_EQ(config->matching.pdq_max_distance_limit, 0u);
  EXPECT_EQ(config->limits.max_video_body_bytes, 1024u);
  EXPECT_EQ(config->limits.max_video_seconds, 1u);
  EXPECT_EQ(config->limits.max_video_pixels, 1u);
  EXPECT_EQ(config->limits.max_video_decode_seconds, 1u);
  EXPECT_EQ(config->matching.video_frame_interval_ms, 0u);
  EXPECT_EQ(config->matching.video_query_frame_interval_ms, 0u);
  EXPECT_EQ(config->matching.video_range_match_percent, 1u);
  EXPECT_EQ(config->matching.video_max_distance, 0u);
  EXPECT_EQ(config->matching.video_query_match_percent, 1u);
  EXPECT_EQ(config->matching.video_target_match_percent, 1u);
  EXPECT_EQ(config->matching.video_min_matched_seconds, 0u);
}

TEST(NodeConfigTest, MissingFileIsNotFoundAndNamesThePath) {
  TempDir dir{"hashbank-config"};
  const std::string path = (dir.path() / "absent.yaml").string();
  auto config = NodeConfig::Load(path, {});
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound) << config.status();
  EXPECT_TRUE(Message(config.status()).starts_with(path)) << config.status();
}

TEST(NodeConfigTest, UnreadableFileIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  TempDir dir{"hashbank-config"};
  const std::string path = dir.Write("secret.yaml", "node:\n  id: x\n");
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  EXPECT_EQ(NodeConfig::Load(path, {}).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(NodeConfigTest, DirectoryIsFailedPrecondition) {
  TempDir dir{"hashbank-config"};
  EXPECT_EQ(NodeConfig::Load(dir.path().string(), {}).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(NodeConfigTest, OversizedFileIsRejected) {
  TempDir dir{"hashbank-config"};
  const std::string path = dir.Write("huge.yaml", "# " + std::string(size_t{2} << 20, 'x') + "\n");
  auto config = NodeConfig::Load(path, {});
  EXPECT_TRUE(FailsWith(config, path));
  EXPECT_TRUE(Contains(config.status(), "too large")) << config.status();
}

TEST(NodeConfigTest, MalformedYamlReportsLineAndColumn) {
  auto config = FromYaml("node:\n  id: local\n  data_dir: [unclosed\n");
  EXPECT_TRUE(FailsWith(config, "malformed YAML at line 4, column 1: "));

  config = FromYaml("api:\n  listen: x\n listen: y\n");
  EXPECT_TRUE(FailsWith(config, "malformed YAML at line 3, column "));
}

TEST(NodeConfigTest, MalformedYamlInAFileNamesTheFile) {
  TempDir dir{"hashbank-config"};
  const std::string path = dir.Write("bad.yaml", "api: [\n");
  EXPECT_TRUE(FailsWith(NodeConfig::Load(path, {}), path + ": malformed YAML at line "));
}

TEST(NodeConfigTest, MoreThanOneDocumentIsRejected) {
  EXPECT_TRUE(FailsWith(FromYaml("api:\n  threads: 3\n---\napi:\n  threads: 4\n"),
                        "expected one YAML document, got 2"));
}

TEST(NodeConfigTest, TopLevelMustBeAMapping) {
  EXPECT_TRUE(
      FailsWith(FromYaml("- node\n- api\n"), "expected a mapping of sections at the top level, got a sequence"));
  EXPECT_TRUE(FailsWith(FromYaml("just text\n"), "expected a mapping of sections at the top level, got the scalar"));
}

TEST(NodeConfigTest, UnknownSectionIsNamed) {
  auto config = FromYaml("node:\n  id: x\napii:\n  listen: 127.0.0.1:1\n");
  EXPECT_TRUE(FailsWith(config, "apii: unknown section; sections are node, api, salt, limits, matching, federation, webhooks"));
  EXPECT_TRUE(Contains(config.status(), "(line 3, column 1)")) << config.status();
}

TEST(NodeConfigTest, UnknownKeyNamesTheFullKeyPath) {
  auto config = FromYaml("api:\n  listn: 127.0.0.1:1\n");
  EXPECT_TRUE(FailsWith(config, "api.listn: unknown key; section \"api\" has listen, tls_cert, tls_key, threads"));
  EXPECT_TRUE(Contains(config.status(), "(line 2, column 3)")) << config.status();
  // Keys are case-sensitive.
  EXPECT_TRUE(FailsWith(FromYaml("limits:\n  Max_Batch_Items: 5\n"), "limits.Max_Batch_Items: unknown key"));
}

TEST(NodeConfigTest, DuplicateKeysAndSectionsAreRejected) {
  EXPECT_TRUE(FailsWith(FromYaml("api:\n  threads: 2\n  threads: 3\n"), "api.threads: duplicate key"));
  EXPECT_TRUE(FailsWith(FromYaml("api:\n  threads: 2\napi:\n  listen: a:1\n"), "api: duplicate section"));
}

TEST(NodeConfigTest, SectionMustBeAMapping) {
  EXPECT_TRUE(FailsWith(FromYaml("api: 5\n"), "api: expected a mapping of keys, got the scalar \"5\""));
  EXPECT_TRUE(FailsWith(FromYaml("limits: [1, 2]\n"), "limits: expected a mapping of keys, got a sequence"));
}

TEST(NodeConfigTest, WrongTypeNamesKeyAndValue) {
  EXPECT_EQ(Message(FromYaml("limits:\n  max_batch_items: lots\n").status()),
            "limits.max_batch_items: expected an integer, got \"lots\" (line 2, column 20)");
  EXPECT_TRUE(FailsWith(FromYaml("api:\n  threads: [1, 2]\n"), "api.threads: expected an integer, got a sequence"));
  EXPECT_TRUE(FailsWith(FromYaml("api:\n  threads:\n"), "api.threads: expected an integer, got null"));
  EXPECT_TRUE(FailsWith(FromYaml("node:\n  id: {a: b}\n"), "node.id: expected a string, got a mapping"));
  EXPECT_TRUE(FailsWith(FromYaml("salt:\n  file: ~\n"), "salt.file: expected a string, got null"));
}

TEST(NodeConfigTest, IntegersRejectGarbageNegativesOverflowAndLeadingZeros) {
  struct Case {
    std::string value;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"12abc", "api.threads: expected an integer, got \"12abc\""},
      {"1.5", "api.threads: expected an integer, got \"1.5\""},
      {"0x10", "api.threads: expected an integer, got \"0x10\""},
      {"1_0", "api.threads: expected an integer, got \"1_0\""},
      {"1e1", "api.threads: expected an integer, got \"1e1\""},
      {"+4", "api.threads: expected an integer, got \"+4\""},
      {"--4", "api.threads: expected an integer, got \"--4\""},
      {"\"\"", "api.threads: expected an integer, got \"\""},
      {"\" 4\"", "api.threads: expected an integer, got \" 4\""},
      {"true", "api.threads: expected an integer, got \"true\""},
      {"010", "api.threads: expected a decimal integer without leading zeros, got \"010\""},
      {"-4", "api.threads: -4 is outside 1..256"},
      {"257", "api.threads: 257 is outside 1..256"},
      {"4294967298", "api.threads: 4294967298 is outside 1..256"},  // 2^32 + 2: would wrap to 2 in a uint32
      {"18446744073709551616", "api.threads: 18446744073709551616 is outside 1..256"},  // 2^64
      {"99999999999999999999999999", "api.threads: 99999999999999999999999999 is outside 1..256"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(FailsWith(FromYaml("api:\n  threads: " + c.value + "\n"), c.message)) << c.value;
  }
}

TEST(NodeConfigTest, OutOfRangeNamesKeyValueAndRange) {
  struct Case {
    std::string section;
    std::string key;
    std::string value;
    std::string range;
  };
  const std::vector<Case> cases = {
      {"api", "threads", "0", "1..256"},
      {"limits", "max_json_body_bytes", "1023", "1024..1073741824"},
      {"limits", "max_json_body_bytes", "1073741825", "1024..1073741824"},
      {"limits", "max_image_body_bytes", "1023", "1024..1073741824"},
      {"limits", "max_image_body_bytes", "1073741825", "1024..1073741824"},
      {"limits", "max_image_pixels", "0", "1..10000000000"},
      {"limits", "max_image_pixels", "10000000001", "1..10000000000"},
      {"limits", "max_batch_items", "0", "1..100000"},
      {"limits", "max_batch_items", "100001", "1..100000"},
      {"limits", "requests_per_second_per_token", "10000001", "0..10000000"},
      {"limits", "burst_per_token", "0", "1..100000000"},
      {"limits", "burst_per_token", "100000001", "1..100000000"},
      {"limits", "request_timeout_ms", "99", "100..3600000"},
      {"limits", "request_timeout_ms", "3600001", "100..3600000"},
      {"matching", "pdq_quality_floor", "101", "0..100"},
      {"matching", "pdq_default_max_distance", "257", "0..256"},
      {"matching", "pdq_max_distance_limit", "257", "0..256"},
      {"limits", "max_video_body_bytes", "1023", "1024..4294967296"},
      {"limits", "max_video_body_bytes", "4294967297", "1024..4294967296"},
      {"limits", "max_video_seconds", "0", "1..86400"},
      {"limits", "max_video_seconds", "86401", "1..86400"},
      {"limits", "max_video_pixels", "0", "1..1000000000"},
      {"limits", "max_video_pixels", "1000000001", "1..1000000000"},
      {"limits", "max_video_decode_seconds", "0", "1..86400"},
      {"limits", "max_video_decode_seconds", "86401", "1..86400"},
      {"limits", "max_concurrent_video_decodes", "0", "1..10000"},
      {"limits", "max_concurrent_video_decodes", "10001", "1..10000"},
      {"matching", "video_frame_interval_ms", "60001", "0..60000"},
      {"matching", "video_query_frame_interval_ms", "60001", "0..60000"},
      {"matching", "video_range_match_percent", "0", "1..100"},
      {"matching", "video_range_match_percent", "101", "1..100"},
      {"matching", "video_max_distance", "257", "0..256"},
      {"matching", "video_query_match_percent", "0", "1..100"},
      {"matching", "video_query_match_percent", "101", "1..100"},
      {"matching", "video_target_match_percent", "0", "1..100"},
      {"matching", "video_target_match_percent", "101", "1..100"},
      {"matching", "video_min_matched_seconds", "3601", "0..3600"},
      {"federation", "sync_interval_ms", "99", "100..3600000"},
      {"federation", "sync_interval_ms", "3600001", "100..3600000"},
      {"federation", "max_segment_entries", "0", "1..1000000"},
      {"federation", "max_segment_entries", "1000001", "1..1000000"},
  };
  for (const Case& c : cases) {
    const std::string yaml = c.section + ":\n  " + c.key + ": " + c.value + "\n";
    const std::string expected = c.section + "." + c.key + ": " + c.value + " is outside " + c.range;
    EXPECT_TRUE(FailsWith(FromYaml(yaml), expected)) << yaml;
  }
  EXPECT_EQ(Message(FromYaml("matching:\n  pdq_quality_floor: 101\n").status()),
            "matching.pdq_quality_floor: 101 is outside 0..100 (line 2, column 22)");
}

TEST(NodeConfigTest, VideoKeysRejectNegativesAndNonIntegers) {
  EXPECT_TRUE(FailsWith(FromYaml("matching:\n  video_min_matched_seconds: -1\n"),
                        "matching.video_min_matched_seconds: -1 is outside 0..3600"));
  EXPECT_TRUE(FailsWith(FromYaml("matching:\n  video_min_matched_seconds: 2.5\n"),
                        "matching.video_min_matched_seconds: expected an integer, got \"2.5\""));
  EXPECT_TRUE(FailsWith(FromYaml("matching:\n  video_frame_interval_ms: -1000\n"),
                        "matching.video_frame_interval_ms: -1000 is outside 0..60000"));
  EXPECT_TRUE(FailsWith(FromYaml("limits:\n  max_video_body_bytes: 18446744073709551616\n"),  // 2^64
                        "limits.max_video_body_bytes: 18446744073709551616 is outside 1024..4294967296"));
  EXPECT_TRUE(FailsWith(FromYaml("limits:\n  max_video_seconds: one hour\n"),
                        "limits.max_video_seconds: expected an integer, got \"one hour\""));
}

TEST(NodeConfigTest, VideoKeysComeFromTheEnvironmentToo) {
  auto config = NodeConfig::Load("", {{"HASHBANK_LIMITS_MAX_VIDEO_BODY_BYTES", "2048"},
                                      {"HASHBANK_LIMITS_MAX_VIDEO_SECONDS", "60"},
                                      {"HASHBANK_MATCHING_VIDEO_FRAME_INTERVAL_MS", "500"},
                                      {"HASHBANK_MATCHING_VIDEO_QUERY_FRAME_INTERVAL_MS", "250"},
                                      {"HASHBANK_MATCHING_VIDEO_RANGE_MATCH_PERCENT", "60"},
                                      {"HASHBANK_MATCHING_VIDEO_MAX_DISTANCE", "20"},
                                      {"HASHBANK_MATCHING_VIDEO_QUERY_MATCH_PERCENT", "70"},
                                      {"HASHBANK_MATCHING_VIDEO_TARGET_MATCH_PERCENT", "90"},
                                      {"HASHBANK_MATCHING_VIDEO_MIN_MATCHED_SECONDS", "3"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->limits.max_video_body_bytes, 2048u);
  EXPECT_EQ(config->limits.max_video_seconds, 60u);
  EXPECT_EQ(config->limits.max_video_pixels, 35651584u);  // not set: the default
  EXPECT_EQ(config->matching.video_frame_interval_ms, 500u);
  EXPECT_EQ(config->matching.video_query_frame_interval_ms, 250u);
  EXPECT_EQ(config->matching.video_range_match_percent, 60u);
  EXPECT_EQ(config->matching.video_max_distance, 20u);
  EXPECT_EQ(config->matching.video_query_match_percent, 70u);
  EXPECT_EQ(config->matching.video_target_match_percent, 90u);
  EXPECT_EQ(config->matching.video_min_matched_seconds, 3u);
  EXPECT_TRUE(FailsWith(NodeConfig::Load("", {{"HASHBANK_MATCHING_VIDEO_QUERY_MATCH_PERCENT", "0"}}),
                        "HASHBANK_MATCHING_VIDEO_QUERY_MATCH_PERCENT: 0 is outside 1..100"));
}

TEST(NodeConfigTest, BadListenAddressNamesTheKey) {
  auto config = FromYaml("api:\n  listen: 127.0.0.1\n");
  EXPECT_TRUE(FailsWith(config, "api.listen: \"127.0.0.1\" has no port"));
  EXPECT_TRUE(FailsWith(FromYaml("api:\n  listen: \"127.0.0.1:70000\"\n"), "api.listen: "));
  EXPECT_TRUE(FailsWith(FromYaml("api:\n  listen: \"\"\n"), "api.listen: is empty"));
  EXPECT_TRUE(FailsWith(FromYaml("api:\n  listen: \"::1:80\"\n"), "api.listen: "));
}

TEST(NodeConfigTest, NodeIdMustBeLowerCaseAndStartWithALetterOrDigit) {
  for (const std::string& id : std::vector<std::string>{"a", "0", "node-1", "eu.west_2", std::string(64, 'z')}) {
    EXPECT_TRUE(FromYaml("node:\n  id: \"" + id + "\"\n").ok()) << id;
  }
  EXPECT_TRUE(FailsWith(FromYaml("node:\n  id: \"\"\n"), "node.id: is empty"));
  EXPECT_TRUE(FailsWith(FromYaml("node:\n  id: " + std::string(65, 'z') + "\n"),
                        "node.id: is 65 characters, the limit is 64"));
  EXPECT_TRUE(FailsWith(FromYaml("node:\n  id: Node\n"),
                        "node.id: \"Node\" has a character outside [a-z0-9._-] at position 0"));
  EXPECT_TRUE(FailsWith(FromYaml("node:\n  id: \"a b\"\n"), "node.id: \"a b\" has a character outside"));
  EXPECT_TRUE(FailsWith(FromYaml("node:\n  id: \"-a\"\n"), "node.id: \"-a\" must start with a letter or a digit"));
  EXPECT_TRUE(FailsWith(FromYaml("node:\n  id: .a\n"), "node.id: \".a\" must start with a letter or a digit"));
}

TEST(NodeConfigTest, PathsMustNotBeEmptyOrContainNul) {
  EXPECT_TRUE(FailsWith(FromYaml("node:\n  data_dir: \"\"\n"), "node.data_dir: is empty"));
  EXPECT_TRUE(FailsWith(FromYaml("salt:\n  file: \"a\\0b\"\n"), "salt.file: contains a NUL character"));
}

TEST(NodeConfigTest, DefaultMaxDistanceOverTheLimitIsRejected) {
  EXPECT_EQ(Message(FromYaml("matching:\n  pdq_default_max_distance: 40\n  pdq_max_distance_limit: 35\n").status()),
            "matching.pdq_default_max_distance: 40 is over matching.pdq_max_distance_limit (35)");
  EXPECT_TRUE(FromYaml("matching:\n  pdq_default_max_distance: 35\n  pdq_max_distance_limit: 35\n").ok());
  // The default of 31 is over a limit of 20 too.
  EXPECT_TRUE(FailsWith(FromYaml("matching:\n  pdq_max_distance_limit: 20\n"), "matching.pdq_default_max_distance: "));
}

TEST(NodeConfigTest, TlsCertAndKeyAreSetTogether) {
  EXPECT_TRUE(FailsWith(FromYaml("api:\n  tls_cert: /c.pem\n"), "api.tls_key: is empty but api.tls_cert is set"));
  EXPECT_TRUE(FailsWith(FromYaml("api:\n  tls_key: /k.pem\n"), "api.tls_cert: is empty but api.tls_key is set"));
}

TEST(NodeConfigTest, ErrorMessagesEscapeUntrustedText) {
  auto config = FromYaml("limits:\n  max_batch_items: \"1\\n2\\e[31m\"\n");
  EXPECT_TRUE(FailsWith(config, "limits.max_batch_items: expected an integer, got \"1\\n2\\x1b[31m\""));
  config = FromYaml("api:\n  \"bad\\nkey\": 1\n");
  EXPECT_TRUE(FailsWith(config, "api.bad\\nkey: unknown key"));
  config = FromYaml("limits:\n  max_batch_items: " + std::string(200, 'Q') + "\n");
  EXPECT_TRUE(Contains(config.status(), std::string(64, 'Q') + "...\"")) << config.status();
  EXPECT_FALSE(Contains(config.status(), std::string(65, 'Q'))) << config.status();
}

TEST(NodeConfigTest, HostileYamlReturnsAnErrorWithoutThrowing) {
  const std::vector<std::string> inputs = {
      std::string(100000, '['),
      std::string(100000, '{'),
      "a: &a [*a]\n",
      "api: *undefined\n",
      "api:\n\tthreads: 2\n",
      std::string("node:\n  id: \xff\xfe\x00\x01\n", 16),
      "? [complex, key]\n: 1\n",
      "api:\n  ? [complex]\n  : 1\n",
      "%YAML 9.9\n---\na: 1\n",
      "!!binary api: 1\n",
      "\"unterminated\n",
  };
  for (const std::string& input : inputs) {
    absl::StatusOr<NodeConfig> config;
    EXPECT_NO_THROW(config = FromYaml(input)) << input.substr(0, 40);
    EXPECT_FALSE(config.ok()) << input.substr(0, 40);
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  }
}

TEST(NodeConfigTest, DeepNestingIsRejectedAsMalformed) {
  EXPECT_TRUE(FailsWith(FromYaml("api: " + std::string(100000, '[')), "malformed YAML: nested more than "));
}

TEST(NodeConfigTest, AnchorsAndAliasesOfScalarsWork) {
  auto config = FromYaml("limits:\n  max_json_body_bytes: &size 4096\n  max_image_body_bytes: *size\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->limits.max_image_body_bytes, 4096u);
}

TEST(NodeConfigTest, EnvironmentOverridesTheFile) {
  TempDir dir{"hashbank-config"};
  const std::string path = dir.Write("hashbank.yaml",
                                     "api:\n  listen: 127.0.0.1:1\n  threads: 8\n"
                                     "limits:\n  max_batch_items: 10\n");
  const Environment env = {{"HASHBANK_API_LISTEN", "0.0.0.0:9443"},
                           {"HASHBANK_LIMITS_MAX_BATCH_ITEMS", "50"},
                           {"HASHBANK_NODE_DATA_DIR", "/var/lib/hashbank"}};
  auto config = NodeConfig::Load(path, env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->api.listen, "0.0.0.0:9443");
  EXPECT_EQ(config->limits.max_batch_items, 50u);
  EXPECT_EQ(config->node.data_dir, "/var/lib/hashbank");
  EXPECT_EQ(config->api.threads, 8u);  // from the file, not overridden
  EXPECT_EQ(config->SaltFilePath(), "/var/lib/hashbank/salt.json");
}

TEST(NodeConfigTest, EnvironmentAppliesWithoutAFile) {
  auto config = NodeConfig::Load("", {{"HASHBANK_MATCHING_PDQ_QUALITY_FLOOR", "80"},
                                      {"HASHBANK_API_TLS_CERT", "/c.pem"},
                                      {"HASHBANK_API_TLS_KEY", "/k.pem"},
                                      {"HASHBANK_SALT_FILE", "/s.json"},
                                      {"HASHBANK_NODE_ID", "env-node"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->matching.pdq_quality_floor, 80u);
  EXPECT_EQ(config->api.tls_cert, "/c.pem");
  EXPECT_EQ(config->salt.file, "/s.json");
  EXPECT_EQ(config->node.id, "env-node");
}

TEST(NodeConfigTest, EnvironmentErrorsNameTheVariable) {
  EXPECT_EQ(Message(NodeConfig::Load("", {{"HASHBANK_API_THREADS", "x"}}).status()),
            "HASHBANK_API_THREADS: expected an integer, got \"x\"");
  EXPECT_TRUE(FailsWith(NodeConfig::Load("", {{"HASHBANK_API_THREADS", ""}}),
                        "HASHBANK_API_THREADS: expected an integer, got \"\""));
  EXPECT_TRUE(FailsWith(NodeConfig::Load("", {{"HASHBANK_MATCHING_PDQ_QUALITY_FLOOR", "101"}}),
                        "HASHBANK_MATCHING_PDQ_QUALITY_FLOOR: 101 is outside 0..100"));
  EXPECT_TRUE(FailsWith(NodeConfig::Load("", {{"HASHBANK_API_LISTEN", "nope"}}),
                        "HASHBANK_API_LISTEN: \"nope\" has no port"));
  EXPECT_TRUE(FailsWith(NodeConfig::Load("", {{"HASHBANK_NODE_ID", "UP"}}), "HASHBANK_NODE_ID: \"UP\" has"));
}

TEST(NodeConfigTest, EnvironmentValuesAreCheckedAgainstTheFile) {
  TempDir dir{"hashbank-config"};
  const std::string path = dir.Write("hashbank.yaml", "matching:\n  pdq_max_distance_limit: 40\n");
  EXPECT_TRUE(FailsWith(NodeConfig::Load(path, {{"HASHBANK_MATCHING_PDQ_DEFAULT_MAX_DISTANCE", "41"}}),
                        "matching.pdq_default_max_distance: 41 is over matching.pdq_max_distance_limit (40)"));
}

TEST(NodeConfigTest, UnknownVariableUnderAKnownSectionIsAnError) {
  EXPECT_TRUE(FailsWith(NodeConfig::Load("", {{"HASHBANK_API_LISTN", "0.0.0.0:1"}}),
                        "HASHBANK_API_LISTN: unknown key; section \"api\" has listen, tls_cert, tls_key, threads"));
  EXPECT_TRUE(FailsWith(NodeConfig::Load("", {{"HASHBANK_API_listen", "0.0.0.0:1"}}), "HASHBANK_API_listen: "));
  EXPECT_TRUE(FailsWith(NodeConfig::Load("", {{"HASHBANK_LIMITS_", "1"}}), "HASHBANK_LIMITS_: unknown key"));
}

TEST(NodeConfigTest, OtherVariablesAreIgnored) {
  const Environment env = {{"HASHBANK_CONFIG", "/etc/hashbank.yaml"},
                           {"HASHBANK_LOG_LEVEL", "debug"},
                           {"HASHBANK_API", "x"},
                           {"HASHBANK_APIX_THREADS", "x"},
                           {"HASHBANK_", "x"},
                           {"API_THREADS", "x"},
                           {"PATH", "/bin"}};
  auto config = NodeConfig::Load("", env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(*config == NodeConfig{});
}

TEST(NodeConfigTest, ValidateChecksValuesSetInCode) {
  NodeConfig config;
  config.api.threads = 0;
  EXPECT_EQ(Message(config.Validate()), "api.threads: 0 is outside 1..256");
  config = NodeConfig{};
  config.api.listen = "nope";
  EXPECT_TRUE(Message(config.Validate()).starts_with("api.listen: ")) << config.Validate();
  config = NodeConfig{};
  config.limits.max_image_pixels = uint64_t{1} << 40;
  EXPECT_EQ(Message(config.Validate()), "limits.max_image_pixels: 1099511627776 is outside 1..10000000000");
  config = NodeConfig{};
  config.limits.max_video_body_bytes = (uint64_t{4} << 30) + 1;
  EXPECT_EQ(Message(config.Validate()), "limits.max_video_body_bytes: 4294967297 is outside 1024..4294967296");
  config = NodeConfig{};
  config.matching.video_target_match_percent = 0;
  EXPECT_EQ(Message(config.Validate()), "matching.video_target_match_percent: 0 is outside 1..100");
  config = NodeConfig{};
  config.node.id = "";
  EXPECT_EQ(config.Validate().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NodeConfigTest, ResolvedPathsDefaultUnderDataDir) {
  NodeConfig config;
  config.node.data_dir = "/var/lib/hashbank";
  EXPECT_EQ(config.TlsCertPath(), "/var/lib/hashbank/tls/server.pem");
  EXPECT_EQ(config.TlsKeyPath(), "/var/lib/hashbank/tls/server.key");
  EXPECT_EQ(config.SaltFilePath(), "/var/lib/hashbank/salt.json");
  config.node.data_dir = "/var/lib/hashbank/";  // a trailing slash does not double up
  EXPECT_EQ(config.SaltFilePath(), "/var/lib/hashbank/salt.json");
  EXPECT_EQ(NodeConfig{}.SaltFilePath(), "./hashbank-data/salt.json");
}

TEST(NodeConfigTest, ExplicitPathsAreKept) {
  NodeConfig config;
  config.node.data_dir = "/var/lib/hashbank";
  config.api.tls_cert = "certs/server.pem";
  config.api.tls_key = "/etc/hashbank/server.key";
  config.salt.file = "/etc/hashbank/salt.json";
  EXPECT_EQ(config.TlsCertPath(), "certs/server.pem");
  EXPECT_EQ(config.TlsKeyPath(), "/etc/hashbank/server.key");
  EXPECT_EQ(config.SaltFilePath(), "/etc/hashbank/salt.json");
}

// ---------------------------------------------------------------------------------------------------------
// federation

TEST(FederationConfigTest, FullSectionLoads) {
  auto config = FromYaml(Federation("    - {id: node-a.v6, public_key: \"" + std::string(64, 'F') + "\"}\n" +
                                    R"(  listen: "[::]:9444"
  ca: /etc/hashbank/federation-ca.pem
  sync_interval_ms: 500
  max_segment_entries: 2000
  peers:
    - id: node-b
      url: "https://node-b.example:9443"
    - id: node-c
      url: https://10.0.0.3
    - id: "node-a.v6"
      url: "https://[2001:db8::1]:8443/"
  suspended: [node-c]
  exclude_suspended_from_matching: true
)"));
  ASSERT_TRUE(config.ok()) << config.status();
  const NodeConfig::FederationSection& f = config->federation;
  EXPECT_EQ(f.listen, "[::]:9444");
  EXPECT_EQ(f.ca, "/etc/hashbank/federation-ca.pem");
  EXPECT_EQ(f.sync_interval_ms, 500u);
  EXPECT_EQ(f.max_segment_entries, 2000u);
  const std::vector<FederationMember> members = {
      {"node-a", kKeyA, ""}, {"node-b", kKeyB, ""}, {"node-c", kKeyC, ""}, {"node-a.v6", std::string(64, 'F'), ""}};
  EXPECT_EQ(f.members, members);
  const std::vector<FederationPeer> peers = {
      {"node-b", "https://node-b.example:9443", "node-b.example", 9443},
      {"node-c", "https://10.0.0.3", "10.0.0.3", 443},
      {"node-a.v6", "https://[2001:db8::1]:8443/", "2001:db8::1", 8443},
  };
  EXPECT_EQ(f.peers, peers);
  EXPECT_EQ(f.suspended, std::vector<std::string>{"node-c"});
  EXPECT_TRUE(f.exclude_suspended_from_matching);
  EXPECT_TRUE(config->FederationEnabled());
  EXPECT_TRUE(config->Validate().ok());
}

TEST(FederationConfigTest, EnabledByAListenerOrByPeers) {
  auto listener_only = FromYaml("federation:\n  listen: 127.0.0.1:9444\n");
  ASSERT_TRUE(listener_only.ok()) << listener_only.status();
  EXPECT_TRUE(listener_only->FederationEnabled());
  auto peers_only = FromYaml(Federation("  peers:\n    - {id: node-b, url: \"https://b.example\"}\n"));
  ASSERT_TRUE(peers_only.ok()) << peers_only.status();
  EXPECT_TRUE(peers_only->FederationEnabled());
  // Members alone (or suspensions) do not turn federation on.
  auto members_only = FromYaml(Federation("  suspended: [node-b]\n"));
  ASSERT_TRUE(members_only.ok()) << members_only.status();
  EXPECT_FALSE(members_only->FederationEnabled());
}

TEST(FederationConfigTest, CaPathDefaultsUnderDataDir) {
  NodeConfig config;
  config.node.data_dir = "/var/lib/hashbank/";
  EXPECT_EQ(config.FederationCaPath(), "/var/lib/hashbank/tls/ca.pem");
  config.federation.ca = "ca/federation.pem";
  EXPECT_EQ(config.FederationCaPath(), "ca/federation.pem");
}

TEST(FederationConfigTest, ListenIsParsedWhenSet) {
  EXPECT_TRUE(FromYaml("federation:\n  listen: \"\"\n").ok());
  EXPECT_EQ(Message(FromYaml("federation:\n  listen: 127.0.0.1\n").status()),
            "federation.listen: \"127.0.0.1\" has no port; expected host:port (line 2, column 11)");
  EXPECT_TRUE(FailsWith(FromYaml("federation:\n  listen: \"::1:80\"\n"), "federation.listen: "));
  EXPECT_TRUE(FailsWith(FromYaml("federation:\n  ca: \"a\\0b\"\n"), "federation.ca: contains a NUL character"));
}

TEST(FederationConfigTest, MemberPublicKeyMustBe64HexDigits) {
  auto config = FromYaml(Federation("    - {id: node-d, public_key: \"abc\"}\n"));
  EXPECT_EQ(Message(config.status()),
            "federation.members[3].public_key: expected 64 hex digits (an Ed25519 public key, from `hashbank keys "
            "show`), got 3 characters (line 8, column 32)");
  const std::string bad = std::string(40, 'a') + "g" + std::string(23, 'a');
  config = FromYaml("federation:\n  members:\n    - id: x\n      public_key: " + kKeyA +
                    "\n    - id: y\n      public_key: " + bad + "\n");
  EXPECT_TRUE(FailsWith(config, "federation.members[1].public_key: expected 64 hex digits"));
  EXPECT_TRUE(Contains(config.status(), "with a non-hex character at position 40 (line 6, column 19)"))
      << config.status();
  EXPECT_TRUE(FailsWith(FromYaml(Federation("    - {id: node-d, public_key: \"" + kKeyA + "a\"}\n")),
                        "federation.members[3].public_key: expected 64 hex digits"));
  EXPECT_TRUE(FailsWith(FromYaml(Federation("    - {id: node-d, public_key: [1]}\n")),
                        "federation.members[3].public_key: expected a string, got a sequence"));
}

TEST(FederationConfigTest, AMemberMayPinItsCertificateBy64HexDigits) {
  const std::string sha = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
  auto config = FromYaml(Federation("    - {id: node-d, public_key: \"" + kKeyA + "\", certificate_sha256: \"" + sha + "\"}\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->federation.members[3].certificate_sha256, sha);
  EXPECT_EQ(config->federation.members[0].certificate_sha256, "") << "optional: absent is empty";
  EXPECT_TRUE(FailsWith(FromYaml(Federation("    - {id: node-d, public_key: \"" + kKeyA + "\", certificate_sha256: ab}\n")),
                        "federation.members[3].certificate_sha256: expected 64 hex digits (the certificate_sha256 of the "
                        "member's card, from `hashbank keys show`), got 2 characters"));
  EXPECT_TRUE(FailsWith(FromYaml(Federation("    - {id: node-d, public_key: \"" + kKeyA + "\", certificate_sha256: \"" +
                                            std::string(63, 'a') + "z\"}\n")),
                        "federation.members[3].certificate_sha256: expected 64 hex digits"));
}

TEST(FederationConfigTest, MemberIdsFollowTheNodeIdRuleAndAreUnique) {
  EXPECT_TRUE(FailsWith(FromYaml(Federation("    - {id: Node-D, public_key: \"" + kKeyA + "\"}\n")),
                        "federation.members[3].id: \"Node-D\" has a character outside [a-z0-9._-] at position 0"));
  EXPECT_TRUE(FailsWith(FromYaml(Federation("    - {id: \"\", public_key: \"" + kKeyA + "\"}\n")),
                        "federation.members[3].id: is empty"));
  EXPECT_EQ(Message(FromYaml(Federation("    - {id: node-b, public_key: \"" + kKeyC + "\"}\n")).status()),
            "federation.members[3].id: duplicate \"node-b\", also at federation.members[1] (line 8, column 7)");
}

TEST(FederationConfigTest, MemberItemsAreMappingsWithExactlyTheirKeys) {
  EXPECT_EQ(Message(FromYaml("federation:\n  members:\n    - id: node-a\n").status()),
            "federation.members[0]: missing key public_key; each item of federation.members has id, public_key, "
            "certificate_sha256 (optional) (line 3, column 7)");
  EXPECT_TRUE(FailsWith(FromYaml(Federation("    - {id: node-d, public_key: \"" + kKeyA + "\", pubkey: x}\n")),
                        "federation.members[3].pubkey: unknown key; each item of federation.members has id, "
                        "public_key, certificate_sha256 (optional) (line 8, column"));
  EXPECT_TRUE(FailsWith(FromYaml(Federation("    - {id: node-d, id: node-e, public_key: \"" + kKeyA + "\"}\n")),
                        "federation.members[3].id: duplicate key"));
  EXPECT_TRUE(FailsWith(FromYaml(Federation("    - node-d\n")),
                        "federation.members[3]: expected a mapping with keys id, public_key, certificate_sha256 (optional), got the scalar "
                        "\"node-d\" (line 8, column 7)"));
  EXPECT_TRUE(FailsWith(FromYaml("federation:\n  members:\n    - ~\n"),
                        "federation.members[0]: expected a mapping with keys id, public_key, certificate_sha256 (optional), got null"));
}

TEST(FederationConfigTest, ListKeysMustBeLists) {
  EXPECT_EQ(Message(FromYaml("federation:\n  members: {id: a}\n").status()),
            "federation.members: expected a list, got a mapping (line 2, column 12)");
  EXPECT_TRUE(FailsWith(FromYaml("federation:\n  peers: node-b\n"),
                        "federation.peers: expected a list, got the scalar \"node-b\""));
  EXPECT_TRUE(FailsWith(FromYaml("federation:\n  suspended:\n"), "federation.suspended: expected a list, got null"));
  EXPECT_TRUE(FailsWith(FromYaml("federation:\n  listen: [a]\n"), "federation.listen: expected a string, got a"));
}

TEST(FederationConfigTest, KeepAtOriginNamesOnlyTypesThatCanStayHomeOnce) {
  EXPECT_EQ(Message(FromYaml("federation:\n  keep_at_origin: [robust, pdq]\n").status()),
            "federation.keep_at_origin[1]: \"pdq\" is not a type that can be kept at the origin (robust, embedding) (line 2, column 28)");
  EXPECT_TRUE(FailsWith(FromYaml("federation:\n  keep_at_origin: [robust, robust]\n"),
                        "federation.keep_at_origin[1]: duplicate \"robust\", also at federation.keep_at_origin[0]"));
  EXPECT_TRUE(FailsWith(FromYaml("federation:\n  keep_at_origin: robust\n"), "federation.keep_at_origin: expected a list"));
  auto config = FromYaml("federation:\n  keep_at_origin: [embedding]\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->federation.keep_at_origin, std::vector<std::string>{"embedding"});
  EXPECT_FALSE(config->FederationEnabled()) << "keeping types at home turns no federation on";
}

TEST(FederationConfigTest, PeersMustBeMembersOtherThanThisNode) {
  EXPECT_EQ(Message(FromYaml(Federation("  peers:\n    - {id: node-x, url: \"https://x.example\"}\n")).status()),
            "federation.peers[0].id: \"node-x\" is not a member; list it under federation.members");
  // Order in the file does not matter: peers may come before members.
  EXPECT_TRUE(FromYaml("federation:\n  peers: [{id: b, url: \"https://b\"}]\n  members: [{id: b, public_key: " +
                       kKeyB + "}]\n")
                  .ok());
  EXPECT_EQ(Message(FromYaml(Federation("  peers:\n    - {id: node-a, url: \"https://a.example\"}\n")).status()),
            "federation.peers[0].id: \"node-a\" is this node (node.id); a node does not pull from itself");
  // A node lists itself as a member (above: node-a), but an environment override of node.id is checked too.
  EXPECT_TRUE(FailsWith(FromYaml(Federation("  peers:\n    - {id: node-b, url: \"https://b.example\"}\n"),
                                 {{"HASHBANK_NODE_ID", "node-b"}}),
                        "federation.peers[0].id: \"node-b\" is this node"));
}

TEST(FederationConfigTest, PeersAreUniqueAndComplete) {
  EXPECT_EQ(Message(FromYaml(Federation("  peers:\n    - {id: node-b, url: \"https://b.example\"}\n"
                                        "    - {id: node-c, url: \"https://c.example\"}\n"
                                        "    - {id: node-b, url: \"https://b2.example\"}\n"))
                        .status()),
            "federation.peers[2].id: duplicate \"node-b\", also at federation.peers[0] (line 11, column 7)");
  EXPECT_TRUE(FailsWith(FromYaml(Federation("  peers:\n    - {id: node-b}\n")),
                        "federation.peers[0]: missing key url; each item of federation.peers has id, url"));
  EXPECT_TRUE(FailsWith(FromYaml(Federation("  peers:\n    - {id: node-b, url: \"https://b\", host: b}\n")),
                        "federation.peers[0].host: unknown key; each item of federation.peers has id, url"));
}

TEST(FederationConfigTest, PeerUrlMustBeHttpsHostAndPort) {
  struct Case {
    std::string url;
    std::string message;  // after "federation.peers[0].url: "
  };
  const std::vector<Case> cases = {
      {"\"\"", "is empty; expected https://host[:port]"},
      {"http://b.example", "\"http://b.example\" is not https"},
      {"HTTPS://b.example", "\"HTTPS://b.example\" does not start with https://"},
      {"b.example:443", "\"b.example:443\" does not start with https://"},
      {"https://b.example/sync", "\"https://b.example/sync\" has a path"},
      {"https://b.example//", "\"https://b.example//\" has a path"},
      {"\"https://b.example/?a=1\"", "\"https://b.example/?a=1\" has a query"},
      {"\"https://b.example?a=1\"", "\"https://b.example?a=1\" has a query"},
      {"\"https://b.example#x\"", "\"https://b.example#x\" has a fragment"},
      {"https://user@b.example", "\"https://user@b.example\" has userinfo"},
      {"https://user:pw@b.example:1", "\"https://user:pw@b.example:1\" has userinfo"},
      {"https://", "\"https://\" has no host"},
      {"https://:443", "\"https://:443\" has no host"},
      {"\"https://b.example:\"", "\"https://b.example:\" has an empty port"},
      {"https://b.example:0", "\"https://b.example:0\" has port 0"},
      {"https://b.example:65536", "\"https://b.example:65536\" has a port outside 1..65535"},
      {"https://b.example:44a", "\"https://b.example:44a\" has a port that is not a decimal number"},
      {"https://b_x.example", "\"https://b_x.example\" has a host that is neither"},
      {"https://1.2.3.999", "\"https://1.2.3.999\" has a host that is neither"},
      {"https://::1", "\"https://::1\" has an IPv6 address without brackets"},
      {"https://[::1", "\"https://[::1\" has no ']'"},
      {"https://[1.2.3.4]", "\"https://[1.2.3.4]\" has an invalid IPv6 address in brackets"},
      {"https://[::1]x", "\"https://[::1]x\" has text after ']'"},
  };
  for (const Case& c : cases) {
    const std::string yaml = Federation("  peers:\n    - id: node-b\n      url: " + c.url + "\n");
    EXPECT_TRUE(FailsWith(FromYaml(yaml), "federation.peers[0].url: " + c.message)) << c.url;
  }
  auto config = FromYaml(Federation("  peers:\n    - id: node-b\n      url: http://b\n"));
  EXPECT_TRUE(Contains(config.status(), "(line 10, column 12)")) << config.status();
}

TEST(FederationConfigTest, SuspendedIdsAreUniqueMembers) {
  EXPECT_EQ(Message(FromYaml(Federation("  suspended: [node-b, x]\n")).status()),
            "federation.suspended[1]: \"x\" is not a member; only members' entries can be suspended");
  EXPECT_EQ(Message(FromYaml(Federation("  suspended: [node-b, node-c, node-b]\n")).status()),
            "federation.suspended[2]: duplicate \"node-b\", also at federation.suspended[0] (line 8, column 31)");
  EXPECT_TRUE(FailsWith(FromYaml(Federation("  suspended: [Node-B]\n")),
                        "federation.suspended[0]: \"Node-B\" has a character outside [a-z0-9._-]"));
  EXPECT_TRUE(FailsWith(FromYaml(Federation("  suspended: [[node-b]]\n")),
                        "federation.suspended[0]: expected a string, got a sequence (line 8, column 15)"));
  // This node may suspend nobody but members; a node that lists itself may (uselessly) suspend itself.
  EXPECT_TRUE(FromYaml(Federation("  suspended: [node-a]\n")).ok());
}

TEST(FederationConfigTest, ExcludeSuspendedIsStrictlyTrueOrFalse) {
  auto config = FromYaml("federation:\n  exclude_suspended_from_matching: false\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->federation.exclude_suspended_from_matching);
  for (const std::string value : {"yes", "True", "1", "on", "\"\""}) {
    EXPECT_TRUE(FailsWith(FromYaml("federation:\n  exclude_suspended_from_matching: " + value + "\n"),
                          "federation.exclude_suspended_from_matching: expected true or false, got "))
        << value;
  }
  EXPECT_TRUE(FailsWith(FromYaml("federation:\n  exclude_suspended_from_matching: [true]\n"),
                        "federation.exclude_suspended_from_matching: expected true or false, got a sequence"));
}

TEST(FederationConfigTest, UnknownKeyListsTheSection) {
  EXPECT_TRUE(FailsWith(FromYaml("federation:\n  peer: []\n"),
                        "federation.peer: unknown key; section \"federation\" has listen, ca, sync_interval_ms, "
                        "max_segment_entries, members, peers, suspended, exclude_suspended_from_matching"));
}

TEST(FederationConfigTest, EnvironmentOverridesTheScalars) {
  TempDir dir{"hashbank-config"};
  const std::string path = dir.Write("hashbank.yaml", Federation("  listen: 127.0.0.1:1\n  sync_interval_ms: 900\n"));
  const Environment env = {{"HASHBANK_FEDERATION_LISTEN", "0.0.0.0:9444"},
                           {"HASHBANK_FEDERATION_CA", "/etc/hashbank/fed-ca.pem"},
                           {"HASHBANK_FEDERATION_SYNC_INTERVAL_MS", "100"},
                           {"HASHBANK_FEDERATION_MAX_SEGMENT_ENTRIES", "1"},
                           {"HASHBANK_FEDERATION_EXCLUDE_SUSPENDED_FROM_MATCHING", "true"}};
  auto config = NodeConfig::Load(path, env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->federation.listen, "0.0.0.0:9444");
  EXPECT_EQ(config->federation.ca, "/etc/hashbank/fed-ca.pem");
  EXPECT_EQ(config->federation.sync_interval_ms, 100u);
  EXPECT_EQ(config->federation.max_segment_entries, 1u);
  EXPECT_TRUE(config->federation.exclude_suspended_from_matching);
  EXPECT_EQ(config->federation.members.size(), 3u);  // lists come from the file
  // An empty listener turns federation off again.
  config = NodeConfig::Load(path, {{"HASHBANK_FEDERATION_LISTEN", ""}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->FederationEnabled());
}

TEST(FederationConfigTest, EnvironmentErrorsNameTheVariable) {
  EXPECT_EQ(Message(NodeConfig::Load("", {{"HASHBANK_FEDERATION_SYNC_INTERVAL_MS", "50"}}).status()),
            "HASHBANK_FEDERATION_SYNC_INTERVAL_MS: 50 is outside 100..3600000");
  EXPECT_EQ(Message(NodeConfig::Load("", {{"HASHBANK_FEDERATION_EXCLUDE_SUSPENDED_FROM_MATCHING", "1"}}).status()),
            "HASHBANK_FEDERATION_EXCLUDE_SUSPENDED_FROM_MATCHING: expected true or false, got \"1\"");
  EXPECT_TRUE(FailsWith(NodeConfig::Load("", {{"HASHBANK_FEDERATION_LISTEN", "x"}}),
                        "HASHBANK_FEDERATION_LISTEN: \"x\" has no port"));
  EXPECT_TRUE(FailsWith(NodeConfig::Load("", {{"HASHBANK_FEDERATION_PEER", "x"}}),
                        "HASHBANK_FEDERATION_PEER: unknown key; section \"federation\" has listen, ca"));
}

TEST(FederationConfigTest, ListValuedVariablesAreRejected) {
  for (const std::string key : {"members", "peers", "suspended"}) {
    std::string variable = "HASHBANK_FEDERATION_";
    for (const char c : key) variable += static_cast<char>(c - 'a' + 'A');
    EXPECT_EQ(Message(NodeConfig::Load("", {{variable, "node-b"}}).status()),
              variable + ": federation." + key + " is a list; lists are set in the file, not in the environment");
    EXPECT_TRUE(FailsWith(NodeConfig::Load("", {{variable, ""}}), variable + ": federation." + key + " is a list"));
  }
}

TEST(FederationConfigTest, ValidateChecksListsBuiltInCode) {
  NodeConfig config;
  config.node.id = "node-a";
  config.federation.members = {{"node-a", kKeyA, ""}, {"node-b", kKeyB, ""}};
  config.federation.peers = {{"node-b", "https://b.example:9443", "b.example", 9443}};
  config.federation.suspended = {"node-b"};
  EXPECT_TRUE(config.Validate().ok()) << config.Validate();
  EXPECT_TRUE(config.FederationEnabled());

  NodeConfig bad = config;
  bad.federation.members[1].public_key_hex = "xyz";
  EXPECT_TRUE(Message(bad.Validate()).starts_with("federation.members[1].public_key: expected 64 hex digits"))
      << bad.Validate();
  bad = config;
  bad.federation.members.push_back({"node-a", kKeyC, ""});
  EXPECT_EQ(Message(bad.Validate()), "federation.members[2].id: duplicate \"node-a\", also at federation.members[0]");
  bad = config;
  bad.federation.peers[0].port = 443;  // host and port are derived from the url: they must agree
  EXPECT_TRUE(Message(bad.Validate()).starts_with("federation.peers[0]: host \"b.example\" and port 443 do not match"))
      << bad.Validate();
  bad = config;
  bad.federation.peers[0].url = "https://b.example/x";
  EXPECT_TRUE(Message(bad.Validate()).starts_with("federation.peers[0].url: \"https://b.example/x\" has a path"))
      << bad.Validate();
  bad = config;
  bad.federation.suspended = {"node-c"};
  EXPECT_TRUE(Message(bad.Validate()).starts_with("federation.suspended[0]: \"node-c\" is not a member"))
      << bad.Validate();
  bad = config;
  bad.federation.suspended = {""};
  EXPECT_EQ(Message(bad.Validate()), "federation.suspended[0]: is empty");
}

TEST(ProcessEnvironmentTest, KeepsOnlyHashbankVariables) {
  const Environment env = ProcessEnvironment();
  for (const auto& [name, value] : env) EXPECT_TRUE(name.starts_with("HASHBANK_")) << name;
  EXPECT_EQ(env.count("PATH"), 0u);
}

}  // namespace
}  // namespace hashbank

namespace hashbank {
namespace {

using ::hashbank::testing::TempDir;

// A relative path written in a config file is relative to the file's directory; an absolute one and one from
// the environment are kept as written.
TEST(NodeConfigPathsTest, RelativePathsInAFileAreRelativeToTheFile) {
  const TempDir temp{"hashbank-config-paths"};
  const std::filesystem::path& dir = temp.path();
  std::filesystem::create_directories(dir / "etc");
  const std::filesystem::path file = dir / "etc" / "hashbank.yaml";
  {
    std::ofstream out(file);
    out << "node:\n  data_dir: ../data\napi:\n  tls_cert: tls/a.pem\n  tls_key: /abs/a.key\nsalt:\n  file: salt.json\n"
        << "matching:\n  embedding_model: models/embedder.onnx\n";
  }
  auto config = NodeConfig::Load(file.string(), Environment{});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->node.data_dir, (dir / "data").string());
  EXPECT_EQ(config->api.tls_cert, (dir / "etc" / "tls" / "a.pem").string());
  EXPECT_EQ(config->api.tls_key, "/abs/a.key");
  EXPECT_EQ(config->salt.file, (dir / "etc" / "salt.json").string());
  EXPECT_EQ(config->matching.embedding_model, (dir / "etc" / "models" / "embedder.onnx").string());
  // From the environment: as written (relative to the working directory).
  auto from_env = NodeConfig::Load(file.string(), Environment{{"HASHBANK_NODE_DATA_DIR", "rel/data"}});
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_EQ(from_env->node.data_dir, "rel/data");
}

}  // namespace
}  // namespace hashbank
