// The dashboard's browser test, end to end: starts the real fake upstream, authsvc, usagesvc,
// fallbacksvc and gateway (tests/integration/cluster.h), makes usage through the gateway with two
// client keys, then runs tests/dashboard/run.sh (playwright-core driving Debian's headless Chromium,
// dashboard.test.mjs) against that gateway, and stops everything by PID. Skips only when Chromium is
// not installed (deploy/install-deps.sh installs it).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster.h"

namespace luna::testing {
namespace {

using json = nlohmann::json;

TEST(DashboardBrowserTest, SignInChartsKeysAndFallbackInChromium) {
  const char* chromium_env = std::getenv("LUNA_CHROMIUM");
  std::string chromium = chromium_env != nullptr ? chromium_env : "/usr/bin/chromium";
  if (access(chromium.c_str(), X_OK) != 0) {
    GTEST_SKIP() << "Chromium not found at " << chromium << ": run deploy/install-deps.sh (Debian's chromium package)";
  }
  int fb_port = UnusedPort();
  Cluster c(Cluster::Options{.gateway_env = {{"FALLBACKSVC_ADDR", "127.0.0.1:" + std::to_string(fb_port)}}});
  c.StartUpstream();
  c.StartAuth();
  c.StartUsage();
  json cfg = {{"enabled", true},
              {"health_poll_interval_seconds", 1},
              {"min_remaining_fraction", 0.1},
              {"tiers",
               {{{"name", "opus"}, {"model", "claude-opus"}, {"type", "antigravity"}},
                {{"name", "sonnet"}, {"model", "claude-sonnet"}, {"type", "antigravity"}}}}};
  // Quotas the fake upstream reports on /health, for fallbacksvc's poll (and the Fallback view).
  json quota = {{"accounts",
                 {{{"email", "a@test"},
                   {"models", {{"claude-opus", {{"remainingFraction", 0.62}}}, {"claude-sonnet", {{"remainingFraction", 0.35}}}}}}}}};
  ASSERT_EQ(Fetch(c.upstream_port(), "POST", "/_control/quota", {{"content-type", "application/json"}}, quota.dump()).status,
            200);
  auto fallback = StartFallbackService(c, cfg.dump(), &fb_port);
  c.StartGateway();
  auto health = [&] { return json::parse(c.Gateway("GET", "/health").body); };
  ASSERT_TRUE(Eventually([&] { return health()["services"]["fallbacksvc"]["watch"] == "synced"; })) << health().dump();
  auto fallback_status = [&] {
    auto r = c.Gateway("GET", "/admin/fallback", {{"x-api-key", c.admin_key()}});
    return r.status == 200 ? json::parse(r.body) : json::object();
  };
  ASSERT_TRUE(Eventually([&] {
    json st = fallback_status();
    return st.contains("tiers") && st["tiers"][0]["remaining"] == "62%" && st["tiers"][1]["remaining"] == "35%";
  })) << fallback_status().dump();

  // Usage: alpha asks opus 3 times, beta asks sonnet twice, with distinct token counts.
  std::string alpha = c.CreateKey("agent-alpha");
  std::string beta = c.CreateKey("agent-beta");
  c.SetModel("claude-opus", R"({"usage":{"input_tokens":1200,"output_tokens":340,"cache_read_input_tokens":5000}})");
  c.SetModel("claude-sonnet", R"({"usage":{"input_tokens":700,"output_tokens":150,"cache_creation_input_tokens":90}})");
  auto ask = [&](const std::string& key, const std::string& model) {
    json b = {{"model", model}, {"max_tokens", 16}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    return c.Gateway("POST", "/v1/messages", {{"x-api-key", key}, {"content-type", "application/json"}}, b.dump()).status;
  };
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ask(alpha, "claude-opus"), 200);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(ask(beta, "claude-sonnet"), 200);
  auto totals = [&] {
    auto r = c.Gateway("GET", "/admin/usage", {{"x-api-key", c.admin_key()}});
    return r.status == 200 ? json::parse(r.body) : json::object();
  };
  ASSERT_TRUE(Eventually([&] { return totals()["total_requests"] == 5; }, std::chrono::seconds(20))) << totals().dump();
  // beta gets a policy: the keys view shows it and its budget.
  ASSERT_EQ(c.Gateway("PUT", "/admin/keys/" + beta + "/policy", {{"x-api-key", c.admin_key()}},
                      R"({"models":["claude-sonnet"],"tokens_per_day":100000})")
                .status,
            200);
  json expect = {{"requests", 5},
                 {"input", 3 * 1200 + 2 * 700},
                 {"output", 3 * 340 + 2 * 150},
                 {"cache_read", 3 * 5000},
                 {"rows", 2},
                 {"quota", {{"opus", "62%"}, {"sonnet", "35%"}}},
                 {"keys", {"agent-alpha", "agent-beta"}},
                 {"policy", {{"key", "agent-beta"}, {"shows", {"claude-sonnet", "100,000"}}}}};

  const char* src = LUNA_DASHBOARD_TEST_DIR;
  std::string shots = std::string(LUNA_DASHBOARD_BUILD_DIR) + "/screenshots";
  std::map<std::string, std::string> env = {
      {"PATH", std::getenv("PATH") != nullptr ? std::getenv("PATH") : "/usr/bin:/bin"},
      {"HOME", c.dir().path()},
      {"LUNA_CHROMIUM", chromium},
      {"LUNA_DASH_URL", "http://127.0.0.1:" + std::to_string(c.gateway_port())},
      {"LUNA_DASH_ADMIN_KEY", c.admin_key()},
      {"LUNA_DASH_CLIENT_KEY", alpha},
      {"LUNA_DASH_UPSTREAM", "http://127.0.0.1:" + std::to_string(c.upstream_port())},
      {"LUNA_DASH_EXPECT", expect.dump()},
      {"LUNA_DASH_SCREENSHOTS", shots}};
  if (const char* cache = std::getenv("npm_config_cache")) env["npm_config_cache"] = cache;
  std::string log = c.dir().File("browser.log");
  Process browser("/bin/bash", {std::string(src) + "/run.sh", std::string(LUNA_DASHBOARD_BUILD_DIR) + "/npm"}, env, log);
  // run.sh bounds itself (npm ci 100 s, the test 90 s); this is the backstop.
  bool done = Eventually([&] { return !browser.Running(); }, std::chrono::seconds(200));
  int status = browser.Stop(SIGKILL);
  std::string out = browser.Log();
  std::cout << out << std::endl;
  ASSERT_TRUE(done) << "the browser test did not finish";
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "browser test failed (status " << status << ")";
  fallback->Stop(SIGTERM, std::chrono::seconds(10));
}

}  // namespace
}  // namespace luna::testing
