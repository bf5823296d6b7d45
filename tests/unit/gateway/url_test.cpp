#include "gateway/upstream/url.h"

#include <gtest/gtest.h>

namespace luna::gateway {
namespace {

// Upstream URLs parse into scheme, host, port and base path; the Host header omits default ports.
TEST(UrlTest, ParsesSchemesPortsAndPaths) {
  auto u = ParseUrl("https://api.example.com/anthropic/");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "api.example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->base_path, "/anthropic");
  EXPECT_EQ(u->HostHeader(), "api.example.com");
  u = ParseUrl("http://127.0.0.1:8080");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->base_path, "");
  EXPECT_EQ(u->HostHeader(), "127.0.0.1:8080");
  u = ParseUrl("http://[::1]:9000/x");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->HostHeader(), "[::1]:9000");
}

// Bad URLs are refused with a reason.
TEST(UrlTest, RejectsBadUrls) {
  for (const char* bad : {"", "ftp://x", "http://", "http://:80", "http://h:0", "http://h:99999", "http://h:abc",
                          "http://user:pw@h", "localhost:8080",
                          // hosts that would not read back from their Host header (found by fuzzing)
                          "https://[[on+]:421/a/b", "http://[x]:1", "http://[::1%]", "http://a[b", "http://a b",
                          "http://h+x:80"}) {
    EXPECT_FALSE(ParseUrl(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace luna::gateway
