// Federation: this node's part in the federated bank.
//
// - The federation listener (an HttpsServer with mutual TLS; only member certificates get in) answers
//     GET  /fed/v1/checkpoints                      CheckpointList: the newest checkpoint of every origin held
//     GET  /fed/v1/segment?origin=O&from=N&max=M    LogSegment of O's log from size N
//     POST /fed/v1/notify                           "I have new entries": wakes this node's sync with the caller
//   with protobuf bodies.
// - One PeerSync thread per configured peer polls it (every sync_interval, or at once when notified):
//   it learns the peer's checkpoint of EVERY origin (so origins that are not direct peers arrive through
//   relays), fetches what this node lacks in segments, and hands each to Bank::ApplySegment, which verifies
//   the origin's signature, consistency and every entry hash before one atomic write. Original signatures
//   travel unchanged: a relay re-serves exactly the bytes it verified.
// - After every local commit (own entries or an applied segment) a notifier tells every peer, so fresh
//   entries travel in well under a second along a chain of nodes.
// - Unknown origins, suspended origins and equivocating origins are refused and reported in the status.
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "node/bank.h"
#include "node/federation_client.h"
#include "node/http_types.h"

namespace hashbank {

struct FederationPeerOptions {
  std::string id;
  std::string host;
  uint16_t port = 0;
  std::string url;
  // The member's pinned certificate digest (64 lowercase hex), "" for none: the peer must present exactly
  // that certificate (FederationClientOptions::pinned_certificate_sha256).
  std::string certificate_sha256;
};

struct FederationOptions {
  std::map<std::string, Ed25519PublicKey> members;  // every origin whose log is accepted, with its key
  // Members whose federation certificate is pinned: id -> SHA-256 of the certificate's DER (64 lowercase hex).
  // A pinned member connects to the federation listener only with that certificate (AllowPeer).
  std::map<std::string, std::string> certificate_pins;
  std::vector<FederationPeerOptions> peers;         // whom to pull from and notify
  std::chrono::milliseconds sync_interval{2000};
  uint64_t max_segment_entries = 10000;
  FederationClientOptions client;                   // CA, this node's certificate and key
};

class Federation {
 public:
  Federation(Bank* bank, FederationOptions options);
  ~Federation();
  Federation(const Federation&) = delete;
  Federation& operator=(const Federation&) = delete;

  // The federation listener's handler and its peer filter: a member, and, where its certificate is pinned,
  // presenting the pinned certificate (`certificate_sha256`: the SHA-256 of the client's certificate DER,
  // 64 lowercase hex).
  HttpResponse Handle(const HttpRequest& request);
  bool AllowPeer(const std::string& node_id, const std::string& certificate_sha256) const;

  void Start();  // starts the peer sync threads and the notifier; registers the bank's commit listener
  void Stop();   // idempotent

  // What RecoverOwnLog found.
  struct OwnLogRecovery {
    uint64_t size_before = 0, size_after = 0;  // this node's own log
    std::vector<std::string> reached;          // peers that answered (their copy checked)
    std::vector<std::string> unreachable;      // peers that did not answer, with why
    std::string recovered_from;                // the peer the missing tail came from, if any
  };
  // At start, before this node appends anything (and before Start): asks every peer for its copy of this
  // node's own log. A node restored from an older backup lacks the tail its peers hold; appending anyway
  // would sign a second log of the same sizes, which peers rightly treat as equivocation. So where a peer's
  // checkpoint of the own log (signed by this node's key, checked) is ahead, the missing entries are fetched
  // from that peer, verified against the own key and applied (Bank::RecoverOwnTail). An error if a peer's
  // copy does not verify against the own log (a fork: this node must not start appending).
  absl::StatusOr<OwnLogRecovery> RecoverOwnLog();

  // A reload of this node's TLS files (SIGHUP, after the listeners took them): every peer's clients read the
  // CA, certificate and key again before their next request and reconnect, so peers see a renewed certificate
  // (and a pin that names it) without a restart. Thread-safe.
  void ReloadClientTls();

  // A configuration reload (SIGHUP): the members (whose logs are accepted, and whose certificates may
  // connect) and the peers (whom to pull from and notify) become these. A peer whose id, host, port or URL
  // changed is a new peer: its old sync thread ends after its current round, a new one starts. Segments
  // already applied stay; an origin no longer a member is refused from now on. Peers and the history of the
  // removed ones' status go from the status and metrics. `certificate_pins` replaces the pins (a peer whose pin
  // changed is a new peer too).
  void Reconfigure(std::map<std::string, Ed25519PublicKey> members, const std::vector<FederationPeerOptions>& peers,
                   std::map<std::string, std::string> certificate_pins)
      ABSL_LOCKS_EXCLUDED(mu_, members_mu_);

  // Admin view (GET /v1/federation/status): per peer and per origin.
  std::string StatusJson() const;
  // How many peers hold `origin`'s signal `sequence`: their latest checkpoint of its log (as last seen by
  // this node's sync) covers it. The case page's "members holding the hashes".
  int PeersHolding(const std::string& origin, uint64_t sequence) const;
  // Gauges for /metrics: (name, help, value).
  void ForEachGauge(const std::function<void(std::string_view, std::string_view, double)>& gauge) const;

 private:
  struct PeerState {
    FederationPeerOptions options;
    std::unique_ptr<FederationClient> client;         // used by the peer's sync thread only
    std::unique_ptr<FederationClient> notify_client;  // used by the notifier thread only
    std::unique_ptr<FederationClient> prefetch_client;  // the sync thread's second connection (pipelining)
    bool wake = false;
    bool connected = false;
    int64_t last_sync_ms = 0;
    int64_t last_success_ms = 0;
    uint64_t syncs = 0, errors = 0, applied_entries = 0;
    std::string last_error;
    std::map<std::string, uint64_t> peer_sizes;  // origin -> the peer's checkpoint size
    bool salt_mismatch = false;                  // its last checkpoint list named another salt
    bool retired = false;                        // removed by Reconfigure: its sync thread ends
  };
  std::unique_ptr<PeerState> NewPeer(const FederationPeerOptions& options) const;
  std::optional<Ed25519PublicKey> MemberKey(const std::string& origin) const ABSL_LOCKS_EXCLUDED(members_mu_);
  std::map<std::string, Ed25519PublicKey> Members() const ABSL_LOCKS_EXCLUDED(members_mu_);

  void SyncLoop(PeerState* peer);
  absl::Status SyncOnce(PeerState* peer);
  void NotifierLoop();
  void RecordOriginError(const std::string& origin, const std::string& error) ABSL_LOCKS_EXCLUDED(mu_);

  // Incremented by ReloadClientTls; shared with every FederationClient (options_.client.tls_generation).
  const std::shared_ptr<std::atomic<uint64_t>> tls_generation_ = std::make_shared<std::atomic<uint64_t>>(0);
  Bank* bank_;
  FederationOptions options_;
  // Guards the flags and maps below, the peer list, the threads and every PeerState's status fields (wake ...
  // retired); a peer's options and clients are fixed when it is made, and a PeerState lives until the
  // Federation does (retired ones included), so a sync or notifier thread may use its pointer unlocked.
  // Never held across network I/O or a bank call.
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool notify_pending_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<PeerState>> peers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> origin_errors_ ABSL_GUARDED_BY(mu_);  // origin -> last rejection
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  // The members (options_.members at construction, then Reconfigure's). Leaf lock.
  mutable absl::Mutex members_mu_;
  std::map<std::string, Ed25519PublicKey> members_ ABSL_GUARDED_BY(members_mu_);
  std::map<std::string, std::string> certificate_pins_ ABSL_GUARDED_BY(members_mu_);
  // When a refused pinned member was last logged (one line a minute per member, not one per connection).
  mutable std::map<std::string, int64_t> pin_refusal_logged_ms_ ABSL_GUARDED_BY(members_mu_);
};

}  // namespace hashbank
