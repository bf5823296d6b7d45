// Stream converters beyond the §9 vectors: edge cases, error paths, and properties over random
// streams and random re-chunkings.
#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

#include "gateway/convert/anthropic_to_openai_stream.h"
#include "gateway/convert/openai_to_anthropic_stream.h"
#include "stream_support.h"

namespace luna::gateway {
namespace {

using json = nlohmann::json;
using testing::AccumulateAnthropic;
using testing::AccumulateOpenAI;
using testing::CheckAnthropicStream;
using testing::CheckOpenAIStream;
using testing::Frames;

std::string Chunk(const json& delta, const json& finish = nullptr) {
  json c = {{"id", "chatcmpl-1"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "gpt-x"},
            {"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
  return "data: " + c.dump();
}

std::string O2A(const std::string& in, OpenAIToAnthropicStreamOptions o = {}, bool clean = true) {
  OpenAIToAnthropicStream conv(std::move(o));
  return testing::FeedAll(conv, {in}, clean);
}

std::string A2O(const std::string& in, AnthropicToOpenAIStreamOptions o = {}, bool clean = true) {
  AnthropicToOpenAIStream conv(std::move(o));
  return testing::FeedAll(conv, {in}, clean);
}

std::string Event(const json& data) { return "event: " + data["type"].get<std::string>() + "\ndata: " + data.dump(); }

// A tool call whose name arrives after its id waits for the name; its early arguments are kept.
TEST(OpenAIToAnthropicStreamTest, ToolWaitsForItsName) {
  std::string in = Frames({Chunk({{"tool_calls", {{{"index", 0}, {"id", "c1"}, {"function", {{"arguments", "{\"a\""}}}}}}}),
                           Chunk({{"tool_calls", {{{"index", 0}, {"function", {{"name", "f"}, {"arguments", ":1}"}}}}}}}),
                           Chunk(json::object(), "tool_calls"), "data: [DONE]"});
  std::string out = O2A(in);
  EXPECT_EQ(CheckAnthropicStream(out), "");
  json msg = AccumulateAnthropic(out);
  EXPECT_EQ(msg["content"][0]["name"], "f");
  EXPECT_EQ(msg["content"][0]["input"], (json{{"a", 1}}));
  EXPECT_EQ(out.find("\"name\":\"\""), std::string::npos) << "never a placeholder name";
}

// Long names are restored, missing ids generated, invalid ids sanitized.
TEST(OpenAIToAnthropicStreamTest, NamesRestoredIdsGeneratedAndSanitized) {
  OpenAIToAnthropicStreamOptions o;
  o.message_id = "msg_abc";
  std::string long_name = "mcp__" + std::string(80, 'q');
  std::string short_name = o.tool_names.Shorten(long_name);
  std::string in = Frames(
      {Chunk({{"tool_calls", {{{"index", 0}, {"type", "function"}, {"function", {{"name", short_name}, {"arguments", "{}"}}}}}}}),
       Chunk({{"tool_calls", {{{"index", 1}, {"id", "functions.Bash:1"}, {"type", "function"},
                               {"function", {{"name", "Bash"}, {"arguments", "{}"}}}}}}}),
       Chunk(json::object(), "stop"), "data: [DONE]"});
  std::string out = O2A(in, o);
  EXPECT_EQ(CheckAnthropicStream(out), "");
  json msg = AccumulateAnthropic(out);
  EXPECT_EQ(msg["content"][0]["name"], long_name);
  EXPECT_EQ(msg["content"][0]["id"], "toolu_msg_abc_0");
  EXPECT_EQ(msg["content"][1]["id"], "functions_Bash_1");
  EXPECT_EQ(msg["stop_reason"], "tool_use") << "stop with tool calls is tool_use (named tool_choice)";
}

// A buffered stream emits tools in OpenAI index order even when index 1 starts first.
TEST(OpenAIToAnthropicStreamTest, BufferModeOrdersByIndex) {
  std::string in = Frames(
      {Chunk({{"content", "x"}}),
       Chunk({{"tool_calls", {{{"index", 1}, {"id", "b"}, {"function", {{"name", "g"}, {"arguments", "{\"n\":2}"}}}}}}}),
       Chunk({{"tool_calls", {{{"index", 0}, {"id", "a"}, {"function", {{"name", "f"}, {"arguments", "{\"n\":1}"}}}}}}}),
       Chunk(json::object(), "tool_calls"), "data: [DONE]"});
  OpenAIToAnthropicStreamOptions o;
  o.tool_mode = ParallelToolMode::kBuffer;
  std::string out = O2A(in, o);
  EXPECT_EQ(CheckAnthropicStream(out), "");
  json msg = AccumulateAnthropic(out);
  ASSERT_EQ(msg["content"].size(), 3u);
  EXPECT_EQ(msg["content"][1]["id"], "a");
  EXPECT_EQ(msg["content"][2]["id"], "b");
  // In buffer mode a tool block's start, delta and stop are adjacent.
  auto events = testing::ParseSse(out);
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].event == "content_block_start" && events[i].data.find("\"tool_use\"") != std::string::npos) {
      ASSERT_LT(i + 2, events.size());
      EXPECT_EQ(events[i + 1].event, "content_block_delta");
      EXPECT_EQ(events[i + 2].event, "content_block_stop");
    }
  }
}

// Signatures from reasoning_details become one signature_delta just before the thinking block stops.
TEST(OpenAIToAnthropicStreamTest, ReasoningSignature) {
  std::string in = Frames({Chunk({{"reasoning", "deep"}}),
                           Chunk({{"reasoning", " thought"}, {"reasoning_details", {{{"type", "reasoning.text"}, {"signature", "SIG=="}}}}}),
                           Chunk({{"content", "ok"}}), Chunk(json::object(), "stop"), "data: [DONE]"});
  std::string out = O2A(in);
  EXPECT_EQ(CheckAnthropicStream(out), "");
  json msg = AccumulateAnthropic(out);
  EXPECT_EQ(msg["content"][0], (json{{"type", "thinking"}, {"thinking", "deep thought"}, {"signature", "SIG=="}}));
}

// Refusal deltas are shown as text and end with stop_reason refusal; content_filter maps too.
TEST(OpenAIToAnthropicStreamTest, Refusal) {
  json msg = AccumulateAnthropic(O2A(Frames({Chunk({{"refusal", "No."}}), Chunk(json::object(), "stop"), "data: [DONE]"})));
  EXPECT_EQ(msg["content"][0]["text"], "No.");
  EXPECT_EQ(msg["stop_reason"], "refusal");
  json filtered = AccumulateAnthropic(O2A(Frames({Chunk({{"content", "a"}}), Chunk(json::object(), "content_filter"), "data: [DONE]"})));
  EXPECT_EQ(filtered["stop_reason"], "refusal");
}

// Errors: an upstream error chunk (numeric code), a malformed chunk, a lost connection, input after
// the end — each ends the stream with one error event and nothing after it.
TEST(OpenAIToAnthropicStreamTest, ErrorPaths) {
  std::string err = "data: {\"error\":{\"message\":\"Rate limit\",\"code\":429}}\n\n";
  OpenAIToAnthropicStream conv({});
  std::string out = conv.Feed(Frames({Chunk({{"content", "a"}})}) + err + Frames({Chunk({{"content", "ignored"}})}));
  out += conv.Finish(true);
  EXPECT_EQ(CheckAnthropicStream(out), "");
  json msg = AccumulateAnthropic(out);
  EXPECT_EQ(msg["error"]["type"], "rate_limit_error");
  EXPECT_EQ(msg["error"]["message"], "Rate limit");
  EXPECT_EQ(out.find("ignored"), std::string::npos);
  EXPECT_TRUE(conv.done());
  EXPECT_FALSE(conv.completed());

  std::string malformed = O2A("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {oops}\n\n");
  EXPECT_EQ(CheckAnthropicStream(malformed), "");
  EXPECT_EQ(AccumulateAnthropic(malformed)["error"]["type"], "api_error");

  std::string lost = O2A(Frames({Chunk({{"content", "a"}})}), {}, false);
  EXPECT_NE(lost.find("connection lost"), std::string::npos);
  EXPECT_EQ(CheckAnthropicStream(lost), "");
}

// EOF after a finish (no [DONE]) completes normally; a final event without its blank line counts;
// a stream of only [DONE] is still a valid (empty) message.
TEST(OpenAIToAnthropicStreamTest, EndingsWithoutDone) {
  OpenAIToAnthropicStream a({});
  std::string out = testing::FeedAll(a, {Frames({Chunk({{"content", "hi"}}, "stop")})}, false);
  EXPECT_EQ(CheckAnthropicStream(out), "");
  EXPECT_TRUE(a.completed());
  EXPECT_FALSE(a.usage_known());

  OpenAIToAnthropicStream b({});
  out = testing::FeedAll(b, {Frames({Chunk({{"content", "hi"}}, "length")}) + "data: [DONE]"}, true);
  EXPECT_EQ(CheckAnthropicStream(out), "");
  EXPECT_EQ(AccumulateAnthropic(out)["stop_reason"], "max_tokens");

  std::string empty = O2A("data: [DONE]\n\n");
  EXPECT_EQ(CheckAnthropicStream(empty), "");
  EXPECT_EQ(AccumulateAnthropic(empty)["content"].size(), 0u);
}

// Usage attached to the finish chunk (and DeepSeek's cache fields) reaches message_delta and the accessor.
TEST(OpenAIToAnthropicStreamTest, UsageOnTheFinishChunk) {
  json c = {{"choices", {{{"index", 0}, {"delta", {{"content", "x"}}}, {"finish_reason", "stop"}}}},
            {"usage", {{"prompt_tokens", 100}, {"completion_tokens", 3}, {"prompt_cache_hit_tokens", 64}}}};
  OpenAIToAnthropicStream conv({});
  std::string out = testing::FeedAll(conv, {"data: " + c.dump() + "\n\ndata: [DONE]\n\n"}, true);
  json msg = AccumulateAnthropic(out);
  EXPECT_EQ(msg["usage"]["input_tokens"], 36);
  EXPECT_EQ(msg["usage"]["cache_read_input_tokens"], 64);
  EXPECT_TRUE(conv.usage_known());
  EXPECT_EQ(conv.usage().cache_read_tokens, 64);
}

// A→O: tool indices count tool_use blocks (not block indices); server and redacted blocks are
// skipped; "usage":null rides on chunks when the client asked for usage.
TEST(AnthropicToOpenAIStreamTest, ToolIndicesAndSkippedBlocks) {
  std::string in = Frames(
      {Event({{"type", "message_start"}, {"message", {{"id", "msg_2"}, {"model", "claude-x"}, {"usage", {{"input_tokens", 3}, {"output_tokens", 1}}}}}}),
       Event({{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "redacted_thinking"}, {"data", "zz"}}}}),
       Event({{"type", "content_block_stop"}, {"index", 0}}),
       Event({{"type", "content_block_start"}, {"index", 1}, {"content_block", {{"type", "server_tool_use"}, {"id", "srv"}, {"name", "web_search"}}}}),
       Event({{"type", "content_block_delta"}, {"index", 1}, {"delta", {{"type", "input_json_delta"}, {"partial_json", "{\"q\":1}"}}}}),
       Event({{"type", "content_block_stop"}, {"index", 1}}),
       Event({{"type", "content_block_start"}, {"index", 2}, {"content_block", {{"type", "tool_use"}, {"id", "toolu_a"}, {"name", "f"}, {"input", json::object()}}}}),
       Event({{"type", "content_block_delta"}, {"index", 2}, {"delta", {{"type", "input_json_delta"}, {"partial_json", "{\"x\":"}}}}),
       Event({{"type", "content_block_delta"}, {"index", 2}, {"delta", {{"type", "input_json_delta"}, {"partial_json", "1}"}}}}),
       Event({{"type", "content_block_stop"}, {"index", 2}}),
       Event({{"type", "content_block_start"}, {"index", 3}, {"content_block", {{"type", "tool_use"}, {"id", "toolu_b"}, {"name", "g"}, {"input", json::object()}}}}),
       Event({{"type", "content_block_stop"}, {"index", 3}}),
       Event({{"type", "message_delta"}, {"delta", {{"stop_reason", "tool_use"}}}, {"usage", {{"output_tokens", 30}}}}),
       Event({{"type", "message_stop"}})});
  AnthropicToOpenAIStreamOptions o;
  o.client_include_usage = true;
  o.created = 42;
  std::string out = A2O(in, o);
  EXPECT_EQ(CheckOpenAIStream(out), "");
  json msg = AccumulateOpenAI(out);
  ASSERT_EQ(msg["tool_calls"].size(), 2u);
  EXPECT_EQ(msg["tool_calls"][0], (json{{"id", "toolu_a"}, {"name", "f"}, {"arguments", "{\"x\":1}"}}));
  EXPECT_EQ(msg["tool_calls"][1], (json{{"id", "toolu_b"}, {"name", "g"}, {"arguments", "{}"}}));
  EXPECT_EQ(out.find("web_search"), std::string::npos);
  EXPECT_EQ(msg["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(msg["usage"]["completion_tokens"], 30);
  EXPECT_NE(out.find("\"id\":\"chatcmpl-msg_2\""), std::string::npos);
  EXPECT_NE(out.find("\"created\":42"), std::string::npos);
  EXPECT_NE(out.find("\"usage\":null"), std::string::npos);
}

// A→O: a cut stream ends with an error chunk and no [DONE]; the usage so far is still known.
TEST(AnthropicToOpenAIStreamTest, CutStream) {
  std::string in = Frames({Event({{"type", "message_start"}, {"message", {{"id", "m"}, {"model", "c"}, {"usage", {{"input_tokens", 9}, {"output_tokens", 1}}}}}}),
                           Event({{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}}),
                           Event({{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "text_delta"}, {"text", "par"}}}})});
  AnthropicToOpenAIStream conv({});
  std::string out = testing::FeedAll(conv, {in + "event: content_block_delta\ndata: {\"type\":\"content_bl"}, false);
  EXPECT_EQ(CheckOpenAIStream(out), "");
  json msg = AccumulateOpenAI(out);
  EXPECT_EQ(msg["content"], "par");
  EXPECT_EQ(msg["error"]["type"], "api_error");
  EXPECT_FALSE(msg["done"].get<bool>());
  EXPECT_FALSE(conv.completed());
  EXPECT_EQ(conv.usage().input_tokens, 9);
}

// A random but valid OpenAI stream: text, reasoning, up to 3 tool calls with fragments in random
// interleaving, a finish, maybe usage, maybe [DONE], maybe comments and CRLF.
std::string RandomOpenAIStream(uint32_t seed) {
  std::mt19937 rng(seed);
  auto coin = [&](int percent) { return std::uniform_int_distribution<int>(0, 99)(rng) < percent; };
  std::vector<std::string> frames;
  frames.push_back(Chunk({{"role", "assistant"}, {"content", ""}}));
  int n = std::uniform_int_distribution<int>(0, 8)(rng);
  for (int i = 0; i < n; ++i) {
    if (coin(30)) frames.push_back(Chunk({{"reasoning_content", "r\"" + std::to_string(i)}}));
    if (coin(50)) frames.push_back(Chunk({{"content", "t\n\xc3\xa9" + std::to_string(i)}}));
    if (coin(10)) frames.push_back(": keepalive");
  }
  int tools = std::uniform_int_distribution<int>(0, 3)(rng);
  std::vector<std::vector<std::string>> pieces(tools);
  for (int t = 0; t < tools; ++t) pieces[t] = {"{\"k", "\":\"v" + std::to_string(t), "\"}"};
  std::vector<size_t> next(tools, 0);
  bool any_left = tools > 0;
  while (any_left) {
    int t = std::uniform_int_distribution<int>(0, tools - 1)(rng);
    if (next[t] <= pieces[t].size()) {
      json tc = {{"index", t}};
      if (next[t] == 0) {
        tc["id"] = "call." + std::to_string(t);
        tc["type"] = "function";
        tc["function"] = {{"name", "tool" + std::to_string(t)}, {"arguments", ""}};
      } else {
        tc["function"] = {{"arguments", pieces[t][next[t] - 1]}};
      }
      frames.push_back(Chunk({{"tool_calls", {tc}}}));
      ++next[t];
    }
    any_left = false;
    for (int k = 0; k < tools; ++k) any_left = any_left || next[k] <= pieces[k].size();
  }
  frames.push_back(Chunk(json::object(), tools > 0 ? "tool_calls" : "stop"));
  if (coin(70)) {
    frames.push_back("data: " + json({{"choices", json::array()}, {"usage", {{"prompt_tokens", 10 + seed}, {"completion_tokens", 5}}}}).dump());
  }
  if (coin(80)) frames.push_back("data: [DONE]");
  std::string s = Frames(frames);
  if (coin(30)) {
    std::string crlf;
    for (char c : s) {
      if (c == '\n') crlf += '\r';
      crlf += c;
    }
    s = crlf;
  }
  return s;
}

// Property: for random valid streams, both strategies produce streams that satisfy the invariants,
// carry each tool's exact arguments, and do not depend on how the bytes are split.
TEST(OpenAIToAnthropicStreamTest, RandomStreamsKeepInvariantsUnderAnySplit) {
  for (uint32_t seed = 1; seed <= 150; ++seed) {
    std::string in = RandomOpenAIStream(seed);
    for (auto mode : {ParallelToolMode::kKeepOpen, ParallelToolMode::kBuffer}) {
      OpenAIToAnthropicStreamOptions o;
      o.tool_mode = mode;
      std::string whole = O2A(in, o);
      ASSERT_EQ(CheckAnthropicStream(whole), "") << "seed " << seed << "\n" << in << "\n---\n" << whole;
      json msg = AccumulateAnthropic(whole);
      for (const auto& b : msg["content"]) {
        if (b["type"] == "tool_use") {
          std::string k = std::string(b["name"]).substr(4);
          EXPECT_EQ(b["input"], (json{{"k", "v" + k}})) << "seed " << seed;
          EXPECT_EQ(b["id"], "call_" + k);
        }
      }
      for (uint32_t split = 0; split < 5; ++split) {
        OpenAIToAnthropicStream conv(o);
        std::string pieces = testing::FeedPieces(
            in, testing::RandomCuts(in.size(), seed * 100 + split), [&](std::string_view b) { return conv.Feed(b); },
            [&] { return conv.Finish(true); });
        ASSERT_EQ(pieces, whole) << "seed " << seed;
      }
    }
  }
}

// Garbage never crashes a converter, and whatever comes out is still a well-formed stream.
TEST(StreamConvertersTest, GarbageInputIsSafe) {
  std::mt19937 rng(7);
  const std::vector<std::string> alphabet = {"data: ", "event: ", "\n", "\r\n", "{", "}", "[", "]", "\"", ":", ",",
                                             "choices", "delta", "content", "tool_calls", "index", "0", "1", "-1",
                                             "99999999999", "[DONE]", "type", "content_block_start",
                                             "content_block_delta", "message_start", "message_delta", "message_stop",
                                             "error", "text_delta", "null", "\xff", "\\u0000"};
  for (int round = 0; round < 300; ++round) {
    std::string in;
    int n = std::uniform_int_distribution<int>(1, 80)(rng);
    for (int i = 0; i < n; ++i) in += alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
    std::string a = O2A(in);
    EXPECT_EQ(CheckAnthropicStream(a), "") << in;
    AnthropicToOpenAIStream conv({});
    std::string o = testing::FeedAll(conv, {in}, true);
    EXPECT_TRUE(conv.done());
  }
}

}  // namespace
}  // namespace luna::gateway
