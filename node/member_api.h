// MemberApi: the member HTTPS API's request logic — a function from request to response, with no socket,
// so every route and error is testable directly (tests/node) and through the real server (tests/integration).
//
// A route table built once (method, path or "/v1/signals/{id}[/opinions]", metric label, roles, body kind,
// handler). Each handler is a function from the parsed call to StatusOr<HttpResponse>: errors are values,
// mapped to HTTP in one place (FromStatus), never exceptions. Checks run in a fixed order: 404 (no route),
// 405 (wrong method), 401 (no or unknown token), 403 (role), 429 (rate), 415 (content type), then the handler.
//
// JSON in and out; errors are {"error": {"code", "message"}} with the HTTP status that fits: 400 bad input,
// 401 no or unknown token, 403 wrong role, 404, 405, 409 conflict (already withdrawn), 413 too large,
// 415 unsupported media type or image format, 422 quality below the floor, 429 rate limit, 500, 503.
// Request bodies are limited by the server before they get here (MemberApi::BodyLimit).
// Never logs or echoes a hash value. Thread-safe (the rate buckets are guarded by rate_mu_, the limits by
// limits_mu_: SetLimits replaces them while requests run, and each request reads one snapshot).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include <boost/json/object.hpp>
#include "hashing/image_decoder.h"
#include "embedding/onnx_embedder.h"
#include "hashing/image_hasher.h"
#include "hashing/vpdq.h"
#include "node/bank.h"
#include "node/http_types.h"
#include "node/metrics.h"

namespace hashbank {

struct ApiLimits {
  size_t max_batch_items = 1000;
  double requests_per_second_per_token = 5000;  // 0 = unlimited
  double burst_per_token = 10000;
  int pdq_quality_floor = 50;  // image matches skip PDQ below it
  int pdq_default_max_distance = 31;
  int pdq_max_distance_limit = 63;
  size_t max_concurrent_uploads = 8;            // image bodies held at once, all tokens
  size_t max_concurrent_uploads_per_token = 2;  // ... one token name
  // Videos decoded at once (any route): each holds a worker for up to video.max_decode_seconds, so fewer than
  // the workers leaves the others to JSON and image requests. More get 429 (AdmitVideoDecode).
  size_t max_concurrent_video_decodes = 1;
  ImageLimits image;
  VideoLimits video;
  double video_seconds_per_frame = 1.0;  // vPDQ sampling of banked videos (0: every frame)
  double video_query_seconds_per_frame = 0.5;  // and of query videos (denser: excerpts at any offset)
  VideoMatchRule video_rule;
  // Request bodies (the server asks BodyLimit before reading one): JSON routes; image routes use
  // image.max_file_bytes, video routes video.max_file_bytes.
  size_t max_json_body_bytes = size_t{1} << 20;
};

// Which limit the server applies to a request's body (decided from the headers, before the body is read).
// Image routes are the routes whose body is a media file (video routes included): they take an upload slot.
bool IsImageRoute(std::string_view method, std::string_view target);
// HMA's paths (/status, /status/live, /h/..., /m/..., /c/...): answered in HMA's shapes (hma_api.cc).
bool IsHmaPath(std::string_view path);
// A native error response ({"error": {"code", "message"}}) in HMA's shape ({"message"}); others unchanged.
HttpResponse AsHmaError(HttpResponse response);
bool IsVideoRoute(std::string_view method, std::string_view target);
// For HttpsServerOptions::run_inline: GET /v1/health and GET /metrics, cheap and never behind image hashing.
bool MemberApiRunsInline(std::string_view method, std::string_view target);

class MemberApi {
 public:
  MemberApi(Bank* bank, ApiLimits limits, Metrics* metrics);
  HttpResponse Handle(const HttpRequest& request);
  // Called by the server with the headers only, before any body is read: an answer (404, 405, 401, or 429
  // when too many image bodies are in flight) means the body is not read at all. An image route admitted
  // gets a ticket: its upload slot, held until the server drops it after the response.
  PrecheckResult Precheck(std::string_view method, std::string_view target, std::string_view authorization);
  // The victims' case desk (node/case_desk.h), set before serving; without it the case routes answer 503.
  void SetCaseDesk(class CaseDesk* desk);
  // The image embedding model (matching.embedding_model), set before serving; it must outlive the API.
  // Without it no embedding is computed from images.
  void SetEmbedder(const OnnxEmbedder* embedder) { embedder_ = embedder; }
  // Federation, when the node runs it: its status JSON and its gauges (set before serving).
  void SetFederationHooks(std::function<std::string()> status,
                          std::function<void(const std::function<void(std::string_view, std::string_view, double)>&)> gauges);
  // The limits in force, and a configuration reload's new ones (SIGHUP): requests that start afterwards use
  // them; one in flight keeps the snapshot it started with. Upload slots and rate buckets already held are
  // kept (a lower cap admits nothing new until enough are released).
  ApiLimits limits() const ABSL_LOCKS_EXCLUDED(limits_mu_);
  void SetLimits(const ApiLimits& limits) ABSL_LOCKS_EXCLUDED(limits_mu_);
  // A video decode slot (limits.max_concurrent_video_decodes in all, whatever the route), held until the
  // returned ticket goes; nullptr when all are taken. Videos in decode now (the /metrics gauge).
  std::shared_ptr<void> AdmitVideoDecode() ABSL_LOCKS_EXCLUDED(video_mu_, limits_mu_);
  size_t video_decodes_in_flight() const ABSL_LOCKS_EXCLUDED(video_mu_);
  // The body rule for HttpsServerOptions::body_limit, from the limits in force: video routes
  // video.max_file_bytes, other image routes (/v1/hash too, for images and videos) image.max_file_bytes,
  // the rest max_json_body_bytes.
  size_t BodyLimit(std::string_view method, std::string_view target) const ABSL_LOCKS_EXCLUDED(limits_mu_);

  // What a handler gets: the request, the authenticated actor (routes with roles), the {id} path segment.
  struct Call {
    const HttpRequest& request;
    std::string_view path;
    std::optional<Actor> actor;
    std::string path_id;              // the first {...} segment of the path, if any
    std::vector<std::string> params;  // every {...} segment, in order
  };
  using Handler = absl::StatusOr<HttpResponse> (MemberApi::*)(const Call&);

 private:
  enum class Body { kNone, kJson, kBinary };
  struct RouteSpec {
    std::string method;
    std::string path;  // exact, or "/v1/signals/{id}" and "/v1/signals/{id}/opinions"
    Route metric;
    std::vector<Role> roles;  // empty: no token needed
    Body body;
    Handler handler;
    bool hma = false;  // HMA's paths: errors as {"message"}, unknown paths and methods as Werkzeug's pages
  };
  // The route of (method, path), or the 404/405 answer; `metric` is the label the request is counted under.
  struct Resolved {
    const RouteSpec* route = nullptr;
    std::string id;  // the first {...} segment, if the path has one
    std::vector<std::string> params;
    Route metric = Route::kOther;
    std::optional<HttpResponse> error;
  };
  Resolved Resolve(std::string_view method, std::string_view path) const;
  // The routes of `path` (several methods may share one), and the {id} segment if the path has one.
  std::vector<const RouteSpec*> RoutesFor(std::string_view path, std::vector<std::string>* params) const;
  bool Allow(const std::string& token_name) ABSL_LOCKS_EXCLUDED(rate_mu_);

  absl::StatusOr<HttpResponse> Health(const Call& call);
  absl::StatusOr<HttpResponse> MetricsText(const Call& call);
  // Signal counts by type, label and bank (the dashboard).
  absl::StatusOr<HttpResponse> SignalStats(const Call& call);
  absl::StatusOr<HttpResponse> Submit(const Call& call);
  absl::StatusOr<HttpResponse> SubmitBatch(const Call& call);
  absl::StatusOr<HttpResponse> GetSignal(const Call& call);
  absl::StatusOr<HttpResponse> Withdraw(const Call& call);
  absl::StatusOr<HttpResponse> Opinion(const Call& call);
  absl::StatusOr<HttpResponse> EditLabels(const Call& call);
  absl::StatusOr<HttpResponse> MatchHashes(const Call& call);
  absl::StatusOr<HttpResponse> MatchImage(const Call& call);
  absl::StatusOr<HttpResponse> HashImage(const Call& call);
  absl::StatusOr<HttpResponse> ImageRoute(const Call& call, bool match);
  absl::StatusOr<HttpResponse> SubmitImage(const Call& call);
  // Video routes (video_api.cc).
  absl::StatusOr<HttpResponse> SubmitVideo(const Call& call);
  absl::StatusOr<HttpResponse> MatchVideo(const Call& call);
  absl::StatusOr<HttpResponse> HashVideo(const Call& call);
  // What a banked image or video stores (every fingerprint it gives, PDQ and vPDQ only from the quality
  // floor up), filled into `input`; `notes` gets signal_types and why a fingerprint was left out.
  // The embedding model's part of one image request: the model's preprocessing when it can run (a model is
  // configured and its fingerprint is known here), else why not (`skipped`; empty without a model).
  struct EmbeddingPlan {
    std::optional<EmbeddingPreprocessing> pre;
    float threshold = 0.9f;  // the fingerprint's: an image query's minimum similarity
    std::string skipped;
  };
  EmbeddingPlan PlanEmbedding() const;
  // `options` with the model's input size when the plan runs the model.
  static HashOptions WithModelInput(HashOptions options, const EmbeddingPlan& plan);
  // The model's raw embedding of the hashed image, or nullopt with plan->skipped saying why.
  std::optional<EmbeddingInput> RunEmbedding(const ImageHashes& h, EmbeddingPlan* plan) const;
  // A bankable image's fingerprints into `input` (and the embedding, when the plan runs the model); `notes`
  // gets what was left out and why (pdq_skipped, robust_skipped, embedding_skipped) and signal_types.
  void FillImageInput(const ImageHashes& h, EmbeddingPlan* plan, SignalInput* input, boost::json::object* notes) const;
  void FillVideoInput(const VideoHashes& h, SignalInput* input, boost::json::object* notes) const;
  // A video to bank, hashed at this node's banked sampling rate and limits.
  absl::StatusOr<VideoHashes> HashBankedVideo(std::string_view bytes);
  // Every video decode of the API: within limits.video, once a decode slot is free (else BusyError, 429).
  absl::StatusOr<VideoHashes> DecodeVideo(std::string_view bytes, const ApiLimits& lim, double seconds_per_frame,
                                          const VideoQueryVariants& variants, const KeyframeOptions& keyframes);
  // The calling thread's hasher, with this node's image limits.
  ImageHasher& Hasher() const;
  absl::StatusOr<HttpResponse> CreateToken(const Call& call);
  absl::StatusOr<HttpResponse> ListTokens(const Call& call);
  absl::StatusOr<HttpResponse> RevokeToken(const Call& call);
  // Banks and listings (native).
  absl::StatusOr<HttpResponse> ListBanks(const Call& call);
  absl::StatusOr<HttpResponse> ListSignals(const Call& call);
  // Webhooks and the watch list (webhook_api.cc).
  absl::StatusOr<HttpResponse> CreateWebhook(const Call& call);
  absl::StatusOr<HttpResponse> ListWebhooks(const Call& call);
  absl::StatusOr<HttpResponse> GetWebhook(const Call& call);
  absl::StatusOr<HttpResponse> DeleteWebhook(const Call& call);
  absl::StatusOr<HttpResponse> Watch(const Call& call);
  // HMA 1.1's API (hma_api.cc).
  absl::StatusOr<HttpResponse> HmaStatus(const Call& call);
  absl::StatusOr<HttpResponse> HmaHash(const Call& call);
  absl::StatusOr<HttpResponse> HmaLookup(const Call& call);
  absl::StatusOr<HttpResponse> HmaLookupFile(const Call& call);
  absl::StatusOr<HttpResponse> HmaRawLookup(const Call& call);
  absl::StatusOr<HttpResponse> HmaCompare(const Call& call);
  absl::StatusOr<HttpResponse> HmaIndexStatus(const Call& call);
  absl::StatusOr<HttpResponse> HmaListBanks(const Call& call);
  absl::StatusOr<HttpResponse> HmaCreateBank(const Call& call);
  absl::StatusOr<HttpResponse> HmaGetBank(const Call& call);
  absl::StatusOr<HttpResponse> HmaUpdateBank(const Call& call);
  absl::StatusOr<HttpResponse> HmaDeleteBank(const Call& call);
  absl::StatusOr<HttpResponse> HmaAddSignal(const Call& call);
  absl::StatusOr<HttpResponse> HmaAddContent(const Call& call);
  absl::StatusOr<HttpResponse> HmaGetContent(const Call& call);
  absl::StatusOr<HttpResponse> HmaUpdateContent(const Call& call);
  absl::StatusOr<HttpResponse> HmaDeleteContent(const Call& call);
  absl::StatusOr<HttpResponse> HmaSignalTypes(const Call& call);
  absl::StatusOr<HttpResponse> HmaContentTypes(const Call& call);
  // A bank's configuration here (the defaults for a bank this node does not know).
  BankConfig BankOrDefault(const std::string& name) const;
  // HMA's matches of one signal, grouped by bank: {"<BANK>": [{"bank_content_id", "distance"}]}.
  absl::StatusOr<boost::json::object> HmaMatchesByBank(std::string_view signal_type, std::string_view signal,
                                                       const std::vector<std::string>& banks);
  // Cases (case_api.cc) and the embedded web files.
  absl::StatusOr<HttpResponse> CreateCase(const Call& call);
  absl::StatusOr<HttpResponse> CaseStatusRoute(const Call& call);
  absl::StatusOr<HttpResponse> CaseWithdraw(const Call& call);
  absl::StatusOr<HttpResponse> ListCases(const Call& call);
  absl::StatusOr<HttpResponse> ListDisputes(const Call& call);
  absl::StatusOr<HttpResponse> ServeWeb(const Call& call);
  absl::StatusOr<HttpResponse> AuditLog(const Call& call);
  absl::StatusOr<HttpResponse> FederationStatus(const Call& call);
  absl::StatusOr<HttpResponse> Suspend(const Call& call);
  absl::StatusOr<HttpResponse> Unsuspend(const Call& call);
  absl::StatusOr<HttpResponse> PublishModel(const Call& call);
  absl::StatusOr<HttpResponse> Backup(const Call& call);
  // hashbank import into a running node (node/import_api.cc).
  absl::StatusOr<HttpResponse> ImportBatch(const Call& call);
  absl::StatusOr<HttpResponse> ImportProgress(const Call& call);

  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };

  Bank* bank_;
  mutable absl::Mutex limits_mu_;
  ApiLimits limits_ ABSL_GUARDED_BY(limits_mu_);
  Metrics* metrics_;
  std::vector<RouteSpec> routes_;  // built once by the constructor; read-only after
  absl::Mutex rate_mu_;
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(rate_mu_);
  // Image bodies in flight (upload slots), in all and per token name.
  absl::Mutex upload_mu_;
  size_t uploads_ ABSL_GUARDED_BY(upload_mu_) = 0;
  std::map<std::string, size_t> uploads_by_token_ ABSL_GUARDED_BY(upload_mu_);
  std::shared_ptr<void> AdmitUpload(const std::string& token_name) ABSL_LOCKS_EXCLUDED(upload_mu_);
  mutable absl::Mutex video_mu_;
  size_t video_decodes_ ABSL_GUARDED_BY(video_mu_) = 0;
  class CaseDesk* cases_ = nullptr;  // fixed before serving
  const OnnxEmbedder* embedder_ = nullptr;  // fixed before serving
  std::function<std::string()> federation_status_;
  std::function<void(const std::function<void(std::string_view, std::string_view, double)>&)> federation_gauges_;
};

}  // namespace hashbank
