// ContentCatalog: this node's own state about banked content (signals), for HMA's content model — never
// federated, kept in the store's state rows:
//
//   "content/<origin>/<sequence>"  JSON {disable_until_ts, note?}: HMA's enable state of one signal here and
//                                  a note that replaces the one the signal was submitted with
//   "origin_number/<origin>"       decimal: a small number given to each origin the first time one of its
//                                  signals needs an integer id
//
// Integer content ids (HMA's `bank_content_id`): this node's own signals are their sequence (1, 2, 3, ... as
// HMA's own ids on a fresh bank); another origin's are origin_number * 2^40 + sequence, below 2^53 so that
// every JSON reader keeps them exact. Stable across restarts; never reused.
//
// Disabled content (disable_until_ts 0, or a time still in the future) matches nowhere on this node.
//
// Thread-safety: every method is safe to call concurrently; `mu_` guards the maps, store writes are durable
// before the maps change. Errors: InvalidArgument, NotFound, ResourceExhausted (no origin number left),
// the store's errors.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "storage/signal_store.h"

namespace hashbank {

struct ContentState {
  int64_t disable_until_ts = 1;    // HMA: 1 enabled (the default), 0 disabled, else disabled until that unix time
  std::optional<std::string> note;  // replaces the submitted note; "" clears it
};

inline constexpr int kContentIdOriginShift = 40;

// The state row of one signal's content state: "content/<origin>/<sequence>".
inline constexpr std::string_view kContentRowPrefix = "content/";
inline std::string ContentRow(const SignalRef& ref) {
  return absl::StrCat(std::string(kContentRowPrefix), ref.origin, "/", ref.sequence);
}

class ContentCatalog {
 public:
  ContentCatalog(SignalStore* store, std::string node_id, std::function<int64_t()> now_ms);
  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_);

  // The integer id of a signal; gives its origin a number (durably) the first time.
  absl::StatusOr<int64_t> IdOf(const SignalRef& ref) ABSL_LOCKS_EXCLUDED(mu_, write_mu_);
  // The signal of an integer id; NotFound for an id no signal can have.
  absl::StatusOr<SignalRef> RefOf(int64_t id) const ABSL_LOCKS_EXCLUDED(mu_);

  ContentState Get(const SignalRef& ref) const ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Set(const SignalRef& ref, const ContentState& state, const std::string& actor)
      ABSL_LOCKS_EXCLUDED(mu_, write_mu_);
  // Whether the signal matches here now (not disabled).
  bool Enabled(const SignalRef& ref) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  SignalStore* const store_;
  const std::string node_id_;
  const std::function<int64_t()> now_ms_;
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> numbers_ ABSL_GUARDED_BY(mu_);      // origin -> number (>= 1)
  absl::flat_hash_map<int64_t, std::string> origins_ ABSL_GUARDED_BY(mu_);      // number -> origin
  std::map<std::pair<std::string, uint64_t>, ContentState> states_ ABSL_GUARDED_BY(mu_);  // non-default only
};

}  // namespace hashbank
