#include "node/webhook_dispatcher.h"

#include <iostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "node/webhook_client.h"

namespace hashbank {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

WebhookDispatcher::WebhookDispatcher(Notifications* notifications, WebhookDispatcherOptions options)
    : notifications_(notifications), options_(options), timeout_ms_(options.timeout.count()) {}

void WebhookDispatcher::SetTimeout(std::chrono::milliseconds timeout) { timeout_ms_.store(timeout.count()); }

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

void WebhookDispatcher::Start() { thread_ = std::thread([this] { Run(); }); }

void WebhookDispatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void WebhookDispatcher::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void WebhookDispatcher::DeliverDue() {
  // A receiver that failed in this round is not tried again in it: a dead one costs one timeout a round,
  // not one per queued event, and the others are not held up behind it.
  std::set<std::string> failed_now;
  for (const Delivery& d : notifications_->Due(NowMs(), options_.batch)) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    if (failed_now.contains(d.webhook_id)) continue;
    const std::optional<WebhookConfig> hook = notifications_->GetWebhook(d.webhook_id);
    if (!hook) {
      (void)notifications_->Delivered(d);  // its webhook is gone: nothing to deliver to
      continue;
    }
    const int64_t t = NowMs() / 1000;
    const std::map<std::string, std::string> headers = {
        {"Content-Type", "application/json"},
        {"Hashbank-Event-Id", d.event_id},
        {"Hashbank-Signature", WebhookSignature(hook->secret, t, d.body)},
    };
    const absl::StatusOr<int> status = PostWebhook(hook->url, headers, d.body, std::chrono::milliseconds(timeout_ms_.load()));
    if (status.ok() && *status >= 200 && *status < 300) {
      if (absl::Status s = notifications_->Delivered(d); !s.ok()) std::cerr << "hashbank: webhooks: " << s << "\n";
    } else {
      failed_now.insert(d.webhook_id);
      const std::string error = status.ok() ? absl::StrCat("HTTP ", *status) : std::string(status.status().message());
      if (absl::Status s = notifications_->Failed(d, error); !s.ok()) std::cerr << "hashbank: webhooks: " << s << "\n";
    }
  }
}

void WebhookDispatcher::Run() {
  auto last_purge = std::chrono::steady_clock::now();
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      woken_ = false;
    }
    // Scan until caught up (each pass is bounded), then deliver.
    for (int pass = 0; pass < 100; ++pass) {
      absl::StatusOr<size_t> scanned = notifications_->Scan();
      if (!scanned.ok()) {
        std::cerr << "hashbank: webhooks: scanning the logs failed: " << scanned.status() << "\n";
        break;
      }
      if (*scanned == 0) break;
    }
    DeliverDue();
    if (std::chrono::steady_clock::now() - last_purge > std::chrono::minutes(1)) {
      (void)notifications_->PurgeExpiredWatch();
      last_purge = std::chrono::steady_clock::now();
    }
    // Sleep until woken, the next retry is due, or a second has passed.
    int64_t wait_ms = 1000;
    if (const std::optional<int64_t> next = notifications_->NextDue()) wait_ms = std::clamp<int64_t>(*next - NowMs(), 0, 1000);
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](WebhookDispatcher* d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d->mu_) { return d->stop_ || d->woken_; }, this),
                         absl::Milliseconds(wait_ms));
  }
}

}  // namespace hashbank
