// Base and quota URLs: http(s) only, ports, IPv6, targets.
#include "fallbacksvc/http_url.h"

#include <gtest/gtest.h>

namespace luna::fallbacksvc {
namespace {

TEST(HttpUrlTest, SplitsSchemeHostPortAndTarget) {
  // The parts the poller connects with, and the Host header it sends.
  auto u = ParseHttpUrl("https://api.example.com:8443/v2/quota?x=1#frag");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "api.example.com");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/v2/quota?x=1");
  EXPECT_EQ(u->HostHeader(), "api.example.com:8443");

  auto plain = ParseHttpUrl("http://127.0.0.1");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(plain->port, 80);
  EXPECT_EQ(plain->target, "/");
  EXPECT_EQ(plain->HostHeader(), "127.0.0.1");

  auto v6 = ParseHttpUrl("http://[::1]:9000/health");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
  EXPECT_EQ(v6->HostHeader(), "[::1]:9000");
}

TEST(HttpUrlTest, RefusesWhatItCannotFetch) {
  // Other schemes, empty hosts, bad ports and credentials in the URL are refused with the reason.
  EXPECT_EQ(ParseHttpUrl("ftp://x").status().message(), "not an http:// or https:// URL: \"ftp://x\"");
  EXPECT_EQ(ParseHttpUrl("http://").status().message(), "empty host in \"http://\"");
  EXPECT_EQ(ParseHttpUrl("http://x:0").status().message(), "bad port in \"http://x:0\"");
  EXPECT_EQ(ParseHttpUrl("http://x:http").status().message(), "bad port in \"http://x:http\"");
  EXPECT_FALSE(ParseHttpUrl("http://user:pw@x/").ok());
  EXPECT_FALSE(ParseHttpUrl("http://[::1/").ok());
}

}  // namespace
}  // namespace luna::fallbacksvc
