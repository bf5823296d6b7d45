#include "gateway/convert/anthropic_to_openai_response.h"

#include "gateway/convert/error_mapping.h"
#include "gateway/convert/json_view.h"
#include "gateway/convert/json_writer.h"
#include "gateway/convert/stop_reasons.h"
#include "gateway/convert/usage_mapping.h"

namespace luna::gateway {

ConvertedResponse ConvertAnthropicToOpenAIResponse(int status, std::string_view body, const UpstreamHeaders& headers,
                                                   const AnthropicToOpenAIResponseOptions& options) {
  if (status >= 400) return AnthropicErrorToOpenAI(status, body, headers, options.map_529_to_503);
  JsonDoc doc;
  if (!doc.Parse(body) || !doc.root().IsObject()) {
    return AnthropicErrorToOpenAI(502, R"({"type":"error","error":{"type":"api_error","message":"upstream returned a malformed response"}})",
                                  headers, options.map_529_to_503);
  }
  JsonRef root = doc.root();
  if (root["type"].Is("error")) {
    int mapped = StatusForAnthropicErrorType(root["error"]["type"].str());
    return AnthropicErrorToOpenAI(mapped, body, headers, options.map_529_to_503);
  }
  JsonRef content = root["content"];
  if (!content.IsArray()) {
    return AnthropicErrorToOpenAI(502, R"({"type":"error","error":{"type":"api_error","message":"upstream response has no content array"}})",
                                  headers, options.map_529_to_503);
  }

  ConvertedResponse r;
  r.status = status;
  if (!headers.request_id.empty()) r.headers.emplace_back("x-request-id", headers.request_id);
  r.usage = UsageFromAnthropic(root["usage"]);
  r.usage_known = root["usage"].IsObject();

  bool any_text = false, any_tool = false, any_thinking = false;
  JsonRef signature;
  for (JsonRef block : content) {
    JsonRef type = block["type"];
    if (type.Is("text") && block["text"].IsString()) any_text = true;
    if (type.Is("tool_use")) any_tool = true;
    if (type.Is("thinking") && block["thinking"].IsString()) {
      any_thinking = true;
      if (block["signature"].IsString()) signature = block["signature"];
    }
  }

  JsonWriter w(&r.body);
  w.BeginObject();
  w.Key("id").BeginString().StringPiece("chatcmpl-").EscapedStringPiece(root["id"].raw()).EndString();
  w.Key("object").String("chat.completion");
  w.Key("created").Int(options.created);
  w.Key("model");
  if (options.model.empty()) {
    w.EscapedString(root["model"].raw());
  } else {
    w.String(options.model);
  }
  w.Key("choices").BeginArray().BeginObject();
  w.Key("index").Int(0);
  w.Key("message").BeginObject();
  w.Key("role").String("assistant");
  w.Key("content");
  if (any_text) {
    w.BeginString();
    for (JsonRef block : content) {
      if (block["type"].Is("text")) w.EscapedStringPiece(block["text"].raw());
    }
    w.EndString();
  } else if (any_tool) {
    w.Null();
  } else {
    w.String("");
  }
  w.Key("refusal").Null();
  if (any_tool) {
    w.Key("tool_calls").BeginArray();
    std::string args;
    for (JsonRef block : content) {
      if (!block["type"].Is("tool_use")) continue;
      w.BeginObject().Key("id").EscapedString(block["id"].raw()).Key("type").String("function");
      w.Key("function").BeginObject().Key("name").EscapedString(block["name"].raw());
      args.clear();
      if (block["input"].IsObject()) {
        AppendCompactJson(block["input"], &args);
      } else {
        args = "{}";
      }
      w.Key("arguments").String(args);
      w.EndObject().EndObject();
    }
    w.EndArray();
  }
  if (any_thinking) {
    w.Key("reasoning_content").BeginString();
    for (JsonRef block : content) {
      if (block["type"].Is("thinking")) w.EscapedStringPiece(block["thinking"].raw());
    }
    w.EndString();
    if (options.expose_signature && signature.IsString()) w.Key("reasoning_signature").EscapedString(signature.raw());
  }
  w.EndObject();  // message
  w.Key("logprobs").Null();
  w.Key("finish_reason").String(OpenAIFinishReason(root["stop_reason"].str()));
  w.EndObject().EndArray();
  w.Key("usage");
  WriteOpenAIUsage(r.usage, &w);
  w.EndObject();
  return r;
}

}  // namespace luna::gateway
