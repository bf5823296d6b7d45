// The key policy's rules, its JSON and proto forms, and the model allow-list.
#include "common/key_policy.h"

#include <gtest/gtest.h>

namespace luna {
namespace {

using nlohmann::json;

TEST(KeyPolicy, EmptyJsonIsNoLimits) {
  auto p = KeyPolicyFromJson(json::object());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->empty());
  auto n = KeyPolicyFromJson(json(nullptr));
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(n->empty());
}

TEST(KeyPolicy, JsonRoundTrip) {
  json in = {{"models", {"claude-sonnet-4-5", "gpt-4o*"}},
             {"requests_per_minute", 60},
             {"tokens_per_minute", 100000},
             {"tokens_per_day", 2000000},
             {"tokens_per_month", 40000000},
             {"count_cache_tokens", true},
             {"expires_at", "2027-01-01T00:00:00Z"}};
  auto p = KeyPolicyFromJson(in);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->models, (std::vector<std::string>{"claude-sonnet-4-5", "gpt-4o*"}));
  EXPECT_EQ(p->requests_per_minute, 60);
  EXPECT_EQ(p->tokens_per_day, 2000000);
  EXPECT_TRUE(p->count_cache_tokens);
  EXPECT_EQ(p->expires_unix_ms, 1798761600000);
  EXPECT_EQ(KeyPolicyToJson(*p), in);
  auth::v1::KeyPolicy proto;
  KeyPolicyToProto(*p, &proto);
  EXPECT_EQ(KeyPolicyFromProto(proto), *p);
}

TEST(KeyPolicy, ExpiryWithOffsetIsConvertedToUtc) {
  auto p = KeyPolicyFromJson(json{{"expires_at", "2027-01-01T02:00:00+02:00"}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->expires_unix_ms, 1798761600000);
  EXPECT_EQ(KeyPolicyToJson(*p)["expires_at"], "2027-01-01T00:00:00Z");
}

TEST(KeyPolicy, BadInputsNameTheField) {
  struct Case {
    json in;
    std::string field;
  };
  const Case cases[] = {
      {json{{"requests_per_minute", -1}}, "policy.requests_per_minute"},
      {json{{"requests_per_minute", 1.5}}, "policy.requests_per_minute"},
      {json{{"requests_per_minute", "60"}}, "policy.requests_per_minute"},
      {json{{"tokens_per_minute", 2000000000}}, "policy.tokens_per_minute"},
      {json{{"tokens_per_day", true}}, "policy.tokens_per_day"},
      {json{{"tokens_per_month", 18446744073709551615ULL}}, "policy.tokens_per_month"},
      {json{{"models", "claude"}}, "policy.models"},
      {json{{"models", {1}}}, "policy.models[0]"},
      {json{{"models", {"ok", ""}}}, "policy.models[1]"},
      {json{{"models", {"cla*ude"}}}, "policy.models[0]"},
      {json{{"count_cache_tokens", 1}}, "policy.count_cache_tokens"},
      {json{{"expires_at", "tomorrow"}}, "policy.expires_at"},
      {json{{"expires_at", 12345}}, "policy.expires_at"},
      {json{{"requests_per_hour", 5}}, "policy.requests_per_hour"},
      {json::array(), "policy"},
  };
  for (const auto& c : cases) {
    auto p = KeyPolicyFromJson(c.in);
    ASSERT_FALSE(p.ok()) << c.in.dump();
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(p.status().message()).rfind(c.field, 0), 0u) << c.in.dump() << " -> " << p.status();
  }
  std::vector<std::string> many(kMaxPolicyModels + 1, "m");
  EXPECT_FALSE(KeyPolicyFromJson(json{{"models", many}}).ok());
  EXPECT_FALSE(KeyPolicyFromJson(json{{"models", {std::string(kMaxPolicyModelLength + 1, 'x')}}}).ok());
}

TEST(KeyPolicy, ErrorsUseTheCallersPlace) {
  auto p = KeyPolicyFromJson(json{{"tokens_per_day", -5}}, "keys[3].policy");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(std::string(p.status().message()).rfind("keys[3].policy.tokens_per_day", 0), 0u) << p.status();
}

TEST(KeyPolicy, ModelAllowList) {
  EXPECT_TRUE(ModelAllowed({}, "anything"));
  EXPECT_TRUE(ModelAllowed({"*"}, "anything"));
  std::vector<std::string> allow = {"claude-sonnet-4-5", "gpt-4o*"};
  EXPECT_TRUE(ModelAllowed(allow, "claude-sonnet-4-5"));
  EXPECT_FALSE(ModelAllowed(allow, "claude-sonnet-4-5-20250929"));  // exact names are exact
  EXPECT_FALSE(ModelAllowed(allow, "claude-sonnet-4"));
  EXPECT_TRUE(ModelAllowed(allow, "gpt-4o"));
  EXPECT_TRUE(ModelAllowed(allow, "gpt-4o-mini"));
  EXPECT_FALSE(ModelAllowed(allow, "gpt-4"));
  EXPECT_FALSE(ModelAllowed(allow, ""));
}

}  // namespace
}  // namespace luna
