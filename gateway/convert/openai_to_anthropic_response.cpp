#include "gateway/convert/openai_to_anthropic_response.h"

#include "gateway/convert/error_mapping.h"
#include "gateway/convert/json_view.h"
#include "gateway/convert/json_writer.h"
#include "gateway/convert/stop_reasons.h"
#include "gateway/convert/usage_mapping.h"

namespace luna::gateway {
namespace {

// The text of an OpenAI message `content`: a string, or the text parts of an array.
void WriteContentText(JsonRef content, JsonWriter* w) {
  w->Key("type").String("text").Key("text");
  if (content.IsString()) {
    w->EscapedString(content.raw());
    return;
  }
  w->BeginString();
  for (JsonRef part : content) {
    if (part["text"].IsString()) w->EscapedStringPiece(part["text"].raw());
  }
  w->EndString();
}

bool HasText(JsonRef content) {
  if (content.IsString()) return !content.raw().empty();
  for (JsonRef part : content) {
    if (part["text"].IsString() && !part["text"].raw().empty()) return true;
  }
  return false;
}

}  // namespace

ConvertedResponse ConvertOpenAIToAnthropicResponse(int status, std::string_view body, const UpstreamHeaders& headers,
                                                   const OpenAIToAnthropicResponseOptions& options) {
  if (status >= 400) return OpenAIErrorToAnthropic(status, body, headers);
  JsonDoc doc;
  if (!doc.Parse(body) || !doc.root().IsObject()) {
    return OpenAIErrorToAnthropic(502, R"({"error":{"message":"upstream returned a malformed response"}})", headers);
  }
  JsonRef root = doc.root();
  JsonRef choice = root["choices"].At(0);  // only n=1 is supported
  JsonRef message = choice["message"];
  if (!message.IsObject()) {
    if (root["error"].present()) return OpenAIErrorToAnthropic(502, body, headers);
    return OpenAIErrorToAnthropic(502, R"({"error":{"message":"upstream response has no choices[0].message"}})",
                                  headers);
  }
  JsonRef finish = choice["finish_reason"];

  ConvertedResponse r;
  r.status = status;
  if (!headers.request_id.empty()) r.headers.emplace_back("request-id", headers.request_id);
  r.usage_known = root["usage"].IsObject();
  r.usage = UsageFromOpenAI(root["usage"]);

  JsonWriter w(&r.body);
  w.BeginObject();
  w.Key("id");
  if (!options.message_id.empty()) {
    w.String(options.message_id);
  } else {
    std::string upstream_id = SanitizeToolId(root["id"].str());
    w.String("msg_" + (upstream_id.empty() ? std::string("unknown") : upstream_id));
  }
  w.Key("type").String("message");
  w.Key("role").String("assistant");
  w.Key("model");
  if (options.model.empty()) {
    w.EscapedString(root["model"].raw());
  } else {
    w.String(options.model);
  }
  w.Key("content").BeginArray();
  JsonRef reasoning = message["reasoning_content"].IsString() ? message["reasoning_content"] : message["reasoning"];
  if (reasoning.IsString() && !reasoning.raw().empty()) {
    JsonRef signature;
    for (JsonRef detail : message["reasoning_details"]) {
      if (detail["signature"].IsString() && !detail["signature"].raw().empty()) signature = detail["signature"];
    }
    w.BeginObject().Key("type").String("thinking").Key("thinking").EscapedString(reasoning.raw());
    w.Key("signature").EscapedString(signature.raw()).EndObject();
  }
  JsonRef content = message["content"];
  JsonRef refusal = message["refusal"];
  bool refused = refusal.IsString() && !refusal.raw().empty();
  if (HasText(content)) {
    w.BeginObject();
    WriteContentText(content, &w);
    w.EndObject();
  } else if (refused) {
    w.BeginObject().Key("type").String("text").Key("text").EscapedString(refusal.raw()).EndObject();
  }
  bool any_tool = false;
  size_t n = 0;
  std::string id, name, input;
  for (JsonRef call : message["tool_calls"]) {
    JsonRef fn = call["function"];
    if (!fn.IsObject()) continue;
    any_tool = true;
    id = SanitizeToolId(call["id"].str());
    std::string scope = options.message_id.empty() ? root["id"].str() : options.message_id;
    if (id.empty()) id = GeneratedToolId(scope, n);
    ++n;
    name = fn["name"].str();
    if (options.tool_names) name = std::string(options.tool_names->Restore(name));
    input.clear();
    JsonRef args = fn["arguments"];
    if (args.IsObject()) {
      AppendCompactJson(args, &input);
    } else {
      std::string text = args.str();
      JsonDoc parsed;
      if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
        input = "{}";
      } else if (parsed.Parse(text) && parsed.root().IsObject()) {
        AppendCompactJson(parsed.root(), &input);
      } else {
        input = "{}";
        r.warnings.push_back("tool call " + id + ": arguments are not a JSON object; sent as {}");
      }
    }
    w.BeginObject().Key("type").String("tool_use").Key("id").String(id).Key("name").String(name);
    w.Key("input").RawValue(input).EndObject();
  }
  w.EndArray();
  std::string_view stop = AnthropicStopReason(finish.str(), any_tool);
  if (refused && stop == "end_turn") stop = "refusal";
  w.Key("stop_reason").String(stop);
  w.Key("stop_sequence").Null();
  w.Key("usage");
  WriteAnthropicUsage(r.usage, &w);
  w.EndObject();
  return r;
}

}  // namespace luna::gateway
