#include "matcher/exact_index.h"

#include <algorithm>
#include <mutex>

namespace hashbank {

absl::Status ExactIndex::Insert(const Digest32& digest, uint64_t id) {
  std::unique_lock lock(mu_);
  std::vector<uint64_t>& ids = ids_[digest];
  if (std::find(ids.begin(), ids.end(), id) != ids.end()) {
    return absl::AlreadyExistsError("id is already indexed with this digest");
  }
  ids.push_back(id);
  ++size_;
  return absl::OkStatus();
}

absl::Status ExactIndex::Remove(const Digest32& digest, uint64_t id) {
  std::unique_lock lock(mu_);
  auto it = ids_.find(digest);
  if (it == ids_.end()) return absl::NotFoundError("digest is not indexed");
  auto pos = std::find(it->second.begin(), it->second.end(), id);
  if (pos == it->second.end()) return absl::NotFoundError("id is not indexed with this digest");
  it->second.erase(pos);
  if (it->second.empty()) ids_.erase(it);
  --size_;
  return absl::OkStatus();
}

std::vector<uint64_t> ExactIndex::Find(const Digest32& digest) const {
  std::shared_lock lock(mu_);
  auto it = ids_.find(digest);
  return it == ids_.end() ? std::vector<uint64_t>{} : it->second;
}

size_t ExactIndex::size() const {
  std::shared_lock lock(mu_);
  return size_;
}

}  // namespace hashbank
