// CommitNotifier: tells the federation (one listener, set before serving) that a durable commit added to a
// log — the node's own or a replicated one — so peers are woken at once. The listener runs on the
// committing thread, after the commit and outside every lock of the bank, so it may call back into the
// bank. Thread-safe.
#pragma once

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hashbank {

class CommitNotifier {
 public:
  void SetListener(std::function<void()> listener) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    listener_ = std::move(listener);
  }
  void Notify() const ABSL_LOCKS_EXCLUDED(mu_) {
    std::function<void()> listener;
    {
      absl::MutexLock lock(&mu_);
      listener = listener_;
    }
    if (listener) listener();
  }

 private:
  mutable absl::Mutex mu_;
  std::function<void()> listener_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hashbank
