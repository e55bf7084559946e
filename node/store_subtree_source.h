// StoreSubtreeSource: the perfect subtrees of one origin's log as SubtreeSource reads them, from the store
// (`nodes` for level >= 1, `leaves` for level 0). Holds no state of its own; as thread-safe as the store.
#pragma once

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "protocol/merkle.h"
#include "storage/signal_store.h"

namespace hashbank {

class StoreSubtreeSource : public SubtreeSource {
 public:
  StoreSubtreeSource(const SignalStore* store, std::string origin) : store_(store), origin_(std::move(origin)) {}
  absl::StatusOr<MerkleHash> PerfectSubtree(uint32_t level, uint64_t index) const override {
    // Level 0 is the leaf itself, kept once, in `leaves`.
    auto v = level == 0 ? store_->GetLeaf(SignalRef{origin_, index + 1}) : store_->GetNode(origin_, level, index);
    if (!v.ok()) return v.status();
    if (!v->has_value() || (*v)->size() != 32) {
      return absl::DataLossError(absl::StrCat("log ", origin_, ": subtree ", level, "/", index, " is missing"));
    }
    MerkleHash h;
    std::memcpy(h.data(), (*v)->data(), 32);
    return h;
  }

 private:
  const SignalStore* store_;
  std::string origin_;
};

}  // namespace hashbank
