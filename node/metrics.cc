#include "node/metrics.h"

#include <cstdio>

namespace hashbank {

std::string_view RouteName(Route r) {
  static constexpr std::string_view kNames[] = {"health", "metrics", "submit", "submit_batch", "get_signal",
                                                "withdraw", "opinion", "match", "match_image", "hash",
                                                "tokens", "audit", "backup", "federation", "models", "submit_image", "submit_video", "match_video", "banks", "list_signals", "hma", "webhooks", "watch", "web", "cases", "labels", "import", "other"};
  return kNames[static_cast<int>(r)];
}

void Metrics::Record(Route route, int status, double seconds) {
  const auto r = static_cast<size_t>(route);
  const int cls = status / 100;
  if (cls >= 1 && cls < kStatusClasses) requests_[r][static_cast<size_t>(cls)].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBucketsSeconds.size() && seconds > kBucketsSeconds[b]) ++b;
  latency_[r][b].fetch_add(1, std::memory_order_relaxed);
  latency_sum_us_[r].fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

std::string Metrics::Render(
    const std::function<void(const std::function<void(std::string_view, std::string_view, double)>&)>& gauges) const {
  std::string out;
  char line[256];
  out += "# HELP hashbank_requests_total Member API requests by route and status class.\n";
  out += "# TYPE hashbank_requests_total counter\n";
  for (int r = 0; r < kRoutes; ++r) {
    for (int c = 1; c < kStatusClasses; ++c) {
      const uint64_t v = requests_[static_cast<size_t>(r)][static_cast<size_t>(c)].load(std::memory_order_relaxed);
      if (v == 0) continue;
      std::snprintf(line, sizeof(line), "hashbank_requests_total{route=\"%s\",status=\"%dxx\"} %llu\n",
                    std::string(RouteName(static_cast<Route>(r))).c_str(), c, static_cast<unsigned long long>(v));
      out += line;
    }
  }
  out += "# HELP hashbank_request_duration_seconds Member API request latency, from request read to response ready.\n";
  out += "# TYPE hashbank_request_duration_seconds histogram\n";
  for (int r = 0; r < kRoutes; ++r) {
    const auto ri = static_cast<size_t>(r);
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBucketsSeconds.size(); ++b) cumulative += latency_[ri][b].load(std::memory_order_relaxed);
    if (cumulative == 0) continue;
    const std::string name(RouteName(static_cast<Route>(r)));
    uint64_t running = 0;
    for (size_t b = 0; b <= kBucketsSeconds.size(); ++b) {
      running += latency_[ri][b].load(std::memory_order_relaxed);
      if (b < kBucketsSeconds.size()) {
        std::snprintf(line, sizeof(line), "hashbank_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                      name.c_str(), kBucketsSeconds[b], static_cast<unsigned long long>(running));
      } else {
        std::snprintf(line, sizeof(line), "hashbank_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                      name.c_str(), static_cast<unsigned long long>(running));
      }
      out += line;
    }
    std::snprintf(line, sizeof(line), "hashbank_request_duration_seconds_sum{route=\"%s\"} %.6f\n", name.c_str(),
                  static_cast<double>(latency_sum_us_[ri].load(std::memory_order_relaxed)) / 1e6);
    out += line;
    std::snprintf(line, sizeof(line), "hashbank_request_duration_seconds_count{route=\"%s\"} %llu\n", name.c_str(),
                  static_cast<unsigned long long>(running));
    out += line;
  }
  gauges([&](std::string_view name, std::string_view help, double value) {
    // A name ending in _total is cumulative (Prometheus naming): typed as a counter, everything else a gauge.
    const bool counter = name.size() > 6 && name.substr(name.size() - 6) == "_total";
    out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) +
           (counter ? " counter\n" : " gauge\n");
    std::snprintf(line, sizeof(line), "%s %.17g\n", std::string(name).c_str(), value);
    out += line;
  });
  return out;
}

}  // namespace hashbank
