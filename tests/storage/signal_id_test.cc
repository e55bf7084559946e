// Signal ids have one spelling: "<node id>:<decimal sequence without leading zeros>". Anything else is
// refused, so "local:01" or "LOCAL:1" never name the signal "local:1" in one place and nothing in another.
#include <gtest/gtest.h>

#include "storage/signal_store.h"

namespace hashbank {
namespace {

TEST(SignalIdTest, CanonicalIdsParseAndRoundTrip) {
  for (const char* id : {"local:1", "node-a:42", "ngo.example-1:18446744073709551615", "a:10"}) {
    SCOPED_TRACE(id);
    auto ref = ParseSignalId(id);
    ASSERT_TRUE(ref.ok()) << ref.status();
    EXPECT_EQ(FormatSignalId(*ref), id);
  }
}

TEST(SignalIdTest, NonCanonicalIdsAreRefused) {
  for (const char* id : {"local:01", "local:0", "local:+1", "local:-1", "LOCAL:1", "Local:1", "local: 1", "local:1 ",
                         ":1", "local:", "local", "local:18446744073709551616", "-local:1", "lo cal:1"}) {
    SCOPED_TRACE(id);
    auto ref = ParseSignalId(id);
    EXPECT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace hashbank
