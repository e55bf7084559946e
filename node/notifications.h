// Notifications: what a member service is told without asking — its watch list of recent uploads, its
// webhooks, and the durable outbox of events to deliver to them. The delivery itself (threads, HTTP) is
// WebhookDispatcher's (node/webhook_dispatcher.h); this class only decides and records, durably.
//
//   watch list   a member's recent uploads (`content_ref` + salted PDQ / MD5 / SHA-256 / robust fingerprint /
//                a video's vPDQ frames), expiring after `watch_days`. State rows "watch/<id>" (JSON); in
//                memory: a PDQ index, exact maps, a robust index (a new signal's robust fingerprint verified
//                as the banked side against each watched one, as /v1/match/image verifies a query's
//                features) and a video index (a new video signal's frames as the query, video_rule).
//   webhooks     URL, event types, the member (token name) whose watch list it serves, and its signing secret
//                (kept as given: HMAC needs it). State rows "webhook/<id>".
//   scanner      Scan() reads every log's entries past its cursor ("scan/<origin>", the last sequence seen):
//                a new signal that matches a live watch entry queues `match.retroactive` (and remembers the
//                pair in "watchmatch/<origin>/<seq>/<watch id>"); a withdrawal or a dispute of a signal that
//                matched a member's upload queues `signal.withdrawn` / `signal.disputed` / `signal.relabeled`. Events and the
//                cursor move in one durable batch, so each event is queued exactly once, crash or not.
//                Signals passed while their origin was suspended match nothing; an unsuspend's row
//                ("released/<origin>/<from>", AddReleasedRow) has the next pass match them once.
//   outbox       "outbox/<event id>" (JSON: webhook, body, attempts, next attempt, created): delivered at
//                least once; retried with exponential backoff and jitter for `retry_hours`, then dropped
//                (counted). Survives restarts.
//
// On first use the cursors start at every log's current end: only signals that arrive from then on are
// retroactive matches (an upload is matched synchronously when it is registered).
//
// Thread-safety: every method is safe to call concurrently. `scan_mu_` serialises Scan (the cursor's owner);
// `mu_` guards the in-memory maps; store writes are durable before the maps change. A scan pass holds no
// lock across its entries: the watch indexes (which lock themselves) are searched without mu_, which it takes
// (shared) only to look up watch entries and webhooks, so a registration waits for at most one such lookup
// (and one search of an index it files into). Lock order: mu_ before an index's own lock (IndexWatch); the
// scanner never holds both. Errors: InvalidArgument (bad URL, event type, item), NotFound, the store's.
#pragma once

#include <atomic>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "crypto/salting.h"
#include "hashing/hash256.h"
#include "matcher/pdq_index.h"
#include "matcher/robust_index.h"
#include "matcher/video_index.h"
#include "storage/signal_store.h"

namespace hashbank {

inline constexpr std::array<std::string_view, 4> kWebhookEvents = {"match.retroactive", "signal.withdrawn",
                                                                   "signal.disputed", "signal.relabeled"};

struct NotificationOptions {
  int watch_days = 30;          // a watch entry's life
  int pdq_max_distance = 31;    // a retroactive PDQ match
  double retry_hours = 24;      // a delivery is retried this long, then dropped
  int64_t first_retry_ms = 1000;
  int64_t max_retry_ms = 3600 * 1000;
  size_t max_watch_entries = 10'000'000;
  size_t max_watch_entries_per_member = 1'000'000;
  // A retroactive vPDQ match: the node's video rule (matching.video_*), with the roles of /v1/match/video
  // swapped (the new signal is the query, watched uploads the indexed side; see MatchWatch). Its min_quality
  // (the quality floor) is the constructor's.
  VideoMatchRule video_rule;
};

// One upload a member watches, salted (raw values are salted by the caller, SignalIntake).
struct WatchItem {
  std::string content_ref;  // the member's own reference, <= 256 bytes
  std::optional<Hash256> pdq;
  std::optional<SaltedExactDigest> md5, sha256;
  std::optional<std::string> robust;  // a robust fingerprint's encoding, salted and sorted (SaltRobust)
  std::optional<std::string> robust_mirrored;  // the same of the upload flipped left to right
  std::optional<std::string> vpdq;  // a video upload's frames: a serialized protocol::VideoFingerprint, salted
};

struct WebhookConfig {
  std::string id;       // "wh_<16 hex>"
  std::string url;
  std::vector<std::string> events;
  std::string member;   // the token name whose watch list it serves
  std::string secret;   // "whsec_<64 hex>"; the HMAC key is this string's bytes
  int64_t created_ms = 0;
};

struct WebhookStatus {
  int64_t last_success_ms = 0, last_failure_ms = 0;
  uint64_t delivered = 0, failed_attempts = 0, dropped = 0;
  uint64_t consecutive_failures = 0;
  std::string last_error;
  size_t queued = 0;
};

struct Delivery {
  std::string event_id;
  std::string webhook_id;
  std::string body;
  int attempts = 0;
  int64_t next_ms = 0;
  int64_t created_ms = 0;
};

class Notifications {
 public:
  // `log_sizes`: every origin this node stores (its own included) and the size of its durable log.
  // `matchable`: whether a stored signal (of bank `bank`) takes part in matching here: not past a suspension,
  // its bank's ratio and its content's enable state allow it — events only for what /v1/match would find.
  // `suspended`: whether an origin is suspended here now.
  Notifications(SignalStore* store, std::string node_id, std::function<int64_t()> now_ms, NotificationOptions options,
                std::function<absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>>()> log_sizes,
                std::function<bool(const SignalRef&, std::string_view)> matchable,
                std::function<bool(const std::string&)> suspended);

  // Into the batch that lifts `origin`'s suspension (which held its entries after sequence `from`): a row
  // that has the scanner match the signals it passed while they were held, once, as match.retroactive
  // (no event twice for one signal and watch entry). Written in that batch, so a crash loses neither.
  static void AddReleasedRow(StoreBatch* batch, const std::string& origin, uint64_t from);

  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_, scan_mu_);

  // Webhooks. `url`: https://..., or http:// to a loopback address (local receivers). The secret is in the
  // returned config (show it once).
  absl::StatusOr<WebhookConfig> CreateWebhook(const std::string& url, const std::vector<std::string>& events,
                                              const std::string& member, const std::string& actor) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<WebhookConfig> ListWebhooks() const ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<WebhookConfig> GetWebhook(const std::string& id) const ABSL_LOCKS_EXCLUDED(mu_);
  // Deletes the webhook and its queued deliveries.
  absl::Status DeleteWebhook(const std::string& id, const std::string& actor) ABSL_LOCKS_EXCLUDED(mu_);
  WebhookStatus Status(const std::string& id) const ABSL_LOCKS_EXCLUDED(mu_);

  // Adds watch entries for `member` (durable); their ids. InvalidArgument for an item without a hash.
  absl::StatusOr<std::vector<std::string>> AddWatch(const std::string& member, const std::vector<WatchItem>& items)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A signal already banked when a watch entry was added that matches it: reported as match.retroactive at
  // once (nothing banked between the member's /v1/match and its /v1/watch is missed), and remembered for
  // its withdrawal and disputes.
  struct ExistingMatch {
    std::string watch_id;
    SignalRef ref;
    std::string bank;
    std::vector<std::string> labels;
    std::string signal_type;
    int distance = 0;  // pdq
    int inliers = 0;   // robust
    bool mirrored = false;  // robust, through the upload's mirror fingerprint
    std::optional<VideoVerdict> video;  // vpdq: the upload as the query, the signal as the target
  };
  absl::Status ReportExisting(const std::vector<ExistingMatch>& matches) ABSL_LOCKS_EXCLUDED(mu_);
  size_t watch_size() const ABSL_LOCKS_EXCLUDED(mu_);
  // Deletes expired watch entries (rows and memory); how many.
  absl::StatusOr<size_t> PurgeExpiredWatch() ABSL_LOCKS_EXCLUDED(mu_);

  // Disputes the scanner has seen (any member's, of any signal), newest first, at most `limit`: the dashboard's
  // "recent disputes". Rows `dispute/<20-digit ms>/<opinion id>`, written in the scan's batch; the oldest are
  // deleted beyond kMaxDisputeRows.
  struct DisputeRow {
    std::string signal_id, disputed_by, opinion_id;
    int64_t seen_at_ms = 0;
  };
  static constexpr size_t kMaxDisputeRows = 1000;
  absl::StatusOr<std::vector<DisputeRow>> RecentDisputes(size_t limit) const;

  // One pass of the scanner over at most `max_entries` new log entries; how many it read (0: caught up).
  absl::StatusOr<size_t> Scan(size_t max_entries = 2000) ABSL_LOCKS_EXCLUDED(mu_, scan_mu_);

  // Deliveries due at `now_ms`, oldest first, at most `max`.
  std::vector<Delivery> Due(int64_t now_ms, size_t max) const ABSL_LOCKS_EXCLUDED(mu_);
  // The earliest next attempt of any queued delivery, if any.
  std::optional<int64_t> NextDue() const ABSL_LOCKS_EXCLUDED(mu_);
  // A delivery's outcome: delivered (the row is deleted) or failed (retried later, or dropped after
  // retry_hours).
  absl::Status Delivered(const Delivery& d) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Failed(const Delivery& d, const std::string& error) ABSL_LOCKS_EXCLUDED(mu_);
  size_t queued() const ABSL_LOCKS_EXCLUDED(mu_);
  // A configuration reload's new values (SIGHUP): watch entries registered from now on live `watch_days`
  // (older ones keep their expiry); the retry window applies to every queued delivery, the distance to
  // every scan and the watch caps to every registration from now on (entries held beyond a lowered cap
  // stay until they expire), and the video rule to every scan and registration (but its quality floor).
  // The retry backoff stays the constructor's. Thread-safe.
  void SetReloadable(const NotificationOptions& options) ABSL_LOCKS_EXCLUDED(mu_);
  // The retroactive PDQ distance in force (the constructor's, or a reload's).
  int pdq_max_distance() const { return pdq_max_distance_.load(); }
  // A watched video's salted frames as the watch list's video index takes them (no frames: none).
  struct WatchedVideo {
    std::vector<VideoFrame> frames;
    double interval = 0;
  };
  // A watch item's video (WatchItem::vpdq: a serialized, salted VideoFingerprint; empty: none), decoded.
  // InvalidArgument when it does not decode.
  static absl::StatusOr<WatchedVideo> DecodeWatchedVideo(std::string_view bytes);
  // The retroactive vPDQ rule in force (the constructor's, or a reload's).
  VideoMatchRule video_rule() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Watch {
    std::string member, content_ref;
    std::optional<Hash256> pdq;
    std::optional<SaltedExactDigest> md5, sha256;
    bool robust = false;  // its fingerprint is in watch_robust_ (the row holds it; set by IndexWatch)
    bool robust_mirrored = false;  // and its mirror's in watch_robust_mirrored_
    // A video upload's salted frames, as filed in watch_video_ (kept to take them out again: VideoIndex
    // keeps no hashes); empty: none.
    std::vector<VideoFrame> video;
    int64_t expires_ms = 0;
  };
  struct Hit {
    uint64_t watch;
    std::string signal_type;
    int distance;     // pdq
    int inliers = 0;  // robust
    bool mirrored = false;  // robust, through the watched upload's mirror fingerprint
    std::optional<VideoVerdict> video = std::nullopt;  // vpdq: the upload as the query, the signal as the target
    std::string member = {}, content_ref = {};  // the watch entry's, when it was found
  };
  // The live watch entries a new signal (serialized pb::Signal) matches, once each, the first kind found
  // (exact, PDQ, robust, mirrored robust, video). The index searches run without mu_; mu_ is taken (shared)
  // only to look the entries up.
  std::vector<Hit> MatchWatch(const std::string& signal_bytes) const ABSL_LOCKS_EXCLUDED(mu_);
  // Queues an event for every webhook of `member` that takes `type` (rows into `batch`, deliveries into `out`).
  // Takes mu_ (shared) to read the webhooks.
  void Enqueue(const std::string& member, std::string_view type, const std::string& data_json, StoreBatch* batch,
               std::vector<Delivery>* out) const ABSL_LOCKS_EXCLUDED(mu_);
  // After the batch holding their rows is durable: the deliveries go into the outbox, but those of a webhook
  // deleted since Enqueue, whose rows are deleted instead. Empties `queued`.
  absl::Status QueueCommitted(std::vector<Delivery>* queued) ABSL_LOCKS_EXCLUDED(mu_);
  // Files a watch entry in the in-memory indexes, its robust fingerprints (encodings; empty: none) and its
  // video included, and sets its robust flags and frames. `bulk`: the robust and video indexes' bulk load
  // (Load; FinishBulk follows).
  void IndexWatch(uint64_t id, Watch& w, const std::string& robust, const std::string& robust_mirrored,
                  WatchedVideo video, bool bulk) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A watch row's robust fingerprint (decoded from base64), empty when it has none; DataLoss when corrupt.
  static absl::StatusOr<std::string> WatchRobust(const boost::json::object& row, std::string_view field);
  // A watch row's video (from base64), no frames when it has none; DataLoss when corrupt.
  static absl::StatusOr<WatchedVideo> WatchVideo(const boost::json::object& row);
  void UnindexWatch(uint64_t id, const Watch& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t RetryDelay(int attempts) const;

  SignalStore* const store_;
  const std::string node_id_;
  const std::function<int64_t()> now_ms_;
  const NotificationOptions options_;  // watch_days, retry_hours, pdq_max_distance: see the atomics below
  std::atomic<int> watch_days_;
  std::atomic<double> retry_hours_;
  std::atomic<int> pdq_max_distance_;
  std::atomic<size_t> max_watch_entries_, max_watch_entries_per_member_;
  const std::function<absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>>()> log_sizes_;
  const std::function<bool(const SignalRef&, std::string_view)> matchable_;
  const std::function<bool(const std::string&)> suspended_;

  absl::Mutex scan_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::map<std::string, uint64_t> cursors_ ABSL_GUARDED_BY(scan_mu_);  // origin -> last sequence scanned

  mutable absl::Mutex mu_;
  std::map<std::string, WebhookConfig> webhooks_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, WebhookStatus> status_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Watch> watch_ ABSL_GUARDED_BY(mu_);
  VideoMatchRule video_rule_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, size_t, std::less<>> watched_by_ ABSL_GUARDED_BY(mu_);  // member -> entries in watch_
  size_t WatchedBy(const std::string& member) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  uint64_t next_watch_ ABSL_GUARDED_BY(mu_) = 1;
  PdqIndex watch_pdq_;  // locks itself
  RobustIndex watch_robust_;  // locks itself; ids are watch ids
  RobustIndex watch_robust_mirrored_;  // the uploads' mirror fingerprints, when sent; locks itself
  VideoIndex watch_video_;  // video uploads' frames (quality >= the rule's floor); locks itself; ids are watch ids
  absl::flat_hash_map<std::string, std::vector<uint64_t>> watch_exact_ ABSL_GUARDED_BY(mu_);  // kind + digest
  std::map<std::string, Delivery> outbox_ ABSL_GUARDED_BY(mu_);  // event id -> delivery
};

// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>": the Hashbank-Signature header.
std::string WebhookSignature(const std::string& secret, int64_t unix_seconds, std::string_view body);
// OK for https://host[:port][/path], and http:// to 127.0.0.1, ::1 or localhost; InvalidArgument otherwise.
absl::Status ValidateWebhookUrl(std::string_view url);

// Salt rotation (node/salt_rotation.h): a watch-list row (state row "watch/<id>") with its hashes re-salted
// from `from` to `to` (PDQ and the robust fingerprint's descriptors un-salted and salted again; MD5/SHA-256 one
// more HMAC, Salter::ResaltExact).
// DataLoss for a row that does not parse.
absl::StatusOr<std::string> ResaltWatchRow(std::string_view row, const Salter& from, const Salter& to);
inline constexpr std::string_view kWatchRowPrefix = "watch/";

}  // namespace hashbank
