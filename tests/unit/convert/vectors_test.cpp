// The test vectors of FORMATS.md §9, one test each (Vector01 … Vector26).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gateway/convert/anthropic_to_openai_request.h"
#include "gateway/convert/anthropic_to_openai_response.h"
#include "gateway/convert/anthropic_to_openai_stream.h"
#include "gateway/convert/error_mapping.h"
#include "gateway/convert/openai_to_anthropic_request.h"
#include "gateway/convert/openai_to_anthropic_response.h"
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

json A2O(const json& request, const AnthropicToOpenAIRequestOptions& options = {}) {
  auto r = ConvertAnthropicToOpenAIRequest(request.dump(), options);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return json();
  json body = json::parse(r->body, nullptr, false);
  EXPECT_FALSE(body.is_discarded()) << r->body;
  return body;
}

json O2A(const json& request, const OpenAIToAnthropicRequestOptions& options = {}) {
  auto r = ConvertOpenAIToAnthropicRequest(request.dump(), options);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return json();
  json body = json::parse(r->body, nullptr, false);
  EXPECT_FALSE(body.is_discarded()) << r->body;
  return body;
}

json AnthropicRequest(json messages) {
  return {{"model", "claude-x"}, {"max_tokens", 100}, {"messages", std::move(messages)}};
}

json OpenAIRequest(json messages) { return {{"model", "gpt-x"}, {"messages", std::move(messages)}}; }

std::string RunO2A(const std::string& input, OpenAIToAnthropicStreamOptions options = {}, bool eof_clean = true) {
  OpenAIToAnthropicStream conv(std::move(options));
  std::string out = conv.Feed(input);
  out += conv.Finish(eof_clean);
  return out;
}

std::string RunA2O(const std::string& input, AnthropicToOpenAIStreamOptions options = {}, bool eof_clean = true) {
  AnthropicToOpenAIStream conv(std::move(options));
  std::string out = conv.Feed(input);
  out += conv.Finish(eof_clean);
  return out;
}

std::string Chunk(const json& delta, const json& finish = nullptr, const json& usage = nullptr) {
  json c = {{"id", "chatcmpl-1"},
            {"object", "chat.completion.chunk"},
            {"created", 1},
            {"model", "gpt-x"},
            {"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
  if (!usage.is_null()) c["usage"] = usage;
  return "data: " + c.dump();
}

std::string UsageChunk(const json& usage) {
  json c = {{"id", "chatcmpl-1"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "gpt-x"},
            {"choices", json::array()}, {"usage", usage}};
  return "data: " + c.dump();
}

std::string Event(const json& data) { return "event: " + data["type"].get<std::string>() + "\ndata: " + data.dump(); }

std::vector<std::string> EventNames(const std::string& stream) {
  std::vector<std::string> names;
  for (const auto& e : testing::ParseSse(stream)) names.push_back(e.event);
  return names;
}

// ---- A→O request ----

// 1. A string system prompt becomes the first system message; max_tokens carries over.
TEST(FormatsVectors, Vector01_SystemStringAndUserText) {
  json r = AnthropicRequest({{{"role", "user"}, {"content", "hi"}}});
  r["system"] = "S";
  json out = A2O(r);
  ASSERT_EQ(out["messages"].size(), 2u);
  EXPECT_EQ(out["messages"][0], (json{{"role", "system"}, {"content", "S"}}));
  EXPECT_EQ(out["messages"][1], (json{{"role", "user"}, {"content", "hi"}}));
  EXPECT_EQ(out["max_tokens"], 100);
}

// 2. System blocks are joined into one system message; cache_control does not leak upstream.
TEST(FormatsVectors, Vector02_SystemBlocksJoinedWithoutCacheControl) {
  json r = AnthropicRequest({{{"role", "user"}, {"content", "hi"}}});
  r["system"] = {{{"type", "text"}, {"text", "A"}, {"cache_control", {{"type", "ephemeral"}}}},
                 {{"type", "text"}, {"text", "B"}}};
  auto converted = ConvertAnthropicToOpenAIRequest(r.dump(), {});
  ASSERT_TRUE(converted.ok());
  json out = json::parse(converted->body);
  ASSERT_EQ(out["messages"][0]["role"], "system");
  std::string system = out["messages"][0]["content"];
  EXPECT_NE(system.find('A'), std::string::npos);
  EXPECT_NE(system.find('B'), std::string::npos);
  EXPECT_LT(system.find('A'), system.find('B'));
  EXPECT_EQ(converted->body.find("cache_control"), std::string::npos);
}

// 3. A base64 image becomes an image_url data URI.
TEST(FormatsVectors, Vector03_Base64ImageBecomesDataUri) {
  json r = AnthropicRequest(
      {{{"role", "user"},
        {"content", {{{"type", "image"}, {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", "AAA"}}}},
                     {{"type", "text"}, {"text", "what is this?"}}}}}});
  json out = A2O(r);
  const json& parts = out["messages"][0]["content"];
  ASSERT_TRUE(parts.is_array());
  EXPECT_EQ(parts[0]["type"], "image_url");
  EXPECT_EQ(parts[0]["image_url"]["url"], "data:image/png;base64,AAA");
  EXPECT_EQ(parts[1], (json{{"type", "text"}, {"text", "what is this?"}}));
}

// 4. Assistant text plus tool_use blocks become content plus tool_calls with JSON arguments.
TEST(FormatsVectors, Vector04_AssistantToolUseBecomesToolCalls) {
  json r = AnthropicRequest(
      {{{"role", "user"}, {"content", "go"}},
       {{"role", "assistant"},
        {"content",
         {{{"type", "text"}, {"text", "t"}},
          {{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "f"}, {"input", {{"a", 1}}}},
          {{"type", "tool_use"}, {"id", "toolu_2"}, {"name", "g"}, {"input", json::object()}}}}}});
  json out = A2O(r);
  const json& m = out["messages"][1];
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["content"], "t");
  ASSERT_EQ(m["tool_calls"].size(), 2u);
  EXPECT_EQ(m["tool_calls"][0]["id"], "toolu_1");
  EXPECT_EQ(m["tool_calls"][0]["type"], "function");
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "f");
  EXPECT_EQ(m["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
  EXPECT_EQ(m["tool_calls"][1]["id"], "toolu_2");
  EXPECT_EQ(m["tool_calls"][1]["function"]["arguments"], "{}");
}

// 5. Tool results become tool messages placed before the rest of the user turn.
TEST(FormatsVectors, Vector05_ToolResultsBeforeUserText) {
  json r = AnthropicRequest(
      {{{"role", "user"},
        {"content",
         {{{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", "r1"}},
          {{"type", "tool_result"},
           {"tool_use_id", "toolu_2"},
           {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}},
           {"is_error", true}},
          {{"type", "text"}, {"text", "next"}}}}}});
  json out = A2O(r);
  ASSERT_EQ(out["messages"].size(), 3u);
  EXPECT_EQ(out["messages"][0], (json{{"role", "tool"}, {"tool_call_id", "toolu_1"}, {"content", "r1"}}));
  EXPECT_EQ(out["messages"][1], (json{{"role", "tool"}, {"tool_call_id", "toolu_2"}, {"content", "[error] a\nb"}}));
  EXPECT_EQ(out["messages"][2], (json{{"role", "user"}, {"content", "next"}}));
}

json OneTool() {
  return json::array({{{"name", "f"}, {"input_schema", {{"type", "object"}, {"properties", json::object()}}}}});
}

// 6. tool_choice any + disable_parallel_tool_use → "required" and parallel_tool_calls:false.
TEST(FormatsVectors, Vector06_ToolChoiceAnyWithoutParallelCalls) {
  json r = AnthropicRequest({{{"role", "user"}, {"content", "hi"}}});
  r["tools"] = OneTool();
  r["tool_choice"] = {{"type", "any"}, {"disable_parallel_tool_use", true}};
  json out = A2O(r);
  EXPECT_EQ(out["tool_choice"], "required");
  EXPECT_EQ(out["parallel_tool_calls"], false);
  EXPECT_EQ(out["tools"][0]["type"], "function");
  EXPECT_EQ(out["tools"][0]["function"]["name"], "f");
  EXPECT_EQ(out["tools"][0]["function"]["parameters"], OneTool()[0]["input_schema"]);
}

// 7. A thinking budget of 5000 maps to reasoning_effort "high".
TEST(FormatsVectors, Vector07_ThinkingBudgetToReasoningEffort) {
  json r = AnthropicRequest({{{"role", "user"}, {"content", "hi"}}});
  r["max_tokens"] = 8000;
  r["thinking"] = {{"type", "enabled"}, {"budget_tokens", 5000}};
  EXPECT_EQ(A2O(r)["reasoning_effort"], "high");
}

// 8. A streamed request always asks the upstream for usage.
TEST(FormatsVectors, Vector08_StreamAsksForUsage) {
  json r = AnthropicRequest({{{"role", "user"}, {"content", "hi"}}});
  r["stream"] = true;
  json out = A2O(r);
  EXPECT_EQ(out["stream"], true);
  EXPECT_EQ(out["stream_options"]["include_usage"], true);
}

// ---- O→A request ----

// 9. System and developer messages become system blocks; max_tokens defaults, and
// max_completion_tokens wins over max_tokens.
TEST(FormatsVectors, Vector09_SystemDeveloperAndMaxTokens) {
  json r = OpenAIRequest({{{"role", "system"}, {"content", "S1"}},
                          {{"role", "developer"}, {"content", "S2"}},
                          {{"role", "user"}, {"content", "q"}}});
  json out = O2A(r);
  EXPECT_EQ(out["system"], (json{{{"type", "text"}, {"text", "S1"}}, {{"type", "text"}, {"text", "S2"}}}));
  EXPECT_EQ(out["messages"], (json{{{"role", "user"}, {"content", "q"}}}));
  EXPECT_EQ(out["max_tokens"], 4096);
  r["max_completion_tokens"] = 50;
  r["max_tokens"] = 99;
  EXPECT_EQ(O2A(r)["max_tokens"], 50);
}

// 10. Parallel tool calls and their results: one assistant turn of tool_use, one user turn of
// tool_result blocks followed by the user's text.
TEST(FormatsVectors, Vector10_ToolCallsAndResultsAreGrouped) {
  json calls = {{{"id", "c1"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{\"x\":1}"}}}},
                {{"id", "c2"}, {"type", "function"}, {"function", {{"name", "g"}, {"arguments", ""}}}}};
  json r = OpenAIRequest({{{"role", "assistant"}, {"content", nullptr}, {"tool_calls", calls}},
                          {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "one"}},
                          {{"role", "tool"}, {"tool_call_id", "c2"}, {"content", "two"}},
                          {{"role", "user"}, {"content", "go"}}});
  json out = O2A(r);
  const json& msgs = out["messages"];
  ASSERT_EQ(msgs.size(), 3u);  // a "..." user turn is prepended: the conversation must start with the user
  EXPECT_EQ(msgs[0], (json{{"role", "user"}, {"content", "..."}}));
  EXPECT_EQ(msgs[1]["role"], "assistant");
  EXPECT_EQ(msgs[1]["content"],
            (json{{{"type", "tool_use"}, {"id", "c1"}, {"name", "f"}, {"input", {{"x", 1}}}},
                  {{"type", "tool_use"}, {"id", "c2"}, {"name", "g"}, {"input", json::object()}}}));
  EXPECT_EQ(msgs[2]["role"], "user");
  EXPECT_EQ(msgs[2]["content"],
            (json{{{"type", "tool_result"}, {"tool_use_id", "c1"}, {"content", "one"}},
                  {{"type", "tool_result"}, {"tool_use_id", "c2"}, {"content", "two"}},
                  {{"type", "text"}, {"text", "go"}}}));
}

// 11. An id Anthropic would reject is sanitized identically in tool_use.id and tool_use_id.
TEST(FormatsVectors, Vector11_ToolIdSanitizedConsistently) {
  json calls = {{{"id", "functions.Bash:0"}, {"type", "function"}, {"function", {{"name", "Bash"}, {"arguments", "{}"}}}}};
  json r = OpenAIRequest({{{"role", "user"}, {"content", "ls"}},
                          {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", calls}},
                          {{"role", "tool"}, {"tool_call_id", "functions.Bash:0"}, {"content", "ok"}}});
  json out = O2A(r);
  std::string id = out["messages"][1]["content"][0]["id"];
  EXPECT_EQ(id, "functions_Bash_0");
  EXPECT_EQ(out["messages"][2]["content"][0]["tool_use_id"], id);
}

// 12. Temperature is clamped, stop becomes a list, tool_choice none maps, and an empty assistant
// content next to tool calls yields no text block.
TEST(FormatsVectors, Vector12_SamplingStopToolChoiceNoneEmptyText) {
  json calls = {{{"id", "c1"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}}};
  json r = OpenAIRequest({{{"role", "user"}, {"content", "q"}},
                          {{"role", "assistant"}, {"content", ""}, {"tool_calls", calls}},
                          {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "r"}}});
  r["temperature"] = 1.5;
  r["stop"] = "END";
  r["tool_choice"] = "none";
  r["tools"] = {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {{"type", "object"}}}}}}};
  json out = O2A(r);
  EXPECT_DOUBLE_EQ(out["temperature"].get<double>(), 1.0);
  EXPECT_EQ(out["stop_sequences"], json::array({"END"}));
  EXPECT_EQ(out["tool_choice"], (json{{"type", "none"}}));
  ASSERT_EQ(out["messages"][1]["content"].size(), 1u);
  EXPECT_EQ(out["messages"][1]["content"][0]["type"], "tool_use");
}

// 13. reasoning_effort high → thinking with a 4096 budget, max_tokens raised above it, no temperature.
TEST(FormatsVectors, Vector13_ReasoningEffortToThinking) {
  json r = OpenAIRequest({{{"role", "user"}, {"content", "q"}}});
  r["reasoning_effort"] = "high";
  r["max_tokens"] = 2000;
  r["temperature"] = 0.3;
  json out = O2A(r);
  EXPECT_EQ(out["thinking"], (json{{"type", "enabled"}, {"budget_tokens", 4096}}));
  EXPECT_GT(out["max_tokens"].get<int>(), 4096);
  EXPECT_FALSE(out.contains("temperature"));
}

// ---- Non-streaming responses ----

// 14. A→O: all text joined, thinking as reasoning_content, tool calls, finish and usage mapped.
TEST(FormatsVectors, Vector14_AnthropicResponseToOpenAI) {
  json upstream = {{"id", "msg_1"},
                   {"type", "message"},
                   {"role", "assistant"},
                   {"model", "claude-x"},
                   {"content",
                    {{{"type", "thinking"}, {"thinking", "x"}, {"signature", "sig"}},
                     {{"type", "text"}, {"text", "a"}},
                     {{"type", "text"}, {"text", "b"}},
                     {{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "f"}, {"input", {{"k", "v"}}}}}},
                   {"stop_reason", "tool_use"},
                   {"stop_sequence", nullptr},
                   {"usage",
                    {{"input_tokens", 10},
                     {"output_tokens", 20},
                     {"cache_read_input_tokens", 100},
                     {"cache_creation_input_tokens", 5}}}};
  auto r = ConvertAnthropicToOpenAIResponse(200, upstream.dump(), {}, {});
  ASSERT_EQ(r.status, 200);
  json out = json::parse(r.body);
  const json& m = out["choices"][0]["message"];
  EXPECT_EQ(m["content"], "ab");
  EXPECT_EQ(m["reasoning_content"], "x");
  ASSERT_EQ(m["tool_calls"].size(), 1u);
  EXPECT_EQ(m["tool_calls"][0]["function"]["arguments"], "{\"k\":\"v\"}");
  EXPECT_EQ(out["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(out["usage"]["prompt_tokens"], 115);
  EXPECT_EQ(out["usage"]["completion_tokens"], 20);
  EXPECT_EQ(out["usage"]["total_tokens"], 135);
  EXPECT_EQ(out["usage"]["prompt_tokens_details"]["cached_tokens"], 100);
  EXPECT_EQ(r.body.find("sig"), std::string::npos) << "the signature is not exposed by default";
}

json OpenAICompletion(const json& message, const json& finish, const json& usage) {
  return {{"id", "chatcmpl-1"},
          {"object", "chat.completion"},
          {"created", 1},
          {"model", "gpt-x"},
          {"choices", json::array({{{"index", 0}, {"message", message}, {"finish_reason", finish}}})},
          {"usage", usage}};
}

// 15. O→A finish mapping (stop with tool calls → tool_use, content_filter → refusal, length →
// max_tokens) and usage without double counting; A→O pause_turn → stop.
TEST(FormatsVectors, Vector15_FinishReasonsAndCachedUsage) {
  json usage = {{"prompt_tokens", 1000}, {"completion_tokens", 5}, {"prompt_tokens_details", {{"cached_tokens", 800}}}};
  json with_tools = {{"role", "assistant"},
                     {"content", nullptr},
                     {"tool_calls", {{{"id", "c1"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}}}}};
  auto stop_of = [&](const json& message, const char* finish) {
    auto r = ConvertOpenAIToAnthropicResponse(200, OpenAICompletion(message, finish, usage).dump(), {}, {});
    return json::parse(r.body);
  };
  json out = stop_of(with_tools, "stop");
  EXPECT_EQ(out["stop_reason"], "tool_use");
  EXPECT_EQ(out["usage"]["input_tokens"], 200);
  EXPECT_EQ(out["usage"]["cache_read_input_tokens"], 800);
  EXPECT_EQ(out["usage"]["output_tokens"], 5);
  json text = {{"role", "assistant"}, {"content", "x"}};
  EXPECT_EQ(stop_of(text, "content_filter")["stop_reason"], "refusal");
  EXPECT_EQ(stop_of(text, "length")["stop_reason"], "max_tokens");

  json anthropic = {{"id", "msg_1"}, {"type", "message"}, {"role", "assistant"}, {"model", "m"},
                    {"content", {{{"type", "text"}, {"text", "partial"}}}}, {"stop_reason", "pause_turn"},
                    {"usage", {{"input_tokens", 1}, {"output_tokens", 1}}}};
  auto a2o = ConvertAnthropicToOpenAIResponse(200, anthropic.dump(), {}, {});
  EXPECT_EQ(json::parse(a2o.body)["choices"][0]["finish_reason"], "stop");
}

// ---- Streams O→A ----

// 16. A plain text stream with usage after the finish: the exact event sequence, all with event: lines.
TEST(FormatsVectors, Vector16_TextStreamEventSequence) {
  std::string in = Frames({Chunk({{"role", "assistant"}, {"content", ""}}), Chunk({{"content", "Hel"}}),
                           Chunk({{"content", "lo"}}), Chunk(json::object(), "stop"),
                           UsageChunk({{"prompt_tokens", 12}, {"completion_tokens", 2}}), "data: [DONE]"});
  std::string out = RunO2A(in);
  EXPECT_EQ(CheckAnthropicStream(out), "");
  EXPECT_EQ(EventNames(out),
            (std::vector<std::string>{"message_start", "content_block_start", "content_block_delta",
                                      "content_block_delta", "content_block_stop", "message_delta", "message_stop"}));
  json msg = AccumulateAnthropic(out);
  EXPECT_EQ(msg["content"][0], (json{{"type", "text"}, {"text", "Hello"}}));
  EXPECT_EQ(msg["stop_reason"], "end_turn");
  EXPECT_EQ(msg["usage"]["input_tokens"], 12);
  EXPECT_EQ(msg["usage"]["output_tokens"], 2);
}

// 17. Reasoning, then text, then a streamed tool call: three blocks in order, exact arguments.
TEST(FormatsVectors, Vector17_ReasoningTextAndToolCall) {
  std::string in = Frames(
      {Chunk({{"role", "assistant"}}), Chunk({{"reasoning_content", "think"}}), Chunk({{"reasoning_content", "ing"}}),
       Chunk({{"content", "I'll run it."}}),
       Chunk({{"tool_calls", {{{"index", 0}, {"id", "call_1"}, {"type", "function"},
                               {"function", {{"name", "Bash"}, {"arguments", ""}}}}}}}),
       Chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "{\"comm"}}}}}}}),
       Chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "and\":\"ls\"}"}}}}}}}),
       Chunk(json::object(), "tool_calls"), "data: [DONE]"});
  std::string out = RunO2A(in);
  EXPECT_EQ(CheckAnthropicStream(out), "");
  json msg = AccumulateAnthropic(out);
  ASSERT_EQ(msg["content"].size(), 3u);
  EXPECT_EQ(msg["content"][0]["type"], "thinking");
  EXPECT_EQ(msg["content"][0]["thinking"], "thinking");
  EXPECT_EQ(msg["content"][1], (json{{"type", "text"}, {"text", "I'll run it."}}));
  EXPECT_EQ(msg["content"][2]["type"], "tool_use");
  EXPECT_EQ(msg["content"][2]["id"], "call_1");
  EXPECT_EQ(msg["content"][2]["name"], "Bash");
  EXPECT_EQ(msg["content"][2]["input"], (json{{"command", "ls"}}));
  EXPECT_NE(out.find(R"("partial_json":"{\"comm")"), std::string::npos);
  EXPECT_EQ(msg["stop_reason"], "tool_use");
}

// 18. Fragments of two calls interleaved 0,1,0,1 land in the right blocks, never after a block's
// stop, with either parallel-tool strategy.
TEST(FormatsVectors, Vector18_InterleavedToolFragments) {
  auto call = [](int index, const char* id, const char* name, const char* args) {
    json tc = {{"index", index}, {"function", {{"arguments", args}}}};
    if (id != nullptr) {
      tc["id"] = id;
      tc["type"] = "function";
      tc["function"]["name"] = name;
    }
    return Chunk({{"tool_calls", {tc}}});
  };
  std::string in = Frames({Chunk({{"role", "assistant"}}), call(0, "call_a", "read", "{\"path\":"),
                           call(1, "call_b", "write", "{\"path\":"), call(0, nullptr, nullptr, "\"a.txt\"}"),
                           call(1, nullptr, nullptr, "\"b.txt\"}"), Chunk(json::object(), "tool_calls"),
                           "data: [DONE]"});
  for (auto mode : {ParallelToolMode::kKeepOpen, ParallelToolMode::kBuffer}) {
    OpenAIToAnthropicStreamOptions options;
    options.tool_mode = mode;
    std::string out = RunO2A(in, options);
    EXPECT_EQ(CheckAnthropicStream(out), "") << out;
    json msg = AccumulateAnthropic(out);
    ASSERT_EQ(msg["content"].size(), 2u);
    EXPECT_EQ(msg["content"][0]["id"], "call_a");
    EXPECT_EQ(msg["content"][0]["input"], (json{{"path", "a.txt"}}));
    EXPECT_EQ(msg["content"][1]["id"], "call_b");
    EXPECT_EQ(msg["content"][1]["name"], "write");
    EXPECT_EQ(msg["content"][1]["input"], (json{{"path", "b.txt"}}));
    EXPECT_EQ(msg["stop_reason"], "tool_use");
  }
}

// 19. A finish without usage, then a usage-only chunk: exactly one message_delta, carrying the usage.
TEST(FormatsVectors, Vector19_UsageAfterFinishIsHeldAndMerged) {
  std::string in = Frames({Chunk({{"role", "assistant"}, {"content", "ok"}}), Chunk(json::object(), "stop"),
                           UsageChunk({{"prompt_tokens", 30},
                                       {"completion_tokens", 4},
                                       {"prompt_tokens_details", {{"cached_tokens", 20}}}}),
                           "data: [DONE]"});
  std::string out = RunO2A(in);
  EXPECT_EQ(CheckAnthropicStream(out), "");
  auto names = EventNames(out);
  EXPECT_EQ(std::count(names.begin(), names.end(), "message_delta"), 1);
  json msg = AccumulateAnthropic(out);
  EXPECT_EQ(msg["usage"]["input_tokens"], 10);
  EXPECT_EQ(msg["usage"]["cache_read_input_tokens"], 20);
  EXPECT_EQ(msg["usage"]["output_tokens"], 4);
}

// 20. A stream cut before any finish: an error event, and no invented end_turn.
TEST(FormatsVectors, Vector20_CutStreamEndsWithError) {
  std::string in = Frames({Chunk({{"role", "assistant"}, {"content", "partial"}})});
  OpenAIToAnthropicStream conv({});
  std::string out = testing::FeedAll(conv, {in}, true);
  EXPECT_EQ(CheckAnthropicStream(out), "");
  json msg = AccumulateAnthropic(out);
  EXPECT_EQ(msg["events"].back(), "error");
  EXPECT_EQ(msg["error"]["type"], "api_error");
  EXPECT_EQ(out.find("end_turn"), std::string::npos);
  EXPECT_EQ(out.find("message_delta"), std::string::npos);
  EXPECT_FALSE(conv.completed());
}

// 21. Comment lines, CRLF line ends and a chunk split mid-JSON across reads parse correctly.
TEST(FormatsVectors, Vector21_CommentsCrlfAndSplitJson) {
  std::string in = ": OPENROUTER PROCESSING\r\n\r\n" + Chunk({{"role", "assistant"}, {"content", "Hi"}}) + "\r\n\r\n" +
                   Chunk({{"content", " there"}}) + "\r\n\r\n" + Chunk(json::object(), "stop") + "\r\n\r\n" +
                   "data: [DONE]\r\n\r\n";
  size_t split = in.find("there");
  OpenAIToAnthropicStream conv({});
  std::string out = testing::FeedAll(conv, {in.substr(0, split), in.substr(split)}, true);
  EXPECT_EQ(CheckAnthropicStream(out), "");
  EXPECT_EQ(AccumulateAnthropic(out)["content"][0]["text"], "Hi there");
  EXPECT_TRUE(conv.completed());
}

// ---- Streams A→O ----

std::string MessageStart(int in, int out_tokens) {
  return Event({{"type", "message_start"},
                {"message",
                 {{"id", "msg_1"}, {"type", "message"}, {"role", "assistant"}, {"model", "claude-x"},
                  {"content", json::array()}, {"stop_reason", nullptr}, {"stop_sequence", nullptr},
                  {"usage", {{"input_tokens", in}, {"output_tokens", out_tokens}}}}}});
}

std::string BlockStart(int index, const json& block) {
  return Event({{"type", "content_block_start"}, {"index", index}, {"content_block", block}});
}
std::string BlockDelta(int index, const json& delta) {
  return Event({{"type", "content_block_delta"}, {"index", index}, {"delta", delta}});
}
std::string BlockStop(int index) { return Event({{"type", "content_block_stop"}, {"index", index}}); }
std::string MessageDelta(const char* stop, const json& usage) {
  return Event({{"type", "message_delta"}, {"delta", {{"stop_reason", stop}, {"stop_sequence", nullptr}}}, {"usage", usage}});
}
std::string MessageStop() { return Event({{"type", "message_stop"}}); }
std::string Ping() { return Event({{"type", "ping"}}); }

// 22. Text, then a tool_use without arguments at block 1: tool index 0, arguments "{}", tool_calls.
TEST(FormatsVectors, Vector22_NoArgumentToolCall) {
  std::string in = Frames({MessageStart(5, 1), BlockStart(0, {{"type", "text"}, {"text", ""}}),
                           BlockDelta(0, {{"type", "text_delta"}, {"text", "Checking."}}), BlockStop(0),
                           BlockStart(1, {{"type", "tool_use"}, {"id", "toolu_9"}, {"name", "now"}, {"input", json::object()}}),
                           BlockDelta(1, {{"type", "input_json_delta"}, {"partial_json", ""}}), BlockStop(1),
                           MessageDelta("tool_use", {{"output_tokens", 9}}), MessageStop()});
  std::string out = RunA2O(in);
  EXPECT_EQ(CheckOpenAIStream(out), "");
  json msg = AccumulateOpenAI(out);
  EXPECT_EQ(msg["content"], "Checking.");
  ASSERT_EQ(msg["tool_calls"].size(), 1u);
  EXPECT_EQ(msg["tool_calls"][0]["id"], "toolu_9");
  EXPECT_EQ(msg["tool_calls"][0]["name"], "now");
  EXPECT_EQ(msg["tool_calls"][0]["arguments"], "{}");
  EXPECT_EQ(msg["finish_reason"], "tool_calls");
  EXPECT_NE(out.find(R"("tool_calls":[{"index":0,"id":"toolu_9","type":"function","function":{"name":"now","arguments":""}}])"),
            std::string::npos);
}

// 23. Thinking with a signature, then text, with pings between: reasoning_content then content, the
// signature never in content. A mid-stream overloaded_error reaches the client as an error chunk.
TEST(FormatsVectors, Vector23_ThinkingSignaturePingsAndMidStreamError) {
  std::string head = Frames({MessageStart(5, 1), Ping(),
                             BlockStart(0, {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}),
                             BlockDelta(0, {{"type", "thinking_delta"}, {"thinking", "hmm"}}), Ping(),
                             BlockDelta(0, {{"type", "signature_delta"}, {"signature", "SIGNATURE123"}}), BlockStop(0),
                             BlockStart(1, {{"type", "text"}, {"text", ""}}),
                             BlockDelta(1, {{"type", "text_delta"}, {"text", "answer"}})});
  std::string out = RunA2O(head + Frames({BlockStop(1), MessageDelta("end_turn", {{"output_tokens", 7}}), MessageStop()}));
  EXPECT_EQ(CheckOpenAIStream(out), "");
  json msg = AccumulateOpenAI(out);
  EXPECT_EQ(msg["reasoning_content"], "hmm");
  EXPECT_EQ(msg["content"], "answer");
  EXPECT_EQ(out.find("SIGNATURE123"), std::string::npos);
  EXPECT_LT(out.find("reasoning_content"), out.find("\"content\":\"answer\""));

  std::string err = Event({{"type", "error"}, {"error", {{"type", "overloaded_error"}, {"message", "Overloaded"}}}});
  std::string cut = RunA2O(head + Frames({err}));
  EXPECT_EQ(CheckOpenAIStream(cut), "");
  json failed = AccumulateOpenAI(cut);
  EXPECT_EQ(failed["error"]["type"], "overloaded_error");
  EXPECT_EQ(failed["error"]["message"], "Overloaded");
  EXPECT_FALSE(failed["done"].get<bool>());
}

// 24. A refusal with zero content blocks: a role chunk, then finish_reason content_filter.
TEST(FormatsVectors, Vector24_RefusalWithoutBlocks) {
  std::string in = Frames({MessageStart(5, 1), Ping(), MessageDelta("refusal", {{"output_tokens", 3}}), MessageStop()});
  std::string out = RunA2O(in);
  EXPECT_EQ(CheckOpenAIStream(out), "");
  json msg = AccumulateOpenAI(out);
  EXPECT_EQ(msg["role"], "assistant");
  EXPECT_EQ(msg["finish_reason"], "content_filter");
  EXPECT_EQ(msg["chunks"], 2);
}

// 25. Cumulative usage is replaced, not added (completion 373, not 375); the usage chunk is sent
// only when the client asked for it, but the converter always has the usage.
TEST(FormatsVectors, Vector25_CumulativeUsageReplacedAndOptIn) {
  std::string in = Frames({MessageStart(47, 2), BlockStart(0, {{"type", "text"}, {"text", ""}}),
                           BlockDelta(0, {{"type", "text_delta"}, {"text", "x"}}), BlockStop(0),
                           MessageDelta("end_turn", {{"output_tokens", 373}, {"input_tokens", 47}}), MessageStop()});
  AnthropicToOpenAIStreamOptions with;
  with.client_include_usage = true;
  AnthropicToOpenAIStream conv(with);
  std::string out = testing::FeedAll(conv, {in}, true);
  json msg = AccumulateOpenAI(out);
  EXPECT_EQ(msg["usage"]["prompt_tokens"], 47);
  EXPECT_EQ(msg["usage"]["completion_tokens"], 373);
  EXPECT_EQ(msg["usage"]["total_tokens"], 420);
  EXPECT_EQ(conv.usage().output_tokens, 373);

  AnthropicToOpenAIStream silent({});
  std::string quiet = testing::FeedAll(silent, {in}, true);
  EXPECT_TRUE(AccumulateOpenAI(quiet)["usage"].is_null());
  EXPECT_EQ(quiet.find("\"usage\""), std::string::npos);
  EXPECT_EQ(silent.usage().input_tokens, 47);
  EXPECT_EQ(silent.usage().output_tokens, 373);
  EXPECT_TRUE(silent.usage_known());
}

// ---- Errors ----

// 26. OpenAI 429 with retry-after → Anthropic 429 rate_limit_error keeping the header; Anthropic 529
// → OpenAI-shaped body with status 529 (or 503 when configured).
TEST(FormatsVectors, Vector26_ErrorStatusTypeAndRetryAfter) {
  UpstreamHeaders headers;
  headers.retry_after = "7";
  auto a = ConvertOpenAIToAnthropicResponse(
      429, R"({"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}})", headers, {});
  EXPECT_EQ(a.status, 429);
  json body = json::parse(a.body);
  EXPECT_EQ(body["type"], "error");
  EXPECT_EQ(body["error"]["type"], "rate_limit_error");
  EXPECT_EQ(body["error"]["message"], "Rate limit reached");
  EXPECT_NE(std::find(a.headers.begin(), a.headers.end(), std::make_pair(std::string("retry-after"), std::string("7"))),
            a.headers.end());

  std::string overloaded = R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})";
  auto o = ConvertAnthropicToOpenAIResponse(529, overloaded, {}, {});
  EXPECT_EQ(o.status, 529);
  json ob = json::parse(o.body);
  EXPECT_EQ(ob["error"]["type"], "overloaded_error");
  EXPECT_EQ(ob["error"]["message"], "Overloaded");
  EXPECT_TRUE(ob["error"]["param"].is_null());
  EXPECT_TRUE(ob["error"]["code"].is_null());
  AnthropicToOpenAIResponseOptions map503;
  map503.map_529_to_503 = true;
  EXPECT_EQ(ConvertAnthropicToOpenAIResponse(529, overloaded, {}, map503).status, 503);
}

}  // namespace
}  // namespace luna::gateway
