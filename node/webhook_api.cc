// The member API's webhook and watch-list routes (routes in member_api.cc; Notifications does the work):
// POST/GET /v1/webhooks, GET/DELETE /v1/webhooks/{id} (admin), POST /v1/watch (any role: a member watches its
// own uploads).
#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "node/api_support.h"
#include "node/member_api.h"
#include "node/status_macros.h"

namespace hashbank {
namespace {

using namespace ::hashbank::api;  // NOLINT(google-build-using-namespace): the API's own helpers

json::object WebhookJson(const WebhookConfig& c, const WebhookStatus& st) {
  json::array events;
  for (const std::string& e : c.events) events.emplace_back(e);
  json::object status{{"queued", st.queued},
                      {"delivered", st.delivered},
                      {"failed_attempts", st.failed_attempts},
                      {"consecutive_failures", st.consecutive_failures},
                      {"dropped", st.dropped}};
  status["last_success_ms"] = st.last_success_ms == 0 ? json::value(nullptr) : json::value(st.last_success_ms);
  status["last_failure_ms"] = st.last_failure_ms == 0 ? json::value(nullptr) : json::value(st.last_failure_ms);
  if (!st.last_error.empty()) status["last_error"] = st.last_error;
  return json::object{{"id", c.id}, {"url", c.url}, {"events", std::move(events)}, {"member", c.member},
                      {"created_at_ms", c.created_ms}, {"status", std::move(status)}};
}

}  // namespace

absl::StatusOr<HttpResponse> MemberApi::CreateWebhook(const Call& call) {
  HB_ASSIGN_OR_RETURN(const json::object o, ParseObject(call.request.body));
  Reader r(o);
  HB_RETURN_IF_ERROR(r.AllowOnly({"url", "events", "member"}));
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> url, r.String("url", 2048));
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> member, r.String("member", 64));
  if (!url) return Bad("url: required");
  if (!member) return Bad("member: required (the token name whose watch list the webhook serves)");
  std::vector<std::string> events;
  const json::value* e = r.Find("events");
  if (e == nullptr || !e->is_array()) return Bad("events: an array of event types");
  for (const json::value& x : e->as_array()) {
    if (!x.is_string()) return Bad("events: an array of event types");
    events.emplace_back(x.as_string());
  }
  HB_ASSIGN_OR_RETURN(const WebhookConfig c, bank_->notifications()->CreateWebhook(*url, events, *member, call.actor->name));
  json::object out = WebhookJson(c, WebhookStatus{});
  out.erase("status");
  out["secret"] = c.secret;  // shown once
  return Json(201, out);
}

absl::StatusOr<HttpResponse> MemberApi::ListWebhooks(const Call&) {
  json::array out;
  for (const WebhookConfig& c : bank_->notifications()->ListWebhooks()) {
    out.push_back(WebhookJson(c, bank_->notifications()->Status(c.id)));
  }
  return Json(200, json::object{{"webhooks", std::move(out)}});
}

absl::StatusOr<HttpResponse> MemberApi::GetWebhook(const Call& call) {
  const std::optional<WebhookConfig> c = bank_->notifications()->GetWebhook(call.path_id);
  if (!c) return absl::NotFoundError(absl::StrCat("no webhook ", call.path_id));
  return Json(200, WebhookJson(*c, bank_->notifications()->Status(c->id)));
}

absl::StatusOr<HttpResponse> MemberApi::DeleteWebhook(const Call& call) {
  HB_RETURN_IF_ERROR(bank_->notifications()->DeleteWebhook(call.path_id, call.actor->name));
  return Json(200, json::object{{"id", call.path_id}, {"deleted", true}});
}

absl::StatusOr<HttpResponse> MemberApi::Watch(const Call& call) {
  const ApiLimits lim = limits();
  HB_ASSIGN_OR_RETURN(const json::object o, ParseObject(call.request.body));
  Reader r(o);
  HB_RETURN_IF_ERROR(r.AllowOnly({"items"}));
  const json::value* items = r.Find("items");
  if (items == nullptr || !items->is_array() || items->as_array().empty() ||
      items->as_array().size() > lim.max_batch_items) {
    return Bad(absl::StrCat("items: an array of 1 to ", lim.max_batch_items, " uploads"));
  }
  std::vector<WatchInput> inputs;
  for (size_t i = 0; i < items->as_array().size(); ++i) {
    const json::value& v = items->as_array()[i];
    const std::string prefix = absl::StrCat("items[", i, "].");
    if (!v.is_object()) return Bad(absl::StrCat("items[", i, "]: expected an object"));
    Reader item(v.as_object(), prefix);
    HB_RETURN_IF_ERROR(item.AllowOnly({"content_ref", "pdq", "md5", "sha256", "robust", "robust_mirrored", "vpdq"}));
    WatchInput in;
    HB_ASSIGN_OR_RETURN(const std::optional<std::string> ref, item.String("content_ref", 256));
    if (!ref || ref->empty()) return Bad(prefix + "content_ref: required, 1 to 256 bytes");
    in.content_ref = *ref;
    if (const json::value* p = item.Find("pdq")) {
      HB_ASSIGN_OR_RETURN(in.pdq, ParsePdq(*p, prefix + "pdq"));
    }
    HB_ASSIGN_OR_RETURN(const std::optional<std::string> md5, item.String("md5", 64));
    if (md5) {
      HB_ASSIGN_OR_RETURN(in.md5, ParseDigest<16>(*md5, prefix + "md5"));
    }
    HB_ASSIGN_OR_RETURN(const std::optional<std::string> sha, item.String("sha256", 128));
    if (sha) {
      HB_ASSIGN_OR_RETURN(in.sha256, ParseDigest<32>(*sha, prefix + "sha256"));
    }
    HB_ASSIGN_OR_RETURN(in.robust, ParseRobustField(item));
    HB_ASSIGN_OR_RETURN(in.robust_mirrored, ParseRobustField(item, "robust_mirrored"));
    if (in.robust_mirrored && !in.robust) return Bad(prefix + "robust_mirrored: only with robust");
    if (const json::value* frames = item.Find("vpdq")) {
      HB_ASSIGN_OR_RETURN(in.vpdq, ParseVpdq(*frames, prefix + "vpdq"));
    }
    if (!in.pdq && !in.md5 && !in.sha256 && !in.robust && !in.vpdq) {
      return Bad(prefix + ": at least one of pdq, md5, sha256, robust, vpdq");
    }
    inputs.push_back(std::move(in));
  }
  HB_ASSIGN_OR_RETURN(const std::vector<std::string> ids, bank_->AddWatch(inputs, *call.actor));
  json::array out;
  for (const std::string& id : ids) out.emplace_back(id);
  return Json(201, json::object{{"ids", std::move(out)}});
}

}  // namespace hashbank
