#include "gateway/convert/openai_to_anthropic_request.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace luna::gateway {
namespace {

using json = nlohmann::json;

json Base() { return {{"model", "gpt-x"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}; }

ConvertedRequest ConvertFull(const json& request, const OpenAIToAnthropicRequestOptions& options = {}) {
  auto r = ConvertOpenAIToAnthropicRequest(request.dump(), options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : ConvertedRequest{};
}

json Convert(const json& request, const OpenAIToAnthropicRequestOptions& options = {}) {
  return json::parse(ConvertFull(request, options).body);
}

std::string Error(const std::string& body) {
  auto r = ConvertOpenAIToAnthropicRequest(body, {});
  EXPECT_FALSE(r.ok()) << body;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

// Each kind of bad input gets a 400-class error naming the field.
TEST(OpenAIToAnthropicRequestTest, BadInputNamesTheField) {
  EXPECT_NE(Error("{\"messages\": [}").find("not valid JSON"), std::string::npos);
  json r = Base();
  r["n"] = 2;
  EXPECT_EQ(Error(r.dump()), "n: only n=1 is supported by Anthropic-format models");
  r = Base();
  r["messages"] = json::array();
  EXPECT_EQ(Error(r.dump()), "messages: at least one message is required");
  r = Base();
  r["messages"][0]["role"] = "function";
  EXPECT_EQ(Error(r.dump()), "messages[0].role: unsupported role \"function\"");
  r = Base();
  r["messages"][0]["content"] = {{{"type", "input_audio"}, {"input_audio", {{"data", "x"}, {"format", "wav"}}}}};
  EXPECT_EQ(Error(r.dump()), "messages[0].content[0].type: audio input cannot be sent to an Anthropic-format model");
  r = Base();
  r["messages"][0]["content"] = {{{"type", "image_url"}, {"image_url", {{"url", "ftp://x/y.png"}}}}};
  EXPECT_NE(Error(r.dump()).find("messages[0].content[0].image_url.url"), std::string::npos);
  r = Base();
  r["messages"][0]["content"] = {{{"type", "image_url"}, {"image_url", {{"url", "data:image/tiff;base64,AA"}}}}};
  EXPECT_NE(Error(r.dump()).find("unsupported image type \"image/tiff\""), std::string::npos);
  r = Base();
  r["messages"][0]["content"] = {{{"type", "file"}, {"file", {{"file_id", "file-1"}}}}};
  EXPECT_NE(Error(r.dump()).find("messages[0].content[0].file.file_id"), std::string::npos);
  r = Base();
  r["messages"][0]["content"] = {{{"type", "video"}}};
  EXPECT_EQ(Error(r.dump()), "messages[0].content[0].type: unsupported content part type \"video\"");
  r = Base();
  r["max_tokens"] = "lots";
  EXPECT_EQ(Error(r.dump()), "max_tokens: expected a positive integer");
  r = Base();
  r["tools"] = {{{"type", "custom"}, {"custom", {{"name", "x"}}}}};
  EXPECT_EQ(Error(r.dump()), "tools[0].type: only \"function\" tools are supported");
  r = Base();
  r["reasoning_effort"] = "extreme";
  EXPECT_EQ(Error(r.dump()), "reasoning_effort: unsupported value \"extreme\"");
  r = Base();
  r["messages"].push_back({{"role", "tool"}, {"content", "x"}});
  EXPECT_EQ(Error(r.dump()), "messages[1].tool_call_id: expected a string");
  r = Base();
  r["tool_choice"] = "sometimes";
  EXPECT_NE(Error(r.dump()).find("tool_choice"), std::string::npos);
  r = Base();
  r["stop"] = 5;
  EXPECT_EQ(Error(r.dump()), "stop: expected a string or an array of strings");
}

// Images (data URI and URL) and PDFs map to Anthropic blocks; empty text is dropped or replaced.
TEST(OpenAIToAnthropicRequestTest, PartsAndEmptyText) {
  json r = Base();
  r["messages"] = {{{"role", "user"},
                    {"content", {{{"type", "text"}, {"text", " "}},
                                 {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AAA"}}}},
                                 {{"type", "image_url"}, {"image_url", {{"url", "https://x/y.jpg"}, {"detail", "low"}}}},
                                 {{"type", "file"}, {"file", {{"filename", "a.pdf"}, {"file_data", "data:application/pdf;base64,JVBER"}}}}}}},
                   {{"role", "assistant"}, {"content", "   "}},
                   {{"role", "user"}, {"content", ""}}};
  json out = Convert(r);
  ASSERT_EQ(out["messages"].size(), 1u) << out.dump();
  const json& c = out["messages"][0]["content"];
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0], (json{{"type", "image"}, {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", "AAA"}}}}));
  EXPECT_EQ(c[1], (json{{"type", "image"}, {"source", {{"type", "url"}, {"url", "https://x/y.jpg"}}}}));
  EXPECT_EQ(c[2], (json{{"type", "document"}, {"source", {{"type", "base64"}, {"media_type", "application/pdf"}, {"data", "JVBER"}}}, {"title", "a.pdf"}}));
  r["messages"] = {{{"role", "user"}, {"content", "  "}}};
  EXPECT_EQ(Convert(r)["messages"], (json{{{"role", "user"}, {"content", "..."}}}));
}

// A mid-conversation system message is hoisted in order; consecutive user messages merge.
TEST(OpenAIToAnthropicRequestTest, SystemHoistingAndMerging) {
  json r = Base();
  r["messages"] = {{{"role", "system"}, {"content", {{{"type", "text"}, {"text", "A"}}}}},
                   {{"role", "user"}, {"content", "one"}},
                   {{"role", "system"}, {"content", "B"}},
                   {{"role", "user"}, {"content", "two"}}};
  json out = Convert(r);
  EXPECT_EQ(out["system"], (json{{{"type", "text"}, {"text", "A"}}, {{"type", "text"}, {"text", "B"}}}));
  EXPECT_EQ(out["messages"], (json{{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "one"}}, {{"type", "text"}, {"text", "two"}}}}}}));
}

// Tool definitions, tool_choice forms and parallel_tool_calls map as §7.2 says; stream_options
// stays with the gateway.
TEST(OpenAIToAnthropicRequestTest, ToolsChoiceAndStreamOptions) {
  json r = Base();
  r["tools"] = {{{"type", "function"}, {"function", {{"name", "f"}, {"description", "d"}, {"strict", true}}}}};
  r["tool_choice"] = {{"type", "function"}, {"function", {{"name", "f"}}}};
  r["parallel_tool_calls"] = false;
  r["stream"] = true;
  r["stream_options"] = {{"include_usage", true}};
  r["user"] = "u-1";
  r["seed"] = 3;
  r["logprobs"] = true;
  ConvertedRequest c = ConvertFull(r);
  json out = json::parse(c.body);
  EXPECT_EQ(out["tools"], (json{{{"name", "f"}, {"description", "d"}, {"input_schema", {{"type", "object"}, {"properties", json::object()}}}, {"strict", true}}}));
  EXPECT_EQ(out["tool_choice"], (json{{"type", "tool"}, {"name", "f"}, {"disable_parallel_tool_use", true}}));
  EXPECT_EQ(out["stream"], true);
  EXPECT_FALSE(out.contains("stream_options"));
  EXPECT_FALSE(out.contains("seed"));
  EXPECT_EQ(out["metadata"]["user_id"], "u-1");
  EXPECT_TRUE(c.stream);
  EXPECT_TRUE(c.client_include_usage);
  r["tool_choice"] = "required";
  EXPECT_EQ(Convert(r)["tool_choice"], (json{{"type", "any"}, {"disable_parallel_tool_use", true}}));
  r.erase("tool_choice");
  EXPECT_EQ(Convert(r)["tool_choice"], (json{{"type", "auto"}, {"disable_parallel_tool_use", true}}));
}

// Thinking: forced tools turn it off; an unsigned tool-call turn turns it off; signed reasoning
// goes back only to a verifying target; adaptive models get output_config.effort; the limit clamps.
TEST(OpenAIToAnthropicRequestTest, ThinkingRules) {
  json r = Base();
  r["reasoning_effort"] = "medium";
  r["tools"] = {{{"type", "function"}, {"function", {{"name", "f"}}}}};
  r["tool_choice"] = "required";
  ConvertedRequest forced = ConvertFull(r);
  EXPECT_FALSE(json::parse(forced.body).contains("thinking"));
  EXPECT_FALSE(forced.warnings.empty());

  json calls = {{{"id", "c1"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{\"a\":"}}}}};
  r = Base();
  r["reasoning_effort"] = "medium";
  r["messages"].push_back({{"role", "assistant"}, {"content", nullptr}, {"reasoning_content", "why"},
                           {"reasoning_signature", "SIG"}, {"tool_calls", calls}});
  r["messages"].push_back({{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "r"}});
  ConvertedRequest plain = ConvertFull(r);
  json p = json::parse(plain.body);
  EXPECT_FALSE(p.contains("thinking")) << "the tool-call turn has no verifiable thinking block";
  EXPECT_EQ(p["messages"][1]["content"][0]["input"], json::object()) << "broken arguments become {}";
  EXPECT_EQ(plain.body.find("SIG"), std::string::npos);

  OpenAIToAnthropicRequestOptions verifying;
  verifying.target_verifies_signatures = true;
  json v = Convert(r, verifying);
  EXPECT_EQ(v["thinking"], (json{{"type", "enabled"}, {"budget_tokens", 2048}}));
  EXPECT_EQ(v["messages"][1]["content"][0], (json{{"type", "thinking"}, {"thinking", "why"}, {"signature", "SIG"}}));

  r = Base();
  r["reasoning_effort"] = "high";
  OpenAIToAnthropicRequestOptions adaptive;
  adaptive.adaptive_thinking = true;
  json a = Convert(r, adaptive);
  EXPECT_EQ(a["thinking"], (json{{"type", "adaptive"}}));
  EXPECT_EQ(a["output_config"]["effort"], "high");

  OpenAIToAnthropicRequestOptions limited;
  limited.max_tokens_limit = 3000;
  json l = Convert(r, limited);
  EXPECT_EQ(l["max_tokens"], 3000);
  EXPECT_EQ(l["thinking"]["budget_tokens"], 2999);
  limited.max_tokens_limit = 1000;
  EXPECT_FALSE(Convert(r, limited).contains("thinking"));
  r["reasoning_effort"] = "none";
  EXPECT_FALSE(Convert(r).contains("thinking"));
}

// JSON-schema response formats become output_config.format; the model can be overridden.
TEST(OpenAIToAnthropicRequestTest, ResponseFormatAndModel) {
  json r = Base();
  r["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", {{"type", "object"}}}}}};
  OpenAIToAnthropicRequestOptions o;
  o.model = "claude-upstream";
  json out = Convert(r, o);
  EXPECT_EQ(out["output_config"], (json{{"format", {{"type", "json_schema"}, {"schema", {{"type", "object"}}}}}}));
  EXPECT_EQ(out["model"], "claude-upstream");
}

}  // namespace
}  // namespace luna::gateway
