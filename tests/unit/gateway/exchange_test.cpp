// The per-attempt request and answer handling of the router: same-API bodies are spliced, not
// re-serialized; other-API bodies are converted; held answers come back in the client's API.
#include "gateway/route/exchange.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace luna::gateway {
namespace {

using json = nlohmann::json;

UpstreamTarget Target(WireFormat f, std::string model = "", int64_t limit = 0) {
  UpstreamTarget t;
  t.format = f;
  t.model = std::move(model);
  t.max_tokens_limit = limit;
  return t;
}

ClientCall Call(WireFormat api, std::string_view body, std::string model, bool stream = false) {
  return ClientCall{api, body, std::move(model), stream};
}

TEST(PrepareAttemptTest, SameApiUnchangedNeedsNoCopy) {
  std::string body = R"({"model":"claude-x", "max_tokens":100,"messages":[],"zzz_unknown":{"a":1}})";
  auto a = PrepareAttempt(Call(WireFormat::kAnthropic, body, "claude-x"), Target(WireFormat::kAnthropic));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->body_unchanged);
  EXPECT_FALSE(a->converting);
  // Naming the same model is no change either.
  a = PrepareAttempt(Call(WireFormat::kAnthropic, body, "claude-x"), Target(WireFormat::kAnthropic, "claude-x"));
  EXPECT_TRUE(a->body_unchanged);
}

TEST(PrepareAttemptTest, SameApiSplicesModelAndClampsTokensOnly) {
  std::string body = R"({"model":"claude-x", "max_tokens":100000,"messages":[],"zzz_unknown":{"a":1}})";
  auto a = PrepareAttempt(Call(WireFormat::kAnthropic, body, "claude-x"),
                          Target(WireFormat::kAnthropic, "claude-\"y\"", 8192));
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->body_unchanged);
  EXPECT_EQ(a->body, R"({"model":"claude-\"y\"", "max_tokens":8192,"messages":[],"zzz_unknown":{"a":1}})");
  // A value under the limit stays.
  body = R"({"model":"m","max_tokens":10,"messages":[]})";
  a = PrepareAttempt(Call(WireFormat::kAnthropic, body, "m"), Target(WireFormat::kAnthropic, "", 8192));
  EXPECT_EQ(a->body, body);
}

TEST(PrepareAttemptTest, OpenAIStreamAlwaysAsksForUsage) {
  std::string body = R"({"model":"gpt","stream":true,"max_completion_tokens":50000,"messages":[]})";
  auto a = PrepareAttempt(Call(WireFormat::kOpenAI, body, "gpt", true), Target(WireFormat::kOpenAI, "", 1000));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->hide_usage_chunk);
  auto j = json::parse(a->body);
  EXPECT_EQ(j["stream_options"]["include_usage"], true);
  EXPECT_EQ(j["max_completion_tokens"], 1000);
  body = R"({"model":"gpt","stream":true,"stream_options":{"include_usage":true},"messages":[]})";
  a = PrepareAttempt(Call(WireFormat::kOpenAI, body, "gpt", true), Target(WireFormat::kOpenAI));
  EXPECT_FALSE(a->hide_usage_chunk);
  EXPECT_EQ(a->body, body);
}

TEST(PrepareAttemptTest, OtherApiIsConvertedWithTheTargetModelAndLimit) {
  std::string body = R"({"model":"claude-x","max_tokens":64000,"system":"be brief",
      "messages":[{"role":"user","content":"hi"}]})";
  auto a = PrepareAttempt(Call(WireFormat::kAnthropic, body, "claude-x"), Target(WireFormat::kOpenAI, "gpt-4o", 4096));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->converting);
  auto j = json::parse(a->body);
  EXPECT_EQ(j["model"], "gpt-4o");
  EXPECT_EQ(j["max_tokens"], 4096);
  EXPECT_EQ(j["messages"][0]["role"], "system");
  EXPECT_EQ(j["messages"][1]["content"], "hi");

  auto bad = PrepareAttempt(Call(WireFormat::kOpenAI, R"({"model":"m","messages":"x"})", "m"),
                            Target(WireFormat::kAnthropic));
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("messages"), std::string::npos);
}

TEST(RenderHeldAnswerTest, SameApiAnswerPassesUnchangedAndIsMetered) {
  std::string up = R"({"id":"msg_1","type":"message","model":"claude-y","content":[],
      "usage":{"input_tokens":5,"output_tokens":7,"cache_read_input_tokens":2}})";
  HeaderList headers = {{"request-id", "req_1"}, {"x-custom", "kept"}};
  std::string body = R"({"model":"claude-x"})";
  auto call = Call(WireFormat::kAnthropic, body, "claude-x");
  auto target = Target(WireFormat::kAnthropic);
  auto attempt = PrepareAttempt(call, target);
  auto a = RenderHeldAnswer(call, *attempt, target, HeldAnswer{200, up, "application/json", &headers}, 0);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, up);
  EXPECT_EQ(a.headers, headers);
  EXPECT_TRUE(a.usage_known);
  EXPECT_EQ(a.usage.input_tokens, 5);
  EXPECT_EQ(a.usage.output_tokens, 7);
  EXPECT_EQ(a.usage.cache_read_tokens, 2);
  EXPECT_EQ(a.served_model, "claude-y");
}

TEST(RenderHeldAnswerTest, ConvertedErrorKeepsStatusAndRetryAfter) {
  std::string body = R"({"model":"gpt","messages":[{"role":"user","content":"hi"}]})";
  auto call = Call(WireFormat::kOpenAI, body, "gpt");
  auto target = Target(WireFormat::kAnthropic);
  auto attempt = PrepareAttempt(call, target);
  ASSERT_TRUE(attempt.ok());
  HeaderList headers = {{"retry-after", "30"}, {"request-id", "req_9"}};
  std::string up = R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})";
  auto a = RenderHeldAnswer(call, *attempt, target, HeldAnswer{429, up, "application/json", &headers}, 0);
  EXPECT_EQ(a.status, 429);
  auto j = json::parse(a.body);
  EXPECT_EQ(j["error"]["message"], "slow down");
  bool retry = false;
  for (const auto& [k, v] : a.headers) retry |= k == "retry-after" && v == "30";
  EXPECT_TRUE(retry);
}

TEST(ConvertingStreamObserverTest, OpenAIStreamBecomesAnthropicEventsAndIsMetered) {
  std::string body = R"({"model":"claude-x","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})";
  auto call = Call(WireFormat::kAnthropic, body, "claude-x", true);
  auto target = Target(WireFormat::kOpenAI);
  auto attempt = PrepareAttempt(call, target);
  ASSERT_TRUE(attempt.ok());
  auto obs = MakeAnswerObserver(call, *attempt, target, "msg_test", 0);
  EXPECT_TRUE(obs->RewritesBody());
  obs->OnResponseHead(200, "text/event-stream");
  std::string upstream =
      "data: {\"id\":\"c1\",\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}}]}\n\n"
      "data: {\"id\":\"c1\",\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
      "data: {\"id\":\"c1\",\"model\":\"gpt\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,"
      "\"prompt_tokens_details\":{\"cached_tokens\":4}}}\n\n"
      "data: [DONE]\n\n";
  std::string out;
  // Any split of the upstream bytes gives the same client bytes.
  for (size_t i = 0; i < upstream.size(); i += 7) out += obs->OnBody(std::string_view(upstream).substr(i, 7));
  out += obs->OnEnd(true);
  EXPECT_NE(out.find("event: message_start"), std::string::npos);
  EXPECT_NE(out.find("\"id\":\"msg_test\""), std::string::npos);
  EXPECT_NE(out.find("\"text\":\"Hi\""), std::string::npos);
  EXPECT_NE(out.find("event: message_stop"), std::string::npos);
  ASSERT_NE(obs->meter(), nullptr);
  EXPECT_TRUE(obs->meter()->complete());
  EXPECT_EQ(obs->meter()->usage().input_tokens, 5);
  EXPECT_EQ(obs->meter()->usage().cache_read_tokens, 4);
  EXPECT_EQ(obs->meter()->usage().output_tokens, 3);
}

TEST(ConvertingStreamObserverTest, CutStreamEndsWithAnErrorEvent) {
  std::string body = R"({"model":"gpt","stream":true,"messages":[{"role":"user","content":"hi"}]})";
  auto call = Call(WireFormat::kOpenAI, body, "gpt", true);
  auto target = Target(WireFormat::kAnthropic);
  auto attempt = PrepareAttempt(call, target);
  auto obs = MakeAnswerObserver(call, *attempt, target, "", 0);
  obs->OnResponseHead(200, "text/event-stream");
  std::string out(obs->OnBody(
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"c\","
      "\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"));
  out += obs->OnEnd(false);
  EXPECT_NE(out.find("data: {\"error\""), std::string::npos) << out;
  EXPECT_EQ(out.find("[DONE]"), std::string::npos) << out;
  EXPECT_FALSE(obs->meter()->complete());
}

}  // namespace
}  // namespace luna::gateway
