// Webhook delivery latency: from the durable commit of a signal (Bank::Submit returned) to the arrival of its
// `match.retroactive` POST at a real HTTP receiver on loopback (tests/support/webhook_receiver.h), while
// members add 1 000 watch entries a second. Prints p50/p99 of that latency, and, as the baseline measured in
// the same run, p50/p99 of a bare POST of the same body to the same receiver (PostWebhook alone).
//
// Usage: webhook_bench DATA_DIR [SECONDS=10] [WATCH_PER_SECOND=1000] [SIGNALS_PER_SECOND=50]
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "node/node_setup.h"
#include "node/webhook_client.h"
#include "node/webhook_dispatcher.h"
#include "tests/support/webhook_receiver.h"

namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: webhook_bench DATA_DIR [SECONDS=10] [WATCH_PER_SECOND=1000] [SIGNALS_PER_SECOND=50]\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const double seconds = argc > 2 ? std::stod(argv[2]) : 10;
  const int watch_rate = argc > 3 ? std::stoi(argv[3]) : 1000;
  const int signal_rate = argc > 4 ? std::stoi(argv[4]) : 50;
  std::filesystem::remove_all(dir);
  hashbank::NodeOverrides overrides;
  overrides.data_dir = dir.string();
  auto config = hashbank::LoadNodeConfig(overrides);
  if (!config.ok() || !hashbank::EnsureDataDir(*config).ok()) return 1;
  auto salter = hashbank::LoadOrCreateSalt(*config, std::cerr);
  if (!salter.ok()) return 1;
  auto bank = hashbank::OpenBank(*config, std::move(*salter));
  if (!bank.ok()) {
    std::cerr << bank.status() << "\n";
    return 1;
  }
  hashbank::testing::WebhookReceiver receiver;
  const std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  // Baseline: bare POSTs of an event-sized body, same receiver, same run.
  std::vector<double> bare;
  const std::string sample(400, 'x');
  for (int i = 0; i < 200; ++i) {
    const auto t0 = Clock::now();
    (void)hashbank::PostWebhook(url, {{"Content-Type", "application/json"}}, sample, std::chrono::seconds(5));
    bare.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  const size_t baseline_posts = receiver.received().size();

  const hashbank::Actor member{"bench", hashbank::Role::kQuery};
  if (!(*bank)->notifications()->CreateWebhook(url, {"match.retroactive"}, "bench", "bench").ok()) return 1;
  hashbank::WebhookDispatcher dispatcher((*bank)->notifications(), hashbank::WebhookDispatcherOptions{});
  (*bank)->SetEventListener([&dispatcher] { dispatcher.Wake(); });
  dispatcher.Start();

  std::mt19937_64 rng(7);
  std::vector<hashbank::Hash256> watched;
  std::map<std::string, Clock::time_point> committed;  // signal id -> when Submit returned
  const auto start = Clock::now();
  auto next_watch = start, next_signal = start;
  const auto watch_step = std::chrono::microseconds(1'000'000 / watch_rate * 10);  // 10 entries a step
  const auto signal_step = std::chrono::microseconds(1'000'000 / signal_rate);
  while (Clock::now() - start < std::chrono::duration<double>(seconds)) {
    const auto now = Clock::now();
    if (now >= next_watch) {
      std::vector<hashbank::WatchInput> items(10);
      for (auto& w : items) {
        hashbank::Hash256 h;
        for (auto& l : h.limbs) l = rng();
        w.content_ref = "upload-" + std::to_string(watched.size());
        w.pdq = h;
        watched.push_back(h);
      }
      if (!(*bank)->AddWatch(items, member).ok()) return 1;
      next_watch += watch_step;
    }
    if (now >= next_signal && !watched.empty()) {
      hashbank::SignalInput in;
      hashbank::Hash256 h = watched[rng() % watched.size()];
      h.limbs[1] ^= 0x3;  // 2 bits away
      in.pdq = h;
      in.quality = 100;
      auto ref = (*bank)->Submit(in, hashbank::Actor{"ngo", hashbank::Role::kSubmit});
      if (!ref.ok()) return 1;
      committed[hashbank::FormatSignalId(*ref)] = Clock::now();
      next_signal += signal_step;
    }
    std::this_thread::sleep_until(std::min(next_watch, next_signal));
  }
  const size_t expected = committed.size();
  receiver.WaitFor([&](const auto& got) { return got.size() >= baseline_posts + expected; }, std::chrono::seconds(30));
  std::vector<double> latency;
  for (const auto& r : receiver.received()) {
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(r.body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("data")) continue;
    const std::string id(v.at("data").at("signal").at("id").as_string());
    if (auto it = committed.find(id); it != committed.end()) {
      latency.push_back(std::chrono::duration<double, std::milli>(r.at - it->second).count());
    }
  }
  dispatcher.Stop();
  std::cout << "watch entries: " << watched.size() << " (" << watch_rate << "/s), signals matching one: " << expected
            << ", delivered: " << latency.size() << "\n"
            << "commit -> delivery: p50 " << Percentile(latency, 0.5) << " ms, p99 " << Percentile(latency, 0.99) << " ms\n"
            << "baseline bare POST: p50 " << Percentile(bare, 0.5) << " ms, p99 " << Percentile(bare, 0.99) << " ms\n";
  std::filesystem::remove_all(dir);
  return latency.size() == expected ? 0 : 1;
}
