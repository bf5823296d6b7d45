// Unit: the dashboard's session table — expiry by idle time and by lifetime, the CSRF token check,
// renewal, sign-out and the size bound — with time passed in.
#include "gateway/api/dashboard_sessions.h"

#include <gtest/gtest.h>

namespace luna::gateway {
namespace {

using std::chrono::seconds;

DashboardSessions::TimePoint T(int s) { return DashboardSessions::TimePoint(seconds(1000 + s)); }

// A session gives its credential back only with its own CSRF token, while it is live.
TEST(DashboardSessionsTest, CredentialNeedsTheSessionsCsrfToken) {
  DashboardSessions s({seconds(60), seconds(600), 10});
  auto a = s.Open("sk-admin", T(0));
  EXPECT_NE(a.id, a.csrf_token);
  std::string_view good = a.csrf_token, bad = "nope";
  EXPECT_EQ(s.Use(a.id, &good, T(1)).value_or(""), "sk-admin");
  EXPECT_FALSE(s.Use(a.id, &bad, T(1)));
  EXPECT_FALSE(s.Use("other", &good, T(1)));
  EXPECT_FALSE(s.Use("", &good, T(1)));
  EXPECT_EQ(s.Use(a.id, nullptr, T(1)).value_or(""), "sk-admin");
}

// Use refreshes the idle timer; past the lifetime the session ends however busy it was.
TEST(DashboardSessionsTest, ExpiresWhenIdleAndAtTheEndOfItsLifetime) {
  DashboardSessions s({seconds(60), seconds(150), 10});
  auto a = s.Open("sk-admin", T(0));
  EXPECT_TRUE(s.Use(a.id, nullptr, T(59)));
  EXPECT_TRUE(s.Use(a.id, nullptr, T(118)));  // 59 s after the last use
  EXPECT_FALSE(s.Use(a.id, nullptr, T(150)));  // lifetime over
  auto b = s.Open("sk-admin", T(200));
  EXPECT_FALSE(s.Use(b.id, nullptr, T(260)));  // idle for 60 s
  EXPECT_EQ(s.size(), 0u);
}

// A renewed token replaces the old one; Close ends the session.
TEST(DashboardSessionsTest, RenewReplacesTokenAndCloseEndsSession) {
  DashboardSessions s({seconds(60), seconds(600), 10});
  auto a = s.Open("sk-admin", T(0));
  auto renewed = s.RenewCsrf(a.id, T(1));
  ASSERT_TRUE(renewed);
  std::string_view old_token = a.csrf_token, new_token = *renewed;
  EXPECT_FALSE(s.Use(a.id, &old_token, T(2)));
  EXPECT_TRUE(s.Use(a.id, &new_token, T(2)));
  EXPECT_FALSE(s.RenewCsrf("unknown", T(2)));
  EXPECT_TRUE(s.Close(a.id));
  EXPECT_FALSE(s.Close(a.id));
  EXPECT_FALSE(s.Use(a.id, &new_token, T(3)));
}

// Past the bound the least recently used session goes first.
TEST(DashboardSessionsTest, BoundDropsLeastRecentlyUsed) {
  DashboardSessions s({seconds(600), seconds(6000), 2});
  auto a = s.Open("a", T(0));
  auto b = s.Open("b", T(1));
  EXPECT_TRUE(s.Use(a.id, nullptr, T(2)));
  auto c = s.Open("c", T(3));
  EXPECT_EQ(s.size(), 2u);
  EXPECT_TRUE(s.Use(a.id, nullptr, T(4)));
  EXPECT_FALSE(s.Use(b.id, nullptr, T(4)));
  EXPECT_TRUE(s.Use(c.id, nullptr, T(4)));
}

// Cookie headers as browsers send them.
TEST(DashboardSessionsTest, CookieValueFindsTheNamedCookie) {
  EXPECT_EQ(CookieValue("luna_dashboard=abc", "luna_dashboard"), "abc");
  EXPECT_EQ(CookieValue("x=1; luna_dashboard=abc; y=2", "luna_dashboard"), "abc");
  EXPECT_EQ(CookieValue("x_luna_dashboard=abc", "luna_dashboard"), "");
  EXPECT_EQ(CookieValue("", "luna_dashboard"), "");
  EXPECT_EQ(CookieValue("luna_dashboard=", "luna_dashboard"), "");
}

}  // namespace
}  // namespace luna::gateway
