#include "gateway/convert/usage_mapping.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace luna::gateway {
namespace {

using json = nlohmann::json;

TokenUsage FromOpenAI(const std::string& text) {
  JsonDoc doc;
  EXPECT_TRUE(doc.Parse(text));
  return UsageFromOpenAI(doc.root());
}

// OpenAI prompt_tokens include cached tokens; the mapping subtracts them (and DeepSeek's hit count).
TEST(UsageMappingTest, OpenAICachedTokensAreNotCountedTwice) {
  TokenUsage u = FromOpenAI(R"({"prompt_tokens":1000,"completion_tokens":5,"total_tokens":1005,
      "prompt_tokens_details":{"cached_tokens":800,"cache_write_tokens":50},
      "completion_tokens_details":{"reasoning_tokens":3}})");
  EXPECT_EQ(u.input_tokens, 150);
  EXPECT_EQ(u.cache_read_tokens, 800);
  EXPECT_EQ(u.cache_creation_tokens, 50);
  EXPECT_EQ(u.output_tokens, 5);
  EXPECT_EQ(u.reasoning_tokens, 3);
  EXPECT_EQ(u.TotalInput(), 1000);
  TokenUsage ds = FromOpenAI(R"({"prompt_tokens":100,"completion_tokens":1,"prompt_cache_hit_tokens":60,
      "prompt_cache_miss_tokens":40})");
  EXPECT_EQ(ds.input_tokens, 40);
  EXPECT_EQ(ds.cache_read_tokens, 60);
  TokenUsage odd = FromOpenAI(R"({"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":9}})");
  EXPECT_EQ(odd.input_tokens, 0) << "never negative";
  TokenUsage empty = FromOpenAI("{}");
  EXPECT_EQ(empty, TokenUsage{});
}

// Anthropic → OpenAI adds the cache counts into prompt_tokens; OpenAI → Anthropic → OpenAI is lossless.
TEST(UsageMappingTest, WritesBothShapes) {
  TokenUsage u{10, 20, 100, 5, std::nullopt};
  std::string out;
  JsonWriter w(&out);
  WriteOpenAIUsage(u, &w);
  json o = json::parse(out);
  EXPECT_EQ(o["prompt_tokens"], 115);
  EXPECT_EQ(o["completion_tokens"], 20);
  EXPECT_EQ(o["total_tokens"], 135);
  EXPECT_EQ(o["prompt_tokens_details"]["cached_tokens"], 100);
  EXPECT_EQ(o["prompt_tokens_details"]["cache_write_tokens"], 5);
  EXPECT_EQ(FromOpenAI(out), u);
  out.clear();
  JsonWriter a(&out);
  WriteAnthropicUsage(u, &a);
  EXPECT_EQ(json::parse(out), (json{{"input_tokens", 10}, {"cache_creation_input_tokens", 5},
                                    {"cache_read_input_tokens", 100}, {"output_tokens", 20}}));
}

// message_delta usage replaces stored values (cumulative), keeping fields it does not carry.
TEST(UsageMappingTest, AnthropicDeltaReplacesNeverAdds) {
  JsonDoc start, delta;
  ASSERT_TRUE(start.Parse(R"({"input_tokens":47,"output_tokens":2,"cache_read_input_tokens":7})"));
  TokenUsage u = UsageFromAnthropic(start.root());
  ASSERT_TRUE(delta.Parse(R"({"output_tokens":373,"input_tokens":null})"));
  ApplyAnthropicUsageDelta(delta.root(), &u);
  EXPECT_EQ(u.input_tokens, 47);
  EXPECT_EQ(u.output_tokens, 373);
  EXPECT_EQ(u.cache_read_tokens, 7);
}

}  // namespace
}  // namespace luna::gateway
