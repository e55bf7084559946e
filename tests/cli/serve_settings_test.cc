// serve_settings: a reload names exactly the settings that need a restart, and the sections it applies;
// the limits a node serves with are the configuration's.
#include "node/cli/serve_settings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hashbank {
namespace {

using Names = std::vector<std::string>;

TEST(ServeSettingsTest, RestartOnlySettingsNamesWhatARunningNodeCannotTake) {
  const NodeConfig running;
  EXPECT_EQ(RestartOnlySettings(running, running), Names{});
  NodeConfig next = running;
  next.limits.max_batch_items = 7;  // reloadable
  next.cases.daily_cap = 3;
  next.webhooks.watch_days = 2;
  next.matching.video_max_distance = 20;
  EXPECT_EQ(RestartOnlySettings(running, next), Names{});
  next.api.listen = "127.0.0.1:9443";
  next.matching.pdq_quality_floor = 70;
  next.federation.sync_interval_ms = 500;
  next.federation.keep_at_origin = {"robust"};
  EXPECT_EQ(RestartOnlySettings(running, next), (Names{"api.listen", "matching.pdq_quality_floor",
                                                       "federation.sync_interval_ms", "federation.keep_at_origin"}));
}

TEST(ServeSettingsTest, ReloadableSectionsNamesTheSectionsThatDiffer) {
  const NodeConfig running;
  EXPECT_EQ(ReloadableSections(running, running), Names{});
  NodeConfig next = running;
  next.matching.pdq_quality_floor = 70;  // restart-only: not a reloaded change
  EXPECT_EQ(ReloadableSections(running, next), Names{});
  next.webhooks.delivery_timeout_ms = 500;
  next.cases.public_submission = !running.cases.public_submission;
  EXPECT_EQ(ReloadableSections(running, next), (Names{"webhooks", "cases"}));
  next.limits.request_timeout_ms = 1000;
  next.matching.video_min_matched_seconds = 1;
  EXPECT_EQ(ReloadableSections(running, next), (Names{"limits", "matching", "webhooks", "cases"}));
}

TEST(ServeSettingsTest, LimitsAndCaseOptionsComeFromTheConfiguration) {
  NodeConfig config;
  config.limits.max_batch_items = 11;
  config.limits.max_json_body_bytes = 12345;
  config.limits.max_image_body_bytes = 23456;
  config.limits.max_video_body_bytes = 34567;
  config.limits.max_concurrent_uploads = 5;
  config.limits.max_concurrent_uploads_per_token = 3;
  config.limits.max_concurrent_video_decodes = 4;
  config.matching.pdq_quality_floor = 65;
  config.matching.pdq_max_distance_limit = 44;
  config.matching.video_frame_interval_ms = 250;
  config.cases.max_hashes = 9;
  config.cases.public_submission = true;
  const ApiLimits limits = ApiLimitsFromConfig(config);
  EXPECT_EQ(limits.max_batch_items, 11u);
  EXPECT_EQ(limits.max_json_body_bytes, 12345u);
  EXPECT_EQ(limits.image.max_file_bytes, 23456u);
  EXPECT_EQ(limits.video.max_file_bytes, 34567u);
  EXPECT_EQ(limits.max_concurrent_uploads, 5u);
  EXPECT_EQ(limits.max_concurrent_uploads_per_token, 3u);
  EXPECT_EQ(limits.max_concurrent_video_decodes, 4u);
  EXPECT_EQ(limits.pdq_quality_floor, 65);
  EXPECT_EQ(limits.video_rule.min_quality, 65);  // video frames below the floor are neither indexed nor queried
  EXPECT_EQ(limits.pdq_max_distance_limit, 44);
  EXPECT_DOUBLE_EQ(limits.video_seconds_per_frame, 0.25);
  const CaseOptions cases = CaseOptionsFromConfig(config);
  EXPECT_EQ(cases.max_hashes, 9u);
  EXPECT_TRUE(cases.public_submission);
  EXPECT_FALSE(cases.now_ms);
}

}  // namespace
}  // namespace hashbank
