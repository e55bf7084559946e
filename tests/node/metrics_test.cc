// The Prometheus text: a cumulative value (named *_total) is typed as a counter, a level as a gauge — a
// scraper computes rates only of counters.
#include <gtest/gtest.h>

#include "node/metrics.h"

namespace hashbank {
namespace {

TEST(MetricsTest, TotalsAreCountersAndLevelsAreGauges) {
  Metrics metrics;
  const std::string text = metrics.Render([](const auto& gauge) {
    gauge("hashbank_federation_sync_errors_total", "Failed sync rounds since start.", 3);
    gauge("hashbank_federation_peers", "Configured peers.", 2);
  });
  EXPECT_NE(text.find("# TYPE hashbank_federation_sync_errors_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("hashbank_federation_sync_errors_total 3"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE hashbank_federation_peers gauge\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("sync_errors_total gauge"), std::string::npos) << text;
}

}  // namespace
}  // namespace hashbank
