#include "node/member_api.h"

#include <filesystem>
#include <iostream>
#include "web/web_assets.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <boost/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "hashing/robust_fingerprint.h"
#include "node/api_support.h"
#include "node/hma_json.h"
#include "hashing/image_hasher.h"
#include "node/status_macros.h"

namespace hashbank {
namespace {

using namespace ::hashbank::api;  // NOLINT(google-build-using-namespace): the API's own helpers

// The most embedding matches an image query lists (the most similar first, above the model's threshold).
constexpr size_t kImageEmbeddingMatches = 100;

// How an image becomes a model's input, from the fields of its fingerprint.
EmbeddingPreprocessing PreprocessingOf(uint32_t width, uint32_t height, std::string_view colour_order,
                                       std::vector<float> mean, std::vector<float> std, uint32_t dimension) {
  return EmbeddingPreprocessing{.width = static_cast<int>(std::min<uint32_t>(width, 1u << 20)),
                                .height = static_cast<int>(std::min<uint32_t>(height, 1u << 20)),
                                .bgr = colour_order == "BGR",
                                .mean = std::move(mean),
                                .std = std::move(std),
                                .dimension = dimension};
}

}  // namespace

std::string ErrorBody(std::string_view code, std::string_view message) {
  json::object inner;
  inner["code"] = code;
  inner["message"] = message;
  json::object o;
  o["error"] = std::move(inner);
  return json::serialize(o);
}

bool IsHmaPath(std::string_view path) {
  return path == "/status" || path == "/status/live" || path.starts_with("/c/") || path.starts_with("/m/") ||
         path.starts_with("/h/");
}

HttpResponse AsHmaError(HttpResponse resp) {
  if (resp.status < 400 || resp.content_type != "application/json" || !resp.body.starts_with("{\"error\"")) return resp;
  boost::system::error_code ec;
  json::value v = json::parse(resp.body, ec);
  std::string message = "error";
  if (!ec && v.is_object()) {
    if (const json::value* e = v.as_object().if_contains("error"); e != nullptr && e->is_object()) {
      if (const json::value* m = e->as_object().if_contains("message"); m != nullptr && m->is_string()) {
        message = std::string(m->as_string());
      }
    }
  }
  HttpResponse out = HmaError(resp.status, message);
  out.retry_after = resp.retry_after;
  return out;
}

bool IsVideoRoute(std::string_view method, std::string_view target) {
  const std::string_view path = PathOf(target);
  // HMA's content upload takes photos and videos: the video limit.
  const bool hma_content = path.starts_with("/c/bank/") && path.ends_with("/content");
  return method == "POST" && (path == "/v1/match/video" || path == "/v1/signals/video" || hma_content);
}

bool IsImageRoute(std::string_view method, std::string_view target) {
  const std::string_view path = PathOf(target);
  return method == "POST" && (path == "/v1/match/image" || path == "/v1/hash" || path == "/v1/signals/image" ||
                              path == "/h/hash" || path == "/m/lookup" || IsVideoRoute(method, target));
}

bool MemberApiRunsInline(std::string_view method, std::string_view target) {
  const std::string_view path = PathOf(target);
  return method == "GET" && (path == "/v1/health" || path == "/metrics");
}

MemberApi::MemberApi(Bank* bank, ApiLimits limits, Metrics* metrics) : bank_(bank), limits_(limits), metrics_(metrics) {
  const std::vector<Role> any = {Role::kQuery, Role::kSubmit, Role::kAdmin};
  const std::vector<Role> submit = {Role::kSubmit, Role::kAdmin};
  const std::vector<Role> query = {Role::kQuery, Role::kAdmin};
  const std::vector<Role> admin = {Role::kAdmin};
  routes_ = {
      {"GET", "/v1/health", Route::kHealth, {}, Body::kNone, &MemberApi::Health},
      {"GET", "/metrics", Route::kMetrics, admin, Body::kNone, &MemberApi::MetricsText},
      {"POST", "/v1/signals", Route::kSubmit, submit, Body::kJson, &MemberApi::Submit},
      {"POST", "/v1/signals/image", Route::kSubmitImage, submit, Body::kBinary, &MemberApi::SubmitImage},
      {"POST", "/v1/signals/video", Route::kSubmitVideo, submit, Body::kBinary, &MemberApi::SubmitVideo},
      {"POST", "/v1/signals:batch", Route::kSubmitBatch, submit, Body::kJson, &MemberApi::SubmitBatch},
      {"GET", "/v1/signals/{id}", Route::kGetSignal, any, Body::kNone, &MemberApi::GetSignal},
      {"DELETE", "/v1/signals/{id}", Route::kWithdraw, submit, Body::kNone, &MemberApi::Withdraw},
      {"POST", "/v1/signals/{id}/opinions", Route::kOpinion, any, Body::kJson, &MemberApi::Opinion},
      {"PUT", "/v1/signals/{id}/labels", Route::kLabels, submit, Body::kJson, &MemberApi::EditLabels},
      {"POST", "/v1/match", Route::kMatch, query, Body::kJson, &MemberApi::MatchHashes},
      {"POST", "/v1/match/image", Route::kMatchImage, query, Body::kBinary, &MemberApi::MatchImage},
      {"POST", "/v1/match/video", Route::kMatchVideo, query, Body::kBinary, &MemberApi::MatchVideo},
      {"POST", "/v1/hash", Route::kHash, any, Body::kBinary, &MemberApi::HashImage},
      {"POST", "/v1/tokens", Route::kTokens, admin, Body::kJson, &MemberApi::CreateToken},
      {"GET", "/v1/tokens", Route::kTokens, admin, Body::kNone, &MemberApi::ListTokens},
      {"DELETE", "/v1/tokens/{name}", Route::kTokens, admin, Body::kNone, &MemberApi::RevokeToken},
      {"GET", "/v1/audit", Route::kAudit, admin, Body::kNone, &MemberApi::AuditLog},
      {"POST", "/v1/backup", Route::kBackup, admin, Body::kJson, &MemberApi::Backup},
      {"POST", "/v1/import", Route::kImport, admin, Body::kJson, &MemberApi::ImportBatch},
      {"GET", "/v1/import/{key}", Route::kImport, admin, Body::kNone, &MemberApi::ImportProgress},
      {"POST", "/v1/models", Route::kModels, submit, Body::kJson, &MemberApi::PublishModel},
      {"GET", "/v1/federation/status", Route::kFederation, admin, Body::kNone, &MemberApi::FederationStatus},
      {"POST", "/v1/federation/suspend", Route::kFederation, admin, Body::kJson, &MemberApi::Suspend},
      {"POST", "/v1/federation/unsuspend", Route::kFederation, admin, Body::kJson, &MemberApi::Unsuspend},
      {"GET", "/v1/banks", Route::kBanks, any, Body::kNone, &MemberApi::ListBanks},
      {"POST", "/v1/webhooks", Route::kWebhooks, admin, Body::kJson, &MemberApi::CreateWebhook},
      {"GET", "/v1/webhooks", Route::kWebhooks, admin, Body::kNone, &MemberApi::ListWebhooks},
      {"GET", "/v1/webhooks/{id}", Route::kWebhooks, admin, Body::kNone, &MemberApi::GetWebhook},
      {"DELETE", "/v1/webhooks/{id}", Route::kWebhooks, admin, Body::kNone, &MemberApi::DeleteWebhook},
      {"POST", "/v1/watch", Route::kWatch, any, Body::kJson, &MemberApi::Watch},
      {"GET", "/v1/signals", Route::kListSignals, submit, Body::kNone, &MemberApi::ListSignals},
      // Cases: no token from the public page (CreateCase checks one when given).
      {"POST", "/v1/cases", Route::kCases, {}, Body::kJson, &MemberApi::CreateCase},
      {"POST", "/v1/cases/status", Route::kCases, {}, Body::kJson, &MemberApi::CaseStatusRoute},
      {"POST", "/v1/cases/withdraw", Route::kCases, {}, Body::kJson, &MemberApi::CaseWithdraw},
      {"GET", "/v1/cases", Route::kCases, admin, Body::kNone, &MemberApi::ListCases},
      {"GET", "/v1/disputes", Route::kFederation, admin, Body::kNone, &MemberApi::ListDisputes},
      {"GET", "/v1/stats", Route::kBanks, admin, Body::kNone, &MemberApi::SignalStats},
      // HMA 1.1's API (hma_api.cc; docs/hma-compatibility.md): HMA's paths, shapes and status codes.
      {"GET", "/status", Route::kHma, {}, Body::kNone, &MemberApi::HmaStatus, true},
      {"GET", "/status/live", Route::kHma, {}, Body::kNone, &MemberApi::HmaStatus, true},
      {"POST", "/h/hash", Route::kHma, any, Body::kBinary, &MemberApi::HmaHash, true},
      {"GET", "/m/lookup", Route::kHma, query, Body::kNone, &MemberApi::HmaLookup, true},
      {"POST", "/m/lookup", Route::kHma, query, Body::kBinary, &MemberApi::HmaLookupFile, true},
      {"GET", "/m/raw_lookup", Route::kHma, query, Body::kNone, &MemberApi::HmaRawLookup, true},
      {"POST", "/m/compare", Route::kHma, any, Body::kNone, &MemberApi::HmaCompare, true},
      {"GET", "/m/index/status", Route::kHma, any, Body::kNone, &MemberApi::HmaIndexStatus, true},
      {"GET", "/c/banks", Route::kHma, any, Body::kNone, &MemberApi::HmaListBanks, true},
      {"POST", "/c/banks", Route::kHma, admin, Body::kNone, &MemberApi::HmaCreateBank, true},
      {"GET", "/c/bank/{bank}", Route::kHma, any, Body::kNone, &MemberApi::HmaGetBank, true},
      {"PUT", "/c/bank/{bank}", Route::kHma, admin, Body::kNone, &MemberApi::HmaUpdateBank, true},
      {"DELETE", "/c/bank/{bank}", Route::kHma, admin, Body::kNone, &MemberApi::HmaDeleteBank, true},
      {"POST", "/c/bank/{bank}/signal", Route::kHma, submit, Body::kNone, &MemberApi::HmaAddSignal, true},
      {"POST", "/c/bank/{bank}/content", Route::kHma, submit, Body::kBinary, &MemberApi::HmaAddContent, true},
      {"GET", "/c/bank/{bank}/content/{id}", Route::kHma, any, Body::kNone, &MemberApi::HmaGetContent, true},
      {"PUT", "/c/bank/{bank}/content/{id}", Route::kHma, submit, Body::kNone, &MemberApi::HmaUpdateContent, true},
      {"DELETE", "/c/bank/{bank}/content/{id}", Route::kHma, submit, Body::kNone, &MemberApi::HmaDeleteContent, true},
      {"GET", "/c/signal_type", Route::kHma, any, Body::kNone, &MemberApi::HmaSignalTypes, true},
      {"GET", "/c/content_type", Route::kHma, any, Body::kNone, &MemberApi::HmaContentTypes, true},
  };
  // The embedded pages and the browser SDK (web/): public, no token.
  for (const WebAsset& asset : WebAssets()) {
    routes_.push_back({"GET", asset.path, Route::kWeb, {}, Body::kNone, &MemberApi::ServeWeb});
  }
}

MemberApi::Resolved MemberApi::Resolve(std::string_view method, std::string_view path) const {
  Resolved r;
  std::vector<std::string> params;
  const std::vector<const RouteSpec*> candidates = RoutesFor(path, &params);
  if (!params.empty()) r.id = params.front();
  r.params = std::move(params);
  for (const RouteSpec* c : candidates) {
    if (c->method == method) r.route = c;
  }
  if (r.route != nullptr) {
    r.metric = r.route->metric;
  } else if (IsHmaPath(path)) {
    // HMA's own answers to unknown paths and methods: Werkzeug's HTML pages.
    r.metric = Route::kHma;
    r.error = HmaRoutingError(candidates.empty() ? 404 : 405);
  } else if (candidates.empty()) {
    r.error = Error(404, "not_found", "no such endpoint");
  } else {
    r.metric = candidates.front()->metric;
    std::string methods;
    for (const RouteSpec* c : candidates) absl::StrAppend(&methods, methods.empty() ? "" : " or ", c->method);
    r.error = Error(405, "method_not_allowed", absl::StrCat("use ", methods));
  }
  return r;
}

namespace {

// Whether `path` fits `pattern` segment by segment ("{x}" takes any one non-empty segment); the captured
// segments are appended to `params`.
bool FitsPattern(std::string_view pattern, std::string_view path, std::vector<std::string>* params) {
  std::vector<std::string> captured;
  for (;;) {
    const size_t ps = pattern.find('/'), qs = path.find('/');
    const std::string_view p = pattern.substr(0, ps), q = path.substr(0, qs);
    if (p.size() > 1 && p.front() == '{' && p.back() == '}') {
      if (q.empty()) return false;
      captured.emplace_back(q);
    } else if (p != q) {
      return false;
    }
    if (ps == std::string_view::npos || qs == std::string_view::npos) {
      if (ps != qs) return false;
      break;
    }
    pattern.remove_prefix(ps + 1);
    path.remove_prefix(qs + 1);
  }
  *params = std::move(captured);
  return true;
}

}  // namespace

std::vector<const MemberApi::RouteSpec*> MemberApi::RoutesFor(std::string_view path, std::vector<std::string>* params) const {
  std::vector<const RouteSpec*> out;
  for (const RouteSpec& r : routes_) {
    if (r.path == path) out.push_back(&r);  // fixed paths first: /v1/signals/image is not a signal id
  }
  if (!out.empty()) return out;
  for (const RouteSpec& r : routes_) {
    std::vector<std::string> captured;
    if (r.path.find('{') != std::string::npos && FitsPattern(r.path, path, &captured)) {
      // Every route of one path shares its pattern, so the first fit's captures hold for all.
      if (out.empty()) *params = std::move(captured);
      out.push_back(&r);
    }
  }
  return out;
}

PrecheckResult MemberApi::Precheck(std::string_view method, std::string_view target, std::string_view authorization) {
  // The same order as Handle: 404 (no route), 405 (wrong method), then 401 — all before the body is read.
  const Resolved resolved = Resolve(method, PathOf(target));
  const RouteSpec* route = resolved.route;
  PrecheckResult result;
  const Route metric = resolved.metric;
  if (resolved.error) {
    result.answer = *resolved.error;
  } else if (!route->roles.empty()) {
    std::optional<Actor> actor;
    if (BearerToken(authorization).empty()) {
      result.answer = Error(401, "unauthenticated", "an Authorization: Bearer <token> header is required");
    } else if (!(actor = bank_->Authenticate(BearerToken(authorization)))) {
      result.answer = Error(401, "unauthenticated", "unknown token");
    } else if (route->body == Body::kBinary) {
      // An image body is held whole while it is hashed: bounded in number, in all and per token, so a few
      // tokens cannot pin the node's memory or its workers.
      result.ticket = AdmitUpload(actor->name);
      if (!result.ticket) {
        result.answer = Error(429, "rate_limited", "too many image uploads in flight; retry when one has finished");
        result.answer->retry_after = "1";
      }
    }
  }
  if (result.answer && route != nullptr && route->hma) *result.answer = AsHmaError(*result.answer);
  if (result.answer) metrics_->Record(metric, result.answer->status, 0);
  return result;
}

std::shared_ptr<void> MemberApi::AdmitUpload(const std::string& token_name) {
  const ApiLimits lim = limits();
  absl::MutexLock lock(&upload_mu_);
  size_t& mine = uploads_by_token_[token_name];
  if (uploads_ >= lim.max_concurrent_uploads || mine >= lim.max_concurrent_uploads_per_token) {
    if (mine == 0) uploads_by_token_.erase(token_name);
    return nullptr;
  }
  ++uploads_;
  ++mine;
  // The slot is given back when the ticket goes (the server drops it after the response).
  return std::shared_ptr<void>(static_cast<void*>(this), [this, token_name](void*) {
    absl::MutexLock release(&upload_mu_);
    --uploads_;
    auto it = uploads_by_token_.find(token_name);
    if (it != uploads_by_token_.end() && --it->second == 0) uploads_by_token_.erase(it);
  });
}

std::shared_ptr<void> MemberApi::AdmitVideoDecode() {
  const size_t cap = limits().max_concurrent_video_decodes;
  absl::MutexLock lock(&video_mu_);
  if (video_decodes_ >= cap) return nullptr;
  ++video_decodes_;
  return std::shared_ptr<void>(static_cast<void*>(this), [this](void*) {
    absl::MutexLock release(&video_mu_);
    --video_decodes_;
  });
}

size_t MemberApi::video_decodes_in_flight() const {
  absl::MutexLock lock(&video_mu_);
  return video_decodes_;
}

ApiLimits MemberApi::limits() const {
  absl::MutexLock lock(&limits_mu_);
  return limits_;
}

void MemberApi::SetLimits(const ApiLimits& limits) {
  absl::MutexLock lock(&limits_mu_);
  limits_ = limits;
}

size_t MemberApi::BodyLimit(std::string_view method, std::string_view target) const {
  absl::MutexLock lock(&limits_mu_);
  if (IsVideoRoute(method, target)) return limits_.video.max_file_bytes;
  return IsImageRoute(method, target) ? limits_.image.max_file_bytes : limits_.max_json_body_bytes;
}

void MemberApi::SetFederationHooks(
    std::function<std::string()> status,
    std::function<void(const std::function<void(std::string_view, std::string_view, double)>&)> gauges) {
  federation_status_ = std::move(status);
  federation_gauges_ = std::move(gauges);
}

bool MemberApi::Allow(const std::string& token_name) {
  const ApiLimits lim = limits();
  if (lim.requests_per_second_per_token <= 0) return true;
  const auto now = std::chrono::steady_clock::now();
  absl::MutexLock lock(&rate_mu_);
  auto [it, inserted] = buckets_.try_emplace(token_name, Bucket{lim.burst_per_token, now});
  Bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(lim.burst_per_token, b.tokens + elapsed * lim.requests_per_second_per_token);
  b.last = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

HttpResponse MemberApi::Handle(const HttpRequest& req) {
  const auto start = std::chrono::steady_clock::now();
  const std::string_view path = PathOf(req.target);
  Resolved resolved = Resolve(req.method, path);
  const RouteSpec* route = resolved.route;
  const Route metric = resolved.metric;
  HttpResponse resp;
  if (resolved.error) {
    resp = std::move(*resolved.error);
  } else {
    Call call{req, path, std::nullopt, std::move(resolved.id), std::move(resolved.params)};
    std::optional<HttpResponse> refused;
    if (!route->roles.empty()) {
      if (BearerToken(req.authorization).empty()) {
        refused = Error(401, "unauthenticated", "an Authorization: Bearer <token> header is required");
      } else if (!(call.actor = bank_->Authenticate(BearerToken(req.authorization)))) {
        refused = Error(401, "unauthenticated", "unknown token");
      } else if (std::find(route->roles.begin(), route->roles.end(), call.actor->role) == route->roles.end()) {
        refused = Error(403, "permission_denied",
                        absl::StrCat("the ", std::string(RoleName(call.actor->role)), " role cannot use this endpoint"));
      } else if (!Allow(call.actor->name)) {
        refused = Error(429, "rate_limited", "too many requests for this token");
        refused->retry_after = "1";
      }
    }
    if (!refused && route->body == Body::kJson && !IsJson(req.content_type)) {
      refused = Error(415, "unsupported_media_type", "send Content-Type: application/json");
    }
    if (refused) {
      resp = std::move(*refused);
    } else {
      // Handlers return errors as values; the one catch is the boundary for what a library may still throw
      // (std::bad_alloc): a 500, and the node keeps serving.
      try {
        absl::StatusOr<HttpResponse> answered = (this->*(route->handler))(call);
        resp = answered.ok() ? std::move(*answered) : FromStatus(answered.status());
      } catch (const std::exception&) {
        resp = Error(500, "internal", "internal error");
      }
    }
  }
  if (route != nullptr && route->hma) resp = AsHmaError(std::move(resp));
  metrics_->Record(metric, resp.status, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return resp;
}

// ---------------------------------------------------------------------------------------------------------
// Handlers

absl::StatusOr<HttpResponse> MemberApi::Health(const Call&) {
  json::object o;
  o["status"] = "ok";
  o["node_id"] = bank_->node_id();
  return Json(200, o);
}

absl::StatusOr<HttpResponse> MemberApi::SignalStats(const Call&) {
  const BankStats st = bank_->Stats();
  json::object by_label, by_bank;
  for (const auto& [label, n] : bank_->LabelCounts()) by_label[label] = n;
  for (const BankView& b : bank_->ListBanks()) by_bank[b.config.name] = b.signals;
  return Json(200, json::object{{"signals", st.signals},
                                {"by_type", json::object{{"pdq", st.pdq},
                                                         {"md5_sha256", st.exact},
                                                         {"robust", st.robust},
                                                         {"video", st.videos},
                                                         {"embedding", st.embeddings}}},
                                {"by_label", std::move(by_label)},
                                {"by_bank", std::move(by_bank)}});
}

absl::StatusOr<HttpResponse> MemberApi::MetricsText(const Call&) {
  const BankStats st = bank_->Stats();
  HttpResponse resp;
  resp.content_type = "text/plain; version=0.0.4";
  resp.body = metrics_->Render([&](const auto& gauge) {
    gauge("hashbank_signals", "Signals known to the index (all origins).", static_cast<double>(st.signals));
    gauge("hashbank_pdq_index_entries", "Entries in the PDQ index.", static_cast<double>(st.pdq));
    gauge("hashbank_pdq_index_bytes", "Memory of the PDQ index.", static_cast<double>(st.pdq_index_bytes));
    gauge("hashbank_robust_index_entries", "Robust fingerprints in the robust index.", static_cast<double>(st.robust));
    gauge("hashbank_robust_index_bytes", "Memory of the robust index.", static_cast<double>(st.robust_index_bytes));
    gauge("hashbank_video_index_videos", "Banked videos in the video index.", static_cast<double>(st.videos));
    gauge("hashbank_video_index_frames", "Video frames in the video index.", static_cast<double>(st.video_frames));
    gauge("hashbank_video_index_bytes", "Memory of the video index.", static_cast<double>(st.video_index_bytes));
    gauge("hashbank_video_keyframes", "Video keyframes in the keyframe index.", static_cast<double>(st.video_keyframes));
    gauge("hashbank_video_keyframe_bytes", "Memory of the video keyframe index.",
          static_cast<double>(st.video_keyframe_bytes));
    gauge("hashbank_video_decodes_in_flight", "Videos being decoded now (at most limits.max_concurrent_video_decodes).",
          static_cast<double>(video_decodes_in_flight()));
    gauge("hashbank_exact_index_entries", "Entries in the MD5 and SHA-256 indexes.", static_cast<double>(st.exact));
    gauge("hashbank_index_rebuild_seconds", "Time the indexes took to rebuild at start.", st.rebuild_seconds);
    Notifications* n = bank_->notifications();
    gauge("hashbank_watch_entries", "Uploads on members' watch lists.", static_cast<double>(n->watch_size()));
    gauge("hashbank_webhook_queued", "Webhook deliveries waiting in the outbox.", static_cast<double>(n->queued()));
    uint64_t delivered = 0, failed = 0, dropped = 0;
    for (const WebhookConfig& c : n->ListWebhooks()) {
      const WebhookStatus ws = n->Status(c.id);
      delivered += ws.delivered;
      failed += ws.failed_attempts;
      dropped += ws.dropped;
    }
    gauge("hashbank_webhook_delivered", "Webhook deliveries acknowledged since start.", static_cast<double>(delivered));
    gauge("hashbank_webhook_failed_attempts", "Webhook delivery attempts that failed since start.", static_cast<double>(failed));
    gauge("hashbank_webhook_dropped", "Webhook deliveries given up after the retry window since start.", static_cast<double>(dropped));
    if (federation_gauges_) federation_gauges_(gauge);
  });
  return resp;
}

absl::StatusOr<HttpResponse> MemberApi::Submit(const Call& call) {
  HB_ASSIGN_OR_RETURN(const json::object o, ParseObject(call.request.body));
  HB_ASSIGN_OR_RETURN(const SignalInput input, ParseSignal(o, ""));
  HB_ASSIGN_OR_RETURN(const SignalRef ref, bank_->Submit(input, *call.actor));
  return Json(201, json::object{{"id", FormatSignalId(ref)}});
}

absl::StatusOr<HttpResponse> MemberApi::SubmitBatch(const Call& call) {
  const ApiLimits lim = limits();
  HB_ASSIGN_OR_RETURN(const json::object o, ParseObject(call.request.body));
  Reader r(o);
  HB_RETURN_IF_ERROR(r.AllowOnly({"signals"}));
  const json::value* items = r.Find("signals");
  if (items == nullptr || !items->is_array()) return Bad("signals: expected an array");
  if (items->as_array().empty() || items->as_array().size() > lim.max_batch_items) {
    return Bad(absl::StrCat("signals: 1 to ", lim.max_batch_items, " items"));
  }
  std::vector<SignalInput> inputs;
  std::vector<std::optional<std::string>> parse_errors;
  for (size_t i = 0; i < items->as_array().size(); ++i) {
    const json::value& item = items->as_array()[i];
    absl::StatusOr<SignalInput> in = item.is_object() ? ParseSignal(item.as_object(), absl::StrCat("signals[", i, "]."))
                                                      : Bad(absl::StrCat("signals[", i, "]: expected an object"));
    if (in.ok()) {
      inputs.push_back(std::move(*in));
      parse_errors.push_back(std::nullopt);
    } else {
      parse_errors.push_back(std::string(in.status().message()));
    }
  }
  auto results = bank_->SubmitBatch(inputs, *call.actor);
  json::array out;
  size_t k = 0;
  for (const auto& pe : parse_errors) {
    json::object item;
    if (pe) {
      item["status"] = 400;
      item["error"] = ErrorObject(Error(400, "invalid_argument", *pe));
    } else {
      const auto& res = results[k++];
      if (res.ok()) {
        item["status"] = 201;
        item["id"] = FormatSignalId(*res);
      } else {
        const HttpResponse e = FromStatus(res.status());
        item["status"] = e.status;
        item["error"] = ErrorObject(e);
      }
    }
    out.push_back(std::move(item));
  }
  return Json(200, json::object{{"results", std::move(out)}});
}

absl::StatusOr<HttpResponse> MemberApi::GetSignal(const Call& call) {
  HB_ASSIGN_OR_RETURN(const SignalRef ref, ParseSignalId(call.path_id));
  HB_ASSIGN_OR_RETURN(const SignalInfo info, bank_->Get(ref));
  json::object o;
  o["id"] = FormatSignalId(info.ref);
  o["origin"] = info.ref.origin;
  o["created_at_ms"] = info.created_at_ms;
  json::array types, labels;
  for (const auto& t : info.signal_types) types.emplace_back(t);
  for (const auto& l : info.labels) labels.emplace_back(l);
  o["signal_types"] = std::move(types);
  if (!info.kept_at_origin.empty()) {  // on this node only: never in the signed log (federation.keep_at_origin)
    json::array kept;
    for (const auto& t : info.kept_at_origin) kept.emplace_back(t);
    o["kept_at_origin"] = std::move(kept);
  }
  o["labels"] = std::move(labels);
  o["submitted_by"] = info.submitted_by;
  if (!info.withdrawn) {
    o["bank"] = info.bank;
    if (!info.content_id.empty()) o["content_id"] = info.content_id;
    if (!info.note.empty()) o["note"] = info.note;
    if (!info.metadata_json.empty()) {
      boost::system::error_code ec;
      json::value md = json::parse(info.metadata_json, ec);
      if (!ec) o["metadata"] = std::move(md);
    }
  }
  o["withdrawn"] = info.withdrawn;
  if (info.withdrawn) o["withdrawn_at_ms"] = info.withdrawn_at_ms;
  o["opinions"] = json::object{{"confirmed", info.confirmed}, {"disputed", info.disputed}};
  return Json(200, o);
}

absl::StatusOr<HttpResponse> MemberApi::Withdraw(const Call& call) {
  HB_ASSIGN_OR_RETURN(const SignalRef ref, ParseSignalId(call.path_id));
  HB_RETURN_IF_ERROR(bank_->Withdraw(ref, *call.actor, "consent_withdrawn"));
  return Json(200, json::object{{"id", FormatSignalId(ref)}, {"withdrawn", true}});
}

absl::StatusOr<HttpResponse> MemberApi::Opinion(const Call& call) {
  HB_ASSIGN_OR_RETURN(const SignalRef ref, ParseSignalId(call.path_id));
  HB_ASSIGN_OR_RETURN(const json::object o, ParseObject(call.request.body));
  Reader r(o);
  HB_RETURN_IF_ERROR(r.AllowOnly({"verdict"}));
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> verdict, r.String("verdict", 32));
  if (!verdict || (*verdict != "confirmed" && *verdict != "disputed")) return Bad("verdict: \"confirmed\" or \"disputed\"");
  HB_ASSIGN_OR_RETURN(const SignalRef oref, bank_->AddOpinion(ref, *verdict == "confirmed", *call.actor));
  return Json(201, json::object{{"id", FormatSignalId(oref)}});
}

absl::StatusOr<HttpResponse> MemberApi::EditLabels(const Call& call) {
  HB_ASSIGN_OR_RETURN(const SignalRef ref, ParseSignalId(call.path_id));
  HB_ASSIGN_OR_RETURN(const json::object o, ParseObject(call.request.body));
  Reader r(o);
  HB_RETURN_IF_ERROR(r.AllowOnly({"labels"}));
  const json::value* l = r.Find("labels");
  if (l == nullptr || !l->is_array()) return Bad("labels: expected an array of strings (the whole new set; [] for none)");
  std::vector<std::string> labels;
  for (const json::value& x : l->as_array()) {
    if (!x.is_string()) return Bad("labels: expected an array of strings");
    labels.emplace_back(x.as_string());
  }
  HB_RETURN_IF_ERROR(ValidateLabels(&labels));  // as the bank will store them (duplicates dropped)
  HB_ASSIGN_OR_RETURN(const SignalRef edit, bank_->EditLabels(ref, labels, *call.actor));
  json::array now;
  for (const std::string& x : labels) now.emplace_back(x);
  return Json(200, json::object{{"id", FormatSignalId(ref)}, {"labels", std::move(now)}, {"edit_id", FormatSignalId(edit)}});
}

absl::StatusOr<HttpResponse> MemberApi::MatchHashes(const Call& call) {
  const ApiLimits lim = limits();
  HB_ASSIGN_OR_RETURN(const json::object o, ParseObject(call.request.body));
  Reader r(o);
  HB_RETURN_IF_ERROR(r.AllowOnly({"pdq", "dihedral", "max_distance", "md5", "sha256", "robust", "robust_mirrored",
                                  "embedding", "min_similarity", "limit", "banks", "labels"}));
  HB_ASSIGN_OR_RETURN(const MatchFilter filter, ParseMatchFilter(r.Find("banks"), r.Find("labels")));
  HB_ASSIGN_OR_RETURN(const std::optional<int64_t> requested, r.Int("max_distance"));
  const int64_t requested_distance = requested.value_or(lim.pdq_default_max_distance);
  if (requested_distance < 0 || requested_distance > lim.pdq_max_distance_limit) {
    return Bad(absl::StrCat("max_distance: 0 to ", lim.pdq_max_distance_limit, " on this node"));
  }
  const int max_distance = static_cast<int>(requested_distance);
  HB_ASSIGN_OR_RETURN(const std::optional<bool> dihedral_flag, r.Bool("dihedral"));
  const bool dihedral = dihedral_flag.value_or(false);
  std::vector<Match> matches;
  bool list = false;
  int kinds = 0;
  if (const json::value* p = r.Find("pdq")) {
    ++kinds;
    std::vector<Hash256> hashes;
    if (p->is_array()) {
      list = true;
      if (p->as_array().empty() || p->as_array().size() > lim.max_batch_items) {
        return Bad(absl::StrCat("pdq: 1 to ", lim.max_batch_items, " hashes"));
      }
      for (size_t i = 0; i < p->as_array().size(); ++i) {
        HB_ASSIGN_OR_RETURN(Hash256 h, ParsePdq(p->as_array()[i], absl::StrCat("pdq[", i, "]")));
        hashes.push_back(h);
      }
    } else {
      HB_ASSIGN_OR_RETURN(Hash256 h, ParsePdq(*p, "pdq"));
      hashes.push_back(h);
    }
    if (dihedral) {
      if (hashes.size() != kNumDihedral) {
        return Bad("dihedral: send the image's 8 dihedral hashes as pdq, in the order orig, rot90, rot180, rot270, "
                   "flipx, flipy, flipp, flipm (POST /v1/match/image computes them)");
      }
      std::array<Hash256, kNumDihedral> set;
      std::copy(hashes.begin(), hashes.end(), set.begin());
      HB_ASSIGN_OR_RETURN(matches, bank_->MatchDihedralSet(set, max_distance));
      list = false;
    } else {
      HB_ASSIGN_OR_RETURN(matches, bank_->MatchPdq(hashes, max_distance));
    }
  } else if (dihedral) {
    return Bad("dihedral: only with pdq");
  }
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> md5, r.String("md5", 64));
  if (md5) {
    ++kinds;
    HB_ASSIGN_OR_RETURN(const Md5Digest digest, ParseDigest<16>(*md5, "md5"));
    HB_ASSIGN_OR_RETURN(const std::vector<Match> got, bank_->MatchMd5(digest));
    matches.insert(matches.end(), got.begin(), got.end());
  }
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> sha, r.String("sha256", 128));
  if (sha) {
    ++kinds;
    HB_ASSIGN_OR_RETURN(const Sha256Digest digest, ParseDigest<32>(*sha, "sha256"));
    HB_ASSIGN_OR_RETURN(const std::vector<Match> got, bank_->MatchSha256(digest));
    matches.insert(matches.end(), got.begin(), got.end());
  }
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> robust, ParseRobustField(r));
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> robust_mirrored, ParseRobustField(r, "robust_mirrored"));
  if (robust_mirrored && !robust) return Bad("robust_mirrored: only with robust");
  if (robust) {
    // A device's fingerprint of the image (64 features), and optionally of the image flipped left to right:
    // fewer edits are caught than by /v1/match/image's 1 000 query features (docs/matching.md), but the
    // image need not leave the device.
    ++kinds;
    HB_ASSIGN_OR_RETURN(const RobustFingerprint fp, DecodeBankableRobust(*robust));
    RobustFingerprint mirrored;
    if (robust_mirrored) {
      HB_ASSIGN_OR_RETURN(mirrored, DecodeBankableRobust(*robust_mirrored, "robust_mirrored"));
    }
    HB_ASSIGN_OR_RETURN(const std::vector<Match> got, bank_->MatchRobust(fp.features, mirrored.features));
    matches.insert(matches.end(), got.begin(), got.end());
  }
  if (const json::value* e = r.Find("embedding")) {
    ++kinds;
    HB_ASSIGN_OR_RETURN(const std::optional<double> min_similarity, r.Number("min_similarity"));
    const double min_sim = min_similarity.value_or(0.9);
    if (!(min_sim >= -1.0 && min_sim <= 1.0)) return Bad("min_similarity: -1 to 1");
    HB_ASSIGN_OR_RETURN(const std::optional<int64_t> limit_value, r.Int("limit"));
    const int64_t limit = limit_value.value_or(100);
    if (limit < 1 || limit > 10000) return Bad("limit: 1 to 10000");
    HB_ASSIGN_OR_RETURN(const EmbeddingInput embedding, ParseEmbedding(*e));
    HB_ASSIGN_OR_RETURN(const std::vector<Match> got,
                        bank_->MatchEmbedding(embedding, static_cast<float>(min_sim), static_cast<size_t>(limit), filter));
    matches.insert(matches.end(), got.begin(), got.end());
  }
  if (kinds == 0) return Bad("give at least one of pdq, md5, sha256, robust, embedding");
  ApplyMatchFilter(filter, &matches);
  json::array out;
  for (const Match& x : matches) out.push_back(MatchJson(x, list));
  return Json(200, json::object{{"matches", std::move(out)}});
}

absl::StatusOr<HttpResponse> MemberApi::MatchImage(const Call& call) { return ImageRoute(call, true); }
absl::StatusOr<HttpResponse> MemberApi::HashImage(const Call& call) {
  const HttpRequest& req = call.request;
  if (LooksLikeVideo({reinterpret_cast<const uint8_t*>(req.body.data()), std::min<size_t>(req.body.size(), 512)})) {
    return HashVideo(call);
  }
  return ImageRoute(call, false);
}

absl::StatusOr<HttpResponse> MemberApi::ImageRoute(const Call& call, bool match) {
  const ApiLimits lim = limits();
  const HttpRequest& req = call.request;
  if (req.body.empty()) return Bad("send the image file as the request body");
  int max_distance = lim.pdq_default_max_distance;
  if (const std::string md = QueryParam(req.target, "max_distance"); !md.empty()) {
    if (!ParseWhole(md, &max_distance) || max_distance < 0 || max_distance > lim.pdq_max_distance_limit) {
      return Bad(absl::StrCat("max_distance: 0 to ", lim.pdq_max_distance_limit, " on this node"));
    }
  }
  const bool dihedral = match || QueryParam(req.target, "dihedral") == "true";
  HB_ASSIGN_OR_RETURN(const MatchFilter filter, ParseMatchFilterParams(req.target));
  EmbeddingPlan plan = PlanEmbedding();
  // A query extracts many features from the image and its mirror; /v1/hash the fingerprint a bank stores.
  const HashOptions options = WithModelInput({.dihedral = dihedral,
                                              .local_features = match ? kRobustQueryFeatures : kRobustBankFeatures,
                                              .mirrored_features = match},
                                             plan);
  HB_ASSIGN_OR_RETURN(ImageHashes h,
                      Hasher().HashBytes({reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size()}, options));
  std::vector<LocalFeature> direct, mirrored;
  if (match) {
    direct = std::move(h.features);
    mirrored = std::move(h.mirrored_features);
    h.features.clear();  // a query's features are not a bankable fingerprint: not printed
  }
  const std::optional<EmbeddingInput> embedding = RunEmbedding(h, &plan);
  json::object out;
  out["hashes"] = HashesJson(h);
  if (embedding) {
    json::array vector;
    for (const float x : embedding->vector) vector.emplace_back(static_cast<double>(x));
    out["hashes"].as_object()["embedding"] =
        json::object{{"model_id", embedding->model_id}, {"vector", std::move(vector)}};
  }
  if (!plan.skipped.empty()) out["embedding_skipped"] = plan.skipped;
  if (match) {
    std::vector<Match> matches;
    // A PDQ hash below the quality floor (flat or tiny images) matches unrelated images: not matched, and
    // the answer says so (the exact hashes are still matched).
    if (h.quality >= lim.pdq_quality_floor) {
      HB_ASSIGN_OR_RETURN(matches, bank_->MatchDihedralSet(*h.dihedral, max_distance));
    } else {
      out["pdq_skipped"] = absl::StrCat("quality ", h.quality, " is below this node's floor of ",
                                        lim.pdq_quality_floor, "; PDQ was not matched, MD5 and SHA-256 were");
    }
    HB_ASSIGN_OR_RETURN(const std::vector<Match> md5, bank_->MatchMd5(h.exact.md5));
    matches.insert(matches.end(), md5.begin(), md5.end());
    HB_ASSIGN_OR_RETURN(const std::vector<Match> sha, bank_->MatchSha256(h.exact.sha256));
    matches.insert(matches.end(), sha.begin(), sha.end());
    HB_ASSIGN_OR_RETURN(const std::vector<Match> robust, bank_->MatchRobust(direct, mirrored));
    matches.insert(matches.end(), robust.begin(), robust.end());
    if (embedding) {
      // At or above the model's published threshold: the similarity its publisher calls a match. A failure
      // here (a vector the index refuses) costs the embedding's matches only.
      absl::StatusOr<std::vector<Match>> similar =
          bank_->MatchEmbedding(*embedding, plan.threshold, kImageEmbeddingMatches, filter);
      if (similar.ok()) {
        matches.insert(matches.end(), similar->begin(), similar->end());
      } else if (absl::IsInvalidArgument(similar.status())) {
        out["embedding_skipped"] = absl::StrCat("the embedding was not matched: ", similar.status().message());
      } else {
        return similar.status();
      }
    }
    ApplyMatchFilter(filter, &matches);
    json::array arr;
    for (const Match& x : matches) arr.push_back(MatchJson(x, false));
    out["matches"] = std::move(arr);
  }
  return Json(200, out);
}

MemberApi::EmbeddingPlan MemberApi::PlanEmbedding() const {
  EmbeddingPlan plan;
  if (embedder_ == nullptr) return plan;
  const std::optional<protocol::ModelFingerprint> f = bank_->PublishedModel(embedder_->model_id());
  if (!f) {
    plan.skipped = absl::StrCat("the configured model ", embedder_->model_id(),
                                " has no published fingerprint here (POST /v1/models); no embedding was computed");
    return plan;
  }
  EmbeddingPreprocessing pre = PreprocessingOf(f->input_width(), f->input_height(), f->colour_order(),
                                               {f->mean().begin(), f->mean().end()},
                                               {f->std().begin(), f->std().end()}, f->dimension());
  if (absl::Status s = CheckPreprocessing(pre); !s.ok()) {
    plan.skipped = absl::StrCat("the model's fingerprint cannot be run here: ", s.message(),
                                "; no embedding was computed");
    return plan;
  }
  plan.pre = std::move(pre);
  plan.threshold = f->threshold();
  return plan;
}

HashOptions MemberApi::WithModelInput(HashOptions options, const EmbeddingPlan& plan) {
  if (plan.pre) {
    options.model_input_width = plan.pre->width;
    options.model_input_height = plan.pre->height;
  }
  return options;
}

std::optional<EmbeddingInput> MemberApi::RunEmbedding(const ImageHashes& h, EmbeddingPlan* plan) const {
  if (!plan->pre) return std::nullopt;
  absl::StatusOr<std::vector<float>> v = embedder_->Embed(h.model_input, *plan->pre);
  if (!v.ok()) {
    // The operator's model does not fit its fingerprint (or failed on this input): the other fingerprints
    // still count; the node's log and the answer say why (no hash, no image content in either).
    std::cerr << "hashbank: embedding model " << embedder_->model_id() << ": " << v.status().message() << std::endl;
    plan->skipped = absl::StrCat(v.status().message(), "; no embedding was computed");
    return std::nullopt;
  }
  return EmbeddingInput{.model_id = embedder_->model_id(), .vector = std::move(*v)};
}

ImageHasher& MemberApi::Hasher() const {
  const ApiLimits lim = limits();
  thread_local std::unique_ptr<ImageHasher> hasher;
  if (!hasher || hasher->limits().max_pixels != lim.image.max_pixels ||
      hasher->limits().max_file_bytes != lim.image.max_file_bytes) {
    hasher = std::make_unique<ImageHasher>(lim.image);
  }
  return *hasher;
}

absl::StatusOr<HttpResponse> MemberApi::SubmitImage(const Call& call) {
  const HttpRequest& req = call.request;
  if (req.body.empty()) return Bad("send the image file as the request body");
  SignalInput in;
  HB_RETURN_IF_ERROR(ParseUploadParams(req.target, &in));
  EmbeddingPlan plan = PlanEmbedding();
  HB_ASSIGN_OR_RETURN(const ImageHashes h,
                      Hasher().HashBytes({reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size()},
                                         WithModelInput({.local_features = kRobustBankFeatures}, plan)));
  json::object out;
  FillImageInput(h, &plan, &in, &out);
  HB_ASSIGN_OR_RETURN(const SignalRef ref, bank_->Submit(in, *call.actor));
  out["id"] = FormatSignalId(ref);
  return Json(201, out);
}

void MemberApi::FillImageInput(const ImageHashes& h, EmbeddingPlan* plan, SignalInput* input,
                               json::object* notes) const {
  const ApiLimits lim = limits();
  SignalInput& in = *input;
  json::object& out = *notes;
  // Every fingerprint the image gives is kept; a PDQ hash below the quality floor is left out (it would
  // match unrelated images), as is a robust fingerprint of too few features (flat or tiny images).
  if (h.quality >= lim.pdq_quality_floor) {
    in.pdq = h.pdq;
    in.quality = h.quality;
  } else {
    out["pdq_skipped"] = absl::StrCat("quality ", h.quality, " is below this node's floor of ",
                                      lim.pdq_quality_floor, "; PDQ was not stored");
  }
  in.md5 = h.exact.md5;
  in.sha256 = h.exact.sha256;
  in.robust = BankableRobust(h.features, h.width, h.height);
  if (!in.robust) {
    out["robust_skipped"] = absl::StrCat(h.features.size(), " local features; at least ", kMinRobustFeatures,
                                         " are needed; the robust fingerprint was not stored");
  }
  in.embedding = RunEmbedding(h, plan);
  if (!plan->skipped.empty()) out["embedding_skipped"] = plan->skipped;
  json::array types;
  if (in.pdq) types.emplace_back("pdq");
  types.emplace_back("md5");
  types.emplace_back("sha256");
  if (in.robust) types.emplace_back("robust");
  if (in.embedding) types.emplace_back("embedding");
  out["signal_types"] = std::move(types);
}

absl::StatusOr<HttpResponse> MemberApi::ListBanks(const Call&) {
  json::array out;
  for (const BankView& v : bank_->ListBanks()) {
    json::array labels;
    for (const std::string& l : v.config.labels) labels.emplace_back(l);
    out.push_back(json::object{{"name", v.config.name},
                               {"matching_enabled_ratio", v.config.matching_enabled_ratio},
                               {"description", v.config.description},
                               {"labels", std::move(labels)},
                               {"configured", bank_->BankConfigured(v.config.name)},
                               {"signals", v.signals}});
  }
  return Json(200, json::object{{"banks", std::move(out)}});
}

absl::StatusOr<HttpResponse> MemberApi::ListSignals(const Call& call) {
  const std::string& target = call.request.target;
  SignalListing listing;
  for (const auto& [name, out] : {std::pair<std::string_view, std::string*>{"bank", &listing.bank},
                                  std::pair<std::string_view, std::string*>{"label", &listing.label},
                                  std::pair<std::string_view, std::string*>{"case_ref", &listing.case_ref}}) {
    const std::optional<std::string> v = PercentDecode(QueryParam(target, name));
    if (!v) return Bad(absl::StrCat(std::string(name), ": malformed percent-encoding"));
    *out = *v;
  }
  if (!listing.label.empty() && listing.label.find(':') != std::string::npos) return Bad("label: a-z, 0-9, _");
  if (const std::optional<std::string> after = PercentDecode(QueryParam(target, "after")); after && !after->empty()) {
    HB_ASSIGN_OR_RETURN(listing.after, ParseSignalId(*after));
  }
  if (const std::string l = QueryParam(target, "limit"); !l.empty()) {
    if (!ParseWhole(l, &listing.limit) || listing.limit == 0 || listing.limit > 1000) return Bad("limit: 1 to 1000");
  }
  HB_ASSIGN_OR_RETURN(const std::vector<SignalRef> refs, bank_->ListSignals(listing));
  json::array ids;
  for (const SignalRef& r : refs) ids.emplace_back(FormatSignalId(r));
  json::object out{{"signals", std::move(ids)}};
  // A full page may have more behind it: the last id is the next page's cursor.
  out["next"] = refs.size() == listing.limit ? json::value(FormatSignalId(refs.back())) : json::value(nullptr);
  return Json(200, out);
}

absl::StatusOr<HttpResponse> MemberApi::CreateToken(const Call& call) {
  HB_ASSIGN_OR_RETURN(const json::object o, ParseObject(call.request.body));
  Reader r(o);
  HB_RETURN_IF_ERROR(r.AllowOnly({"role", "name", "expires_in_days"}));
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> role_name, r.String("role", 16));
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> name, r.String("name", 64));
  HB_ASSIGN_OR_RETURN(const std::optional<int64_t> days, r.Int("expires_in_days"));
  if (!role_name || !ParseRole(*role_name)) return Bad("role: \"submit\", \"query\" or \"admin\"");
  if (!name) return Bad("name: required");
  if (days && (*days < 1 || *days > 3650)) return Bad("expires_in_days: 1 to 3650");
  const int64_t expires_ms =
      days ? std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
                 *days * 86'400'000
           : 0;
  HB_ASSIGN_OR_RETURN(const std::string token, bank_->CreateToken(*ParseRole(*role_name), *name, *call.actor, expires_ms));
  json::object out{{"token", token}, {"name", *name}, {"role", *role_name}};
  if (expires_ms != 0) out["expires_at_ms"] = expires_ms;
  return Json(201, out);
}

absl::StatusOr<HttpResponse> MemberApi::ListTokens(const Call&) {
  json::array out;
  for (const TokenRegistry::Listed& t : bank_->ListTokens()) {
    json::object o{{"name", t.name}, {"role", std::string(RoleName(t.role))}, {"created_at_ms", t.created_ms}};
    o["expires_at_ms"] = t.expires_ms == 0 ? json::value(nullptr) : json::value(t.expires_ms);
    out.push_back(std::move(o));
  }
  return Json(200, json::object{{"tokens", std::move(out)}});
}

absl::StatusOr<HttpResponse> MemberApi::RevokeToken(const Call& call) {
  HB_RETURN_IF_ERROR(bank_->RevokeToken(call.path_id, *call.actor));
  return Json(200, json::object{{"name", call.path_id}, {"revoked", true}});
}

absl::StatusOr<HttpResponse> MemberApi::AuditLog(const Call& call) {
  uint64_t after = 0, limit = 100;
  const std::string a = QueryParam(call.request.target, "after"), l = QueryParam(call.request.target, "limit");
  if (!a.empty() && !ParseWhole(a, &after)) return Bad("after: a decimal number");
  if (!l.empty() && (!ParseWhole(l, &limit) || limit == 0 || limit > 1000)) return Bad("limit: 1 to 1000");
  HB_ASSIGN_OR_RETURN(const std::vector<AuditRecord> records, bank_->Audit(after, limit));
  json::array arr;
  for (const AuditRecord& rec : records) {
    arr.push_back(json::object{{"seq", rec.sequence}, {"time_ms", rec.time_ms}, {"actor", rec.actor},
                               {"action", rec.action}, {"target", rec.target}, {"prev", rec.prev_hash_hex},
                               {"hash", rec.hash_hex}});
  }
  return Json(200, json::object{{"records", std::move(arr)}});
}

absl::StatusOr<HttpResponse> MemberApi::FederationStatus(const Call&) {
  if (!federation_status_) return Error(404, "not_found", "federation is not configured on this node");
  HttpResponse resp;
  resp.body = federation_status_();
  return resp;
}

absl::StatusOr<HttpResponse> MemberApi::Suspend(const Call& call) {
  HB_ASSIGN_OR_RETURN(const json::object o, ParseObject(call.request.body));
  Reader r(o);
  HB_RETURN_IF_ERROR(r.AllowOnly({"origin", "exclude_from_matching"}));
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> origin, r.String("origin", 64));
  if (!origin || origin->empty()) return Bad("origin: required");
  HB_ASSIGN_OR_RETURN(const std::optional<bool> exclude, r.Bool("exclude_from_matching"));
  HB_RETURN_IF_ERROR(bank_->Suspend(*origin, exclude.value_or(false), *call.actor));
  return Json(200, json::object{{"origin", *origin}, {"suspended", true}});
}

absl::StatusOr<HttpResponse> MemberApi::Unsuspend(const Call& call) {
  HB_ASSIGN_OR_RETURN(const json::object o, ParseObject(call.request.body));
  Reader r(o);
  HB_RETURN_IF_ERROR(r.AllowOnly({"origin", "exclude_from_matching"}));
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> origin, r.String("origin", 64));
  if (!origin || origin->empty()) return Bad("origin: required");
  HB_RETURN_IF_ERROR(bank_->Unsuspend(*origin, *call.actor));
  return Json(200, json::object{{"origin", *origin}, {"suspended", false}});
}

absl::StatusOr<HttpResponse> MemberApi::PublishModel(const Call& call) {
  HB_ASSIGN_OR_RETURN(const json::object o, ParseObject(call.request.body));
  Reader r(o);
  HB_RETURN_IF_ERROR(r.AllowOnly({"model_id", "name", "version", "dimension", "input_width", "input_height",
                                  "colour_order", "mean", "std", "metric", "threshold"}));
  ModelInput model;
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> model_id, r.String("model_id", 64));
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> name, r.String("name", 128));
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> version, r.String("version", 64));
  model.model_id = model_id.value_or("");
  model.name = name.value_or("");
  model.version = version.value_or("");
  HB_ASSIGN_OR_RETURN(const std::optional<int64_t> dim, r.Int("dimension"));
  if (dim.value_or(0) < 1 || dim.value_or(0) > 4096) return Bad("dimension: 1 to 4096");
  model.dimension = static_cast<uint32_t>(*dim);
  HB_ASSIGN_OR_RETURN(const std::optional<int64_t> width, r.Int("input_width"));
  HB_ASSIGN_OR_RETURN(const std::optional<int64_t> height, r.Int("input_height"));
  model.input_width = static_cast<uint32_t>(std::clamp<int64_t>(width.value_or(0), 0, 65535));
  model.input_height = static_cast<uint32_t>(std::clamp<int64_t>(height.value_or(0), 0, 65535));
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> colour, r.String("colour_order", 8));
  model.colour_order = colour.value_or("RGB");
  if (model.colour_order != "RGB" && model.colour_order != "BGR") return Bad("colour_order: RGB or BGR");
  for (const char* field : {"mean", "std"}) {
    if (const json::value* v = r.Find(field)) {
      if (!v->is_array() || v->as_array().size() > 4) return Bad(std::string(field) + ": up to 4 numbers");
      for (const json::value& x : v->as_array()) {
        if (!x.is_number()) return Bad(std::string(field) + ": numbers");
        boost::system::error_code ec;
        const double d = x.to_number<double>(ec);
        if (ec) return Bad(std::string(field) + ": numbers");
        (std::string(field) == "mean" ? model.mean : model.std).push_back(static_cast<float>(d));
      }
    }
  }
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> metric, r.String("metric", 16));
  model.metric = metric.value_or("cosine");
  if (model.metric != "cosine") return Bad("metric: only \"cosine\"");
  HB_ASSIGN_OR_RETURN(const std::optional<double> threshold, r.Number("threshold"));
  model.threshold = static_cast<float>(threshold.value_or(0.9));
  // The first fingerprint of a model id is the model's everywhere: for the model this node runs, one that it
  // cannot run (or that its output does not fit) is refused before it is published.
  if (embedder_ != nullptr && model.model_id == embedder_->model_id()) {
    const EmbeddingPreprocessing pre =
        PreprocessingOf(model.input_width, model.input_height, model.colour_order, model.mean, model.std, model.dimension);
    absl::Status fits = CheckPreprocessing(pre);
    if (fits.ok()) {
      const RgbImage grey{.width = pre.width, .height = pre.height,
                          .pixels = std::vector<uint8_t>(static_cast<size_t>(pre.width) * static_cast<size_t>(pre.height) * 3, 128)};
      fits = embedder_->Embed(grey, pre).status();
    }
    if (!fits.ok()) {
      return Bad(absl::StrCat("this node runs model ", model.model_id, " (matching.embedding_model), and this "
                              "fingerprint does not fit it: ", fits.message()));
    }
  }
  HB_ASSIGN_OR_RETURN(const SignalRef ref, bank_->PublishModel(model, *call.actor));
  return Json(201, json::object{{"id", FormatSignalId(ref)}, {"model_id", model.model_id}});
}

absl::StatusOr<HttpResponse> MemberApi::Backup(const Call& call) {
  HB_ASSIGN_OR_RETURN(const json::object o, ParseObject(call.request.body));
  Reader r(o);
  HB_RETURN_IF_ERROR(r.AllowOnly({"dir"}));
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> dir, r.String("dir", 4096));
  if (!dir || dir->empty()) return Bad("dir: a directory on the node's host that does not exist yet");
  // What the admin can fix is said in the API's own words; the storage engine's message stays in the node's
  // log (it names files and internals), the answer is the generic 500/503.
  std::error_code ec;
  // "/b/new/" names the directory "/b/new": its parent is "/b".
  std::filesystem::path target = std::filesystem::path(*dir).lexically_normal();
  if (!target.has_filename() && target.has_parent_path()) target = target.parent_path();
  if (std::filesystem::exists(target, ec)) {
    return Error(409, "conflict", "dir: already exists; a backup never overwrites (name a new directory)");
  }
  const std::filesystem::path parent = target.parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    return Bad("dir: its parent directory does not exist on the node's host");
  }
  if (absl::Status s = bank_->Backup(target.string()); !s.ok()) {
    std::cerr << "hashbank: backup into " << target.string() << " failed: " << s.message() << std::endl;
    if (absl::IsAlreadyExists(s) || std::filesystem::exists(target, ec)) {
      // Made meanwhile by someone else, or written but not restricted to the owner: say so, never "retry".
      return Error(409, "conflict", "dir: exists now; check it (a backup may be incomplete or readable by others) and name a new directory");
    }
    if (absl::IsInvalidArgument(s)) return FromStatus(absl::UnavailableError(s.message()));
    return FromStatus(s);
  }
  return Json(201, json::object{{"dir", *dir}});
}

}  // namespace hashbank
