#include "gateway/convert/anthropic_to_openai_request.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace luna::gateway {
namespace {

using json = nlohmann::json;

json Base() {
  return {{"model", "claude-x"}, {"max_tokens", 1000}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
}

json Convert(const json& request, const AnthropicToOpenAIRequestOptions& options = {}) {
  auto r = ConvertAnthropicToOpenAIRequest(request.dump(), options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? json::parse(r->body) : json();
}

std::string Error(const std::string& body, const AnthropicToOpenAIRequestOptions& options = {}) {
  auto r = ConvertAnthropicToOpenAIRequest(body, options);
  EXPECT_FALSE(r.ok()) << body;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

// Each kind of bad input gets a 400-class error naming the field.
TEST(AnthropicToOpenAIRequestTest, BadInputNamesTheField) {
  EXPECT_NE(Error("{\"model\":").find("not valid JSON"), std::string::npos);
  EXPECT_NE(Error("[1]").find("request body"), std::string::npos);
  json r = Base();
  r.erase("max_tokens");
  EXPECT_EQ(Error(r.dump()), "max_tokens: field required");
  r = Base();
  r["max_tokens"] = "many";
  EXPECT_EQ(Error(r.dump()), "max_tokens: expected a non-negative integer");
  r = Base();
  r.erase("model");
  EXPECT_EQ(Error(r.dump()), "model: field required");
  r = Base();
  r["messages"] = "hi";
  EXPECT_EQ(Error(r.dump()), "messages: expected an array");
  r = Base();
  r["messages"] = json::array();
  EXPECT_EQ(Error(r.dump()), "messages: at least one message is required");
  r = Base();
  r["messages"][0]["role"] = "robot";
  EXPECT_EQ(Error(r.dump()), "messages[0].role: expected \"user\" or \"assistant\"");
  r = Base();
  r["messages"][0]["content"] = 5;
  EXPECT_EQ(Error(r.dump()), "messages[0].content: expected a string or an array of content blocks");
  r = Base();
  r["messages"][0]["content"] = {{{"type", "text"}, {"text", "a"}}, {{"type", "hologram"}}};
  EXPECT_NE(Error(r.dump()).find("messages[0].content[1].type: unsupported content block type \"hologram\""),
            std::string::npos);
  r = Base();
  r["messages"][0]["content"] = {{{"type", "text"}, {"text", 5}}};
  EXPECT_EQ(Error(r.dump()), "messages[0].content[0].text: expected a string");
  r = Base();
  r["messages"][0]["content"] = {{{"type", "image"}, {"source", {{"type", "file"}}}}};
  EXPECT_EQ(Error(r.dump()), "messages[0].content[0].source.type: expected \"base64\" or \"url\"");
  r = Base();
  r["messages"][0]["content"] = {{{"type", "tool_result"}}};
  EXPECT_EQ(Error(r.dump()), "messages[0].content[0].tool_use_id: expected a string");
  r = Base();
  r["messages"].push_back({{"role", "assistant"}, {"content", {{{"type", "tool_use"}, {"id", "t"}, {"name", "f"}, {"input", 3}}}}});
  EXPECT_EQ(Error(r.dump()), "messages[1].content[0].input: expected an object");
  r = Base();
  r["tools"] = {{{"name", ""}}};
  EXPECT_EQ(Error(r.dump()), "tools[0].name: expected a non-empty string");
  r = Base();
  r["tool_choice"] = {{"type", "sometimes"}};
  EXPECT_NE(Error(r.dump()).find("tool_choice.type"), std::string::npos);
  r = Base();
  r["thinking"] = {{"type", "enabled"}};
  EXPECT_EQ(Error(r.dump()), "thinking.budget_tokens: expected an integer");
  r = Base();
  r["stop_sequences"] = {"a", 1};
  EXPECT_EQ(Error(r.dump()), "stop_sequences[1]: expected a string");
  r = Base();
  r["stream"] = "yes";
  EXPECT_EQ(Error(r.dump()), "stream: expected a boolean");
}

// PDFs become file parts, or a clear 400 when the target takes none; URL documents are refused;
// text documents become text.
TEST(AnthropicToOpenAIRequestTest, Documents) {
  json r = Base();
  r["messages"][0]["content"] = {
      {{"type", "document"}, {"title", "spec.pdf"},
       {"source", {{"type", "base64"}, {"media_type", "application/pdf"}, {"data", "JVBER"}}}},
      {{"type", "document"}, {"source", {{"type", "text"}, {"media_type", "text/plain"}, {"data", "plain words"}}}}};
  json out = Convert(r);
  const json& parts = out["messages"][0]["content"];
  EXPECT_EQ(parts[0], (json{{"type", "file"}, {"file", {{"filename", "spec.pdf"}, {"file_data", "data:application/pdf;base64,JVBER"}}}}));
  EXPECT_EQ(parts[1], (json{{"type", "text"}, {"text", "plain words"}}));
  AnthropicToOpenAIRequestOptions no_files;
  no_files.allow_file_parts = false;
  EXPECT_EQ(Error(r.dump(), no_files), "messages[0].content[0]: PDF documents are not supported by this OpenAI-format model");
  r["messages"][0]["content"] = {{{"type", "document"}, {"source", {{"type", "url"}, {"url", "https://x/a.pdf"}}}}};
  EXPECT_NE(Error(r.dump()).find("by URL"), std::string::npos);
}

// Images inside a tool result move to the user message that follows the tool messages.
TEST(AnthropicToOpenAIRequestTest, ToolResultImagesMoveToTheUserMessage) {
  json r = Base();
  r["messages"] = {
      {{"role", "user"}, {"content", "look"}},
      {{"role", "assistant"}, {"content", {{{"type", "tool_use"}, {"id", "t1"}, {"name", "shot"}, {"input", json::object()}}}}},
      {{"role", "user"},
       {"content", {{{"type", "tool_result"}, {"tool_use_id", "t1"},
                     {"content", {{{"type", "text"}, {"text", "screenshot:"}},
                                  {{"type", "image"}, {"source", {{"type", "url"}, {"url", "https://x/s.png"}}}}}}}}}}};
  json out = Convert(r);
  ASSERT_EQ(out["messages"].size(), 4u);
  EXPECT_EQ(out["messages"][2], (json{{"role", "tool"}, {"tool_call_id", "t1"}, {"content", "screenshot:"}}));
  EXPECT_EQ(out["messages"][3]["role"], "user");
  EXPECT_EQ(out["messages"][3]["content"][0]["image_url"]["url"], "https://x/s.png");
}

// Long tool names are shortened everywhere in the request and the map can restore them.
TEST(AnthropicToOpenAIRequestTest, LongToolNamesAreMapped) {
  std::string long_name = "mcp__" + std::string(80, 'x');
  json r = Base();
  r["tools"] = {{{"name", long_name}, {"input_schema", {{"type", "object"}}}, {"cache_control", {{"type", "ephemeral"}}}},
                {{"type", "web_search_20250305"}, {"name", "web_search"}}};
  r["tool_choice"] = {{"type", "tool"}, {"name", long_name}};
  r["messages"].push_back({{"role", "assistant"}, {"content", {{{"type", "tool_use"}, {"id", "t"}, {"name", long_name}, {"input", json::object()}}}}});
  auto converted = ConvertAnthropicToOpenAIRequest(r.dump(), {});
  ASSERT_TRUE(converted.ok()) << converted.status();
  json out = json::parse(converted->body);
  std::string short_name = out["tools"][0]["function"]["name"];
  EXPECT_EQ(short_name.size(), 64u);
  EXPECT_EQ(out["tools"].size(), 1u) << "server tools are dropped";
  EXPECT_EQ(out["tool_choice"]["function"]["name"], short_name);
  EXPECT_EQ(out["messages"][1]["tool_calls"][0]["function"]["name"], short_name);
  EXPECT_EQ(converted->tool_names.Restore(short_name), long_name);
  EXPECT_FALSE(converted->warnings.empty());
  EXPECT_EQ(converted->body.find("cache_control"), std::string::npos);
}

// Thinking history is dropped by default (its signature cannot travel) or sent as reasoning_content;
// options rename fields and clamp tokens.
TEST(AnthropicToOpenAIRequestTest, ThinkingHistoryAndOptions) {
  json r = Base();
  r["max_tokens"] = 64000;
  r["messages"].push_back({{"role", "assistant"},
                           {"content", {{{"type", "thinking"}, {"thinking", "plan"}, {"signature", "SIG"}},
                                        {{"type", "redacted_thinking"}, {"data", "xyz"}},
                                        {{"type", "text"}, {"text", "done"}}}}});
  r["temperature"] = 0.5;
  r["top_k"] = 40;
  r["metadata"] = {{"user_id", "u1"}};
  json out = Convert(r);
  EXPECT_EQ(out["messages"][1], (json{{"role", "assistant"}, {"content", "done"}}));
  EXPECT_EQ(out["max_tokens"], 64000);
  EXPECT_EQ(out["temperature"], 0.5);
  EXPECT_FALSE(out.contains("top_k"));
  EXPECT_EQ(out["user"], "u1");
  AnthropicToOpenAIRequestOptions deepseek;
  deepseek.thinking_to_reasoning_content = true;
  deepseek.max_tokens_limit = 8192;
  deepseek.model = "deepseek-chat";
  deepseek.use_max_completion_tokens = true;
  deepseek.system_as_developer = true;
  r["system"] = "sys";
  json ds = Convert(r, deepseek);
  EXPECT_EQ(ds["model"], "deepseek-chat");
  EXPECT_EQ(ds["messages"][0]["role"], "developer");
  EXPECT_EQ(ds["messages"][2]["reasoning_content"], "plan");
  EXPECT_EQ(ds["max_completion_tokens"], 8192);
  EXPECT_FALSE(ds.contains("max_tokens"));
  EXPECT_EQ(std::string(json(ds).dump()).find("SIG"), std::string::npos);
}

// Adaptive thinking with an effort, and a JSON-schema output format.
TEST(AnthropicToOpenAIRequestTest, AdaptiveThinkingAndOutputFormat) {
  json r = Base();
  r["thinking"] = {{"type", "adaptive"}};
  r["output_config"] = {{"effort", "low"}, {"format", {{"type", "json_schema"}, {"schema", {{"type", "object"}}}}}};
  json out = Convert(r);
  EXPECT_EQ(out["reasoning_effort"], "low");
  EXPECT_EQ(out["response_format"],
            (json{{"type", "json_schema"}, {"json_schema", {{"name", "output"}, {"schema", {{"type", "object"}}}, {"strict", true}}}}));
  r["thinking"] = {{"type", "disabled"}};
  EXPECT_FALSE(Convert(r).contains("reasoning_effort"));
  EXPECT_EQ(ReasoningEffortForBudget(1023), "minimal");
  EXPECT_EQ(ReasoningEffortForBudget(16384), "max");
}

// Escapes and non-ASCII text survive byte-exactly (copied in escaped form).
TEST(AnthropicToOpenAIRequestTest, TextIsCopiedExactly) {
  json r = Base();
  std::string tricky = "line1\nline2 \"q\" \\ \t \xc3\xa9 \xf0\x9f\x98\x80 </script>";
  r["system"] = {{{"type", "text"}, {"text", tricky}}};
  r["messages"][0]["content"] = tricky;
  json out = Convert(r);
  EXPECT_EQ(out["messages"][0]["content"], tricky);
  EXPECT_EQ(out["messages"][1]["content"], tricky);
}

}  // namespace
}  // namespace luna::gateway
