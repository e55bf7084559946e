// TokenRegistry: the node's bearer tokens. A token is shown once at creation; only its SHA-256 is stored
// (storage `tokens`) and kept in memory to authenticate requests.
//
// Names are unique: a name identifies a member service in the audit log and owns its rate-limit bucket.
// Create checks the name and commits under one lock, so two concurrent creations of one name cannot both
// succeed. Thread-safe. Errors: InvalidArgument (bad name), AlreadyExists (name taken), Internal (no
// randomness), storage errors as SignalStore returns them.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "node/roles.h"
#include "storage/signal_store.h"

namespace hashbank {

class TokenRegistry {
 public:
  // `store` must outlive the registry.
  TokenRegistry(SignalStore* store, std::function<int64_t()> now_ms);
  // Reads every stored token; DataLoss for an unreadable record, InvalidArgument for an unknown role.
  absl::Status Load();
  absl::StatusOr<std::string> Create(Role role, const std::string& name, const Actor& actor) ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<Actor> Authenticate(std::string_view token) const ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  SignalStore* const store_;
  const std::function<int64_t()> now_ms_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Actor> by_hash_ ABSL_GUARDED_BY(mu_);  // SHA-256 of the token -> actor
};

}  // namespace hashbank
