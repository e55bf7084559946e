#include "config/listen_address.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace hashbank {
namespace {

bool MessageContains(const absl::Status& status, const std::string& needle) {
  return std::string(status.message()).find(needle) != std::string::npos;
}

TEST(ListenAddressTest, ParsesIpv4) {
  auto address = ParseListenAddress("127.0.0.1:8443");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->host, "127.0.0.1");
  EXPECT_EQ(address->port, 8443);
  EXPECT_EQ(address->ToString(), "127.0.0.1:8443");
}

TEST(ListenAddressTest, ParsesBracketedIpv6AndPrintsBracketsBack) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[::1]:8443", "::1"}, {"[::]:0", "::"}, {"[2001:db8::17]:65535", "2001:db8::17"}};
  for (const auto& [text, host] : cases) {
    auto address = ParseListenAddress(text);
    ASSERT_TRUE(address.ok()) << text << ": " << address.status();
    EXPECT_EQ(address->host, host);
    EXPECT_EQ(address->ToString(), text);
  }
}

TEST(ListenAddressTest, ParsesHostnames) {
  for (const std::string text : {"localhost:80", "node-1.example.org:443", "a:1", "x1.y2:9"}) {
    auto address = ParseListenAddress(text);
    ASSERT_TRUE(address.ok()) << text << ": " << address.status();
    EXPECT_EQ(address->ToString(), text);
  }
}

TEST(ListenAddressTest, PortZeroMeansAnyFreePort) {
  auto address = ParseListenAddress("0.0.0.0:0");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->port, 0);
}

TEST(ListenAddressTest, RejectsMissingPort) {
  for (const std::string text : {"127.0.0.1", "localhost", "[::1]", "localhost:", "[::1]:"}) {
    auto address = ParseListenAddress(text);
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_TRUE(MessageContains(address.status(), "port")) << address.status();
  }
}

TEST(ListenAddressTest, RejectsPortOutsideSixteenBits) {
  for (const std::string text : {"127.0.0.1:70000", "127.0.0.1:65536", "[::1]:99999999999999999999"}) {
    auto address = ParseListenAddress(text);
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_TRUE(MessageContains(address.status(), "0..65535")) << address.status();
  }
}

TEST(ListenAddressTest, RejectsNonDecimalPort) {
  for (const std::string text : {"127.0.0.1:http", "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1: 80", "h:0x50"}) {
    EXPECT_EQ(ParseListenAddress(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(ListenAddressTest, RejectsEmptyTextAndEmptyHost) {
  EXPECT_EQ(ParseListenAddress("").status().code(), absl::StatusCode::kInvalidArgument);
  auto no_host = ParseListenAddress(":8443");
  EXPECT_EQ(no_host.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageContains(no_host.status(), "no host")) << no_host.status();
  EXPECT_EQ(ParseListenAddress("[]:8443").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ListenAddressTest, RejectsIpv6WithoutBrackets) {
  auto address = ParseListenAddress("::1:8443");
  EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageContains(address.status(), "brackets")) << address.status();
}

TEST(ListenAddressTest, RejectsBadHosts) {
  const std::vector<std::string> cases = {"256.0.0.1:1", "1.2.3:1", "[not-v6]:1", "[::1:1", "[::1]x:1",
                                          "bad_host:1", "-lead.example:1", "trail-.example:1", "a..b:1",
                                          "host name:1", "[fe80::1%eth0]:1", std::string(64, 'a') + ".example:1"};
  for (const std::string& text : cases) {
    EXPECT_EQ(ParseListenAddress(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(ListenAddressTest, QuotesTheTextSafely) {
  auto address = ParseListenAddress("evil\nline");
  EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageContains(address.status(), "\"evil\\nline\"")) << address.status();
}

}  // namespace
}  // namespace hashbank
