// CaseDesk: victims' cases — what the case page (/) and the case API (/v1/cases) stand on. A case is a set of
// signals this node submits on a victim's behalf (label `victim_submitted`, bank DEFAULT, this node's origin),
// a random case number and a PIN. The victim later reads the case's status or withdraws consent (one signal or
// all) with the case number and PIN; withdrawals federate like any other.
//
// What is stored, in one state row `case/<hex SHA-256 of the case number>` written in the same durable batch as
// the case's signals (Bank::SubmitAll: all of them or nothing): the PIN's slow hash (libsodium crypto_pwhash_str, Argon2id, "interactive" limits), the
// creation time, the signal ids and the victim's optional message (local only: it never federates). The case
// number itself is not stored, so the database cannot be listed for case numbers. Case numbers are 80 random
// bits (16 Crockford base-32 characters, shown in groups of four); PINs 8 random digits.
//
// Limits: creation from the public page (no token) only when enabled, per IP address per hour, in all per
// hour and per UTC day; status and withdrawal per IP address per hour; wrong PINs per case before a lockout.
// Counters live in memory (a restart forgets them: documented in docs/case-page.md).
//
// Errors: InvalidArgument (bad input: a field names it), PermissionDenied (public submission off),
// ResourceExhausted (a rate limit or a locked case; RetryAfterSeconds() says when), Unauthenticated (unknown
// case number or wrong PIN: one message for both), and the bank's own errors.
// Thread-safe: the counters are guarded by mu_; the bank is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "node/bank.h"

namespace hashbank {

struct CaseOptions {
  bool public_submission = false;
  uint32_t per_ip_per_hour = 5;
  uint32_t global_per_hour = 100;
  uint32_t daily_cap = 500;
  uint32_t max_hashes = 50;
  uint32_t pin_attempts = 5;
  uint32_t lockout_minutes = 15;
  uint32_t lookups_per_ip_per_hour = 60;
  size_t max_message_bytes = 2000;
  std::function<int64_t()> now_ms;  // defaults to the system clock
};

inline constexpr char kVictimSubmittedLabel[] = "victim_submitted";

struct CreatedCase {
  std::string case_number;  // "XXXX-XXXX-XXXX-XXXX"
  std::string pin;          // 8 digits; shown once, never stored
  std::vector<SignalRef> signals;
};

struct CaseSignalStatus {
  SignalRef ref;
  std::vector<std::string> signal_types;  // what was banked (empty once withdrawn)
  bool withdrawn = false;
  int64_t withdrawn_at_ms = 0;
  int confirmed = 0, disputed = 0;  // members' opinions (never who)
  int members_holding = 0;          // peers of this node whose copy of its log includes the signal
};

struct CaseStatus {
  int64_t created_at_ms = 0;
  std::vector<CaseSignalStatus> signals;
};

// A case number as a person may type it: case-insensitive, with or without dashes and spaces, and with the
// look-alikes O/I/L read as 0/1/1 (Crockford). nullopt if it is not 16 such characters.
std::optional<std::string> NormalizeCaseNumber(std::string_view typed);

class CaseDesk {
 public:
  CaseDesk(Bank* bank, CaseOptions options);

  // How many peers hold a signal of this node (Federation::PeersHolding); set before serving, or 0.
  void SetHoldersHook(std::function<int(const std::string& origin, uint64_t sequence)> hook);
  // The options in force, and a configuration reload's new ones (SIGHUP): the limits and switches apply to
  // requests from then on; counts already taken in the current windows are kept. now_ms stays the
  // constructor's. Thread-safe.
  CaseOptions options() const ABSL_LOCKS_EXCLUDED(mu_);
  void SetOptions(CaseOptions options) ABSL_LOCKS_EXCLUDED(mu_);

  // Submits `inputs` (each a signal's raw fingerprints; labels, bank and case_ref must be empty) as one case.
  // `from_public_page`: no token was given (the limits and the public_submission switch apply).
  absl::StatusOr<CreatedCase> Create(std::vector<SignalInput> inputs, const std::string& message,
                                     bool from_public_page, const std::string& remote_address)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<CaseStatus> Status(std::string_view case_number, std::string_view pin,
                                    const std::string& remote_address) ABSL_LOCKS_EXCLUDED(mu_);
  // Withdraws one signal of the case (`signal` given) or every live one; returns the status after.
  absl::StatusOr<CaseStatus> Withdraw(std::string_view case_number, std::string_view pin,
                                      const std::optional<SignalRef>& signal, const std::string& remote_address)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Cases as the operator sees them (the dashboard): newest first, at most `limit`; no case number (it is not
  // stored) and no PIN.
  struct Listed {
    int64_t created_at_ms = 0;
    std::vector<SignalRef> signals;
    std::string message;
  };
  absl::StatusOr<std::vector<Listed>> List(size_t limit) const;

  // For a ResourceExhausted status of this class: seconds until the limit that refused it resets (60 if absent).
  static int RetryAfterSeconds(const absl::Status& status);

 private:
  struct Window {  // a fixed window counter
    int64_t start_ms = 0;
    uint32_t count = 0;
  };
  struct Attempts {
    uint32_t wrong = 0;
    int64_t locked_until_ms = 0;
  };

  int64_t Now() const;
  // Counts one event in `w` (window `window_ms`) unless it is at `limit`: the refusal, or OK.
  static absl::Status Take(Window* w, int64_t now, int64_t window_ms, uint32_t limit, std::string_view what);
  // The case (its record without the PIN hash) after checking lookups, lockout and the PIN (counting a wrong one).
  absl::StatusOr<Listed> Open(std::string_view case_number, std::string_view pin, const std::string& remote_address)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<CaseStatus> StatusOf(const Listed& record) const;

  Bank* bank_;
  const std::function<int64_t()> now_ms_;  // the constructor's options.now_ms
  std::function<int(const std::string&, uint64_t)> holders_;  // fixed before serving
  mutable absl::Mutex mu_;
  CaseOptions options_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Window> create_by_ip_ ABSL_GUARDED_BY(mu_);
  Window create_hour_ ABSL_GUARDED_BY(mu_);
  Window create_day_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Window> lookups_by_ip_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Attempts> attempts_ ABSL_GUARDED_BY(mu_);  // by the case key
};

// Salt rotation (node/salt_rotation.h): a case record (state row "case/<...>") naming this node's re-published
// signals by their new ids (`moved`: old sequence -> new, of `node_id`'s log); nullopt if it names none of
// them. DataLoss for a record that does not parse.
absl::StatusOr<std::optional<std::string>> RemapCaseRecord(std::string_view row, const std::string& node_id,
                                                           const std::map<uint64_t, uint64_t>& moved);
inline constexpr std::string_view kCaseRowPrefix = "case/";

}  // namespace hashbank
