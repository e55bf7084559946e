#include "node/cli/serve_settings.h"

#include <chrono>

namespace hashbank {

ApiLimits ApiLimitsFromConfig(const NodeConfig& config) {
  const NodeConfig::LimitsSection& l = config.limits;
  const NodeConfig::MatchingSection& m = config.matching;
  ApiLimits limits;
  limits.max_batch_items = l.max_batch_items;
  limits.requests_per_second_per_token = l.requests_per_second_per_token;
  limits.burst_per_token = l.burst_per_token;
  limits.max_concurrent_uploads = l.max_concurrent_uploads;
  limits.max_concurrent_uploads_per_token = l.max_concurrent_uploads_per_token;
  limits.max_concurrent_video_decodes = l.max_concurrent_video_decodes;
  limits.max_json_body_bytes = l.max_json_body_bytes;
  limits.pdq_quality_floor = static_cast<int>(m.pdq_quality_floor);
  limits.pdq_default_max_distance = static_cast<int>(m.pdq_default_max_distance);
  limits.pdq_max_distance_limit = static_cast<int>(m.pdq_max_distance_limit);
  limits.image.max_file_bytes = l.max_image_body_bytes;
  limits.image.max_pixels = l.max_image_pixels;
  limits.video.max_file_bytes = l.max_video_body_bytes;
  limits.video.max_duration_seconds = l.max_video_seconds;
  limits.video.max_pixels = l.max_video_pixels;
  limits.video.max_decode_seconds = l.max_video_decode_seconds;
  limits.video_seconds_per_frame = m.video_frame_interval_ms / 1000.0;
  limits.video_query_seconds_per_frame = m.video_query_frame_interval_ms / 1000.0;
  limits.video_rule.range_match_percent = m.video_range_match_percent;
  limits.video_rule.max_distance = static_cast<int>(m.video_max_distance);
  limits.video_rule.min_quality = static_cast<int>(m.pdq_quality_floor);
  limits.video_rule.query_match_percent = m.video_query_match_percent;
  limits.video_rule.target_match_percent = m.video_target_match_percent;
  limits.video_rule.min_matched_seconds = m.video_min_matched_seconds;
  return limits;
}

CaseOptions CaseOptionsFromConfig(const NodeConfig& config) {
  const NodeConfig::CasesSection& c = config.cases;
  return CaseOptions{.public_submission = c.public_submission,
                     .per_ip_per_hour = c.per_ip_per_hour,
                     .global_per_hour = c.global_per_hour,
                     .daily_cap = c.daily_cap,
                     .max_hashes = c.max_hashes,
                     .pin_attempts = c.pin_attempts,
                     .lockout_minutes = c.lockout_minutes,
                     .lookups_per_ip_per_hour = c.lookups_per_ip_per_hour,
                     .max_message_bytes = 2000,
                     .now_ms = nullptr};
}

std::vector<std::string> RestartOnlySettings(const NodeConfig& running, const NodeConfig& next) {
  std::vector<std::string> restart;
  auto differ = [&restart](bool changed, const char* name) {
    if (changed) restart.push_back(name);
  };
  differ(next.node.id != running.node.id, "node.id");
  differ(next.node.data_dir != running.node.data_dir, "node.data_dir");
  differ(next.api.listen != running.api.listen, "api.listen");
  differ(next.api.threads != running.api.threads, "api.threads");
  differ(next.matching.pdq_quality_floor != running.matching.pdq_quality_floor, "matching.pdq_quality_floor");
  differ(next.matching.embedding_model != running.matching.embedding_model, "matching.embedding_model");
  differ(next.federation.listen != running.federation.listen, "federation.listen");
  differ(next.FederationEnabled() != running.FederationEnabled(), "federation (turned on or off)");
  // The TLS files are read again from where the node started with (a renewed certificate in place).
  differ(next.TlsCertPath() != running.TlsCertPath(), "the TLS certificate's path");
  differ(next.TlsKeyPath() != running.TlsKeyPath(), "the TLS key's path");
  differ(next.FederationCaPath() != running.FederationCaPath(), "the federation CA's path");
  differ(next.federation.sync_interval_ms != running.federation.sync_interval_ms, "federation.sync_interval_ms");
  differ(next.federation.keep_at_origin != running.federation.keep_at_origin, "federation.keep_at_origin");
  differ(next.federation.max_segment_entries != running.federation.max_segment_entries,
         "federation.max_segment_entries");
  return restart;
}

std::vector<std::string> ReloadableSections(const NodeConfig& running, const NodeConfig& next) {
  std::vector<std::string> changed;
  if (!(next.limits == running.limits)) changed.push_back("limits");
  NodeConfig::MatchingSection m = next.matching;
  m.pdq_quality_floor = running.matching.pdq_quality_floor;  // restart-only
  m.embedding_model = running.matching.embedding_model;      // restart-only
  if (!(m == running.matching)) changed.push_back("matching");
  if (!(next.webhooks == running.webhooks)) changed.push_back("webhooks");
  if (!(next.cases == running.cases)) changed.push_back("cases");
  return changed;
}

}  // namespace hashbank
