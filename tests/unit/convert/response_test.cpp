#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gateway/convert/anthropic_to_openai_response.h"
#include "gateway/convert/openai_to_anthropic_response.h"

namespace luna::gateway {
namespace {

using json = nlohmann::json;

json AnthropicMessage(json content, const char* stop) {
  return {{"id", "msg_9"}, {"type", "message"}, {"role", "assistant"}, {"model", "claude-x"}, {"content", std::move(content)},
          {"stop_reason", stop}, {"stop_sequence", nullptr}, {"usage", {{"input_tokens", 3}, {"output_tokens", 4}}}};
}

json Completion(json message, const char* finish, json usage = nullptr) {
  json c = {{"id", "chatcmpl-7"}, {"object", "chat.completion"}, {"created", 1}, {"model", "gpt-x"},
            {"choices", json::array({{{"index", 0}, {"message", std::move(message)}, {"finish_reason", finish}}})}};
  if (!usage.is_null()) c["usage"] = std::move(usage);
  return c;
}

// A→O: the full chat.completion shape; content null for a tool-only answer; options applied.
TEST(AnthropicToOpenAIResponseTest, ShapeAndOptions) {
  AnthropicToOpenAIResponseOptions o;
  o.created = 1700000000;
  o.model = "shown-model";
  o.expose_signature = true;
  UpstreamHeaders h;
  h.request_id = "req_5";
  json msg = AnthropicMessage({{{"type", "thinking"}, {"thinking", "t"}, {"signature", "S1"}},
                               {{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "f"}, {"input", json::object()}}},
                              "tool_use");
  auto r = ConvertAnthropicToOpenAIResponse(200, msg.dump(), h, o);
  json out = json::parse(r.body);
  EXPECT_EQ(out["id"], "chatcmpl-msg_9");
  EXPECT_EQ(out["object"], "chat.completion");
  EXPECT_EQ(out["created"], 1700000000);
  EXPECT_EQ(out["model"], "shown-model");
  EXPECT_TRUE(out["choices"][0]["message"]["content"].is_null());
  EXPECT_EQ(out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], "{}");
  EXPECT_EQ(out["choices"][0]["message"]["reasoning_signature"], "S1");
  EXPECT_EQ(r.headers, (HeaderList{{"x-request-id", "req_5"}}));
  EXPECT_TRUE(r.usage_known);
  EXPECT_EQ(r.usage.output_tokens, 4);
  auto refusal = ConvertAnthropicToOpenAIResponse(200, AnthropicMessage(json::array(), "refusal").dump(), {}, {});
  json rj = json::parse(refusal.body);
  EXPECT_EQ(rj["choices"][0]["finish_reason"], "content_filter");
  EXPECT_EQ(rj["choices"][0]["message"]["content"], "");
}

// A→O: a malformed or error-shaped 200 body becomes an OpenAI error with a fitting status.
TEST(AnthropicToOpenAIResponseTest, BrokenSuccessBodies) {
  auto bad = ConvertAnthropicToOpenAIResponse(200, "{not json", {}, {});
  EXPECT_EQ(bad.status, 502);
  EXPECT_TRUE(bad.is_error);
  EXPECT_EQ(json::parse(bad.body)["error"]["type"], "api_error");
  auto err = ConvertAnthropicToOpenAIResponse(
      200, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", {}, {});
  EXPECT_EQ(err.status, 529);
  EXPECT_EQ(json::parse(err.body)["error"]["message"], "Overloaded");
}

// O→A: blocks ordered thinking → text → tool_use, ids generated, names restored, bad arguments → {}.
TEST(OpenAIToAnthropicResponseTest, BlocksIdsAndNames) {
  ToolNameMap names;
  std::string long_name = "mcp__" + std::string(90, 'n');
  std::string short_name = names.Shorten(long_name);
  OpenAIToAnthropicResponseOptions o;
  o.tool_names = &names;
  o.message_id = "msg_fixed";
  json message = {{"role", "assistant"},
                  {"content", "answer"},
                  {"reasoning_content", "because"},
                  {"tool_calls",
                   {{{"type", "function"}, {"function", {{"name", short_name}, {"arguments", "{\"a\":[1,2]}"}}}},
                    {{"id", "functions.x:1"}, {"type", "function"}, {"function", {{"name", "g"}, {"arguments", "{oops"}}}}}}};
  auto r = ConvertOpenAIToAnthropicResponse(200, Completion(message, "tool_calls").dump(), {}, o);
  json out = json::parse(r.body);
  EXPECT_EQ(out["id"], "msg_fixed");
  EXPECT_EQ(out["type"], "message");
  ASSERT_EQ(out["content"].size(), 4u);
  EXPECT_EQ(out["content"][0], (json{{"type", "thinking"}, {"thinking", "because"}, {"signature", ""}}));
  EXPECT_EQ(out["content"][1], (json{{"type", "text"}, {"text", "answer"}}));
  EXPECT_EQ(out["content"][2]["id"], "toolu_msg_fixed_0");
  EXPECT_EQ(out["content"][2]["name"], long_name);
  EXPECT_EQ(out["content"][2]["input"], (json{{"a", {1, 2}}}));
  EXPECT_EQ(out["content"][3]["id"], "functions_x_1");
  EXPECT_EQ(out["content"][3]["input"], json::object());
  EXPECT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(out["stop_reason"], "tool_use");
  EXPECT_FALSE(r.usage_known);
  EXPECT_EQ(out["usage"]["output_tokens"], 0);
}

// O→A: a refusal becomes text with stop_reason refusal; vLLM's `reasoning` is read too.
TEST(OpenAIToAnthropicResponseTest, RefusalAndReasoningField) {
  json message = {{"role", "assistant"}, {"content", nullptr}, {"refusal", "I can't help with that."}, {"reasoning", "r"}};
  auto r = ConvertOpenAIToAnthropicResponse(200, Completion(message, "stop", {{"prompt_tokens", 9}, {"completion_tokens", 1}}).dump(), {}, {});
  json out = json::parse(r.body);
  EXPECT_EQ(out["id"], "msg_chatcmpl-7");
  EXPECT_EQ(out["content"][0]["thinking"], "r");
  EXPECT_EQ(out["content"][1]["text"], "I can't help with that.");
  EXPECT_EQ(out["stop_reason"], "refusal");
  EXPECT_TRUE(r.usage_known);
  EXPECT_EQ(out["usage"]["input_tokens"], 9);
}

// O→A: malformed or choice-less success bodies become Anthropic errors (502).
TEST(OpenAIToAnthropicResponseTest, BrokenSuccessBodies) {
  for (std::string body : {"", "{", R"({"choices":[]})", R"({"error":{"message":"quota exceeded"}})"}) {
    auto r = ConvertOpenAIToAnthropicResponse(200, body, {}, {});
    EXPECT_EQ(r.status, 502) << body;
    json out = json::parse(r.body);
    EXPECT_EQ(out["type"], "error") << body;
    EXPECT_EQ(out["error"]["type"], "api_error");
  }
  EXPECT_EQ(json::parse(ConvertOpenAIToAnthropicResponse(200, R"({"error":{"message":"quota exceeded"}})", {}, {}).body)
                ["error"]["message"],
            "quota exceeded");
}

}  // namespace
}  // namespace luna::gateway
