// WebhookDispatcher: the one thread that turns Notifications' decisions into deliveries. It wakes on every
// durable commit (Wake(), from the bank's event listener), on the next due retry, or every second; runs the
// scanner (new log entries against the watch lists), then POSTs the due deliveries (PostWebhook) with their
// Hashbank-Signature, and reports each outcome back (Delivered / Failed). Expired watch entries are purged
// once a minute. Never called from a request or a sync: a slow receiver delays only other deliveries.
//
// Owns its thread: Start() once, Stop() (or the destructor) joins it. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "node/notifications.h"

namespace hashbank {

struct WebhookDispatcherOptions {
  std::chrono::milliseconds timeout{10'000};  // per delivery step
  size_t batch = 32;                          // deliveries per wake-up
};

class WebhookDispatcher {
 public:
  WebhookDispatcher(Notifications* notifications, WebhookDispatcherOptions options);
  ~WebhookDispatcher();
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  // Something may have arrived: scan and deliver now.
  void Wake() ABSL_LOCKS_EXCLUDED(mu_);
  // A configuration reload's per-step timeout (SIGHUP): deliveries that start from now on use it.
  void SetTimeout(std::chrono::milliseconds timeout);

 private:
  void Run();
  void DeliverDue();

  Notifications* const notifications_;
  const WebhookDispatcherOptions options_;  // timeout: see timeout_ms_
  std::atomic<int64_t> timeout_ms_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hashbank
