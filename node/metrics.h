// Metrics: counters and latency histograms for the Prometheus text format (GET /metrics). Lock-free
// increments; thread-safe. Labels are fixed route names, never request data.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace hashbank {

enum class Route : int {
  kHealth, kMetrics, kSubmit, kSubmitBatch, kGetSignal, kWithdraw, kOpinion, kMatch, kMatchImage, kHash,
  kTokens, kAudit, kBackup, kFederation, kModels, kSubmitImage, kSubmitVideo, kMatchVideo, kBanks, kListSignals, kHma, kWebhooks, kWatch, kWeb, kCases, kLabels, kImport, kOther, kCount
};
std::string_view RouteName(Route r);

class Metrics {
 public:
  static constexpr std::array<double, 12> kBucketsSeconds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                              0.01,   0.025,   0.05,   0.1,   0.5,    2.5};
  void Record(Route route, int status, double seconds);
  // Renders everything, plus gauges from `gauges` (name, help, value).
  std::string Render(const std::function<void(const std::function<void(std::string_view, std::string_view, double)>&)>&
                         gauges) const;

 private:
  static constexpr int kRoutes = static_cast<int>(Route::kCount);
  static constexpr int kStatusClasses = 6;  // 1xx..5xx by first digit, index 0 unused
  std::array<std::array<std::atomic<uint64_t>, kStatusClasses>, kRoutes> requests_{};
  std::array<std::array<std::atomic<uint64_t>, kBucketsSeconds.size() + 1>, kRoutes> latency_{};
  std::array<std::atomic<uint64_t>, kRoutes> latency_sum_us_{};
};

}  // namespace hashbank
