// Integration: the real authsvc, gateway and fake upstream — who gets in, and what the admin API does.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster.h"

namespace luna::testing {
namespace {

using json = nlohmann::json;

const std::string kSmallMessages = R"({"model":"claude-test","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})";
const std::string kSmallChat = R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})";

class GatewayAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    c_.StartUpstream();
    c_.StartAuth();
    c_.StartGateway();
  }
  Cluster c_;
};

// Every way a client can present (or fail to present) a key gets the right status in its own format.
TEST_F(GatewayAuthTest, AuthMatrixAnswersInTheCallersFormat) {
  std::string key = c_.CreateKey("agent");
  Headers json_ct = {{"content-type", "application/json"}};

  // No key: 401, Anthropic shape on /v1/messages, OpenAI shape on /v1/chat/completions.
  auto r = c_.Gateway("POST", "/v1/messages", json_ct, kSmallMessages);
  EXPECT_EQ(r.status, 401);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["type"], "error");
  EXPECT_EQ(j["error"]["type"], "authentication_error");
  r = c_.Gateway("POST", "/v1/chat/completions", json_ct, kSmallChat);
  EXPECT_EQ(r.status, 401);
  j = json::parse(r.body);
  EXPECT_TRUE(j["error"].contains("message"));
  EXPECT_EQ(j["error"]["code"], "invalid_api_key");

  // Unknown key: 401 (twice: the second answer comes from the negative cache).
  for (int i = 0; i < 2; ++i) {
    r = c_.Gateway("POST", "/v1/messages", {{"x-api-key", "sk-not-a-real-key"}}, kSmallMessages);
    EXPECT_EQ(r.status, 401) << r.body;
  }

  // Valid key, both header styles, both APIs.
  r = c_.Gateway("POST", "/v1/messages", {{"x-api-key", key}, {"content-type", "application/json"}}, kSmallMessages);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["type"], "message");
  r = c_.Gateway("POST", "/v1/chat/completions", {{"authorization", "Bearer " + key}}, kSmallChat);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["object"], "chat.completion");

  // Disabled key: 403 in the caller's format.
  ASSERT_EQ(c_.SetEnabled(key, false), 200);
  ASSERT_TRUE(Eventually([&] {
    return c_.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, kSmallMessages).status == 403;
  }, std::chrono::seconds(1)));
  r = c_.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, kSmallMessages);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "permission_error");
  r = c_.Gateway("POST", "/v1/chat/completions", {{"authorization", "Bearer " + key}}, kSmallChat);
  EXPECT_EQ(r.status, 403);
  EXPECT_TRUE(json::parse(r.body)["error"].contains("message"));
}

// Admin routes refuse a missing key (401), an unknown key (401) and a client key (403).
TEST_F(GatewayAuthTest, AdminRoutesRequireTheAdminKey) {
  std::string key = c_.CreateKey("agent");
  auto r = c_.Gateway("GET", "/admin/keys");
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(json::parse(r.body).contains("detail"));
  r = c_.Gateway("GET", "/admin/keys", {{"x-api-key", "sk-wrong"}});
  EXPECT_EQ(r.status, 401);
  r = c_.Gateway("GET", "/admin/keys", {{"x-api-key", key}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(json::parse(r.body)["detail"], "Admin key required");
  r = c_.Gateway("POST", "/admin/keys", {{"authorization", "Bearer " + key}}, R"({"name":"x"})");
  EXPECT_EQ(r.status, 403);
  r = c_.Gateway("POST", "/admin/keys/" + key + "/disable", {{"x-api-key", key}});
  EXPECT_EQ(r.status, 403);
  r = c_.Gateway("DELETE", "/admin/keys/" + key, {{"x-api-key", key}});
  EXPECT_EQ(r.status, 403);
  // The admin key works with Bearer too, and the client key is still enabled.
  r = c_.Gateway("GET", "/admin/keys", {{"authorization", "Bearer " + c_.admin_key()}});
  ASSERT_EQ(r.status, 200);
  auto keys = json::parse(r.body)["keys"];
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0]["enabled"], true);
}

// The admin API keeps the old proxy's shapes, never shows a full key after creation, and 404s
// unknown keys.
TEST_F(GatewayAuthTest, AdminKeyLifecycleWithOldShapes) {
  Headers admin = {{"x-api-key", c_.admin_key()}};
  auto r = c_.Gateway("POST", "/admin/keys", admin, R"({"name":"alice"})");
  ASSERT_EQ(r.status, 200);
  auto created = json::parse(r.body);
  std::string key = created["api_key"];
  EXPECT_EQ(created["name"], "alice");
  EXPECT_EQ(key.rfind("sk-", 0), 0u);
  EXPECT_GE(key.size(), 3u + 32u);  // >= 128 bits of randomness, base64url

  r = c_.Gateway("GET", "/admin/keys", admin);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find(key), std::string::npos) << "the full key must never be listed";
  auto k = json::parse(r.body)["keys"][0];
  EXPECT_EQ(k["name"], "alice");
  EXPECT_EQ(k["enabled"], true);
  EXPECT_FALSE(k["created"].get<std::string>().empty());
  EXPECT_FALSE(k.contains("full_key"));
  EXPECT_EQ(key.rfind(k["key"].get<std::string>().substr(0, 9), 0), 0u) << "masked key shows the key's prefix";

  r = c_.Gateway("POST", "/admin/keys/" + key + "/disable", admin);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["status"], "disabled");
  EXPECT_EQ(json::parse(r.body)["name"], "alice");
  std::string id = json::parse(r.body)["id"];
  r = c_.Gateway("POST", "/admin/keys/" + id + "/enable", admin);  // by id works too
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["status"], "enabled");
  r = c_.Gateway("DELETE", "/admin/keys/" + key, admin);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["status"], "deleted");
  r = c_.Gateway("DELETE", "/admin/keys/" + key, admin);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["detail"], "Key not found");
  r = c_.Gateway("POST", "/admin/keys/sk-nope/disable", admin);
  EXPECT_EQ(r.status, 404);

  // A deleted key stops working.
  EXPECT_TRUE(Eventually([&] {
    return c_.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, kSmallMessages).status == 401;
  }, std::chrono::seconds(1)));
}

// Malformed admin bodies get a 400 with a message that says what is wrong; nothing is created.
TEST_F(GatewayAuthTest, MalformedAdminJsonIs400WithAMessage) {
  Headers admin = {{"x-api-key", c_.admin_key()}, {"content-type", "application/json"}};
  auto r = c_.Gateway("POST", "/admin/keys", admin, "{\"name\": ");
  EXPECT_EQ(r.status, 400);
  auto j = json::parse(r.body);
  EXPECT_NE(j["detail"].get<std::string>().find("JSON"), std::string::npos);
  r = c_.Gateway("POST", "/admin/keys", admin, R"({"name": 42})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(json::parse(r.body)["detail"].get<std::string>().find("name"), std::string::npos);
  r = c_.Gateway("POST", "/admin/keys", admin, R"(["name"])");
  EXPECT_EQ(r.status, 400);
  r = c_.Gateway("GET", "/admin/keys", admin);
  EXPECT_EQ(json::parse(r.body)["keys"].size(), 0u);
}

// A disabled key is refused by the gateway within one second of the admin call.
TEST_F(GatewayAuthTest, DisabledKeyIsRejectedWithin1s) {
  std::string key = c_.CreateKey("agent");
  ASSERT_EQ(c_.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, kSmallMessages).status, 200);
  ASSERT_EQ(c_.SetEnabled(key, false), 200);
  auto t0 = std::chrono::steady_clock::now();
  bool rejected = Eventually([&] {
    return c_.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, kSmallMessages).status == 403;
  }, std::chrono::seconds(1));
  EXPECT_TRUE(rejected) << "still accepted after "
                        << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                               .count()
                        << " ms";
  ASSERT_EQ(c_.SetEnabled(key, true), 200);
  EXPECT_TRUE(Eventually([&] {
    return c_.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, kSmallMessages).status == 200;
  }, std::chrono::seconds(1)));
}

// With authsvc killed, keys the gateway knows keep their state (serve_known, the default), unknown
// keys get a clear 503, and /health says degraded; when authsvc returns, everything works again.
TEST_F(GatewayAuthTest, AuthsvcKilledKnownKeysStillServed) {
  std::string good = c_.CreateKey("good");
  std::string off = c_.CreateKey("off");
  ASSERT_EQ(c_.SetEnabled(off, false), 200);
  ASSERT_TRUE(Eventually([&] {
    return c_.Gateway("POST", "/v1/messages", {{"x-api-key", off}}, kSmallMessages).status == 403;
  }));
  c_.auth()->Stop(9);
  EXPECT_EQ(c_.Gateway("POST", "/v1/messages", {{"x-api-key", good}}, kSmallMessages).status, 200);
  EXPECT_EQ(c_.Gateway("POST", "/v1/messages", {{"x-api-key", off}}, kSmallMessages).status, 403);
  auto r = c_.Gateway("POST", "/v1/messages", {{"x-api-key", "sk-unknown-while-down"}}, kSmallMessages);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["type"], "error");
  EXPECT_TRUE(Eventually([&] {
    auto h = c_.Gateway("GET", "/health");
    return h.status == 200 && json::parse(h.body)["status"] == "degraded";
  }));
  // Admin calls need authsvc: a clear 503.
  r = c_.Gateway("GET", "/admin/keys", {{"x-api-key", c_.admin_key()}});
  EXPECT_EQ(r.status, 503);

  c_.StartAuth();  // same port, same file
  EXPECT_TRUE(Eventually([&] {
    auto h = c_.Gateway("GET", "/health");
    return h.status == 200 && json::parse(h.body)["status"] == "ok";
  }));
  std::string fresh = c_.CreateKey("fresh");
  EXPECT_EQ(c_.Gateway("POST", "/v1/messages", {{"x-api-key", fresh}}, kSmallMessages).status, 200);
  EXPECT_EQ(c_.Gateway("POST", "/v1/messages", {{"x-api-key", good}}, kSmallMessages).status, 200);
}

// Under AUTH_OUTAGE_POLICY=fail_closed every client request gets 503 while authsvc is down, and
// /health answers 503.
TEST(GatewayAuthOutage, FailClosedRejectsEveryoneWhileAuthsvcIsDown) {
  Cluster c(Cluster::Options{.gateway_env = {{"AUTH_OUTAGE_POLICY", "fail_closed"}}});
  c.StartUpstream();
  c.StartAuth();
  c.StartGateway();
  std::string key = c.CreateKey("agent");
  ASSERT_EQ(c.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, kSmallMessages).status, 200);
  c.auth()->Stop(9);
  EXPECT_TRUE(Eventually([&] {
    return c.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, kSmallMessages).status == 503;
  }));
  auto r = c.Gateway("POST", "/v1/chat/completions", {{"authorization", "Bearer " + key}}, kSmallChat);
  EXPECT_EQ(r.status, 503);
  EXPECT_FALSE(r.Header("retry-after").empty());
  EXPECT_EQ(c.Gateway("GET", "/health").status, 503);
  c.StartAuth();
  EXPECT_TRUE(Eventually([&] {
    return c.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, kSmallMessages).status == 200;
  }));
}

// Keys from the old proxy's keys.json work unchanged through the gateway, as does its admin_key.
TEST(GatewayLegacyKeys, OldKeysFileWorksAsItIs) {
  Cluster c(Cluster::Options{
      .keys_file_content = R"({"admin_key": "sk-admin-legacy-0123456789", "keys": {
        "sk-legacy0123456789abcdef01": {"name": "old-agent", "enabled": true, "created": "2026-01-02T03:04:05+08:00",
          "usage": {"total_input": 10, "total_output": 20, "total_requests": 1, "last_used": null, "daily": {}}},
        "sk-legacyoff0123456789abcdef": {"name": "old-off", "enabled": false, "created": "2026-01-02T03:04:05+08:00",
          "usage": {"total_input": 0, "total_output": 0, "total_requests": 0, "last_used": null, "daily": {}}}}})",
      .admin_key_env = false});
  c.StartUpstream();
  c.StartAuth();
  c.StartGateway();
  EXPECT_EQ(c.Gateway("POST", "/v1/messages", {{"x-api-key", "sk-legacy0123456789abcdef01"}}, kSmallMessages).status,
            200);
  EXPECT_EQ(c.Gateway("POST", "/v1/messages", {{"x-api-key", "sk-legacyoff0123456789abcdef"}}, kSmallMessages).status,
            403);
  auto r = c.Gateway("GET", "/admin/keys", {{"x-api-key", "sk-admin-legacy-0123456789"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["keys"].size(), 2u);
  // The first write migrates the file: the original stays beside it, the new one holds no key.
  std::string original = ReadAll(c.keys_file());
  ASSERT_EQ(c.Gateway("POST", "/admin/keys/sk-legacyoff0123456789abcdef/enable",
                      {{"x-api-key", "sk-admin-legacy-0123456789"}})
                .status,
            200);
  EXPECT_EQ(ReadAll(c.keys_file() + ".legacy-backup"), original);
  std::string migrated = ReadAll(c.keys_file());
  EXPECT_EQ(migrated.find("sk-legacy0123456789abcdef01"), std::string::npos);
  EXPECT_EQ(migrated.find("sk-admin-legacy-0123456789"), std::string::npos);
  EXPECT_TRUE(Eventually([&] {
    return c.Gateway("POST", "/v1/messages", {{"x-api-key", "sk-legacyoff0123456789abcdef"}}, kSmallMessages)
               .status == 200;
  }, std::chrono::seconds(1)));
}

}  // namespace
}  // namespace luna::testing
