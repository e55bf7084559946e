// ExactIndex: salted MD5 / SHA-256 digests (32 bytes each after salting) to the ids that carry them.
// Insert and remove in place; lookups are one hash-table probe. Thread-safe (reader/writer lock).
#pragma once

#include <array>
#include <cstdint>
#include <shared_mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace hashbank {

using Digest32 = std::array<uint8_t, 32>;

class ExactIndex {
 public:
  // AlreadyExists if (digest, id) is present.
  absl::Status Insert(const Digest32& digest, uint64_t id);
  // NotFound if (digest, id) is absent.
  absl::Status Remove(const Digest32& digest, uint64_t id);
  // The ids carrying `digest`, in insertion order (empty if none).
  std::vector<uint64_t> Find(const Digest32& digest) const;
  size_t size() const;  // (digest, id) pairs

 private:
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<Digest32, std::vector<uint64_t>> ids_;
  size_t size_ = 0;
};

}  // namespace hashbank
