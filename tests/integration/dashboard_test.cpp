// Integration: the admin dashboard's serving and sign-in on the real gateway, authsvc and fake
// upstream — the page and its assets with their security and caching headers, sign-in refusing a
// wrong or a client key, the session cookie's flags, /admin/* opened by the cookie only together with
// the CSRF token, and sign-out ending the session. (tests/dashboard drives the page in Chromium.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "tests/integration/cluster.h"

namespace luna::testing {
namespace {

using json = nlohmann::json;

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    c_.StartUpstream();
    c_.StartAuth();
    c_.StartGateway();
  }

  HttpResponse SignIn(const std::string& key, const Headers& extra = {}) {
    Headers h = {{"content-type", "application/json"}};
    h.insert(h.end(), extra.begin(), extra.end());
    json body = {{"admin_key", key}};
    return c_.Gateway("POST", "/dashboard/api/session", h, body.dump());
  }
  // "luna_dashboard=<id>" from a Set-Cookie header.
  static std::string CookiePair(const HttpResponse& r) {
    std::string sc = r.Header("set-cookie");
    return sc.substr(0, sc.find(';'));
  }

  Cluster c_;
};

// The page and its hashed assets come with the right types, caching, CSP and framing headers, and
// the page has no inline script.
TEST_F(DashboardTest, PageAndAssetsAreServedWithSecurityAndCachingHeaders) {
  auto page = c_.Gateway("GET", "/dashboard");
  if (page.status == 404 && page.body.find("LUNA_BUILD_DASHBOARD=OFF") != std::string::npos) {
    GTEST_SKIP() << "the gateway was built without the page (LUNA_BUILD_DASHBOARD=OFF)";
  }
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.Header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(page.Header("cache-control"), "no-cache");
  std::string csp = page.Header("content-security-policy");
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_EQ(page.Header("x-frame-options"), "DENY");
  EXPECT_EQ(page.Header("x-content-type-options"), "nosniff");
  EXPECT_FALSE(page.Header("x-request-id").empty());
  // Every script element loads a file; no inline code, no credential in the page.
  std::regex script_tag("<script[^>]*>");
  int scripts = 0;
  for (auto it = std::sregex_iterator(page.body.begin(), page.body.end(), script_tag); it != std::sregex_iterator(); ++it) {
    ++scripts;
    EXPECT_NE(it->str().find(" src=\"/dashboard/assets/"), std::string::npos) << it->str();
  }
  EXPECT_EQ(scripts, 1);
  EXPECT_EQ(page.body.find(c_.admin_key()), std::string::npos);
  EXPECT_EQ(c_.Gateway("GET", "/dashboard/").status, 200);

  std::smatch m;
  ASSERT_TRUE(std::regex_search(page.body, m, std::regex("/dashboard/assets/app-[A-Z0-9]+\\.js"))) << page.body;
  std::string js_path = m.str();
  auto js = c_.Gateway("GET", js_path);
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.Header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.Header("cache-control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(js.Header("content-encoding"), "");
  EXPECT_GT(js.body.size(), 10000u);
  auto gz = c_.Gateway("GET", js_path, {{"accept-encoding", "gzip, deflate"}});
  ASSERT_EQ(gz.status, 200);
  EXPECT_EQ(gz.Header("content-encoding"), "gzip");
  EXPECT_LT(gz.body.size(), js.body.size() / 2);
  ASSERT_TRUE(std::regex_search(page.body, m, std::regex("/dashboard/assets/style-[A-Z0-9]+\\.css")));
  EXPECT_EQ(c_.Gateway("GET", m.str()).Header("content-type"), "text/css; charset=utf-8");

  EXPECT_EQ(c_.Gateway("GET", "/dashboard/assets/nothing.js").status, 404);
  EXPECT_EQ(c_.Gateway("POST", "/dashboard").status, 405);
}

// A wrong admin key and a client key are refused, and no cookie is set; a form post is refused.
TEST_F(DashboardTest, SignInRefusesWrongAndClientKeys) {
  auto wrong = SignIn("sk-admin-wrong");
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  EXPECT_EQ(wrong.Header("set-cookie"), "");
  std::string client_key = c_.CreateKey("agent");
  auto client = SignIn(client_key);
  EXPECT_EQ(client.status, 403) << client.body;
  EXPECT_EQ(client.Header("set-cookie"), "");
  auto form = c_.Gateway("POST", "/dashboard/api/session", {{"content-type", "application/x-www-form-urlencoded"}},
                         "admin_key=" + c_.admin_key());
  EXPECT_EQ(form.status, 415);
  EXPECT_EQ(form.Header("set-cookie"), "");
  EXPECT_EQ(SignIn("").status, 400);
  EXPECT_EQ(c_.Gateway("GET", "/dashboard/api/session").status, 401);
}

// Signing in sets an HttpOnly, SameSite=Strict cookie (Secure behind TLS); the cookie opens /admin/*
// only with the session's CSRF token; a reload's new token replaces the old; sign-out ends it all.
TEST_F(DashboardTest, SessionCookieOpensAdminApiWithCsrfTokenUntilSignOut) {
  auto in = SignIn(c_.admin_key());
  ASSERT_EQ(in.status, 200) << in.body;
  std::string set_cookie = in.Header("set-cookie");
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("Path=/"), std::string::npos) << set_cookie;
  EXPECT_EQ(set_cookie.find("Secure"), std::string::npos) << set_cookie;
  EXPECT_EQ(set_cookie.find(c_.admin_key()), std::string::npos);
  EXPECT_EQ(in.Header("cache-control"), "no-store");
  std::string cookie = CookiePair(in);
  std::string csrf = json::parse(in.body)["csrf_token"];
  ASSERT_GE(csrf.size(), 40u);

  auto keys = c_.Gateway("GET", "/admin/keys", {{"cookie", cookie}, {"x-csrf-token", csrf}});
  EXPECT_EQ(keys.status, 200) << keys.body;
  EXPECT_EQ(c_.Gateway("GET", "/admin/keys", {{"cookie", cookie}}).status, 401);
  EXPECT_EQ(c_.Gateway("GET", "/admin/keys", {{"cookie", cookie}, {"x-csrf-token", csrf + "x"}}).status, 401);
  EXPECT_EQ(c_.Gateway("GET", "/admin/keys", {{"cookie", "luna_dashboard=forged"}, {"x-csrf-token", csrf}}).status, 401);
  auto created = c_.Gateway("POST", "/admin/keys", {{"cookie", "other=1; " + cookie}, {"x-csrf-token", csrf}},
                            R"({"name":"from-dashboard"})");
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(json::parse(created.body)["name"], "from-dashboard");

  // A reload asks for the session again: a new token, and the old one stops working.
  auto again = c_.Gateway("GET", "/dashboard/api/session", {{"cookie", cookie}});
  ASSERT_EQ(again.status, 200) << again.body;
  std::string csrf2 = json::parse(again.body)["csrf_token"];
  EXPECT_NE(csrf2, csrf);
  EXPECT_EQ(c_.Gateway("GET", "/admin/usage", {{"cookie", cookie}, {"x-csrf-token", csrf}}).status, 401);
  EXPECT_EQ(c_.Gateway("GET", "/admin/keys", {{"cookie", cookie}, {"x-csrf-token", csrf2}}).status, 200);

  // Sign-out needs the token too, clears the cookie, and the session is gone.
  EXPECT_EQ(c_.Gateway("DELETE", "/dashboard/api/session", {{"cookie", cookie}}).status, 401);
  auto out = c_.Gateway("DELETE", "/dashboard/api/session", {{"cookie", cookie}, {"x-csrf-token", csrf2}});
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_NE(out.Header("set-cookie").find("Max-Age=0"), std::string::npos) << out.Header("set-cookie");
  EXPECT_EQ(c_.Gateway("GET", "/admin/keys", {{"cookie", cookie}, {"x-csrf-token", csrf2}}).status, 401);
  EXPECT_EQ(c_.Gateway("GET", "/dashboard/api/session", {{"cookie", cookie}}).status, 401);

  // Behind a TLS-terminating proxy the cookie is Secure.
  auto tls = SignIn(c_.admin_key(), {{"x-forwarded-proto", "https"}});
  ASSERT_EQ(tls.status, 200);
  EXPECT_NE(tls.Header("set-cookie").find("; Secure"), std::string::npos) << tls.Header("set-cookie");

  // Neither the admin key nor a session id reaches the gateway's log.
  c_.StopGateway();
  std::string log = c_.gateway()->Log();
  EXPECT_EQ(log.find(c_.admin_key()), std::string::npos);
  EXPECT_EQ(log.find(cookie.substr(cookie.find('=') + 1)), std::string::npos);
  EXPECT_NE(log.find("/dashboard/api/session"), std::string::npos);
}

// DASHBOARD=false: no page, no sign-in; the admin API is unchanged.
TEST_F(DashboardTest, SwitchedOffDashboardAnswers404) {
  c_.StopGateway();
  c_.SetGatewayEnv("DASHBOARD", "false");
  c_.StartGateway();
  EXPECT_EQ(c_.Gateway("GET", "/dashboard").status, 404);
  EXPECT_EQ(SignIn(c_.admin_key()).status, 404);
  EXPECT_EQ(c_.Gateway("GET", "/admin/keys", {{"x-api-key", c_.admin_key()}}).status, 200);
}

}  // namespace
}  // namespace luna::testing
