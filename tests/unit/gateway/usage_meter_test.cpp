#include "gateway/usage/usage_meter.h"

#include <gtest/gtest.h>

#include <random>

namespace luna::gateway {
namespace {

const std::string kAnthropicStream =
    "event: message_start\r\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":47,"
    "\"cache_creation_input_tokens\":5,\"cache_read_input_tokens\":100,\"output_tokens\":2}}}\r\n\r\n"
    ": a comment\n\n"
    "event: ping\ndata: {\"type\":\"ping\"}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"usage\\\"\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":373,\"input_tokens\":47}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

// Anthropic stream usage: message_delta values are cumulative — they replace, never add (FORMATS §3,
// test vector 25: output 373, not 375) — and cache fields from message_start are kept.
TEST(UsageMeterTest, AnthropicStreamUsageIsReplacedNotAdded) {
  UsageMeter m(WireFormat::kAnthropic, true);
  m.Feed(kAnthropicStream);
  m.Finish();
  EXPECT_TRUE(m.saw_usage());
  EXPECT_TRUE(m.complete());
  EXPECT_EQ(m.served_model(), "claude-x");
  EXPECT_EQ(m.usage().input_tokens, 47);
  EXPECT_EQ(m.usage().output_tokens, 373);
  EXPECT_EQ(m.usage().cache_read_tokens, 100);
  EXPECT_EQ(m.usage().cache_write_tokens, 5);
}

// The same answer split at every possible point, and byte by byte, gives the same counts.
TEST(UsageMeterTest, AnySplitOfTheStreamGivesTheSameCounts) {
  for (size_t cut = 0; cut <= kAnthropicStream.size(); ++cut) {
    UsageMeter m(WireFormat::kAnthropic, true);
    m.Feed(std::string_view(kAnthropicStream).substr(0, cut));
    m.Feed(std::string_view(kAnthropicStream).substr(cut));
    m.Finish();
    ASSERT_EQ(m.usage().output_tokens, 373) << "cut at " << cut;
    ASSERT_EQ(m.usage().cache_read_tokens, 100) << "cut at " << cut;
    ASSERT_TRUE(m.complete());
  }
  UsageMeter m(WireFormat::kAnthropic, true);
  for (char c : kAnthropicStream) m.Feed(std::string_view(&c, 1));
  EXPECT_EQ(m.usage().output_tokens, 373);
}

// A stream cut before message_stop keeps what it saw and is not complete.
TEST(UsageMeterTest, CutAnthropicStreamIsIncompleteWithPartialCounts) {
  UsageMeter m(WireFormat::kAnthropic, true);
  m.Feed(kAnthropicStream.substr(0, kAnthropicStream.find("event: message_delta")));
  m.Finish();
  EXPECT_FALSE(m.complete());
  EXPECT_EQ(m.usage().input_tokens, 47);
  EXPECT_EQ(m.usage().output_tokens, 2);
}

// OpenAI usage: prompt_tokens include cached tokens, so input = prompt − cached (FORMATS §7.3);
// usage may come in its own chunk after the finish.
TEST(UsageMeterTest, OpenAIStreamUsageChunkSubtractsCachedTokens) {
  std::string s =
      "data: {\"id\":\"c\",\"model\":\"gpt-x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n"
      "data: {\"id\":\"c\",\"model\":\"gpt-x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
      "data: {\"id\":\"c\",\"model\":\"gpt-x\",\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":5,"
      "\"total_tokens\":1005,\"prompt_tokens_details\":{\"cached_tokens\":800}}}\n\n"
      "data: [DONE]\n\n";
  UsageMeter m(WireFormat::kOpenAI, true);
  m.Feed(s);
  m.Finish();
  EXPECT_TRUE(m.complete());
  EXPECT_EQ(m.served_model(), "gpt-x");
  EXPECT_EQ(m.usage().input_tokens, 200);
  EXPECT_EQ(m.usage().cache_read_tokens, 800);
  EXPECT_EQ(m.usage().output_tokens, 5);
}

// Non-streaming bodies in both formats, split anywhere.
TEST(UsageMeterTest, NonStreamingBodies) {
  std::string a = R"({"id":"msg","type":"message","model":"claude-y","content":[{"type":"text","text":"{\"usage\":1}"}],)"
                  R"("usage":{"input_tokens":10,"output_tokens":20,"cache_read_input_tokens":3,"cache_creation_input_tokens":4}})";
  UsageMeter m(WireFormat::kAnthropic, false);
  m.Feed(a.substr(0, 17));
  m.Feed(a.substr(17));
  m.Finish();
  EXPECT_TRUE(m.complete());
  EXPECT_EQ(m.served_model(), "claude-y");
  EXPECT_EQ(m.usage().input_tokens, 10);
  EXPECT_EQ(m.usage().output_tokens, 20);
  EXPECT_EQ(m.usage().cache_read_tokens, 3);
  EXPECT_EQ(m.usage().cache_write_tokens, 4);

  std::string o = R"({"id":"c","object":"chat.completion","model":"gpt-y","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":7,"prompt_cache_hit_tokens":10}})";
  UsageMeter n(WireFormat::kOpenAI, false);
  n.Feed(o);
  n.Finish();
  EXPECT_EQ(n.usage().input_tokens, 20);
  EXPECT_EQ(n.usage().cache_read_tokens, 10);
  EXPECT_EQ(n.usage().output_tokens, 7);

  // OpenAI's cached tokens sit one level down; a body cut short keeps its counts but is not complete.
  std::string d = R"({"model":"gpt-z","usage":{"prompt_tokens":50,"completion_tokens":2,)"
                  R"("prompt_tokens_details":{"cached_tokens":40,"cache_write_tokens":4}},"choices":[)";
  UsageMeter c(WireFormat::kOpenAI, false);
  c.Feed(d);
  c.Finish();
  EXPECT_FALSE(c.complete());
  EXPECT_TRUE(c.saw_usage());
  EXPECT_EQ(c.served_model(), "gpt-z");
  EXPECT_EQ(c.usage().input_tokens, 6);
  EXPECT_EQ(c.usage().cache_read_tokens, 40);
  EXPECT_EQ(c.usage().cache_write_tokens, 4);

  // Negative counts read as zero; a model name with escapes is not taken.
  UsageMeter neg(WireFormat::kAnthropic, false);
  neg.Feed(R"({"model":"a\"b","usage":{"input_tokens":-5,"output_tokens":9}})");
  neg.Finish();
  EXPECT_TRUE(neg.complete());
  EXPECT_EQ(neg.served_model(), "");
  EXPECT_EQ(neg.usage().input_tokens, 0);
  EXPECT_EQ(neg.usage().output_tokens, 9);
}

// Garbage does not crash the meter and yields no usage.
TEST(UsageMeterTest, GarbageYieldsNoUsage) {
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string junk(static_cast<size_t>(rng() % 300), '\0');
    for (auto& c : junk) c = "{}[]\":,data: event\n\r usage 0123456789"[rng() % 38];
    for (WireFormat f : {WireFormat::kAnthropic, WireFormat::kOpenAI}) {
      for (bool streaming : {true, false}) {
        UsageMeter m(f, streaming);
        m.Feed(junk);
        m.Finish();
        EXPECT_GE(m.usage().input_tokens, 0);
      }
    }
  }
}

}  // namespace
}  // namespace luna::gateway
