// Typed records of the store: what a row means, so that no other module builds or parses a storage format.
// Each record's encoding lives in storage/signal_store.cc (JSON for tombstones and tokens, as written since
// the first release, so existing databases read unchanged). Plain values: copyable, no thread-safety concerns.
#pragma once

#include <cstdint>
#include <string>

namespace hashbank {

struct SignalRef {
  std::string origin;
  uint64_t sequence = 0;
  friend bool operator==(const SignalRef&, const SignalRef&) = default;
};

// Why and when a signal's values were purged. Kept for ever (the signal's leaf stays in its log).
struct Tombstone {
  int64_t time_ms = 0;    // when the withdrawal was made (the origin's clock)
  std::string by;         // the token name (own withdrawals) or the origin (replicated ones)
  std::string reason;     // e.g. "consent_withdrawn"
  SignalRef withdrawal;   // the log entry that withdrew it; sequence 0 if unknown (old rows)
};

// A bearer token as stored: only the SHA-256 of the token is the key; this is the value.
struct TokenRecord {
  std::string name;        // unique; names the member service in the audit log
  std::string role;        // "submit", "query" or "admin"
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // 0: never (and every token from before expiry existed)
};

// A suspended origin: entries after `from` are refused (stored, never indexed); with `exclude`, its stored
// signals stop matching too.
struct Suspension {
  bool exclude = false;
  uint64_t from = 0;
};

}  // namespace hashbank
