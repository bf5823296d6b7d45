// Integration: per-key policies end to end — the real gateway(s), authsvc, usagesvc, fallbacksvc and
// fake upstream. Each limit at its edge, in both API formats; fallback never leaves the allow-list;
// changes made while traffic flows take effect within a second; several gateways keep one budget.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/cluster.h"

namespace luna::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class KeyPolicyTest : public ::testing::Test {
 protected:
  KeyPolicyTest()
      : c_(Cluster::Options{.gateway_env = {{"FALLBACKSVC_ADDR", "127.0.0.1:" + std::to_string(fb_port_)}}}) {}

  void SetUp() override {
    c_.StartUpstream();
    c_.StartAuth();
    c_.StartUsage();
    json cfg = {{"enabled", true},
                {"health_poll_interval_seconds", 1},
                {"tiers",
                 {{{"name", "opus"}, {"model", "claude-opus"}, {"type", "antigravity"}},
                  {{"name", "sonnet"}, {"model", "claude-sonnet"}, {"type", "antigravity"}}}}};
    fallback_ = StartFallbackService(c_, cfg.dump(), &fb_port_);
    c_.StartGateway();
    // Every answer costs 30 tokens (10 in, 20 out) and 5 cache tokens.
    for (const char* m : {"claude-opus", "claude-sonnet", "claude-haiku", "gpt-4o"}) {
      c_.SetModel(m, R"({"usage": {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 5}})");
    }
    ASSERT_TRUE(Eventually([&] { return Health()["services"]["fallbacksvc"]["watch"] == "synced"; }));
  }
  void TearDown() override {
    if (fallback_) fallback_->Stop(SIGTERM, 10s);
  }

  json Health() { return json::parse(c_.Gateway("GET", "/health").body); }
  Headers Admin() { return {{"x-api-key", c_.admin_key()}, {"content-type", "application/json"}}; }

  // Creates a key with `policy` through POST /admin/keys; returns the full key (and its id in *id).
  std::string CreateKey(const json& policy, std::string* id = nullptr) {
    auto r = c_.Gateway("POST", "/admin/keys", Admin(), json{{"name", "limited"}, {"policy", policy}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    json j = json::parse(r.body);
    if (id != nullptr) *id = j["id"];
    return j["api_key"];
  }
  HttpResponse SetPolicy(const std::string& id, const json& policy, const std::string& method = "PUT") {
    return c_.Gateway(method, "/admin/keys/" + id + "/policy", Admin(), policy.dump());
  }
  json KeyDetail(const std::string& id) {
    auto r = c_.Gateway("GET", "/admin/keys/" + id, Admin());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }

  HttpResponse Ask(const std::string& key, const std::string& model, bool stream = false, int port = 0) {
    json b = {{"model", model}, {"max_tokens", 100}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    if (stream) b["stream"] = true;
    Headers h = {{"x-api-key", key}, {"content-type", "application/json"}};
    if (port != 0) return Fetch(port, "POST", "/v1/messages", h, b.dump());
    return c_.Gateway("POST", "/v1/messages", h, b.dump());
  }
  HttpResponse AskOpenAI(const std::string& key, const std::string& model) {
    json b = {{"model", model}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    return c_.Gateway("POST", "/v1/chat/completions", {{"authorization", "Bearer " + key}}, b.dump());
  }
  // The models the fake upstream was asked for, in order.
  std::vector<std::string> UpstreamModels() {
    std::vector<std::string> out;
    json record = json::parse(c_.UpstreamRequests());
    for (const auto& r : record["requests"]) {
      if (!r.contains("body")) continue;
      auto b = json::parse(r["body"].get<std::string>(), nullptr, false);
      if (b.is_object() && b.contains("model")) out.push_back(b["model"]);
    }
    return out;
  }
  // The ledger's total tokens (input + output) of one key, once every gateway has delivered its usage.
  int64_t LedgerTokens(const std::string& id) {
    json u = json::parse(c_.Gateway("GET", "/admin/keys/" + id + "/usage", Admin()).body, nullptr, false);
    return u["usage"]["total_input"].get<int64_t>() + u["usage"]["total_output"].get<int64_t>();
  }

  int fb_port_ = UnusedPort();
  Cluster c_;
  std::unique_ptr<Process> fallback_;
};

std::string ErrorMessage(const HttpResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.contains("error") && j["error"].contains("message")) return j["error"]["message"];
  return "";
}

// A key limited to some models: others get 403 naming the model, in the caller's format; /v1/models
// lists only what it may use; fallback never takes it to a model outside its list.
TEST_F(KeyPolicyTest, ModelAllowListAndFallback) {
  std::string opus_only = CreateKey({{"models", {"claude-opus"}}});
  std::string claude_any = CreateKey({{"models", {"claude-*"}}});

  auto r = Ask(opus_only, "claude-sonnet");
  ASSERT_EQ(r.status, 403) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["type"], "error");
  EXPECT_EQ(j["error"]["type"], "permission_error");
  EXPECT_NE(ErrorMessage(r).find("'claude-sonnet'"), std::string::npos) << r.body;
  EXPECT_NE(ErrorMessage(r).find("claude-opus"), std::string::npos) << "the message lists what it may use";
  auto o = AskOpenAI(opus_only, "gpt-4o");
  ASSERT_EQ(o.status, 403) << o.body;
  EXPECT_NE(json::parse(o.body)["error"]["message"].get<std::string>().find("'gpt-4o'"), std::string::npos);
  EXPECT_FALSE(json::parse(o.body).contains("type")) << "OpenAI shape: " << o.body;
  EXPECT_EQ(UpstreamModels().size(), 0u) << "a refused request never reaches the upstream";

  EXPECT_EQ(Ask(opus_only, "claude-opus").status, 200);
  EXPECT_EQ(Ask(claude_any, "claude-haiku").status, 200);
  EXPECT_EQ(Ask(claude_any, "gpt-4o").status, 403);

  auto models = c_.Gateway("GET", "/v1/models", {{"x-api-key", opus_only}});
  ASSERT_EQ(models.status, 200) << models.body;
  json list = json::parse(models.body)["data"];
  ASSERT_EQ(list.size(), 1u) << models.body;
  EXPECT_EQ(list[0]["id"], "claude-opus");

  // opus answers 429: the unrestricted chain would go on to sonnet, which opus_only may not use.
  c_.SetModel("claude-opus", R"({"mode":"429","retry_after":30})");
  size_t before = UpstreamModels().size();
  r = Ask(opus_only, "claude-opus");
  EXPECT_NE(r.status, 200) << r.body;
  EXPECT_NE(ErrorMessage(r).find("not allowed for this key"), std::string::npos) << r.body;
  auto calls = UpstreamModels();
  ASSERT_GT(calls.size(), before);
  for (size_t i = before; i < calls.size(); ++i) EXPECT_EQ(calls[i], "claude-opus") << "no call outside the list";
  // A key allowed every claude-* model is served by sonnet.
  r = Ask(claude_any, "claude-opus", /*stream=*/true);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-luna-tier"), "sonnet");
}

// Requests per minute: the bucket's size passes, the next is refused with retry-after, in both formats.
TEST_F(KeyPolicyTest, RequestsPerMinuteAtItsEdge) {
  std::string key = CreateKey({{"requests_per_minute", 3}});
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Ask(key, "claude-haiku", i == 1).status, 200) << i;
  auto r = Ask(key, "claude-haiku");
  ASSERT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "rate_limit_error");
  EXPECT_NE(ErrorMessage(r).find("3 requests per minute"), std::string::npos) << r.body;
  int retry = std::stoi(r.Header("retry-after"));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 20);
  auto o = AskOpenAI(key, "claude-haiku");
  ASSERT_EQ(o.status, 429) << o.body;
  EXPECT_FALSE(o.Header("retry-after").empty());
  EXPECT_EQ(UpstreamModels().size(), 3u);
}

// Tokens per minute: admitted while any is left (so one answer may overshoot), then refused.
TEST_F(KeyPolicyTest, TokensPerMinuteAtItsEdge) {
  std::string key = CreateKey({{"tokens_per_minute", 50}});
  ASSERT_EQ(Ask(key, "claude-haiku").status, 200);  // 50 -> 20 left
  ASSERT_EQ(Ask(key, "claude-haiku").status, 200);  // 20 -> -10
  auto r = Ask(key, "claude-haiku");
  ASSERT_EQ(r.status, 429) << r.body;
  EXPECT_NE(ErrorMessage(r).find("50 tokens per minute"), std::string::npos) << r.body;
  EXPECT_GE(std::stoi(r.Header("retry-after")), 12);  // 11 tokens at 50 per minute
}

// Day and month budgets: refused once spent, saying which budget and when it resets; the overshoot is
// at most one request; the admin API shows what is left.
TEST_F(KeyPolicyTest, BudgetsAtTheirEdge) {
  std::string day_id, month_id;
  std::string day_key = CreateKey({{"tokens_per_day", 100}}, &day_id);
  std::string month_key = CreateKey({{"tokens_per_month", 50}}, &month_id);
  int ok = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = Ask(day_key, "claude-haiku", i % 2 == 0);
    if (r.status != 200) {
      ASSERT_EQ(r.status, 429) << r.body;
      EXPECT_NE(ErrorMessage(r).find("Daily token budget"), std::string::npos) << r.body;
      EXPECT_NE(ErrorMessage(r).find("of 100 tokens used"), std::string::npos) << r.body;
      EXPECT_NE(ErrorMessage(r).find("resets at 20"), std::string::npos) << r.body;
      EXPECT_GE(std::stoi(r.Header("retry-after")), 1);
      break;
    }
    ++ok;
  }
  EXPECT_EQ(ok, 4) << "0, 30, 60 and 90 tokens spent are under 100; 120 is not";
  auto m1 = AskOpenAI(month_key, "claude-haiku");
  auto m2 = AskOpenAI(month_key, "claude-haiku");
  auto m3 = AskOpenAI(month_key, "claude-haiku");
  EXPECT_EQ(m1.status, 200);
  EXPECT_EQ(m2.status, 200);
  ASSERT_EQ(m3.status, 429) << m3.body;
  EXPECT_NE(json::parse(m3.body)["error"]["message"].get<std::string>().find("Monthly token budget"), std::string::npos);

  // The admin view: usagesvc's totals reach the gateway, and what is left is shown.
  ASSERT_TRUE(Eventually([&] { return KeyDetail(day_id)["budgets"]["day"]["used"] == 120; })) << KeyDetail(day_id).dump();
  json d = KeyDetail(day_id);
  EXPECT_EQ(d["budgets"]["day"]["limit"], 100);
  EXPECT_EQ(d["budgets"]["day"]["remaining"], 0);
  EXPECT_EQ(d["budgets"]["source"], "usagesvc");
  EXPECT_FALSE(d["budgets"].contains("month"));
  EXPECT_EQ(d["policy"]["tokens_per_day"], 100);
  EXPECT_EQ(LedgerTokens(day_id), 120);

  // Raising the budget lets the key in again; cache tokens count once asked to.
  ASSERT_EQ(SetPolicy(day_id, {{"tokens_per_day", 150}}).status, 200);
  ASSERT_TRUE(Eventually([&] { return Ask(day_key, "claude-haiku").status == 200; }, 2s));
  ASSERT_EQ(SetPolicy(day_id, {{"tokens_per_day", 150}, {"count_cache_tokens", true}}).status, 200);
  // 150 + 5 * 5 cache tokens = 175 >= 150.
  ASSERT_TRUE(Eventually([&] { return Ask(day_key, "claude-haiku").status == 429; }, 2s));
}

// An expired key is refused; a policy changed while traffic flows takes effect within a second, and
// a PATCH changes only the fields it names.
TEST_F(KeyPolicyTest, ChangesWhileTrafficFlowsAndExpiry) {
  std::string expired = CreateKey({{"expires_at", "2020-01-01T00:00:00Z"}});
  auto r = Ask(expired, "claude-haiku");
  ASSERT_EQ(r.status, 403) << r.body;
  EXPECT_NE(ErrorMessage(r).find("expired at 2020-01-01T00:00:00Z"), std::string::npos) << r.body;

  std::string id;
  std::string key = CreateKey({{"requests_per_minute", 100000}}, &id);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> first_refusal_ms{0};
  std::atomic<int> served{0};
  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  std::thread traffic([&] {
    for (int i = 0; i < 2000 && !stop; ++i) {
      auto a = Ask(key, "claude-haiku");
      if (a.status == 200) ++served;
      if (a.status == 403 && first_refusal_ms == 0) first_refusal_ms = now_ms();
    }
  });
  ASSERT_TRUE(Eventually([&] { return served > 3; }));
  int64_t changed_ms = now_ms();
  auto p = SetPolicy(id, {{"models", {"claude-opus"}}}, "PATCH");
  ASSERT_EQ(p.status, 200) << p.body;
  json pj = json::parse(p.body);
  EXPECT_EQ(pj["policy"]["requests_per_minute"], 100000) << "PATCH keeps the fields it does not name";
  EXPECT_EQ(pj["policy"]["models"], json({"claude-opus"}));
  ASSERT_TRUE(Eventually([&] { return first_refusal_ms != 0; }, 5s));
  stop = true;
  traffic.join();
  EXPECT_LT(first_refusal_ms - changed_ms, 1000) << "the new policy must be in force within a second";

  // Lifting the list (null) and setting an expiry a moment ahead.
  int64_t soon = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                     .count() + 2;
  char when[32];
  std::time_t t = soon;
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  ASSERT_EQ(SetPolicy(id, {{"models", nullptr}, {"expires_at", when}}, "PATCH").status, 200);
  ASSERT_TRUE(Eventually([&] { return Ask(key, "claude-haiku").status == 200; }, 2s));
  ASSERT_TRUE(Eventually([&] { return Ask(key, "claude-haiku").status == 403; }, 5s));
  EXPECT_EQ(KeyDetail(id)["expired"], true);
}

// Policies are validated, kept in the keys file across an authsvc restart, and only admins set them.
TEST_F(KeyPolicyTest, AdminApiValidationAndPersistence) {
  auto bad = c_.Gateway("POST", "/admin/keys", Admin(), R"({"name":"x","policy":{"tokens_per_day":-1}})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("policy.tokens_per_day"), std::string::npos) << bad.body;
  bad = c_.Gateway("POST", "/admin/keys", Admin(), R"({"name":"x","policy":{"rpm":5}})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("policy.rpm: unknown field"), std::string::npos) << bad.body;

  std::string id;
  std::string key = CreateKey({{"models", {"claude-*"}}, {"tokens_per_month", 1000000}}, &id);
  EXPECT_EQ(SetPolicy(id, {{"models", "claude"}}).status, 400);
  EXPECT_EQ(SetPolicy(id, json::array()).status, 400);
  EXPECT_EQ(c_.Gateway("PUT", "/admin/keys/" + id + "/policy", {{"x-api-key", key}}, "{}").status, 403);
  EXPECT_EQ(c_.Gateway("PUT", "/admin/keys/" + id + "/policy", {}, "{}").status, 401);
  EXPECT_EQ(SetPolicy("key_0000000000000000", json::object()).status, 404);

  auto list = c_.Gateway("GET", "/admin/keys", Admin());
  json keys = json::parse(list.body)["keys"];
  bool found = false;
  for (const auto& k : keys) {
    if (k["id"] != id) continue;
    found = true;
    EXPECT_EQ(k["policy"]["models"], json({"claude-*"}));
    EXPECT_EQ(k["budgets"]["month"]["limit"], 1000000);
  }
  EXPECT_TRUE(found) << list.body;
  std::string file = ReadAll(c_.keys_file());
  EXPECT_NE(file.find("\"tokens_per_month\": 1000000"), std::string::npos) << file;
  EXPECT_EQ(file.find(key), std::string::npos) << "the keys file never holds a usable key";

  c_.KillAuth();
  c_.StartAuth();
  ASSERT_TRUE(Eventually([&] { return Health()["services"]["authsvc"]["watch"] == "synced"; }));
  EXPECT_EQ(KeyDetail(id)["policy"]["models"], json({"claude-*"}));
  EXPECT_EQ(Ask(key, "gpt-4o").status, 403) << "the restarted authsvc streams the same policy";
  EXPECT_EQ(Ask(key, "claude-haiku").status, 200);
  // An empty PUT lifts every limit.
  ASSERT_EQ(SetPolicy(id, json::object()).status, 200);
  ASSERT_TRUE(Eventually([&] { return Ask(key, "gpt-4o").status == 200; }, 2s));
}

// Two gateways, one authsvc and one usagesvc: a client alternating between them stays within the
// budget plus one request per gateway.
TEST_F(KeyPolicyTest, SeveralGatewaysShareOneBudget) {
  // Each request takes 300 ms, longer than usage takes to reach the other gateway (shipped every
  // 100 ms, pushed every 50 ms), so a gateway misses at most the other's last request.
  c_.SetModel("claude-slow", R"({"delay_ms": 300, "usage": {"input_tokens": 10, "output_tokens": 20}})");
  int port2 = 0;
  auto second = c_.StartExtraGateway("gw2", {{"USAGE_SPOOL_FILE", c_.dir().File("spool-gw2.log")}}, &port2);
  std::string id;
  std::string key = CreateKey({{"tokens_per_day", 300}}, &id);
  ASSERT_TRUE(Eventually([&] {
    auto h = Fetch(port2, "GET", "/health");
    return h.status == 200 && json::parse(h.body)["services"]["authsvc"]["watch"] == "synced";
  }));
  int ok = 0;
  int refused_in_a_row = 0;
  for (int i = 0; i < 40 && refused_in_a_row < 2; ++i) {
    auto r = Ask(key, "claude-slow", false, i % 2 == 0 ? c_.gateway_port() : port2);
    if (r.status == 200) {
      ++ok;
      refused_in_a_row = 0;
    } else {
      ASSERT_EQ(r.status, 429) << r.body;
      ++refused_in_a_row;
    }
  }
  EXPECT_EQ(refused_in_a_row, 2) << "both gateways end up refusing";
  EXPECT_GE(ok * 30, 300) << "the budget can be used whole";
  EXPECT_LE(ok * 30, 300 + 2 * 30) << "overshoot of at most one request per gateway";
  ASSERT_TRUE(Eventually([&] { return LedgerTokens(id) == ok * 30; })) << "every admitted request is in the ledger";
  second->Stop(SIGTERM, 10s);
}

// No secret in any log line: after keys are made, used, mistyped, refused, limited, disabled and
// deleted, through both APIs and the admin API, no service's log holds a full key or the admin key.
TEST_F(KeyPolicyTest, NoSecretInAnyLog) {
  std::string id;
  std::string limited = CreateKey({{"models", {"claude-haiku"}}, {"requests_per_minute", 2}}, &id);
  std::string plain = c_.CreateKey("plain");
  const std::string unknown = "sk-unknown-0123456789abcdefghijklmnop";
  std::vector<std::string> secrets = {limited, plain, unknown, c_.admin_key()};
  EXPECT_EQ(Ask(limited, "claude-haiku").status, 200);
  EXPECT_EQ(Ask(limited, "claude-opus").status, 403);
  Ask(limited, "claude-haiku");
  EXPECT_EQ(Ask(limited, "claude-haiku").status, 429);
  EXPECT_EQ(AskOpenAI(plain, "gpt-4o").status, 200);
  EXPECT_EQ(Ask(unknown, "claude-haiku").status, 401);
  EXPECT_EQ(c_.Gateway("GET", "/admin/keys", {{"x-api-key", plain}}).status, 403);
  EXPECT_EQ(c_.Gateway("GET", "/admin/keys", {{"x-api-key", unknown}}).status, 401);
  EXPECT_EQ(c_.Gateway("GET", "/admin/usage", {{"authorization", "Bearer " + c_.admin_key()}}).status, 200);
  EXPECT_EQ(c_.SetEnabled(plain, false), 200);
  EXPECT_EQ(c_.Gateway("DELETE", "/admin/keys/" + limited, Admin()).status, 200);
  EXPECT_EQ(c_.Gateway("GET", "/admin/keys/" + plain, Admin()).status, 200);
  ASSERT_TRUE(Eventually([&] { return Health()["services"]["usagesvc"]["events_pending"] == 0; }));
  std::map<std::string, std::string> logs = {{"gateway", c_.gateway()->Log()},
                                             {"authsvc", c_.auth()->Log()},
                                             {"usagesvc", c_.usage()->Log()},
                                             {"fallbacksvc", fallback_->Log()}};
  for (const auto& [name, log] : logs) {
    EXPECT_FALSE(log.empty()) << name << " wrote no log: the check would prove nothing";
    for (const auto& secret : secrets) {
      EXPECT_EQ(log.find(secret), std::string::npos) << name << "'s log holds a secret (" << secret.substr(0, 8) << "…)";
      // Nor a long piece of one (a key cut for display is its first 9 characters at most).
      EXPECT_EQ(log.find(secret.substr(0, 16)), std::string::npos) << name << " logs 16+ characters of a secret";
    }
  }
  EXPECT_EQ(ReadAll(c_.keys_file()).find(plain), std::string::npos) << "the keys file never holds a usable key";
}

}  // namespace
}  // namespace luna::testing
