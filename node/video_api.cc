// The member API's video routes: POST /v1/signals/video, POST /v1/match/video, and POST /v1/hash for a video.
// A video is decoded in process (hashing/video_decoder.h) on the request's worker thread, within the node's
// video limits; nothing of it is kept.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "node/api_support.h"
#include "node/member_api.h"
#include "node/status_macros.h"

namespace hashbank {
namespace {

using namespace ::hashbank::api;  // NOLINT(google-build-using-namespace): the API's own helpers

std::vector<VideoFrame> Frames(const VideoHashes& h) {
  std::vector<VideoFrame> out;
  out.reserve(h.frames.size());
  for (const VpdqFrame& f : h.frames) out.push_back({f.pdq, f.quality, f.timestamp});
  return out;
}

}  // namespace

absl::StatusOr<VideoHashes> MemberApi::DecodeVideo(std::string_view bytes, const ApiLimits& lim, double seconds_per_frame,
                                                   const VideoQueryVariants& variants, const KeyframeOptions& keyframes) {
  // A decode holds its worker for up to video.max_decode_seconds: bounded, so JSON and image requests keep
  // workers of their own (docs/configuration.md, limits.max_concurrent_video_decodes).
  const std::shared_ptr<void> slot = AdmitVideoDecode();
  if (!slot) {
    return BusyError(absl::StrCat("this node decodes at most ", lim.max_concurrent_video_decodes,
                                  " video(s) at once and all are busy; retry shortly"));
  }
  return VideoHasher(lim.video).Hash({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                                     VideoDecodeOptions{.seconds_per_frame = seconds_per_frame}, {}, variants, keyframes);
}

absl::StatusOr<HttpResponse> MemberApi::HashVideo(const Call& call) {
  const ApiLimits lim = limits();
  const HttpRequest& req = call.request;
  HB_ASSIGN_OR_RETURN(const VideoHashes h, DecodeVideo(req.body, lim, lim.video_seconds_per_frame, {}, kBankKeyframes));
  json::object out;
  out["hashes"] = VideoHashesJson(h);
  return Json(200, out);
}

absl::StatusOr<HttpResponse> MemberApi::SubmitVideo(const Call& call) {
  const ApiLimits lim = limits();
  const HttpRequest& req = call.request;
  if (req.body.empty()) return Bad("send the video file as the request body");
  SignalInput in;
  HB_RETURN_IF_ERROR(ParseUploadParams(req.target, &in));
  HB_ASSIGN_OR_RETURN(const VideoHashes h, DecodeVideo(req.body, lim, lim.video_seconds_per_frame, {}, kBankKeyframes));
  json::object out;
  FillVideoInput(h, &in, &out);
  HB_ASSIGN_OR_RETURN(const SignalRef ref, bank_->Submit(in, *call.actor));
  out["id"] = FormatSignalId(ref);
  return Json(201, out);
}

absl::StatusOr<VideoHashes> MemberApi::HashBankedVideo(std::string_view bytes) {
  const ApiLimits lim = limits();
  return DecodeVideo(bytes, lim, lim.video_seconds_per_frame, {}, kBankKeyframes);
}

void MemberApi::FillVideoInput(const VideoHashes& h, SignalInput* input, json::object* notes) const {
  const ApiLimits lim = limits();
  SignalInput& in = *input;
  json::object& out = *notes;
  in.md5 = h.exact.md5;
  in.sha256 = h.exact.sha256;
  // Every fingerprint the video gives is kept; vPDQ is left out when no frame reaches the quality floor (a
  // black or flat video), or when the video has more sampled frames than a signal may carry.
  const bool matchable = std::any_of(h.frames.begin(), h.frames.end(),
                                     [&](const VpdqFrame& f) { return f.quality >= lim.pdq_quality_floor; });
  if (!matchable) {
    out["vpdq_skipped"] = absl::StrCat("no frame reaches this node's quality floor of ", lim.pdq_quality_floor,
                                       "; vPDQ was not stored, MD5 and SHA-256 were");
  } else if (h.frames.size() > kMaxSubmittedVideoFrames) {
    out["vpdq_skipped"] = absl::StrCat(h.frames.size(), " sampled frames; a signal carries at most ", kMaxSubmittedVideoFrames,
                                       "; vPDQ was not stored, MD5 and SHA-256 were");
  } else {
    in.video = VideoInput{Frames(h), h.FrameInterval(), h.info.duration_seconds, BankableKeyframes(h)};
  }
  json::array types;
  types.emplace_back("md5");
  types.emplace_back("sha256");
  if (in.video) types.emplace_back("vpdq");
  out["signal_types"] = std::move(types);
  out["frames"] = in.video ? in.video->frames.size() : 0;
  out["keyframes"] = in.video ? in.video->keyframes.size() : 0;
}

absl::StatusOr<HttpResponse> MemberApi::MatchVideo(const Call& call) {
  const ApiLimits lim = limits();
  const HttpRequest& req = call.request;
  if (req.body.empty()) return Bad("send the video file as the request body");
  HB_ASSIGN_OR_RETURN(const MatchFilter filter, ParseMatchFilterParams(req.target));
  VideoMatchRule rule = lim.video_rule;
  rule.min_quality = std::max(rule.min_quality, lim.pdq_quality_floor);
  // Per-request thresholds, within what the node allows (never looser than 0 or over the PDQ limit).
  if (const std::string v = QueryParam(req.target, "max_distance"); !v.empty()) {
    if (!ParseWhole(v, &rule.max_distance) || rule.max_distance < 0 || rule.max_distance > lim.pdq_max_distance_limit) {
      return Bad(absl::StrCat("max_distance: 0 to ", lim.pdq_max_distance_limit, " on this node"));
    }
  }
  for (auto [name, field] : {std::pair{"query_match_percent", &rule.query_match_percent},
                             std::pair{"target_match_percent", &rule.target_match_percent}}) {
    if (const std::string v = QueryParam(req.target, name); !v.empty()) {
      int percent = 0;
      if (!ParseWhole(v, &percent) || percent < 1 || percent > 100) return Bad(absl::StrCat(name, ": 1 to 100"));
      *field = percent;
    }
  }
  const VideoQueryVariants variants{.mirrored = QueryParam(req.target, "mirrored") != "false", .strip_borders = true};
  // Queries are sampled more densely than the bank (video_query_seconds_per_frame), so that every banked
  // frame has a query frame close in time whatever the excerpt's offset.
  KeyframeOptions keyframe_options = kQueryKeyframes;
  keyframe_options.mirrored = variants.mirrored;
  HB_ASSIGN_OR_RETURN(const VideoHashes h,
                      DecodeVideo(req.body, lim, lim.video_query_seconds_per_frame, variants, keyframe_options));
  // Passes: the frames as hashed; mirrored (mirrored=false turns it off); with black bars cut off, when any
  // frame had bars.
  std::vector<VideoQueryPass> passes(1);
  passes[0].frames = Frames(h);
  if (variants.mirrored) {
    VideoQueryPass& p = passes.emplace_back();
    p.mirrored = true;
    for (const VpdqFrame& f : h.frames) p.frames.push_back({f.mirrored, f.quality, f.timestamp});
  }
  if (std::any_of(h.frames.begin(), h.frames.end(), [](const VpdqFrame& f) { return f.bordered; })) {
    VideoQueryPass& p = passes.emplace_back();
    p.bars_removed = true;
    for (const VpdqFrame& f : h.frames) p.frames.push_back({f.unbordered, f.quality, f.timestamp});
  }
  std::vector<Match> matches;
  HB_ASSIGN_OR_RETURN(matches, bank_->MatchVideo(passes, h.FrameInterval(), rule));
  // Keyframes: crops and overlays that the frames' PDQs miss. A video the passes found is not reported again.
  std::vector<VideoKeyframeQuery> keyframes;
  for (const VideoKeyframe& k : h.keyframes) keyframes.push_back({k.features, k.mirrored, k.timestamp});
  HB_ASSIGN_OR_RETURN(const std::vector<Match> by_keyframes, bank_->MatchVideoKeyframes(keyframes));
  for (const Match& m : by_keyframes) {
    if (std::none_of(matches.begin(), matches.end(), [&](const Match& x) { return x.ref == m.ref; })) {
      matches.push_back(m);
    }
  }
  HB_ASSIGN_OR_RETURN(const std::vector<Match> md5, bank_->MatchMd5(h.exact.md5));
  matches.insert(matches.end(), md5.begin(), md5.end());
  HB_ASSIGN_OR_RETURN(const std::vector<Match> sha, bank_->MatchSha256(h.exact.sha256));
  matches.insert(matches.end(), sha.begin(), sha.end());
  ApplyMatchFilter(filter, &matches);
  json::object out;
  json::object hashes = VideoHashesJson(h);
  hashes.erase("vpdq");  // a query's frames are not echoed (hundreds of lines); /v1/hash gives them
  hashes.erase("vpdq_keyframes");  // nor its keyframes (query-sized: 1 000 features each)
  hashes["frames"] = h.frames.size();
  out["hashes"] = std::move(hashes);
  json::array arr;
  for (const Match& m : matches) arr.push_back(MatchJson(m, false));
  out["matches"] = std::move(arr);
  return Json(200, out);
}

}  // namespace hashbank
