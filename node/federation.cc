#include "node/federation.h"

#include <algorithm>

#include <charconv>
#include <future>
#include <iostream>
#include <set>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "node/status_macros.h"
#include "protocol/log.pb.h"

namespace hashbank {
namespace {

namespace pb = ::hashbank::protocol;
namespace json = boost::json;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A message for one log line: a peer's error text can reach it, so control characters (a forged second log
// line) become '?' and the length is bounded.
std::string LogSafe(std::string_view message) {
  constexpr size_t kMaxLogMessage = 300;
  std::string out(message.substr(0, kMaxLogMessage));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  if (message.size() > kMaxLogMessage) out += "...";
  return out;
}

HttpResponse Protobuf(std::string body) {
  HttpResponse r;
  r.content_type = "application/x-protobuf";
  r.body = std::move(body);
  return r;
}

HttpResponse FedError(int status, std::string_view code, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = ErrorBody(code, message);
  return r;
}

std::string Param(std::string_view target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view kv = rest.substr(0, amp);
    const size_t eq = kv.find('=');
    if (kv.substr(0, eq) == name && eq != std::string_view::npos) return std::string(kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return "";
}

bool ParseU64(const std::string& s, uint64_t* v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

// The origin and size a signed checkpoint claims (unverified: only to decide what to fetch).
bool PeekCheckpoint(const pb::SignedCheckpoint& sc, std::string* origin, uint64_t* size) {
  pb::Checkpoint c;
  if (!c.ParseFromString(sc.checkpoint())) return false;
  *origin = c.origin();
  *size = c.tree_size();
  return true;
}

}  // namespace

Federation::Federation(Bank* bank, FederationOptions options) : bank_(bank), options_(std::move(options)) {
  options_.client.tls_generation = tls_generation_;  // every peer's clients follow ReloadClientTls
  absl::MutexLock lock(&mu_);
  for (const FederationPeerOptions& p : options_.peers) peers_.push_back(NewPeer(p));
  absl::MutexLock members_lock(&members_mu_);
  members_ = std::move(options_.members);
  certificate_pins_ = std::move(options_.certificate_pins);
  options_.members.clear();  // members_ and peers_ are the truth from here (Reconfigure changes them)
  options_.certificate_pins.clear();
  options_.peers.clear();
}

Federation::~Federation() { Stop(); }

void Federation::ReloadClientTls() { tls_generation_->fetch_add(1); }

std::unique_ptr<Federation::PeerState> Federation::NewPeer(const FederationPeerOptions& p) const {
  auto state = std::make_unique<PeerState>();
  state->options = p;
  FederationClientOptions client = options_.client;
  client.pinned_certificate_sha256 = p.certificate_sha256;
  state->client = std::make_unique<FederationClient>(client, p.host, p.port, p.id);
  state->notify_client = std::make_unique<FederationClient>(client, p.host, p.port, p.id);
  state->prefetch_client = std::make_unique<FederationClient>(client, p.host, p.port, p.id);
  return state;
}

std::optional<Ed25519PublicKey> Federation::MemberKey(const std::string& origin) const {
  absl::MutexLock lock(&members_mu_);
  auto it = members_.find(origin);
  if (it == members_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, Ed25519PublicKey> Federation::Members() const {
  absl::MutexLock lock(&members_mu_);
  return members_;
}

bool Federation::AllowPeer(const std::string& node_id, const std::string& certificate_sha256) const {
  bool log_refusal = false;
  {
    absl::MutexLock lock(&members_mu_);
    if (!members_.contains(node_id)) return false;
    auto pin = certificate_pins_.find(node_id);
    if (pin == certificate_pins_.end() || pin->second == certificate_sha256) return true;
    const int64_t now = absl::ToUnixMillis(absl::Now());
    int64_t& last = pin_refusal_logged_ms_[node_id];
    if (now - last >= 60'000) {
      last = now;
      log_refusal = true;
    }
  }
  if (log_refusal) {
    std::cerr << "hashbank: federation: refused " << node_id
              << ": its certificate is not the one pinned in federation.members (certificate_sha256)" << std::endl;
  }
  return false;
}

absl::StatusOr<Federation::OwnLogRecovery> Federation::RecoverOwnLog() {
  const std::string& own = bank_->node_id();
  auto own_size = [&]() -> absl::StatusOr<uint64_t> {
    auto cp = bank_->LatestCheckpoint(own);
    if (!cp.ok()) return cp.status();
    return cp->has_value() ? (*cp)->tree_size : 0;
  };
  OwnLogRecovery r;
  HB_ASSIGN_OR_RETURN(r.size_before, own_size());
  r.size_after = r.size_before;
  std::vector<PeerState*> peers;
  {
    absl::MutexLock lock(&mu_);
    for (auto& p : peers_) {
      if (!p->retired) peers.push_back(p.get());
    }
  }
  for (PeerState* peer : peers) {  // before Start: the sync threads do not use these clients yet
    auto body = peer->client->Get("/fed/v1/checkpoints");
    if (!body.ok()) {
      r.unreachable.push_back(absl::StrCat(peer->options.id, ": ", body.status().message()));
      continue;
    }
    pb::CheckpointList list;
    if (!list.ParseFromString(*body)) {
      r.unreachable.push_back(absl::StrCat(peer->options.id, ": its checkpoint list does not parse"));
      continue;
    }
    r.reached.push_back(peer->options.id);
    uint64_t theirs = 0;
    for (const pb::SignedCheckpoint& sc : list.checkpoints()) {
      std::string origin;
      uint64_t size = 0;
      if (!PeekCheckpoint(sc, &origin, &size) || origin != own) continue;
      // Signed by this node's own key, or it says nothing about this node's log.
      auto verified = VerifyCheckpoint(sc.SerializeAsString(), own, bank_->public_key());
      if (verified.ok()) theirs = std::max(theirs, verified->tree_size);
    }
    while (r.size_after < theirs) {
      auto segment = peer->client->Get(absl::StrCat("/fed/v1/segment?origin=", own, "&from=", r.size_after,
                                                    "&max=", options_.max_segment_entries));
      if (!segment.ok()) {
        r.unreachable.push_back(absl::StrCat(peer->options.id, ": ", segment.status().message()));
        break;
      }
      auto applied = bank_->RecoverOwnTail(*segment);
      if (!applied.ok()) return applied.status();  // a fork or a bad copy: never append on top of it
      r.recovered_from = peer->options.id;
      HB_ASSIGN_OR_RETURN(r.size_after, own_size());
      if (applied->leaves == 0) break;
    }
  }
  return r;
}

void Federation::Reconfigure(std::map<std::string, Ed25519PublicKey> members, const std::vector<FederationPeerOptions>& peers,
                             std::map<std::string, std::string> certificate_pins) {
  {
    absl::MutexLock lock(&members_mu_);
    members_ = std::move(members);
    certificate_pins_ = std::move(certificate_pins);
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  auto same = [](const FederationPeerOptions& a, const FederationPeerOptions& b) {
    return a.id == b.id && a.host == b.host && a.port == b.port && a.url == b.url &&
           a.certificate_sha256 == b.certificate_sha256;
  };
  for (auto& p : peers_) {
    if (p->retired) continue;
    const bool kept = std::any_of(peers.begin(), peers.end(), [&](const FederationPeerOptions& o) { return same(o, p->options); });
    if (!kept) {
      p->retired = true;  // its loop sees it when it next waits (the Await condition)
      std::cerr << "hashbank: federation peer " << p->options.id << " removed by a reload" << std::endl;
    }
  }
  for (const FederationPeerOptions& o : peers) {
    const bool known = std::any_of(peers_.begin(), peers_.end(), [&](const std::unique_ptr<PeerState>& p)
                                                                     ABSL_NO_THREAD_SAFETY_ANALYSIS {  // mu_ held
                                                                       return !p->retired && same(o, p->options);
                                                                     });
    if (known) continue;
    peers_.push_back(NewPeer(o));
    std::cerr << "hashbank: federation peer " << o.id << " added by a reload" << std::endl;
    if (started_) threads_.emplace_back([this, peer = peers_.back().get()] { SyncLoop(peer); });
  }
}

HttpResponse Federation::Handle(const HttpRequest& req) {
  const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  if (req.method == "GET" && path == "/fed/v1/checkpoints") {
    auto origins = bank_->Origins();
    if (!origins.ok()) return FedError(503, "unavailable", "storage unavailable");
    pb::CheckpointList list;
    for (const std::string& origin : *origins) {
      auto cp = bank_->LatestCheckpoint(origin);
      if (!cp.ok() || !cp->has_value()) continue;
      list.add_checkpoints()->ParseFromString((*cp)->signed_bytes);
    }
    list.set_salt_check(bank_->salt_check());
    return Protobuf(list.SerializeAsString());
  }
  if (req.method == "GET" && path == "/fed/v1/segment") {
    const std::string origin = Param(req.target, "origin");
    uint64_t from = 0, max = options_.max_segment_entries;
    if (origin.empty() || !ParseU64(Param(req.target, "from"), &from) ||
        (!Param(req.target, "max").empty() && !ParseU64(Param(req.target, "max"), &max)) || max == 0) {
      return FedError(400, "invalid_argument", "origin, from and max (1..) are required");
    }
    max = std::min<uint64_t>(max, 1'000'000);
    auto segment = bank_->ExportSegment(origin, from, max);
    if (!segment.ok()) {
      if (absl::IsNotFound(segment.status())) return FedError(404, "not_found", std::string(segment.status().message()));
      if (absl::IsOutOfRange(segment.status())) return FedError(416, "out_of_range", std::string(segment.status().message()));
      return FedError(500, "internal", "cannot export the segment");
    }
    return Protobuf(std::move(*segment));
  }
  if (req.method == "POST" && path == "/fed/v1/notify") {
    absl::MutexLock lock(&mu_);
    for (auto& p : peers_) {
      if (p->options.id == req.peer_id) p->wake = true;
    }
    HttpResponse r;
    r.status = 204;
    return r;
  }
  return FedError(404, "not_found", "no such federation endpoint");
}

void Federation::Start() {
  bank_->SetCommitListener([this] {
    absl::MutexLock lock(&mu_);
    notify_pending_ = true;
  });
  absl::MutexLock lock(&mu_);
  started_ = true;
  for (auto& p : peers_) threads_.emplace_back([this, peer = p.get()] { SyncLoop(peer); });
  threads_.emplace_back([this] { NotifierLoop(); });
}

void Federation::Stop() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  bank_->SetCommitListener(nullptr);
}

void Federation::NotifierLoop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(+[](Federation* f) ABSL_NO_THREAD_SAFETY_ANALYSIS { return f->stopping_ || f->notify_pending_; }, this));
    if (stopping_) return;
    notify_pending_ = false;
    std::vector<PeerState*> live;  // PeerStates live as long as this object: their pointers stay valid
    for (auto& p : peers_) {
      if (!p->retired) live.push_back(p.get());
    }
    mu_.Unlock();
    for (PeerState* p : live) (void)p->notify_client->Post("/fed/v1/notify", "");  // best effort
    mu_.Lock();
  }
}

void Federation::SyncLoop(PeerState* peer) {
  absl::MutexLock lock(&mu_);
  while (!stopping_ && !peer->retired) {
    mu_.Unlock();
    absl::Status s = SyncOnce(peer);
    mu_.Lock();
    peer->last_sync_ms = NowMs();
    ++peer->syncs;
    if (s.ok()) {
      if (!peer->last_error.empty()) std::cerr << "hashbank: sync from " << peer->options.id << " recovered" << std::endl;
      peer->connected = true;
      peer->last_success_ms = peer->last_sync_ms;
      peer->last_error.clear();
    } else {
      ++peer->errors;
      // Logged when the error changes (not every round of a peer that stays down): the peer and the reason,
      // never a hash value (error messages name origins, sizes and steps only).
      if (peer->last_error != s.message()) {
        std::cerr << "hashbank: sync from " << peer->options.id << " failed: " << LogSafe(std::string(s.message())) << std::endl;
      }
      peer->last_error = std::string(s.message());
      peer->connected = !absl::IsUnavailable(s);
    }
    struct Wait {
      Federation* f;
      PeerState* p;
    } wait{this, peer};
    mu_.AwaitWithTimeout(absl::Condition(+[](Wait* w) ABSL_NO_THREAD_SAFETY_ANALYSIS { return w->f->stopping_ || w->p->wake || w->p->retired; }, &wait),
                         absl::FromChrono(options_.sync_interval));
    peer->wake = false;
  }
}

void Federation::RecordOriginError(const std::string& origin, const std::string& error) {
  absl::MutexLock lock(&mu_);
  // Bounded: origin names come from peers; beyond the cap only known entries are updated.
  constexpr size_t kMaxRecorded = 256;
  if (origin_errors_.size() >= kMaxRecorded && !origin_errors_.contains(origin)) return;
  origin_errors_[origin] = error;
}

absl::Status Federation::SyncOnce(PeerState* peer) {
  auto body = peer->client->Get("/fed/v1/checkpoints");
  if (!body.ok()) return body.status();
  pb::CheckpointList list;
  if (!list.ParseFromString(*body)) return absl::DataLossError("the peer's checkpoint list does not parse");
  // A peer on another federation salt: its salted values would never match here, and ours never there.
  const bool other_salt = !list.salt_check().empty() && list.salt_check() != bank_->salt_check();
  {
    absl::MutexLock lock(&mu_);
    peer->salt_mismatch = other_salt;
  }
  if (other_salt) {
    return absl::FailedPreconditionError(absl::StrCat("peer ", peer->options.id, " uses another federation salt (check value ",
                                                      list.salt_check(), ", this node's ", bank_->salt_check(),
                                                      "): refusing to sync from it"));
  }
  absl::Status first_error = absl::OkStatus();
  for (const pb::SignedCheckpoint& sc : list.checkpoints()) {
    std::string origin;
    uint64_t their_size = 0;
    if (!PeekCheckpoint(sc, &origin, &their_size)) {
      first_error.Update(absl::DataLossError("a checkpoint in the peer's list does not parse"));
      continue;
    }
    if (origin == bank_->node_id()) {
      absl::MutexLock lock(&mu_);  // how much of this node's own log the peer holds (case status)
      peer->peer_sizes[origin] = their_size;
      continue;
    }
    const std::optional<Ed25519PublicKey> member = MemberKey(origin);
    if (!member) {
      RecordOriginError(origin, "unknown origin: not a federation member, refused");
      continue;
    }
    {
      absl::MutexLock lock(&mu_);  // members only: a peer cannot grow this map with invented names
      peer->peer_sizes[origin] = their_size;
    }
    // A suspended origin's log is still pulled so that its withdrawals are obeyed (Bank::ApplySegment
    // indexes none of its new signals); an equivocating one is refused outright.
    if (bank_->IsEquivocating(origin)) continue;
    // Gossip: the peer's newest checkpoint of the origin must fit the log this node trusts, whatever its
    // size (a fork at another size is found in this round, with both checkpoints as evidence).
    if (absl::Status g = bank_->CheckGossip(origin, *member, sc.SerializeAsString()); !g.ok()) {
      RecordOriginError(origin, std::string(g.message()));
      first_error.Update(g);
      continue;
    }
    auto trusted = bank_->TrustedState(origin);
    if (!trusted.ok()) return trusted.status();
    uint64_t have = trusted->tree.size();
    // Pipelined: while one segment is applied (the write lock, RocksDB, the indexes), the next is fetched
    // on a second connection and verified on that thread against the first one's verified result; it
    // applies only if that result became the trusted state (Bank::ApplyVerified), else it is verified again.
    const Ed25519PublicKey& key = *member;
    // This loop only fetches bytes; the bank's log replica verifies (PrepareSegment, on the fetching
    // thread, no lock) and applies them.
    struct Fetched {
      absl::StatusOr<std::string> bytes = absl::UnknownError("not fetched");
      PreparedSegment prepared;  // verified against prepared.base; it starts at prepared.base.tree.size()
    };
    // Leaves asked for per segment: halved whenever a segment is over the response limit (large entries,
    // e.g. long videos, relayed in a segment the origin's byte cap does not bound), down to one.
    std::atomic<uint64_t> max_entries{options_.max_segment_entries};
    auto fetch = [this, &origin, &key, &max_entries](FederationClient* client, TrustedLog base) {
      Fetched f;
      f.bytes = client->Get(absl::StrCat("/fed/v1/segment?origin=", origin, "&from=", base.tree.size(), "&max=",
                                         max_entries.load()));
      if (f.bytes.ok()) {
        f.prepared = bank_->PrepareSegment(origin, key, std::move(base), *f.bytes);
      } else {
        f.prepared.base = std::move(base);
      }
      return f;
    };
    std::future<Fetched> prefetch;
    auto drain = [&prefetch] {
      if (prefetch.valid()) (void)prefetch.get();
    };
    while (have < their_size) {
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) {
          drain();
          return absl::CancelledError("stopping");
        }
      }
      Fetched current;
      if (prefetch.valid() && (current = prefetch.get()).prepared.base.tree.size() == have) {
        // verified ahead against the state the last apply produced
      } else {
        auto base = bank_->TrustedState(origin);
        if (!base.ok()) return base.status();
        current = fetch(peer->client.get(), std::move(*base));
      }
      if (!current.bytes.ok()) {
        if (absl::IsResourceExhausted(current.bytes.status()) && max_entries.load() > 1) {
          drain();
          max_entries.store(max_entries.load() / 2);
          continue;
        }
        return current.bytes.status();
      }
      // The next segment starts where this one verifiably ends.
      if (std::optional<TrustedLog> next = current.prepared.Next(); next && next->tree.size() < their_size) {
        prefetch = std::async(std::launch::async, fetch, peer->prefetch_client.get(), std::move(*next));
      }
      auto applied = bank_->ApplyPrepared(std::move(current.prepared));
      if (absl::IsAborted(applied.status())) {  // the trusted state moved (another peer's sync): verify again
        applied = bank_->ApplySegment(origin, key, *current.bytes);
      }
      if (!applied.ok()) {
        // Rejected whole: recorded, nothing applied; the next round tries again (perhaps another peer).
        RecordOriginError(origin, absl::StrCat("from ", peer->options.id, ": ", std::string(applied.status().message())));
        first_error.Update(applied.status());
        drain();
        break;
      }
      if (applied->tree_size <= have) {  // no progress: the peer serves nothing newer
        drain();
        break;
      }
      {
        absl::MutexLock lock(&mu_);
        peer->applied_entries += applied->leaves;
        origin_errors_.erase(origin);
      }
      have = applied->tree_size;
    }
  }
  return first_error;
}

int Federation::PeersHolding(const std::string& origin, uint64_t sequence) const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& p : peers_) {
    if (p->retired) continue;
    auto it = p->peer_sizes.find(origin);
    if (it != p->peer_sizes.end() && it->second >= sequence) ++n;  // sequence s is leaf s - 1
  }
  return n;
}

std::string Federation::StatusJson() const {
  json::object out;
  json::array peers;
  std::map<std::string, uint64_t> max_seen;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& p : peers_) {
      if (p->retired) continue;
      json::object o;
      o["id"] = p->options.id;
      o["url"] = p->options.url;
      o["connected"] = p->connected;
      o["salt_mismatch"] = p->salt_mismatch;
      o["last_sync_ms"] = p->last_sync_ms;
      o["last_success_ms"] = p->last_success_ms;
      o["syncs"] = p->syncs;
      o["errors"] = p->errors;
      o["applied_entries"] = p->applied_entries;
      o["last_error"] = p->last_error;
      peers.push_back(std::move(o));
      for (const auto& [origin, size] : p->peer_sizes) max_seen[origin] = std::max(max_seen[origin], size);
    }
  }
  out["peers"] = std::move(peers);
  json::array origins;
  std::set<std::string> names;
  const std::map<std::string, Ed25519PublicKey> members = Members();
  for (const auto& [id, key] : members) names.insert(id);
  if (auto held = bank_->Origins(); held.ok()) names.insert(held->begin(), held->end());
  {
    absl::MutexLock lock(&mu_);  // refused origins (unknown, rejected segments) are reported too
    for (const auto& [origin, error] : origin_errors_) names.insert(origin);
  }
  for (const std::string& origin : names) {
    json::object o;
    o["origin"] = origin;
    uint64_t size = 0;
    if (auto cp = bank_->LatestCheckpoint(origin); cp.ok() && cp->has_value()) size = (*cp)->tree_size;
    o["trusted_size"] = size;
    const uint64_t seen = max_seen.contains(origin) ? max_seen[origin] : size;
    o["lag"] = seen > size ? seen - size : 0;
    o["member"] = members.contains(origin);
    o["equivocation"] = bank_->IsEquivocating(origin);
    o["suspended"] = bank_->IsSuspended(origin);
    absl::MutexLock lock(&mu_);
    if (auto it = origin_errors_.find(origin); it != origin_errors_.end()) o["last_error"] = it->second;
    origins.push_back(std::move(o));
  }
  out["origins"] = std::move(origins);
  return json::serialize(out);
}

void Federation::ForEachGauge(const std::function<void(std::string_view, std::string_view, double)>& gauge) const {
  size_t connected = 0, errors = 0, other_salt = 0, configured = 0;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& p : peers_) {
      errors += p->errors;  // a counter: removed peers' rounds stay counted
      if (p->retired) continue;
      ++configured;
      connected += p->connected ? 1u : 0u;
      other_salt += p->salt_mismatch ? 1u : 0u;
    }
  }
  gauge("hashbank_federation_peers_other_salt", "Peers refused because they use another federation salt.",
        static_cast<double>(other_salt));
  gauge("hashbank_federation_peers_connected", "Peers whose last sync reached them.", static_cast<double>(connected));
  gauge("hashbank_federation_peers", "Configured peers.", static_cast<double>(configured));
  gauge("hashbank_federation_sync_errors_total", "Failed sync rounds since start (a counter).", static_cast<double>(errors));
  size_t equivocating = 0;
  for (const auto& [id, key] : Members()) equivocating += bank_->IsEquivocating(id) ? 1u : 0u;
  gauge("hashbank_federation_equivocating_origins", "Origins caught signing inconsistent checkpoints.",
        static_cast<double>(equivocating));
}

}  // namespace hashbank
