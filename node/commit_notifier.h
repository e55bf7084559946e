// CommitNotifier: tells the federation and the webhook dispatcher (one listener each, set before serving) that a durable commit added to a
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
  // Two listeners: the federation's (kFederation) and the webhook dispatcher's (kEvents).
  enum Slot { kFederation = 0, kEvents = 1 };
  void SetListener(std::function<void()> listener, Slot slot = kFederation) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    listeners_[slot] = std::move(listener);
  }
  void Notify() const ABSL_LOCKS_EXCLUDED(mu_) {
    std::function<void()> listeners[2];
    {
      absl::MutexLock lock(&mu_);
      listeners[0] = listeners_[0];
      listeners[1] = listeners_[1];
    }
    for (const auto& l : listeners) {
      if (l) l();
    }
  }

 private:
  mutable absl::Mutex mu_;
  std::function<void()> listeners_[2] ABSL_GUARDED_BY(mu_);
};

}  // namespace hashbank
