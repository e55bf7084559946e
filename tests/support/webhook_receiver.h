// WebhookReceiver: a real HTTP/1.1 server on 127.0.0.1 for webhook tests — the member service's endpoint.
// It records every request (headers in lower case, body) and answers each with the status set last
// (SetStatus; 200 at first). Stop() closes the port (deliveries then fail to connect); a new receiver can be
// started on the same port later. One accept thread, one request per connection (the dispatcher closes).
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hashbank::testing {

class WebhookReceiver {
 public:
  struct Received {
    std::string target;
    std::map<std::string, std::string> headers;
    std::string body;
    int answered = 0;
    std::chrono::steady_clock::time_point at;  // when the request was read whole
  };

  // Listens on 127.0.0.1:`port` (0: any free port).
  explicit WebhookReceiver(uint16_t port = 0);
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  uint16_t port() const { return port_; }
  void SetStatus(int status) { status_ = status; }
  void Stop();
  std::vector<Received> received() const;
  // Waits until `done(received())` holds; false after `limit`.
  bool WaitFor(const std::function<bool(const std::vector<Received>&)>& done, std::chrono::milliseconds limit) const;

 private:
  void Serve();

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> status_{200};
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Received> received_;
  std::thread thread_;
};

}  // namespace hashbank::testing
