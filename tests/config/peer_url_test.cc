#include "config/peer_url.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hashbank {
namespace {

TEST(PeerUrlTest, ParsesHostAndPortWithDefault443) {
  struct Case {
    std::string url;
    std::string host;
    uint16_t port;
  };
  const std::vector<Case> cases = {
      {"https://node-b.example", "node-b.example", 443},
      {"https://node-b.example/", "node-b.example", 443},
      {"https://node-b.example:9443", "node-b.example", 9443},
      {"https://node-b.example:9443/", "node-b.example", 9443},
      {"https://10.1.2.3:1", "10.1.2.3", 1},
      {"https://[::1]", "::1", 443},
      {"https://[2001:db8::7]:65535/", "2001:db8::7", 65535},
      {"https://localhost", "localhost", 443},
  };
  for (const Case& c : cases) {
    auto url = ParsePeerUrl(c.url);
    ASSERT_TRUE(url.ok()) << c.url << ": " << url.status();
    EXPECT_EQ(url->host, c.host) << c.url;
    EXPECT_EQ(url->port, c.port) << c.url;
  }
}

TEST(PeerUrlTest, RejectsWhatIsNotHttpsHostPort) {
  for (const std::string url :
       {"", "https", "https:/x", "http://x", "ftp://x", "x", "https://", "https://x/a", "https://x?", "https://x#",
        "https://u@x", "https://x:", "https://x:0", "https://x:99999", "https://x:-1", "https://x:1:2", "https://[x]",
        "https://[::1]:", "https://-x", "https://x y", "https://x\n"}) {
    auto parsed = ParsePeerUrl(url);
    EXPECT_FALSE(parsed.ok()) << url;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
}

TEST(PeerUrlTest, ErrorsQuoteAndEscapeTheUrl) {
  EXPECT_EQ(std::string(ParsePeerUrl("https://a\x1b[31m").status().message()),
            "\"https://a\\x1b[31m\" has a host that is neither an IP address nor a valid hostname");
}

}  // namespace
}  // namespace hashbank
