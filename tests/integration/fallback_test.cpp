// Integration: quota-aware fallback end to end — the real gateway, authsvc, fallbacksvc and fake
// upstream. A tier that fails is skipped within the same request and then cooled down; a tier low on
// quota is skipped before it fails; an OpenAI-format provider serves an Anthropic client; when nothing
// can answer the client learns why and when to come back.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster.h"

namespace luna::testing {
namespace {

using json = nlohmann::json;

class FallbackTest : public ::testing::Test {
 protected:
  FallbackTest()
      : c_(Cluster::Options{.gateway_env = {{"FALLBACKSVC_ADDR", "127.0.0.1:" + std::to_string(fb_port_)}}}) {}

  virtual std::string Config() const {
    json cfg = {{"enabled", true},
                {"health_poll_interval_seconds", 1},
                {"min_remaining_fraction", 0.1},
                {"tiers",
                 {{{"name", "opus"}, {"model", "claude-opus"}, {"type", "antigravity"}},
                  {{"name", "sonnet"}, {"model", "claude-sonnet"}, {"type", "antigravity"}},
                  {{"name", "gpt"},
                   {"model", "gpt-fallback"},
                   {"type", "openai"},
                   {"base_url", "http://127.0.0.1:" + std::to_string(c_.upstream_port()) + "/v1"},
                   {"api_key", "sk-external"},
                   {"max_tokens_limit", 100}}}}};
    return cfg.dump();
  }

  void SetUp() override {
    c_.StartUpstream();
    c_.StartAuth();
    fallback_ = StartFallbackService(c_, Config(), &fb_port_, FallbackEnv());
    c_.StartGateway();
    key_ = c_.CreateKey("agent");
    ASSERT_TRUE(Eventually([&] { return Health()["services"]["fallbacksvc"]["watch"] == "synced"; }))
        << Health().dump();
  }
  virtual std::map<std::string, std::string> FallbackEnv() const { return {}; }
  void TearDown() override {
    if (fallback_) fallback_->Stop(SIGTERM, std::chrono::seconds(10));
  }

  json Health() { return json::parse(c_.Gateway("GET", "/health").body); }
  json Status() {
    auto r = c_.Gateway("GET", "/admin/fallback", {{"x-api-key", c_.admin_key()}});
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body);
  }
  json Tier(const std::string& name) {
    json status = Status();  // (a named local: iterating a temporary's member would dangle)
    for (const auto& t : status["tiers"]) {
      if (t["name"] == name) return t;
    }
    return json();
  }
  HttpResponse Ask(const std::string& model, bool stream = false, int max_tokens = 1000) {
    json b = {{"model", model}, {"max_tokens", max_tokens}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    if (stream) b["stream"] = true;
    return c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}}, b.dump());
  }
  // The models the fake upstream was asked for, in order, and where.
  std::vector<std::string> UpstreamCalls() {
    std::vector<std::string> out;
    json record = json::parse(c_.UpstreamRequests());
    for (const auto& r : record["requests"]) {
      if (!r.contains("body")) continue;
      auto b = json::parse(r["body"].get<std::string>(), nullptr, false);
      if (b.is_object() && b.contains("model")) out.push_back(r["target"].get<std::string>() + " " + b["model"].get<std::string>());
    }
    return out;
  }

  int fb_port_ = UnusedPort();
  Cluster c_;
  std::unique_ptr<Process> fallback_;
  std::string key_;
};

// A 429 on the requested tier: the same request is answered by the next tier, the client is told
// which, and fallbacksvc cools the failed tier down so the next request does not try it again.
TEST_F(FallbackTest, RateLimitedTierFailsOverThenCoolsDown) {
  c_.SetModel("claude-opus", R"({"mode":"429","retry_after":30})");
  auto r = Ask("claude-opus");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-luna-tier"), "sonnet");
  EXPECT_EQ(r.Header("x-luna-model"), "claude-sonnet");
  EXPECT_NE(r.Header("x-luna-fallback").find("429"), std::string::npos) << r.Header("x-luna-fallback");
  EXPECT_EQ(json::parse(r.body)["type"], "message");
  EXPECT_EQ(UpstreamCalls(), (std::vector<std::string>{"/v1/messages claude-opus", "/v1/messages claude-sonnet"}))
      << c_.UpstreamRequests();

  ASSERT_TRUE(Eventually([&] { return !Tier("opus")["cooldown"].is_null(); })) << Status().dump();
  auto opus = Tier("opus");
  EXPECT_FALSE(opus["available"].get<bool>());
  EXPECT_GE(opus["cooldown"]["seconds_left"].get<int>(), 25);
  auto plan = Status()["plans"]["claude-opus"]["tiers"];
  EXPECT_EQ(plan, json({"sonnet", "gpt"}));

  // /metrics counts the failure, the fallback and the request by the tier that answered.
  std::string metrics = c_.Gateway("GET", "/metrics").body;
  EXPECT_NE(metrics.find("luna_gateway_upstream_failures_total{kind=\"rate_limited\"} 1\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("luna_gateway_fallbacks_total{tier=\"sonnet\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("luna_gateway_requests_total{route=\"/v1/messages\",status=\"200\",model=\"claude-opus\","
                         "tier=\"sonnet\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("luna_gateway_fallbacksvc_synced 1\n"), std::string::npos) << metrics;

  // The gateway now starts at sonnet: opus is not asked again while it cools down.
  size_t before = UpstreamCalls().size();
  r = Ask("claude-opus", /*stream=*/true);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-luna-tier"), "sonnet");
  auto calls = UpstreamCalls();
  ASSERT_EQ(calls.size(), before + 1);
  EXPECT_EQ(calls.back(), "/v1/messages claude-sonnet");
}

// When the Anthropic tiers are down, an OpenAI-format provider serves the Anthropic client: converted
// both ways, its own credential, max_tokens_limit applied — for a JSON answer and for a stream.
TEST_F(FallbackTest, OpenAIProviderServesAnAnthropicClient) {
  c_.SetModel("claude-opus", R"({"mode":"503"})");
  c_.SetModel("claude-sonnet", R"({"mode":"529"})");
  c_.SetModel("gpt-fallback", R"({"text":"from the external provider"})");
  auto r = Ask("claude-opus");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-luna-tier"), "gpt");
  auto b = json::parse(r.body);
  EXPECT_EQ(b["type"], "message");
  EXPECT_EQ(b["content"][0]["text"], "from the external provider");
  auto recs = json::parse(c_.UpstreamRequests())["requests"];
  auto last = recs.back();
  EXPECT_EQ(last["target"], "/v1/chat/completions");
  EXPECT_EQ(last["headers"]["authorization"], "Bearer sk-external");
  auto sent = json::parse(last["body"].get<std::string>());
  EXPECT_EQ(sent["model"], "gpt-fallback");
  EXPECT_EQ(sent["max_tokens"], 100) << "the tier's max_tokens_limit";

  r = Ask("claude-sonnet", /*stream=*/true);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-luna-tier"), "gpt");
  EXPECT_NE(r.body.find("event: message_start"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("event: message_stop"), std::string::npos) << r.body;
}

// A tier whose quota falls below min_remaining_fraction is skipped before it fails, and used again
// once its quota is back.
TEST_F(FallbackTest, LowQuotaRoutesAroundProactively) {
  auto quota = [&](double opus) {
    json q = {{"accounts",
               {{{"email", "a@test"},
                 {"models", {{"claude-opus", {{"remainingFraction", opus}}}, {"claude-sonnet", {{"remainingFraction", 0.9}}}}}}}}};
    ASSERT_EQ(Fetch(c_.upstream_port(), "POST", "/_control/quota", {{"content-type", "application/json"}}, q.dump()).status,
              200);
  };
  quota(0.04);
  ASSERT_TRUE(Eventually([&] { return Tier("opus")["quota_low"] == true; }, std::chrono::seconds(10)))
      << Status().dump();
  auto r = Ask("claude-opus");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-luna-tier"), "sonnet");
  EXPECT_FALSE(r.Header("x-luna-fallback").empty());
  EXPECT_EQ(UpstreamCalls().back(), "/v1/messages claude-sonnet");
  for (const auto& call : UpstreamCalls()) EXPECT_NE(call, "/v1/messages claude-opus") << "opus was never tried";

  quota(0.8);
  ASSERT_TRUE(Eventually([&] { return Tier("opus")["quota_low"] == false; }, std::chrono::seconds(10)));
  r = Ask("claude-opus");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-luna-tier"), "opus");
  EXPECT_EQ(r.Header("x-luna-fallback"), "");
}

// Every tier failing: 429 in the caller's format naming each tier, with retry-after; then, while they
// all cool down, an immediate answer without asking any upstream.
TEST_F(FallbackTest, AllTiersExhausted) {
  c_.SetModel("claude-opus", R"({"mode":"429","retry_after":40})");
  c_.SetModel("claude-sonnet", R"({"mode":"429","retry_after":20})");
  c_.SetModel("gpt-fallback", R"({"mode":"credit"})");
  auto r = Ask("claude-opus");
  EXPECT_EQ(r.status, 429) << r.body;
  auto b = json::parse(r.body);
  EXPECT_EQ(b["type"], "error");
  EXPECT_EQ(b["error"]["type"], "rate_limit_error");
  std::string msg = b["error"]["message"];
  for (const char* tier : {"opus", "sonnet", "gpt"}) EXPECT_NE(msg.find(tier), std::string::npos) << msg;
  EXPECT_EQ(r.Header("retry-after"), "20");

  // The OpenAI client gets the same in its own shape.
  ASSERT_TRUE(Eventually([&] {
    auto s = Status();
    for (const auto& t : s["tiers"]) {
      if (t["cooldown"].is_null()) return false;
    }
    return true;
  })) << Status().dump();
  // fallbacksvc has them all cooling; wait until the gateway's own table (pushed a moment later) does.
  const uint64_t version = Status()["table_version"].get<uint64_t>();
  ASSERT_TRUE(Eventually([&] {
    json h = json::parse(c_.Gateway("GET", "/health").body, nullptr, false);
    return h.is_object() && h["services"]["fallbacksvc"].value("table_version", uint64_t{0}) >= version;
  })) << c_.Gateway("GET", "/health").body;
  size_t before = UpstreamCalls().size();
  r = c_.Gateway("POST", "/v1/chat/completions", {{"authorization", "Bearer " + key_}},
                 R"({"model":"claude-opus","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(json::parse(r.body)["error"]["message"].get<std::string>().find("cooling down") != std::string::npos)
      << r.body;
  int retry = std::stoi(r.Header("retry-after"));
  EXPECT_GE(retry, 10);
  EXPECT_LE(retry, 300);
  EXPECT_EQ(UpstreamCalls().size(), before) << "nothing is sent while every tier cools down";
}

// A model outside the chain goes to the default upstream as asked, and falls back to the chain when
// that fails.
TEST_F(FallbackTest, ModelOutsideTheChain) {
  auto r = Ask("claude-other");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-luna-model"), "claude-other");
  EXPECT_EQ(r.Header("x-luna-tier"), "");
  c_.SetModel("claude-other", R"({"mode":"503"})");
  r = Ask("claude-other");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-luna-tier"), "opus");
}

// fallbacksvc killed while requests flow: every request is still answered (from the last table,
// failing over within the request); /health says so; restarted, it remembers its cooldowns.
TEST_F(FallbackTest, FallbacksvcKilledDuringLoad) {
  c_.SetModel("claude-opus", R"({"mode":"529","retry_after":60})");
  for (int i = 0; i < 40; ++i) {
    if (i == 10) {
      ASSERT_TRUE(Eventually([&] { return !Tier("opus")["cooldown"].is_null(); }));
      fallback_->Stop(SIGKILL, std::chrono::seconds(5));
    }
    if (i == 25) {
      ASSERT_TRUE(Eventually([&] { return Health()["services"]["fallbacksvc"]["watch"] == "disconnected"; }));
      EXPECT_EQ(c_.Gateway("GET", "/health").status, 200) << "fallbacksvc is not needed to serve";
      EXPECT_EQ(c_.Gateway("GET", "/admin/fallback", {{"x-api-key", c_.admin_key()}}).status, 503);
      fallback_ = StartFallbackService(c_, "", &fb_port_);
    }
    auto r = Ask("claude-opus", i % 2 == 1);
    ASSERT_EQ(r.status, 200) << i << ": " << r.body;
    EXPECT_EQ(r.Header("x-luna-tier"), "sonnet") << i;
  }
  ASSERT_TRUE(Eventually([&] { return Health()["services"]["fallbacksvc"]["watch"] == "synced"; }));
  // The cooldown came back from the state file.
  auto opus = Tier("opus");
  ASSERT_FALSE(opus["cooldown"].is_null()) << Status().dump();
  EXPECT_NE(opus["cooldown"]["reason"].get<std::string>().find("529"), std::string::npos);
}

// Each kind of failure moves the request on, streaming or not, and cools the tier down with a reason
// that names it; retry-after sets the cooldown's length.
class FailureKindsTest : public FallbackTest {
 protected:
  static constexpr const char* kModes[] = {"429", "503", "529", "402", "credit"};
  std::string Config() const override {
    // backup first: every failing tier's plan goes on to it next.
    json tiers = json::array({{{"name", "backup"}, {"model", "claude-backup"}}});
    for (const char* mode : kModes) {
      for (const char* suffix : {"", "-s"}) {
        std::string name = std::string("m-") + mode + suffix;
        tiers.push_back({{"name", name}, {"model", name}});
      }
    }
    return json{{"enabled", true}, {"health_poll_interval_seconds", 60}, {"tiers", tiers}}.dump();
  }
};

TEST_F(FailureKindsTest, EveryKindFailsOverAndCoolsDown) {
  const std::map<std::string, std::string> kinds = {{"429", "rate_limited"},  {"503", "overloaded"},
                                                    {"529", "overloaded"},    {"402", "quota_exhausted"},
                                                    {"credit", "quota_exhausted"}};
  for (const char* mode : kModes) {
    for (bool stream : {false, true}) {
      std::string model = std::string("m-") + mode + (stream ? "-s" : "");
      c_.SetModel(model, json{{"mode", mode}, {"retry_after", 45}}.dump());
      auto r = Ask(model, stream);
      ASSERT_EQ(r.status, 200) << model << ": " << r.body;
      EXPECT_EQ(r.Header("x-luna-tier"), "backup") << model;
      EXPECT_NE(r.Header("x-luna-fallback").find(kinds.at(mode)), std::string::npos)
          << model << ": " << r.Header("x-luna-fallback");
      if (stream) {
        EXPECT_NE(r.body.find("event: message_stop"), std::string::npos) << r.body;
      }
    }
  }
  ASSERT_TRUE(Eventually([&] {
    json s = Status();
    for (const auto& t : s["tiers"]) {
      if (t["name"] != "backup" && t["cooldown"].is_null()) return false;
    }
    return true;
  })) << Status().dump();
  json s = Status();
  for (const auto& t : s["tiers"]) {
    if (t["name"] == "backup") continue;
    std::string name = t["name"];
    std::string mode = name.substr(2, name.find("-s") == std::string::npos ? std::string::npos : name.size() - 4);
    EXPECT_NE(t["cooldown"]["reason"].get<std::string>().find(kinds.at(mode)), std::string::npos) << t.dump();
    // 429 / 503 / 529 carry retry-after: 45 s outlasts the first 30 s step.
    if (mode == "429" || mode == "503" || mode == "529") {
      EXPECT_GE(t["cooldown"]["seconds_left"], 40) << t.dump();
    }
  }
}

// Capabilities (extended format): a fallback whose model cannot take the request is skipped; a
// provider's credential comes from fallbacksvc's environment.
class CapabilitiesTest : public FallbackTest {
 protected:
  std::string Config() const override {
    json cfg = {
        {"enabled", true},
        {"health_poll_interval_seconds", 60},
        {"providers",
         {{{"name", "ext"},
           {"base_url", "http://127.0.0.1:" + std::to_string(c_.upstream_port())},
           {"format", "openai"},
           {"api_key_env", "LUNA_TEST_EXT_KEY"}}}},
        {"tiers",
         {{{"name", "opus"}, {"model", "claude-opus"}},
          {{"name", "sonnet"}, {"model", "claude-sonnet"}, {"capabilities", {{"images", false}}}},
          {{"name", "gpt"}, {"model", "gpt-fallback"}, {"provider", "ext"}, {"capabilities", {{"thinking", false}}}}}}};
    return cfg.dump();
  }
  std::map<std::string, std::string> FallbackEnv() const override { return {{"LUNA_TEST_EXT_KEY", "sk-from-env"}}; }
};

TEST_F(CapabilitiesTest, FallbacksThatCannotTakeTheRequestAreSkipped) {
  c_.SetModel("claude-opus", R"({"mode":"503"})");
  auto image = json{{"model", "claude-opus"},
                    {"max_tokens", 50},
                    {"messages",
                     {{{"role", "user"},
                       {"content",
                        {{{"type", "image"},
                          {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", "iVBORw0KGgo="}}}},
                         {{"type", "text"}, {"text", "what is this?"}}}}}}}};
  auto r = c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}}, image.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-luna-tier"), "gpt") << "sonnet cannot take images";
  auto last = json::parse(c_.UpstreamRequests())["requests"].back();
  EXPECT_EQ(last["headers"]["authorization"], "Bearer sk-from-env");
  EXPECT_NE(last["body"].get<std::string>().find("image_url"), std::string::npos) << "the image, converted";

  // Text only: sonnet is next in line again (opus is cooling down by now or fails again).
  r = Ask("claude-opus");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-luna-tier"), "sonnet");

  // Images and thinking: neither fallback can; the requested tier's own failure is the answer.
  image["thinking"] = {{"type", "enabled"}, {"budget_tokens", 1024}};
  c_.SetModel("claude-sonnet", R"({"mode":"503"})");
  ASSERT_TRUE(Eventually([&] { return !Tier("opus")["cooldown"].is_null(); }));
  image["model"] = "claude-sonnet";
  r = c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}}, image.dump());
  EXPECT_EQ(r.status, 503) << r.body;
  std::string msg = json::parse(r.body)["error"]["message"];
  EXPECT_NE(msg.find("gpt: cannot think"), std::string::npos) << msg;
}

// The admin view: admin only; a reload with a broken file is refused and the chain stays.
TEST_F(FallbackTest, AdminStatusAndReload) {
  EXPECT_EQ(c_.Gateway("GET", "/admin/fallback").status, 401);
  EXPECT_EQ(c_.Gateway("GET", "/admin/fallback", {{"x-api-key", key_}}).status, 403);
  auto s = Status();
  EXPECT_EQ(s["enabled"], true);
  ASSERT_EQ(s["tiers"].size(), 3u);
  EXPECT_EQ(s["tiers"][2]["remaining"], "unlimited");
  EXPECT_EQ(s["tiers"][0]["type"], "antigravity");
  EXPECT_EQ(s["tiers"][2]["type"], "openai");
  EXPECT_TRUE(s.contains("last_health_poll"));
  EXPECT_EQ(s["tiers"][2]["provider"], "127.0.0.1");
  EXPECT_EQ(s["plans"]["claude-opus"]["tiers"], json({"opus", "sonnet", "gpt"}));
  EXPECT_EQ(s.dump().find("sk-external"), std::string::npos) << "credentials are never shown";

  WriteAll(c_.dir().File("fallback.json"), R"({"enabled": true, "tiers": [{"name": "x"}]})");
  auto r = c_.Gateway("POST", "/admin/fallback/reload", {{"x-api-key", c_.admin_key()}});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("tiers[0].model"), std::string::npos) << r.body;
  EXPECT_EQ(Status()["tiers"].size(), 3u);

  json two = {{"enabled", true}, {"tiers", {{{"name", "only"}, {"model", "claude-only"}}}}};
  WriteAll(c_.dir().File("fallback.json"), two.dump());
  r = c_.Gateway("POST", "/admin/fallback/reload", {{"x-api-key", c_.admin_key()}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["tiers"], 1);
  EXPECT_EQ(Status()["tiers"].size(), 1u);
}

}  // namespace
}  // namespace luna::testing
