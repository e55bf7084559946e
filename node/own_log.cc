#include "node/own_log.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "node/entry_bytes.h"
#include "node/store_subtree_source.h"
#include "protocol/entries.pb.h"

namespace hashbank {

namespace pb = ::hashbank::protocol;

bool OwnLog::Scope::Claim(const std::string& key) ABSL_NO_THREAD_SAFETY_ANALYSIS {  // builders run under log_->mu_
  if (!log_->claims_.insert(key).second) return false;
  claims_.push_back(key);
  return true;
}

bool OwnLog::Scope::IsClaimed(const std::string& key) const ABSL_NO_THREAD_SAFETY_ANALYSIS {  // under log_->mu_
  return log_->claims_.contains(key);
}

OwnLog::OwnLog(SignalStore* store, CommitNotifier* notifier, std::string node_id, std::shared_ptr<const SigningKey> key,
               std::function<int64_t()> now_ms)
    : store_(store), notifier_(notifier), node_id_(std::move(node_id)), key_(std::move(key)), now_ms_(std::move(now_ms)) {}

absl::Status OwnLog::Load() {
  auto state = store_->GetLogTree(node_id_);
  if (!state.ok()) return state.status();
  CompactTree tree;
  if (state->has_value()) {
    auto parsed = CompactTree::Deserialize(**state);
    if (!parsed.ok()) {
      return absl::DataLossError(absl::StrCat("log ", node_id_, ": stored tree state: ", std::string(parsed.status().message())));
    }
    tree = std::move(*parsed);
  }
  absl::MutexLock lock(&mu_);
  durable_size_ = tree.size();
  tree_ = std::move(tree);
  return absl::OkStatus();
}

absl::StatusOr<OwnLog::Appended> OwnLog::Append(const Builder& build) {
  absl::StatusOr<InFlight> started = Start(build);
  if (!started.ok()) return started.status();
  return Finish(std::move(*started));
}

absl::StatusOr<OwnLog::InFlight> OwnLog::Start(const Builder& build) {
  InFlight in_flight;
  absl::MutexLock lock(&mu_);
  if (!failed_.ok()) {
    return absl::UnavailableError(absl::StrCat("the log stopped after a failed write (", std::string(failed_.message()),
                                               "); restart the node"));
  }
  StoreBatch batch;
  Scope scope(this, tree_.size() + 1, now_ms_(), &batch);
  absl::StatusOr<std::vector<pb::Entry>> entries = build(scope);
  if (!entries.ok() || entries->empty()) {
    for (const std::string& k : scope.claims_) claims_.erase(k);
    if (!entries.ok()) return entries.status();
    return in_flight;  // nothing to write: Finish returns no entries
  }
  CompactTree tree = tree_;
  uint64_t sequence = scope.first_sequence();
  in_flight.appended_.reserve(entries->size());
  for (pb::Entry& entry : *entries) {
    entry.set_schema_version(1);
    entry.set_origin(node_id_);
    entry.set_sequence(sequence);
    entry.set_created_at_unix_ms(scope.now_ms());
    const SignalRef ref{node_id_, sequence++};
    std::string bytes = entry.SerializeAsString();
    batch.PutEntry(ref, bytes);
    const MerkleHash leaf = LeafHash(AsBytes(bytes));
    batch.PutLeaf(ref, HashBytes(leaf));
    tree.Append(leaf);
    for (const auto& done : tree.completed_by_last_append()) {
      if (done.level > 0) batch.PutNode(node_id_, done.level, done.index, HashBytes(done.hash));
    }
    in_flight.appended_.push_back({ref, std::move(bytes)});
  }
  batch.PutLogTree(node_id_, tree.Serialize());
  const CheckpointView cp = SignCheckpoint(node_id_, tree.size(), tree.Root(), scope.now_ms(), *key_);
  batch.PutCheckpoint(node_id_, tree.size(), cp.signed_bytes);
  // Queued in sequence order (under mu_); durable in Finish, without the lock, together with whatever
  // other appends and replica writes queue meanwhile.
  in_flight.pending_ = store_->Enqueue(std::move(batch), scope.now_ms());
  in_flight.end_ = tree.size();
  tree_ = std::move(tree);
  in_flight.claims_ = std::move(scope.claims_);
  return in_flight;
}

absl::StatusOr<OwnLog::Appended> OwnLog::Finish(InFlight in_flight) {
  if (in_flight.appended_.empty()) return Appended{};
  const absl::Status status = in_flight.pending_.Wait();
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& k : in_flight.claims_) claims_.erase(k);
    if (!status.ok()) {
      if (failed_.ok()) failed_ = status;
      return status;
    }
    durable_size_ = std::max(durable_size_, in_flight.end_);  // commits complete in order: `end` and all before it
  }
  notifier_->Notify();
  return std::move(in_flight.appended_);
}

uint64_t OwnLog::durable_size() const {
  absl::MutexLock lock(&mu_);
  return durable_size_;
}

absl::StatusOr<std::string> OwnLog::SignedCheckpointAt(uint64_t size) const {
  if (size > durable_size()) return absl::OutOfRangeError(absl::StrCat("the log of ", node_id_, " has ", durable_size(), " entries"));
  StoreSubtreeSource source(store_, node_id_);
  auto prefix = CompactTree::FromSource(size, source);
  if (!prefix.ok()) return prefix.status();
  return SignCheckpoint(node_id_, size, prefix->Root(), now_ms_(), *key_).signed_bytes;
}

}  // namespace hashbank
