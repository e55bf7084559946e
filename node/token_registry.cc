#include "node/token_registry.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "crypto/sha256.h"
#include "hashing/hash256.h"

namespace hashbank {
namespace {

constexpr size_t kMaxTokenName = 64;

std::string Sha256Raw(std::string_view data) {
  const Sha256Hash h = Sha256(data);
  return std::string(h.begin(), h.end());
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kSubmit: return "submit";
    case Role::kQuery: return "query";
    case Role::kAdmin: return "admin";
  }
  return "query";
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "submit") return Role::kSubmit;
  if (name == "query") return Role::kQuery;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

TokenRegistry::TokenRegistry(SignalStore* store, std::function<int64_t()> now_ms)
    : store_(store), now_ms_(std::move(now_ms)) {}

absl::Status TokenRegistry::Load() {
  absl::flat_hash_map<std::string, Known> loaded;
  absl::Status bad_role = absl::OkStatus();
  absl::Status s = store_->ForEachToken([&](std::string_view hash, const TokenRecord& record) {
    const std::optional<Role> role = ParseRole(record.role);
    if (!role) {
      bad_role.Update(absl::InvalidArgumentError(absl::StrCat("token \"", record.name, "\" has an unknown role")));
      return;
    }
    loaded[std::string(hash)] = Known{Actor{record.name, *role}, record.created_ms, record.expires_ms};
  });
  if (!s.ok()) return s;
  if (!bad_role.ok()) return bad_role;
  absl::MutexLock lock(&mu_);
  by_hash_ = std::move(loaded);
  return absl::OkStatus();
}

absl::StatusOr<std::string> TokenRegistry::Create(Role role, const std::string& name, const Actor& actor,
                                                  int64_t expires_ms) {
  if (name.empty() || name.size() > kMaxTokenName ||
      !std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
      })) {
    return absl::InvalidArgumentError("name: 1-64 characters of A-Z, a-z, 0-9, '-', '_', '.'");
  }
  std::array<unsigned char, 32> secret{};
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
    return absl::InternalError("no randomness for a token");
  }
  std::string token = "hbt_" + BytesToHex(secret.data(), secret.size());
  const std::string hash = Sha256Raw(token);
  TokenRecord record;
  record.name = name;
  record.role = std::string(RoleName(role));
  record.created_ms = now_ms_();
  record.expires_ms = expires_ms;
  // The name check and the commit under one lock: token creation is rare, and a second creation of the
  // same name must see the first.
  absl::MutexLock lock(&mu_);
  for (const auto& [h, existing] : by_hash_) {
    if (existing.actor.name == name) {
      return absl::AlreadyExistsError(absl::StrCat("a token named \"", name, "\" exists; names identify members in the audit log"));
    }
  }
  StoreBatch batch;
  batch.PutToken(hash, record);
  batch.AddAudit(actor.name, "token.create", absl::StrCat(name, " (", record.role, ")"));
  if (absl::Status s = store_->Commit(std::move(batch), record.created_ms); !s.ok()) return s;
  by_hash_[hash] = Known{Actor{name, role}, record.created_ms, expires_ms};
  return token;
}

std::optional<Actor> TokenRegistry::Authenticate(std::string_view token) const {
  const std::string hash = Sha256Raw(token);
  absl::ReaderMutexLock lock(&mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  if (it->second.expires_ms != 0 && now_ms_() >= it->second.expires_ms) return std::nullopt;
  return it->second.actor;
}

std::vector<TokenRegistry::Listed> TokenRegistry::List() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Listed> out;
  for (const auto& [hash, k] : by_hash_) out.push_back(Listed{k.actor.name, k.actor.role, k.created_ms, k.expires_ms});
  std::sort(out.begin(), out.end(), [](const Listed& a, const Listed& b) { return a.name < b.name; });
  return out;
}

absl::Status TokenRegistry::Revoke(const std::string& name, const Actor& actor) {
  absl::MutexLock lock(&mu_);
  const int64_t now = now_ms_();
  auto target = by_hash_.end();
  size_t live_admins = 0;
  for (auto it = by_hash_.begin(); it != by_hash_.end(); ++it) {
    if (it->second.actor.name == name) target = it;
    const bool live = it->second.expires_ms == 0 || now < it->second.expires_ms;
    if (live && it->second.actor.role == Role::kAdmin) ++live_admins;
  }
  if (target == by_hash_.end()) return absl::NotFoundError(absl::StrCat("no token named \"", name, "\""));
  const bool target_live = target->second.expires_ms == 0 || now < target->second.expires_ms;
  if (target->second.actor.role == Role::kAdmin && target_live && live_admins <= 1) {
    return absl::FailedPreconditionError("this is the node's last admin token: create another admin token first");
  }
  StoreBatch batch;
  batch.DeleteToken(target->first);
  batch.AddAudit(actor.name, "token.revoke", name);
  if (absl::Status s = store_->Commit(std::move(batch), now); !s.ok()) return s;
  by_hash_.erase(target);
  return absl::OkStatus();
}

size_t TokenRegistry::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return by_hash_.size();
}

}  // namespace hashbank
