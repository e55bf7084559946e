// TokenRegistry: the node's bearer tokens. A token is shown once at creation; only its SHA-256 is stored
// (storage `tokens`) and kept in memory to authenticate requests.
//
// Names are unique: a name identifies a member service in the audit log and owns its rate-limit bucket.
// Create checks the name and commits under one lock, so two concurrent creations of one name cannot both
// succeed. Tokens may expire (expires_ms) and be revoked; both are durable and audited. Thread-safe. Errors: InvalidArgument (bad name), AlreadyExists (name taken), Internal (no
// randomness), storage errors as SignalStore returns them.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  // `expires_ms`: 0 = never; otherwise the token stops authenticating at that time.
  absl::StatusOr<std::string> Create(Role role, const std::string& name, const Actor& actor, int64_t expires_ms = 0)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The actor of a known token that has not expired.
  std::optional<Actor> Authenticate(std::string_view token) const ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

  struct Listed {
    std::string name;
    Role role = Role::kQuery;
    int64_t created_ms = 0, expires_ms = 0;
  };
  // Every token (never the token or its hash), by name.
  std::vector<Listed> List() const ABSL_LOCKS_EXCLUDED(mu_);
  // Revokes the token named `name` (durable, audited "token.revoke"). NotFound; FailedPrecondition for the
  // last admin token that has not expired (the node would be left without an administrator).
  absl::Status Revoke(const std::string& name, const Actor& actor) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Known {
    Actor actor;
    int64_t created_ms = 0, expires_ms = 0;
  };
  SignalStore* const store_;
  const std::function<int64_t()> now_ms_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Known> by_hash_ ABSL_GUARDED_BY(mu_);  // SHA-256 of the token -> its record
};

}  // namespace hashbank
