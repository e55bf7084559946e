// BankCatalog: this node's configuration of its banks. A bank is a named set of signals (HMA's UPPER_SNAKE
// names); which bank a signal belongs to travels with the signal (protocol Signal.bank), but how a bank is
// matched here — enabled, HMA's matching_enabled_ratio — and its description and labels are this node's own
// choice, kept in the store's state rows "bank/<NAME>" (JSON) and never federated.
//
// The default bank ("DEFAULT", every signal submitted without a bank and every signal from before banks)
// always exists. A bank a peer's signals name but this node never configured is matched as if configured
// with the defaults (enabled, ratio 1) and listed as such.
//
// The enabled ratio decides per signal, deterministically: a signal of a bank with ratio r matches when
// SHA-256 of its id, read as a number in [0, 1), is below r — the same signals on every node and at every
// query, so a partial rollout is stable (ratio 0: the bank never matches; 1: always).
//
// Thread-safety: every method is safe to call concurrently (`mu_` guards the map; store writes are durable
// before the map changes). Errors: InvalidArgument (a bad name or value, naming the field), AlreadyExists,
// NotFound, the store's errors.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/signal_store.h"

namespace hashbank {

struct BankConfig {
  std::string name;
  double matching_enabled_ratio = 1.0;  // 0..1
  std::string description;              // <= 1024 bytes
  std::vector<std::string> labels;      // the bank's own labels (a-z0-9_), not its signals'
  int64_t created_ms = 0;               // 0: never configured here (a default or a peer's bank)
};

// What an update changes; absent fields stay as they are.
struct BankUpdate {
  std::optional<double> matching_enabled_ratio;
  std::optional<std::string> description;
  std::optional<std::vector<std::string>> labels;
};

class BankCatalog {
 public:
  BankCatalog(SignalStore* store, std::function<int64_t()> now_ms);

  // Reads the configured banks from the store (once, at Open).
  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_);

  // The bank's configuration; the defaults for the default bank and for banks never configured here.
  BankConfig Get(std::string_view name) const ABSL_LOCKS_EXCLUDED(mu_);
  bool IsConfigured(std::string_view name) const ABSL_LOCKS_EXCLUDED(mu_);
  // The configured banks and the default bank, by name.
  std::vector<BankConfig> List() const ABSL_LOCKS_EXCLUDED(mu_);

  // Durable, audited as "bank.create", "bank.update", "bank.delete" by `actor`.
  absl::StatusOr<BankConfig> Create(BankConfig config, const std::string& actor) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<BankConfig> Update(std::string_view name, const BankUpdate& update, const std::string& actor)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Moves a configured bank's configuration to a new name (one durable batch), audited "bank.rename".
  absl::Status Rename(std::string_view from, std::string_view to, const std::string& actor) ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets the configuration (the bank's signals are not touched: see Bank::DeleteBank).
  absl::Status Remove(std::string_view name, const std::string& actor) ABSL_LOCKS_EXCLUDED(mu_);

  // Whether a signal (by its public id "origin:sequence") of bank `name` takes part in matching.
  bool MatchEnabled(std::string_view name, std::string_view signal_id) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Status Validate(const BankConfig& config) const;
  absl::Status Write(const BankConfig& config, const std::string& actor, std::string_view action);

  SignalStore* const store_;
  const std::function<int64_t()> now_ms_;
  mutable absl::Mutex mu_;
  std::map<std::string, BankConfig, std::less<>> banks_ ABSL_GUARDED_BY(mu_);  // configured here
  // Serialises writers, so that the store's order and the map's order agree.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
};

// The fraction in [0, 1) a signal id stands at for enabled ratios (SHA-256 of the id, first 8 bytes).
double RatioPoint(std::string_view signal_id);

}  // namespace hashbank
