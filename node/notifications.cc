#include "node/notifications.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <set>

#include <boost/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "crypto/hmac_sha256.h"
#include "hashing/robust_fingerprint.h"
#include "node/api_support.h"
#include "node/content_catalog.h"
#include "node/entry_bytes.h"
#include "node/kept_at_origin.h"
#include "node/label_edits.h"
#include "node/signal_intake.h"
#include "protocol/entries.pb.h"

namespace hashbank {
namespace {

namespace json = boost::json;
namespace pb = ::hashbank::protocol;

constexpr std::string_view kWebhookPrefix = "webhook/";
constexpr std::string_view kWatchPrefix = kWatchRowPrefix;
constexpr std::string_view kOutboxPrefix = "outbox/";
constexpr std::string_view kScanPrefix = "scan/";
constexpr std::string_view kWatchMatchPrefix = "watchmatch/";
constexpr std::string_view kDisputePrefix = "dispute/";
// "released/<origin>/<from, 20 digits>": signals of `origin` after `from` stored while it was suspended, to be
// matched against the watch lists once (Notifications::AddReleasedRow).
constexpr std::string_view kReleasedPrefix = "released/";
constexpr std::string_view kInitialized = "notifications/initialized";
constexpr std::string_view kWebhookStatusPrefix = "webhook_status/";
constexpr size_t kMaxContentRef = 256;
constexpr size_t kMaxUrl = 2048;

std::string RandomHex(size_t bytes) {
  std::vector<uint8_t> b(bytes);
  randombytes_buf(b.data(), b.size());
  return BytesToHex(b.data(), b.size());
}

std::string S(std::string_view s) { return std::string(s); }

std::string WatchRow(uint64_t id) {
  std::string n = std::to_string(id);
  return absl::StrCat(S(kWatchPrefix), std::string(20 - n.size(), '0'), n);
}
// "resalted/<origin>/<old sequence>" -> the new sequence: a signal its origin re-published under a new salt.
std::string ResaltedRow(const SignalRef& old) { return absl::StrCat("resalted/", old.origin, "/", old.sequence); }
std::string WatchMatchPrefix(const SignalRef& ref) {
  return absl::StrCat(S(kWatchMatchPrefix), ref.origin, "/", ref.sequence, "/");
}
std::string OutboxRow(const Delivery& d) { return absl::StrCat(S(kOutboxPrefix), d.event_id, "/", d.webhook_id); }

// A webhook's delivery counters, kept across restarts (the queue depth is counted from the outbox).
std::string WebhookStatusRow(const std::string& webhook_id) { return absl::StrCat(S(kWebhookStatusPrefix), webhook_id); }
std::string EncodeWebhookStatus(const WebhookStatus& st) {
  return json::serialize(json::object{{"last_success_ms", st.last_success_ms},
                                      {"last_failure_ms", st.last_failure_ms},
                                      {"delivered", st.delivered},
                                      {"failed_attempts", st.failed_attempts},
                                      {"dropped", st.dropped},
                                      {"consecutive_failures", st.consecutive_failures},
                                      {"last_error", st.last_error}});
}

std::string EncodeDelivery(const Delivery& d) {
  return json::serialize(json::object{{"event", d.event_id}, {"webhook", d.webhook_id}, {"body", d.body},
                                      {"attempts", d.attempts}, {"next_ms", d.next_ms}, {"created_ms", d.created_ms}});
}

const json::value* Field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v == nullptr || v->is_null() ? nullptr : v;
}
std::string Str(const json::object& o, std::string_view name) {
  const json::value* v = Field(o, name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}
int64_t Int(const json::object& o, std::string_view name) {
  const json::value* v = Field(o, name);
  return v != nullptr && v->is_int64() ? v->as_int64() : 0;
}

absl::StatusOr<json::object> ParseRow(std::string_view value, std::string_view what) {
  boost::system::error_code ec;
  json::value v = json::parse(value, ec);
  if (ec || !v.is_object()) return absl::DataLossError(absl::StrCat("a stored ", S(what), " row does not parse"));
  return std::move(v.as_object());
}

double Round3(double x) { return std::round(x * 1000) / 1000; }
double Round1(double x) { return std::round(x * 10) / 10; }

// A vPDQ verdict as the matcher gave it with the new signal as the query and a watched upload as the target,
// turned round: the upload as the query, the signal as the target (/v1/match/video's roles).
VideoVerdict UploadAsQuery(const VideoVerdict& v) {
  VideoVerdict out = v;
  out.query_frames = v.target_frames;
  out.query_matched = v.target_matched;
  out.target_frames = v.query_frames;
  out.target_matched = v.query_matched;
  out.query_percent = v.target_percent;
  out.target_percent = v.query_percent;
  out.query_start = v.target_start;
  out.query_end = v.target_end;
  out.target_start = v.query_start;
  out.target_end = v.query_end;
  out.range_percent = 0;  // relative to one side only; not reported
  out.range_frames = 0;
  return out;
}

// A match.retroactive event's "signal": a robust match says its inliers, a vPDQ match its percentages and
// ranges (`video`, the upload as the query), the others their distance.
json::object MatchedSignal(const SignalRef& ref, const std::string& bank, json::array labels,
                           const std::string& type, int distance, int inliers, bool mirrored,
                           const std::optional<VideoVerdict>& video = std::nullopt) {
  json::object o{{"id", FormatSignalId(ref)}, {"origin", ref.origin}, {"bank", bank}, {"labels", std::move(labels)},
                 {"signal_type", type}};
  if (type == "robust") {
    o["inliers"] = inliers;
    o["mirrored"] = mirrored;
  } else if (video) {  // the upload as the query
    o["upload_match_percent"] = Round1(video->query_percent);
    o["signal_match_percent"] = Round1(video->target_percent);
    o["matched_seconds"] = Round3(video->matched_seconds);
    o["upload_range"] = json::array{Round3(video->query_start), Round3(video->query_end)};
    o["signal_range"] = json::array{Round3(video->target_start), Round3(video->target_end)};
  } else {
    o["distance"] = distance;
  }
  return o;
}

}  // namespace

std::string WebhookSignature(const std::string& secret, int64_t unix_seconds, std::string_view body) {
  const std::string message = absl::StrCat(unix_seconds, ".", S(body));
  const HmacSha256Tag tag = HmacSha256(AsBytes(secret), AsBytes(message));
  return absl::StrCat("t=", unix_seconds, ",v1=", BytesToHex(tag.data(), tag.size()));
}

absl::Status ValidateWebhookUrl(std::string_view url) {
  if (url.size() > kMaxUrl) return absl::InvalidArgumentError("url: at most 2048 characters");
  const bool https = url.starts_with("https://"), http = url.starts_with("http://");
  if (!https && !http) return absl::InvalidArgumentError("url: https:// (or http:// to a loopback address)");
  std::string_view rest = url.substr(https ? 8 : 7);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (std::any_of(url.begin(), url.end(), [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; })) {
    return absl::InvalidArgumentError("url: no spaces or control characters (percent-encode them)");
  }
  if (authority.empty() || authority.find('@') != std::string_view::npos ||
      std::any_of(authority.begin(), authority.end(), [](char c) { return c == '\\'; })) {
    return absl::InvalidArgumentError("url: a host is required (no user information)");
  }
  // An explicit port: 1..65535.
  const size_t close = authority.rfind(']');
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close)) {
    const std::string_view port = authority.substr(colon + 1);
    int n = 0;
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        (n = std::stoi(std::string(port))) < 1 || n > 65535) {
      return absl::InvalidArgumentError("url: the port must be 1 to 65535");
    }
  }
  if (http) {
    std::string_view host = authority;
    if (host.starts_with("[")) {
      host = host.substr(0, host.find(']') + 1);
    } else {
      host = host.substr(0, host.find(':'));
    }
    if (host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
      return absl::InvalidArgumentError("url: http:// only to a loopback address (127.0.0.1, ::1, localhost); use https://");
    }
  }
  return absl::OkStatus();
}

Notifications::Notifications(SignalStore* store, std::string node_id, std::function<int64_t()> now_ms,
                             NotificationOptions options,
                             std::function<absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>>()> log_sizes,
                             std::function<bool(const SignalRef&, std::string_view)> matchable,
                             std::function<bool(const std::string&)> suspended)
    : store_(store),
      node_id_(std::move(node_id)),
      now_ms_(std::move(now_ms)),
      options_(options),
      watch_days_(options.watch_days),
      retry_hours_(options.retry_hours),
      pdq_max_distance_(options.pdq_max_distance),
      max_watch_entries_(options.max_watch_entries),
      max_watch_entries_per_member_(options.max_watch_entries_per_member),
      log_sizes_(std::move(log_sizes)),
      matchable_(std::move(matchable)),
      suspended_(std::move(suspended)),
      video_rule_(options.video_rule),
      watch_video_(options.video_rule.min_quality) {}

void Notifications::AddReleasedRow(StoreBatch* batch, const std::string& origin, uint64_t from) {
  batch->PutState(absl::StrCat(S(kReleasedPrefix), origin, "/", absl::Dec(from, absl::kZeroPad20)), "");
}

void Notifications::SetReloadable(const NotificationOptions& options) {
  watch_days_.store(options.watch_days);
  retry_hours_.store(options.retry_hours);
  pdq_max_distance_.store(options.pdq_max_distance);
  max_watch_entries_.store(options.max_watch_entries);
  max_watch_entries_per_member_.store(options.max_watch_entries_per_member);
  absl::MutexLock lock(&mu_);
  video_rule_ = options.video_rule;
  video_rule_.min_quality = options_.video_rule.min_quality;  // the watch list's video index was built with it
}

VideoMatchRule Notifications::video_rule() const {
  absl::ReaderMutexLock lock(&mu_);
  return video_rule_;
}

size_t Notifications::WatchedBy(const std::string& member) const {
  auto it = watched_by_.find(member);
  return it == watched_by_.end() ? 0 : it->second;
}

void Notifications::IndexWatch(uint64_t id, Watch& w, const std::string& robust, const std::string& robust_mirrored,
                               WatchedVideo video, bool bulk) {
  // A fingerprint the index refuses (none decodable reaches here; an empty one would) is left out, flagged so.
  w.robust = !robust.empty() && watch_robust_.InsertEncoded(id, robust, bulk).ok();
  w.robust_mirrored = !robust_mirrored.empty() && watch_robust_mirrored_.InsertEncoded(id, robust_mirrored, bulk).ok();
  if (!video.frames.empty() && watch_video_.Insert(id, video.frames, video.interval, bulk).ok()) {
    w.video = std::move(video.frames);
  }
  ++watched_by_[w.member];
  if (w.pdq) (void)watch_pdq_.Insert(*w.pdq, id);
  if (w.md5) watch_exact_[absl::StrCat("m", std::string(w.md5->begin(), w.md5->end()))].push_back(id);
  if (w.sha256) watch_exact_[absl::StrCat("s", std::string(w.sha256->begin(), w.sha256->end()))].push_back(id);
}

absl::StatusOr<std::string> Notifications::WatchRobust(const json::object& row, std::string_view field) {
  const std::string b64 = Str(row, field);
  if (b64.empty()) return std::string();
  std::string bytes;
  if (!absl::Base64Unescape(b64, &bytes) || !DecodeRobustFingerprint(bytes).ok()) {
    return absl::DataLossError("a watch row's robust fingerprint is corrupt");
  }
  return bytes;
}

absl::StatusOr<Notifications::WatchedVideo> Notifications::DecodeWatchedVideo(std::string_view bytes) {
  WatchedVideo out;
  if (bytes.empty()) return out;
  pb::VideoFingerprint video;
  if (!video.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("not a video fingerprint");
  }
  if (absl::Status s = DecodeVideoFingerprint(video, &out.frames, &out.interval); !s.ok()) return s;
  return out;
}

absl::StatusOr<Notifications::WatchedVideo> Notifications::WatchVideo(const json::object& row) {
  std::string bytes;
  if (!absl::Base64Unescape(Str(row, "vpdq"), &bytes)) return absl::DataLossError("a watch row's vpdq is corrupt");
  absl::StatusOr<WatchedVideo> video = DecodeWatchedVideo(bytes);
  if (!video.ok()) return absl::DataLossError("a watch row's vpdq is corrupt");
  return video;
}

void Notifications::UnindexWatch(uint64_t id, const Watch& w) {
  if (auto it = watched_by_.find(w.member); it != watched_by_.end() && --it->second == 0) watched_by_.erase(it);
  if (w.pdq) (void)watch_pdq_.Remove(*w.pdq, id);
  if (w.robust) watch_robust_.Remove(id);
  if (w.robust_mirrored) watch_robust_mirrored_.Remove(id);
  if (!w.video.empty()) watch_video_.Remove(id, w.video);
  for (const auto& [kind, d] : {std::pair{'m', w.md5}, std::pair{'s', w.sha256}}) {
    if (!d) continue;
    auto it = watch_exact_.find(absl::StrCat(std::string(1, kind), std::string(d->begin(), d->end())));
    if (it == watch_exact_.end()) continue;
    std::erase(it->second, id);
    if (it->second.empty()) watch_exact_.erase(it);
  }
}

absl::Status Notifications::Load() {
  absl::MutexLock scan(&scan_mu_);
  absl::MutexLock lock(&mu_);
  absl::Status s = store_->ForEachState(kWebhookPrefix, [&](std::string_view id, std::string_view value)
                                                            ABSL_NO_THREAD_SAFETY_ANALYSIS -> absl::Status {
    auto o = ParseRow(value, "webhook");
    if (!o.ok()) return o.status();
    WebhookConfig c;
    c.id = S(id);
    c.url = Str(*o, "url");
    c.member = Str(*o, "member");
    c.secret = Str(*o, "secret");
    c.created_ms = Int(*o, "created_ms");
    if (const json::value* e = Field(*o, "events"); e != nullptr && e->is_array()) {
      for (const json::value& x : e->as_array()) {
        if (x.is_string()) c.events.emplace_back(x.as_string());
      }
    }
    webhooks_[c.id] = std::move(c);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  // The callbacks run here, under both locks (the analysis cannot follow them into lambdas).
  s = store_->ForEachState(kWatchPrefix, [&](std::string_view key, std::string_view value)
                                             ABSL_NO_THREAD_SAFETY_ANALYSIS -> absl::Status {
    uint64_t id = 0;
    if (!absl::SimpleAtoi(absl::string_view(key.data(), key.size()), &id)) return absl::DataLossError("a watch row key is corrupt");
    auto o = ParseRow(value, "watch");
    if (!o.ok()) return o.status();
    Watch w;
    w.member = Str(*o, "member");
    w.content_ref = Str(*o, "content_ref");
    w.expires_ms = Int(*o, "expires_ms");
    if (const std::string h = Str(*o, "pdq"); !h.empty()) {
      absl::StatusOr<Hash256> p = Hash256::FromHex(h);
      if (!p.ok()) return absl::DataLossError("a watch row's pdq is corrupt");
      w.pdq = *p;
    }
    for (const auto& [name, field] : {std::pair{"md5", &w.md5}, std::pair{"sha256", &w.sha256}}) {
      if (const std::string h = Str(*o, name); !h.empty()) {
        absl::StatusOr<SaltedExactDigest> d = api::ParseDigest<32>(h, name);
        if (!d.ok()) return absl::DataLossError("a watch row's digest is corrupt");
        *field = *d;
      }
    }
    absl::StatusOr<std::string> robust = WatchRobust(*o, "robust");
    if (!robust.ok()) return robust.status();
    absl::StatusOr<std::string> robust_mirrored = WatchRobust(*o, "robust_mirrored");
    if (!robust_mirrored.ok()) return robust_mirrored.status();
    absl::StatusOr<WatchedVideo> video = WatchVideo(*o);
    if (!video.ok()) return video.status();
    IndexWatch(id, w, *robust, *robust_mirrored, *std::move(video), /*bulk=*/true);
    watch_[id] = std::move(w);
    next_watch_ = std::max(next_watch_, id + 1);
    return absl::OkStatus();
  });
  watch_robust_.FinishBulk();  // sorts the robust indexes' postings once, before any query
  watch_robust_mirrored_.FinishBulk();
  if (absl::Status v = watch_video_.FinishBulk(); !v.ok() && s.ok()) s = v;
  if (!s.ok()) return s;
  s = store_->ForEachState(kOutboxPrefix, [&](std::string_view, std::string_view value)
                                              ABSL_NO_THREAD_SAFETY_ANALYSIS -> absl::Status {
    auto o = ParseRow(value, "outbox");
    if (!o.ok()) return o.status();
    Delivery d;
    d.event_id = Str(*o, "event");
    d.webhook_id = Str(*o, "webhook");
    d.body = Str(*o, "body");
    d.attempts = static_cast<int>(Int(*o, "attempts"));
    d.next_ms = Int(*o, "next_ms");
    d.created_ms = Int(*o, "created_ms");
    outbox_[absl::StrCat(d.event_id, "/", d.webhook_id)] = std::move(d);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  s = store_->ForEachState(kScanPrefix, [&](std::string_view origin, std::string_view value)
                                            ABSL_NO_THREAD_SAFETY_ANALYSIS -> absl::Status {
    uint64_t seq = 0;
    if (!absl::SimpleAtoi(absl::string_view(value.data(), value.size()), &seq)) return absl::DataLossError("a scan cursor is corrupt");
    cursors_[S(origin)] = seq;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  auto initialized = store_->GetState(kInitialized);
  if (!initialized.ok()) return initialized.status();
  if (!initialized->has_value()) {
    // First start with notifications: the logs as they are now are not "new".
    auto sizes = log_sizes_();
    if (!sizes.ok()) return sizes.status();
    StoreBatch batch;
    for (const auto& [origin, size] : *sizes) {
      cursors_[origin] = size;
      batch.PutState(absl::StrCat(S(kScanPrefix), origin), absl::StrCat(size));
    }
    batch.PutState(kInitialized, "1");
    if (absl::Status c = store_->Commit(std::move(batch), now_ms_()); !c.ok()) return c;
  }
  s = store_->ForEachState(kWebhookStatusPrefix, [&](std::string_view id, std::string_view value)
                                                     ABSL_NO_THREAD_SAFETY_ANALYSIS -> absl::Status {
    auto o = ParseRow(value, "webhook status");
    if (!o.ok()) return o.status();
    if (!webhooks_.contains(S(id))) return absl::OkStatus();  // a leftover of a deleted webhook
    WebhookStatus& st = status_[S(id)];
    st.last_success_ms = Int(*o, "last_success_ms");
    st.last_failure_ms = Int(*o, "last_failure_ms");
    st.delivered = static_cast<uint64_t>(Int(*o, "delivered"));
    st.failed_attempts = static_cast<uint64_t>(Int(*o, "failed_attempts"));
    st.dropped = static_cast<uint64_t>(Int(*o, "dropped"));
    st.consecutive_failures = static_cast<uint64_t>(Int(*o, "consecutive_failures"));
    st.last_error = Str(*o, "last_error");
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  for (const auto& [key, d] : outbox_) ++status_[d.webhook_id].queued;
  return absl::OkStatus();
}

absl::StatusOr<WebhookConfig> Notifications::CreateWebhook(const std::string& url, const std::vector<std::string>& events,
                                                           const std::string& member, const std::string& actor) {
  if (absl::Status s = ValidateWebhookUrl(url); !s.ok()) return s;
  if (events.empty()) return absl::InvalidArgumentError("events: at least one of match.retroactive, signal.withdrawn, signal.disputed, signal.relabeled");
  for (const std::string& e : events) {
    if (std::find(kWebhookEvents.begin(), kWebhookEvents.end(), e) == kWebhookEvents.end()) {
      return absl::InvalidArgumentError(absl::StrCat("events: unknown event type \"", e,
                                                     "\" (match.retroactive, signal.withdrawn, signal.disputed, signal.relabeled)"));
    }
  }
  if (member.empty() || member.size() > 64) return absl::InvalidArgumentError("member: the token name whose watch list it serves");
  WebhookConfig c;
  c.id = absl::StrCat("wh_", RandomHex(8));
  c.url = url;
  c.events = events;
  std::sort(c.events.begin(), c.events.end());
  c.events.erase(std::unique(c.events.begin(), c.events.end()), c.events.end());
  c.member = member;
  c.secret = absl::StrCat("whsec_", RandomHex(32));
  c.created_ms = now_ms_();
  json::array ev;
  for (const std::string& e : c.events) ev.emplace_back(e);
  StoreBatch batch;
  batch.PutState(absl::StrCat(S(kWebhookPrefix), c.id),
                 json::serialize(json::object{{"url", c.url}, {"events", std::move(ev)}, {"member", c.member},
                                              {"secret", c.secret}, {"created_ms", c.created_ms}}));
  batch.AddAudit(actor, "webhook.create", c.id);
  if (absl::Status s = store_->Commit(std::move(batch), now_ms_()); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  webhooks_[c.id] = c;
  return c;
}

std::vector<WebhookConfig> Notifications::ListWebhooks() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<WebhookConfig> out;
  for (const auto& [id, c] : webhooks_) out.push_back(c);
  return out;
}

std::optional<WebhookConfig> Notifications::GetWebhook(const std::string& id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = webhooks_.find(id);
  if (it == webhooks_.end()) return std::nullopt;
  return it->second;
}

absl::Status Notifications::DeleteWebhook(const std::string& id, const std::string& actor) {
  absl::MutexLock lock(&mu_);
  if (!webhooks_.contains(id)) return absl::NotFoundError(absl::StrCat("no webhook ", id));
  StoreBatch batch;
  batch.DeleteState(absl::StrCat(S(kWebhookPrefix), id));
  batch.DeleteState(WebhookStatusRow(id));
  std::vector<std::string> dropped;
  for (const auto& [key, d] : outbox_) {
    if (d.webhook_id == id) {
      batch.DeleteState(OutboxRow(d));
      dropped.push_back(key);
    }
  }
  batch.AddAudit(actor, "webhook.delete", id);
  // Under mu_: a delivery finishing now must not write its row back after this delete.
  if (absl::Status s = store_->Commit(std::move(batch), now_ms_()); !s.ok()) return s;
  for (const std::string& k : dropped) outbox_.erase(k);
  webhooks_.erase(id);
  status_.erase(id);
  return absl::OkStatus();
}

WebhookStatus Notifications::Status(const std::string& id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = status_.find(id);
  return it == status_.end() ? WebhookStatus{} : it->second;
}

absl::StatusOr<std::vector<std::string>> Notifications::AddWatch(const std::string& member, const std::vector<WatchItem>& items) {
  std::vector<WatchedVideo> videos(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].pdq && !items[i].md5 && !items[i].sha256 && !items[i].robust && !items[i].vpdq) {
      return absl::InvalidArgumentError(absl::StrCat("items[", i, "]: at least one of pdq, md5, sha256, robust, vpdq"));
    }
    if (items[i].content_ref.empty() || items[i].content_ref.size() > kMaxContentRef) {
      return absl::InvalidArgumentError(absl::StrCat("items[", i, "].content_ref: 1 to 256 bytes"));
    }
    // Bank::AddWatch salted it (SignalIntake::SaltRobust), so this holds; checked so the index cannot refuse it.
    if (items[i].robust && !DecodeRobustFingerprint(*items[i].robust).ok()) {
      return absl::InvalidArgumentError(absl::StrCat("items[", i, "].robust: does not decode"));
    }
    if (items[i].robust_mirrored && (!items[i].robust || !DecodeRobustFingerprint(*items[i].robust_mirrored).ok())) {
      return absl::InvalidArgumentError(absl::StrCat("items[", i, "].robust_mirrored: only with robust, and decodable"));
    }
    if (items[i].vpdq) {  // Bank::AddWatch built it (SignalIntake::SaltVideo)
      absl::StatusOr<WatchedVideo> video = DecodeWatchedVideo(*items[i].vpdq);
      if (!video.ok() || video->frames.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("items[", i, "].vpdq: does not decode"));
      }
      videos[i] = *std::move(video);
    }
  }
  const int64_t expires = now_ms_() + int64_t{watch_days_.load()} * 86'400'000;
  absl::MutexLock lock(&mu_);
  if (const size_t cap = max_watch_entries_.load(); watch_.size() + items.size() > cap) {
    return absl::ResourceExhaustedError(absl::StrCat("the watch list holds at most ", cap, " entries"));
  }
  if (const size_t cap = max_watch_entries_per_member_.load(); WatchedBy(member) + items.size() > cap) {
    return absl::ResourceExhaustedError(absl::StrCat("the watch list holds at most ", cap, " entries of one member"));
  }
  StoreBatch batch;
  std::vector<std::pair<uint64_t, Watch>> added;
  std::vector<std::string> ids;
  for (const WatchItem& item : items) {
    Watch w{member, item.content_ref, item.pdq, item.md5, item.sha256, false, false, {}, expires};
    json::object o{{"member", member}, {"content_ref", item.content_ref}, {"expires_ms", expires}};
    if (w.pdq) o["pdq"] = w.pdq->ToHex();
    if (w.md5) o["md5"] = BytesToHex(w.md5->data(), w.md5->size());
    if (w.sha256) o["sha256"] = BytesToHex(w.sha256->data(), w.sha256->size());
    if (item.robust) o["robust"] = absl::Base64Escape(*item.robust);
    if (item.robust_mirrored) o["robust_mirrored"] = absl::Base64Escape(*item.robust_mirrored);
    if (item.vpdq) o["vpdq"] = absl::Base64Escape(*item.vpdq);
    const uint64_t id = next_watch_++;
    batch.PutState(WatchRow(id), json::serialize(o));
    ids.push_back(std::to_string(id));
    added.emplace_back(id, std::move(w));
  }
  if (absl::Status s = store_->Commit(std::move(batch), now_ms_()); !s.ok()) return s;
  for (size_t i = 0; i < added.size(); ++i) {
    auto& [id, w] = added[i];
    IndexWatch(id, w, items[i].robust.value_or(""), items[i].robust_mirrored.value_or(""), std::move(videos[i]),
               /*bulk=*/false);
    watch_[id] = std::move(w);
  }
  return ids;
}

absl::Status Notifications::ReportExisting(const std::vector<ExistingMatch>& matches) {
  if (matches.empty()) return absl::OkStatus();
  std::vector<std::pair<std::string, std::string>> owners(matches.size());  // (member, content_ref); empty: gone
  {
    absl::ReaderMutexLock lock(&mu_);
    for (size_t i = 0; i < matches.size(); ++i) {
      uint64_t id = 0;
      if (!absl::SimpleAtoi(matches[i].watch_id, &id)) continue;
      if (auto w = watch_.find(id); w != watch_.end()) owners[i] = {w->second.member, w->second.content_ref};
    }
  }
  StoreBatch batch;
  std::vector<Delivery> queued;
  for (size_t i = 0; i < matches.size(); ++i) {
    const ExistingMatch& m = matches[i];
    const auto& [member, content_ref] = owners[i];
    if (member.empty()) continue;
    json::array labels;
    for (const std::string& l : m.labels) labels.emplace_back(l);
    json::object data{{"content_ref", content_ref}, {"watch_id", m.watch_id},
                      {"signal", MatchedSignal(m.ref, m.bank, std::move(labels), m.signal_type, m.distance, m.inliers,
                                               m.mirrored, m.video)}};
    Enqueue(member, "match.retroactive", json::serialize(data), &batch, &queued);
    batch.PutState(absl::StrCat(WatchMatchPrefix(m.ref), m.watch_id),
                   json::serialize(json::object{{"member", member}, {"content_ref", content_ref}}));
  }
  if (absl::Status s = store_->Commit(std::move(batch), now_ms_()); !s.ok()) return s;
  return QueueCommitted(&queued);
}

size_t Notifications::watch_size() const {
  absl::ReaderMutexLock lock(&mu_);
  return watch_.size();
}

absl::StatusOr<size_t> Notifications::PurgeExpiredWatch() {
  const int64_t now = now_ms_();
  absl::MutexLock lock(&mu_);
  StoreBatch batch;
  std::vector<uint64_t> expired;
  for (const auto& [id, w] : watch_) {
    if (w.expires_ms <= now) {
      batch.DeleteState(WatchRow(id));
      expired.push_back(id);
      if (expired.size() == 10000) break;
    }
  }
  if (expired.empty()) return 0;
  if (absl::Status s = store_->Commit(std::move(batch), now); !s.ok()) return s;
  for (uint64_t id : expired) {
    UnindexWatch(id, watch_.at(id));
    watch_.erase(id);
  }
  return expired.size();
}

std::vector<Notifications::Hit> Notifications::MatchWatch(const std::string& signal_bytes) const {
  pb::Signal sig;
  std::vector<Hit> hits;
  if (!sig.ParseFromString(signal_bytes)) return hits;
  // The searches first, without mu_ (the indexes lock themselves): a robust or video search through a large
  // watch list takes milliseconds, and a registration (AddWatch, exclusive) must not wait for it. An entry
  // found here that is removed meanwhile is dropped below; one added meanwhile and missed here was matched
  // against the bank when it was registered (Bank::AddWatch).
  std::vector<Hit> found;  // in the order of preference: exact, PDQ, robust, mirrored robust, video
  // Skipped while no upload is watched: a query at the watch distance probes hundreds of buckets even in
  // an empty index, per new signal (a fifth of a running node's CPU during an import).
  if (sig.pdq().size() == 32 && watch_pdq_.size() > 0) {
    for (const PdqMatch& m : watch_pdq_.Query(PdqFromBytes(sig.pdq()), pdq_max_distance_.load())) {
      found.push_back(Hit{.watch = m.id, .signal_type = "pdq", .distance = m.distance});
    }
  }
  if (!sig.robust().empty() && watch_robust_.size() > 0) {
    // The new signal is the banked image; a watched upload that contains it (cropped, captioned, in a
    // screenshot) matches, verified as /v1/match/image verifies (robust_verify.h); then the uploads' mirror
    // fingerprints, for mirrored reposts.
    if (absl::StatusOr<RobustFingerprint> banked = DecodeRobustFingerprint(sig.robust()); banked.ok()) {
      for (const RobustIndex::Hit& h : watch_robust_.QueryContaining(*banked)) {
        found.push_back(Hit{.watch = h.id, .signal_type = "robust", .distance = 0, .inliers = h.verdict.inliers});
      }
      if (watch_robust_mirrored_.size() > 0) {
        for (const RobustIndex::Hit& h : watch_robust_mirrored_.QueryContaining(*banked)) {
          found.push_back(Hit{.watch = h.id, .signal_type = "robust", .distance = 0, .inliers = h.verdict.inliers, .mirrored = true});
        }
      }
    }
  }
  if (sig.has_video() && watch_video_.videos() > 0) {
    // The new signal's frames as the query, the watched uploads as the indexed side: its query percentage
    // catches a banked video inside a longer upload (a compilation), its target and range percentages an
    // upload that is an excerpt of it; the matched-time floor holds either way (video_index.h).
    std::vector<VideoFrame> frames;
    double interval = 0;
    if (DecodeVideoFingerprint(sig.video(), &frames, &interval).ok()) {
      for (const VideoMatch& m : watch_video_.Query(frames, interval, video_rule())) {
        found.push_back(Hit{.watch = m.id, .signal_type = "vpdq", .distance = 0, .video = UploadAsQuery(m.verdict)});
      }
    }
  }
  const int64_t now = now_ms_();
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Hit> exact;
  for (const auto& [kind, digest, type] : {std::tuple{'m', &sig.md5(), "md5"}, std::tuple{'s', &sig.sha256(), "sha256"}}) {
    if (digest->size() != 32) continue;
    auto it = watch_exact_.find(absl::StrCat(std::string(1, kind), *digest));
    if (it == watch_exact_.end()) continue;
    for (uint64_t id : it->second) exact.push_back(Hit{.watch = id, .signal_type = type, .distance = 0});
  }
  found.insert(found.begin(), std::make_move_iterator(exact.begin()), std::make_move_iterator(exact.end()));
  for (Hit& h : found) {
    auto w = watch_.find(h.watch);
    if (w == watch_.end() || w->second.expires_ms <= now) continue;
    // Once per watch entry: the first kind found.
    if (std::any_of(hits.begin(), hits.end(), [&](const Hit& seen) { return seen.watch == h.watch; })) continue;
    h.member = w->second.member;
    h.content_ref = w->second.content_ref;
    hits.push_back(std::move(h));
  }
  return hits;
}

void Notifications::Enqueue(const std::string& member, std::string_view type, const std::string& data_json,
                            StoreBatch* batch, std::vector<Delivery>* out) const {
  std::vector<std::string> targets;  // the member's webhooks that take `type`
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [id, c] : webhooks_) {
      if (c.member == member && std::find(c.events.begin(), c.events.end(), type) != c.events.end()) {
        targets.push_back(id);
      }
    }
  }
  if (targets.empty()) return;
  const int64_t now = now_ms_();
  const std::string event_id = absl::StrCat("evt_", RandomHex(16));
  const std::string body = absl::StrCat("{\"id\":\"", event_id, "\",\"type\":\"", S(type), "\",\"created_at_ms\":", now,
                                        ",\"node_id\":", json::serialize(json::value(node_id_)), ",\"data\":", data_json, "}");
  for (const std::string& id : targets) {
    Delivery d{event_id, id, body, 0, now, now};
    batch->PutState(OutboxRow(d), EncodeDelivery(d));
    out->push_back(std::move(d));
  }
}

absl::Status Notifications::QueueCommitted(std::vector<Delivery>* queued) {
  absl::MutexLock lock(&mu_);
  // A webhook deleted between Enqueue and now took its outbox rows with it, but not these (they were not in
  // outbox_ yet): they go now, so nothing is delivered to, or counted for, a webhook that is gone.
  StoreBatch orphans;
  bool any = false;
  for (Delivery& d : *queued) {
    if (!webhooks_.contains(d.webhook_id)) {
      orphans.DeleteState(OutboxRow(d));
      any = true;
      continue;
    }
    ++status_[d.webhook_id].queued;
    outbox_[absl::StrCat(d.event_id, "/", d.webhook_id)] = std::move(d);
  }
  queued->clear();
  return any ? store_->Commit(std::move(orphans), now_ms_()) : absl::OkStatus();
}

absl::StatusOr<size_t> Notifications::Scan(size_t max_entries) {
  absl::MutexLock scan(&scan_mu_);
  auto sizes = log_sizes_();
  if (!sizes.ok()) return sizes.status();
  StoreBatch batch;
  std::vector<Delivery> queued;
  std::map<std::string, uint64_t> moved;
  // watchmatch rows written in this pass (a withdrawal in the same pass must see them).
  std::multimap<std::string, std::pair<std::string, std::string>> fresh;
  // Signals withdrawn in this pass: their match rows are deleted by this pass's batch, so nothing later in
  // the pass (a dispute, an edit) may still find them.
  std::set<std::pair<std::string, uint64_t>> withdrawn_in_pass;
  // Signals re-published under a new salt seen in this pass (their "resalted/" rows are in this pass's batch).
  std::set<std::pair<std::string, uint64_t>> resalted_in_pass;
  size_t processed = 0;
  size_t new_disputes = 0;
  absl::Status failed = absl::OkStatus();
  // match.retroactive for every live watch entry a new signal matches but those in `skip` (watch ids), with
  // the pair remembered for the signal's later withdrawal, disputes and edits.
  // No lock is held across the pass: each step takes mu_ only for what it reads (MatchWatch, Enqueue), so a
  // registration or a delivery waits for at most one of them, not for a pass over 2 000 entries.
  auto report_matches = [&](const SignalRef& ref, const pb::Signal& signal, const std::set<std::string>& skip) {
    std::string sig_bytes = signal.SerializeAsString();
    if (ref.origin == node_id_ && watch_robust_.size() > 0) {
      // This node's own signal, whose robust fingerprint may be kept here, out of the log
      // (node/kept_at_origin.h): matched with its kept parts, as the index matches it; the row is read only
      // when a watch entry has a robust fingerprint (nothing else here uses kept parts). A damaged kept row
      // costs only those parts (ReadKept names it).
      if (absl::StatusOr<StoredKept> kept = ReadKept(*store_, ref.sequence); kept.ok() && kept->parts) {
        pb::Signal merged = signal;
        MergeKept(*kept->parts, &merged);
        sig_bytes = merged.SerializeAsString();
      }
    }
    for (const Hit& h : MatchWatch(sig_bytes)) {
      if (skip.contains(std::to_string(h.watch))) continue;
      json::array labels;  // as they are now (a later edit may already be stored)
      auto current = CurrentLabels(*store_, ref, signal);
      for (const std::string& l : current.ok() ? *current : std::vector<std::string>()) labels.emplace_back(l);
      json::object data{{"content_ref", h.content_ref}, {"watch_id", std::to_string(h.watch)},
                        {"signal", MatchedSignal(ref, S(BankOf(signal)), std::move(labels), h.signal_type,
                                                 h.distance, h.inliers, h.mirrored, h.video)}};
      Enqueue(h.member, "match.retroactive", json::serialize(data), &batch, &queued);
      batch.PutState(absl::StrCat(WatchMatchPrefix(ref), h.watch),
                     json::serialize(json::object{{"member", h.member}, {"content_ref", h.content_ref}}));
      fresh.emplace(WatchMatchPrefix(ref), std::pair{absl::StrCat(h.watch, "\n", h.member), h.content_ref});
    }
  };
  bool released_work = false;  // the batch moves a released range (below)
  {
    for (const auto& log : *sizes) {
      const std::string& origin = log.first;  // named, not a structured binding: lambdas capture it
      const uint64_t size = log.second;
      if (processed >= max_entries) break;
      const uint64_t cursor = cursors_.contains(origin) ? cursors_.at(origin) : 0;
      if (cursor >= size) continue;
      const uint64_t end = std::min<uint64_t>(size, cursor + (max_entries - processed));
      auto matched_rows = [&](const SignalRef& ref, const std::function<void(const std::string&, const std::string&, const std::string&)>& fn) {
        const std::string prefix = WatchMatchPrefix(ref);
        (void)store_->ForEachState(prefix, [&](std::string_view watch_id, std::string_view value) -> absl::Status {
          auto o = ParseRow(value, "watchmatch");
          if (o.ok()) fn(S(watch_id), Str(*o, "member"), Str(*o, "content_ref"));
          return absl::OkStatus();
        });
        auto [lo, hi] = fresh.equal_range(prefix);
        for (auto it = lo; it != hi; ++it) fn(it->second.first.substr(0, it->second.first.find('\n')),
                                              it->second.first.substr(it->second.first.find('\n') + 1), it->second.second);
      };
      absl::Status s = store_->ScanEntries(origin, cursor + 1, end + 1, [&](uint64_t seq, std::string_view bytes) -> absl::Status {
        pb::Entry entry;
        if (!entry.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return absl::OkStatus();
        const SignalRef ref{origin, seq};
        if (entry.has_signal() && HasValues(entry.signal()) && matchable_(ref, BankOf(entry.signal()))) {
          // Salt rotation: the same content as an earlier signal of this origin (sequence resalted_from < this
          // one), under the new salt. What the members were told of the old signal stays true of this one: its
          // watch-list matches carry over without an event, and its HMA content state here moves with it.
          // Watch entries it matches that the old one had not (registered during the rotation, or never
          // scanned) are told as for any new signal.
          std::set<std::string> carried;
          const uint64_t from_seq = entry.signal().resalted_from();
          if (from_seq != 0 && from_seq < seq) {
            const SignalRef old{origin, from_seq};
            batch.PutState(ResaltedRow(old), absl::StrCat(seq));
            resalted_in_pass.insert({origin, from_seq});
            matched_rows(old, [&](const std::string& watch_id, const std::string& member, const std::string& content_ref) {
              carried.insert(watch_id);
              batch.PutState(absl::StrCat(WatchMatchPrefix(ref), watch_id),
                             json::serialize(json::object{{"member", member}, {"content_ref", content_ref}}));
              fresh.emplace(WatchMatchPrefix(ref), std::pair{absl::StrCat(watch_id, "\n", member), content_ref});
            });
            if (auto content = store_->GetState(ContentRow(old)); content.ok() && content->has_value()) {
              batch.PutState(ContentRow(ref), **content);
            }
          }
          report_matches(ref, entry.signal(), carried);
        } else if (entry.has_withdrawal()) {
          const SignalRef target{origin, entry.withdrawal().signal_sequence()};
          withdrawn_in_pass.insert({origin, target.sequence});
          const std::string reason = entry.withdrawal().reason();
          // A withdrawal by salt rotation is no withdrawal of consent: the content is banked on, re-published
          // under the new salt (a signal with resalted_from, earlier in the same append). No event for it, but
          // only when that re-publication was seen: a "salt_rotation" reason alone silences nothing.
          bool rotation = false;
          if (reason == "salt_rotation") {
            rotation = resalted_in_pass.contains({origin, target.sequence});
            if (!rotation) {
              auto seen = store_->GetState(ResaltedRow(target));
              rotation = seen.ok() && seen->has_value();
            }
          }
          matched_rows(target, [&](const std::string& watch_id, const std::string& member, const std::string& content_ref) {
            json::object data{{"content_ref", content_ref}, {"watch_id", watch_id}, {"signal_id", FormatSignalId(target)},
                              {"reason", reason}};
            if (!rotation) Enqueue(member, "signal.withdrawn", json::serialize(data), &batch, &queued);
            // Nothing more can happen to a withdrawn signal: its match rows go (a put of the same batch too:
            // deletes apply after puts).
            batch.DeleteState(absl::StrCat(WatchMatchPrefix(target), watch_id));
          });
        } else if (entry.has_label_edit() && !withdrawn_in_pass.contains({origin, entry.label_edit().signal_sequence()})) {
          const SignalRef target{origin, entry.label_edit().signal_sequence()};
          json::array labels;
          for (const std::string& l : LabelsOf(entry.label_edit())) labels.emplace_back(l);
          matched_rows(target, [&](const std::string& watch_id, const std::string& member, const std::string& content_ref) {
            json::object data{{"content_ref", content_ref}, {"watch_id", watch_id}, {"signal_id", FormatSignalId(target)},
                              {"labels", labels}};
            Enqueue(member, "signal.relabeled", json::serialize(data), &batch, &queued);
          });
        } else if (entry.has_opinion() && entry.opinion().verdict() == pb::Opinion::VERDICT_DISPUTED &&
                   !withdrawn_in_pass.contains({entry.opinion().signal_origin(), entry.opinion().signal_sequence()})) {
          const SignalRef target{entry.opinion().signal_origin(), entry.opinion().signal_sequence()};
          batch.PutState(absl::StrCat(S(kDisputePrefix), absl::Dec(now_ms_(), absl::kZeroPad20), "/", FormatSignalId(ref)),
                         json::serialize(json::object{{"signal_id", FormatSignalId(target)}, {"disputed_by", origin}}));
          ++new_disputes;
          matched_rows(target, [&](const std::string& watch_id, const std::string& member, const std::string& content_ref) {
            json::object data{{"content_ref", content_ref}, {"watch_id", watch_id}, {"signal_id", FormatSignalId(target)},
                              {"disputed_by", origin}};
            Enqueue(member, "signal.disputed", json::serialize(data), &batch, &queued);
          });
        }
        return absl::OkStatus();
      });
      if (!s.ok()) {
        failed = s;
        break;
      }
      batch.PutState(absl::StrCat(S(kScanPrefix), origin), absl::StrCat(end));
      moved[origin] = end;
      processed += end - cursor;
    }
    // Signals released by an unsuspend: those the scanner passed while their origin was suspended, i.e. up
    // to its cursor, are matched now. A watch entry they already matched
    // (a scan after the unsuspend, before this) is not told twice.
    std::vector<std::pair<std::string, std::string>> released;  // (row name without the prefix, origin)
    if (failed.ok()) {
      (void)store_->ForEachState(kReleasedPrefix, [&](std::string_view name, std::string_view) {
        const size_t slash = name.rfind('/');
        if (slash != std::string_view::npos) released.emplace_back(std::string(name), std::string(name.substr(0, slash)));
        return absl::OkStatus();
      });
    }
    for (const auto& row : released) {
      const std::string& name = row.first;  // named, not structured bindings: the lambda below captures them
      const std::string& origin = row.second;
      if (processed >= max_entries || !failed.ok()) break;
      uint64_t from = 0;
      if (!absl::SimpleAtoi(name.substr(origin.size() + 1), &from)) {
        batch.DeleteState(absl::StrCat(S(kReleasedPrefix), name));  // damaged: nothing it could name
        released_work = true;
        continue;
      }
      if (suspended_ && suspended_(origin)) continue;  // suspended again (or not yet lifted in memory)
      // As far as the scanner has read, this pass included (what this pass read after the unsuspend is in
      // `fresh` and is not told twice).
      const uint64_t cursor = moved.contains(origin) ? moved.at(origin) : cursors_.contains(origin) ? cursors_.at(origin) : 0;
      const uint64_t end = std::min<uint64_t>(cursor, from + (max_entries - processed));
      released_work = true;
      batch.DeleteState(absl::StrCat(S(kReleasedPrefix), name));
      if (end <= from) continue;  // the scanner had not reached the released signals: it matches them itself
      absl::Status s = store_->ScanEntries(origin, from + 1, end + 1, [&](uint64_t seq, std::string_view bytes) -> absl::Status {
        pb::Entry entry;
        const SignalRef ref{origin, seq};
        if (bytes.empty() || !entry.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || !entry.has_signal() ||
            !HasValues(entry.signal()) || withdrawn_in_pass.contains({origin, seq}) ||
            !matchable_(ref, BankOf(entry.signal()))) {
          return absl::OkStatus();
        }
        std::set<std::string> told;
        (void)store_->ForEachState(WatchMatchPrefix(ref), [&](std::string_view watch_id, std::string_view) {
          told.insert(std::string(watch_id));
          return absl::OkStatus();
        });
        auto [lo, hi] = fresh.equal_range(WatchMatchPrefix(ref));
        for (auto it = lo; it != hi; ++it) told.insert(it->second.first.substr(0, it->second.first.find('\n')));
        report_matches(ref, entry.signal(), told);
        return absl::OkStatus();
      });
      if (!s.ok()) {
        failed = s;
        break;
      }
      processed += end - from;
      if (end < cursor) AddReleasedRow(&batch, origin, end);  // the rest in a later pass
    }
  }
  if (!failed.ok()) return failed;
  if (moved.empty() && !released_work) return size_t{0};
  if (new_disputes > 0) {
    // Bounded: the oldest dispute rows beyond kMaxDisputeRows go in the same batch.
    std::vector<std::string> rows;
    (void)store_->ForEachState(kDisputePrefix, [&](std::string_view key, std::string_view) {
      rows.emplace_back(key);
      return absl::OkStatus();
    });
    for (size_t i = 0; i + kMaxDisputeRows < rows.size() + new_disputes && i < rows.size(); ++i) {
      batch.DeleteState(absl::StrCat(S(kDisputePrefix), rows[i]));
    }
  }
  if (absl::Status s = store_->Commit(std::move(batch), now_ms_()); !s.ok()) return s;
  for (const auto& [origin, end] : moved) cursors_[origin] = end;
  if (absl::Status s = QueueCommitted(&queued); !s.ok()) return s;
  return processed;
}

absl::StatusOr<std::vector<Notifications::DisputeRow>> Notifications::RecentDisputes(size_t limit) const {
  std::vector<DisputeRow> rows;
  absl::Status s = store_->ForEachState(kDisputePrefix, [&](std::string_view key, std::string_view value) {
    auto o = ParseRow(value, "dispute");
    const size_t slash = key.find('/');
    if (!o.ok() || slash == std::string_view::npos) return absl::OkStatus();  // a damaged row is skipped
    DisputeRow r;
    r.signal_id = Str(*o, "signal_id");
    r.disputed_by = Str(*o, "disputed_by");
    r.opinion_id = std::string(key.substr(slash + 1));
    (void)absl::SimpleAtoi(std::string(key.substr(0, slash)), &r.seen_at_ms);
    rows.push_back(std::move(r));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  std::reverse(rows.begin(), rows.end());
  if (rows.size() > limit) rows.resize(limit);
  return rows;
}

std::vector<Delivery> Notifications::Due(int64_t now_ms, size_t max) const {
  absl::ReaderMutexLock lock(&mu_);
  // Pointers first: only the `max` oldest due deliveries are copied.
  std::vector<const Delivery*> due;
  for (const auto& [key, d] : outbox_) {
    if (d.next_ms <= now_ms) due.push_back(&d);
  }
  auto older = [](const Delivery* a, const Delivery* b) { return a->created_ms < b->created_ms; };
  if (due.size() > max) {
    std::nth_element(due.begin(), due.begin() + static_cast<std::ptrdiff_t>(max), due.end(), older);
    due.resize(max);
  }
  std::sort(due.begin(), due.end(), older);
  std::vector<Delivery> out;
  out.reserve(due.size());
  for (const Delivery* d : due) out.push_back(*d);
  return out;
}

std::optional<int64_t> Notifications::NextDue() const {
  absl::ReaderMutexLock lock(&mu_);
  std::optional<int64_t> next;
  for (const auto& [key, d] : outbox_) {
    if (!next || d.next_ms < *next) next = d.next_ms;
  }
  return next;
}

size_t Notifications::queued() const {
  absl::ReaderMutexLock lock(&mu_);
  return outbox_.size();
}

int64_t Notifications::RetryDelay(int attempts) const {
  double base = static_cast<double>(options_.first_retry_ms) * std::pow(2.0, std::min(attempts - 1, 30));
  base = std::min(base, static_cast<double>(options_.max_retry_ms));
  // Jitter: 50% to 150% of the step, so receivers that come back are not hit by every node at once.
  const double jitter = 0.5 + static_cast<double>(randombytes_uniform(1'000'000)) / 1e6;
  return static_cast<int64_t>(base * jitter);
}

absl::Status Notifications::Delivered(const Delivery& d) {
  absl::MutexLock lock(&mu_);
  const std::string key = absl::StrCat(d.event_id, "/", d.webhook_id);
  if (!outbox_.contains(key)) return absl::OkStatus();  // its webhook was deleted meanwhile
  WebhookStatus st = status_[d.webhook_id];
  st.last_success_ms = now_ms_();
  ++st.delivered;
  st.consecutive_failures = 0;
  if (st.queued > 0) --st.queued;
  StoreBatch batch;
  batch.DeleteState(OutboxRow(d));
  batch.PutState(WebhookStatusRow(d.webhook_id), EncodeWebhookStatus(st));
  if (absl::Status s = store_->Commit(std::move(batch), now_ms_()); !s.ok()) return s;
  outbox_.erase(key);
  status_[d.webhook_id] = std::move(st);
  return absl::OkStatus();
}

absl::Status Notifications::Failed(const Delivery& d, const std::string& error) {
  const int64_t now = now_ms_();
  absl::MutexLock lock(&mu_);
  const std::string key = absl::StrCat(d.event_id, "/", d.webhook_id);
  if (!outbox_.contains(key)) return absl::OkStatus();
  Delivery next = outbox_.at(key);
  ++next.attempts;
  WebhookStatus st = status_[d.webhook_id];
  st.last_failure_ms = now;
  // Printable ASCII only (a resolver's error may quote a host's raw bytes): the row is JSON, and JSON is UTF-8.
  st.last_error.clear();
  for (const char c : std::string_view(error).substr(0, 300)) {
    st.last_error.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  ++st.failed_attempts;
  ++st.consecutive_failures;
  StoreBatch batch;
  const bool drop = static_cast<double>(now - next.created_ms) >= retry_hours_.load() * 3'600'000.0;
  if (drop) {
    batch.DeleteState(OutboxRow(next));
    ++st.dropped;
    if (st.queued > 0) --st.queued;
  } else {
    next.next_ms = now + RetryDelay(next.attempts);
    batch.PutState(OutboxRow(next), EncodeDelivery(next));
  }
  batch.PutState(WebhookStatusRow(d.webhook_id), EncodeWebhookStatus(st));
  if (absl::Status s = store_->Commit(std::move(batch), now); !s.ok()) return s;
  if (drop) {
    outbox_.erase(key);
  } else {
    outbox_[key] = std::move(next);
  }
  status_[d.webhook_id] = std::move(st);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ResaltWatchRow(std::string_view row, const Salter& from, const Salter& to) {
  auto o = ParseRow(row, "watch");
  if (!o.ok()) return o.status();
  if (const std::string h = Str(*o, "pdq"); !h.empty()) {
    absl::StatusOr<Hash256> p = Hash256::FromHex(h);
    if (!p.ok()) return absl::DataLossError("a watch row's pdq is corrupt");
    Hash256 moved;
    moved.limbs = to.SaltPdq(from.UnsaltPdq(p->limbs));
    (*o)["pdq"] = moved.ToHex();
  }
  for (const auto& [name, kind] : {std::pair{"md5", ExactKind::kMd5}, std::pair{"sha256", ExactKind::kSha256}}) {
    if (const std::string h = Str(*o, name); !h.empty()) {
      absl::StatusOr<SaltedExactDigest> d = api::ParseDigest<32>(h, name);
      if (!d.ok()) return absl::DataLossError("a watch row's digest is corrupt");
      const SaltedExactDigest moved = to.ResaltExact(kind, *d);
      (*o)[name] = BytesToHex(moved.data(), moved.size());
    }
  }
  for (const char* field : {"robust", "robust_mirrored"}) {
    const std::string b64 = Str(*o, field);
    if (b64.empty()) continue;
    std::string bytes;
    absl::StatusOr<std::string> moved =
        absl::Base64Unescape(b64, &bytes) ? ResaltRobust(bytes, from, to) : absl::InvalidArgumentError("not base64");
    if (!moved.ok()) return absl::DataLossError("a watch row's robust fingerprint is corrupt");
    (*o)[field] = absl::Base64Escape(*moved);
  }
  if (const std::string b64 = Str(*o, "vpdq"); !b64.empty()) {
    std::string bytes;
    pb::VideoFingerprint video;
    absl::StatusOr<std::string> moved = absl::Base64Unescape(b64, &bytes) && video.ParseFromString(bytes)
                                            ? ResaltVideoPdq(video.pdq(), from, to)
                                            : absl::InvalidArgumentError("not a video fingerprint");
    if (!moved.ok()) return absl::DataLossError("a watch row's vpdq is corrupt");
    video.set_pdq(*std::move(moved));
    (*o)["vpdq"] = absl::Base64Escape(video.SerializeAsString());
  }
  return json::serialize(*o);
}

}  // namespace hashbank
