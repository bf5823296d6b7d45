#include "gateway/convert/openai_to_anthropic_request.h"

#include <algorithm>
#include <vector>

#include "gateway/convert/field_errors.h"
#include "gateway/convert/json_view.h"
#include "gateway/convert/json_writer.h"

namespace luna::gateway {
namespace {

// One Anthropic content block to write. Values from the source are kept as JsonRefs (copied
// escaped); only what had to be computed is owned.
struct Block {
  enum Kind { kText, kOwnedText, kImageBase64, kImageUrl, kPdf, kToolUse, kToolResult, kThinking } kind;
  JsonRef a;               // kText: text; kImageUrl: url; kToolUse: name; kToolResult: content; kThinking: text
  JsonRef b;               // kThinking: signature; kPdf: filename
  std::string s1;          // kOwnedText: text; kImageBase64 / kPdf: media type; kToolUse / kToolResult: id
  std::string s2;          // kToolUse: input (compact JSON); kImageBase64 / kPdf: data, when unescaped
  std::string_view data;   // kImageBase64 / kPdf: data, escaped, when it is a slice of the source
};

struct Turn {
  bool user;
  std::vector<Block> blocks;
};

bool IsBlank(std::string_view raw) {
  // Escaped whitespace (\n, \t, \r) counts as blank too.
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '\\' && i + 1 < raw.size() && (raw[i + 1] == 'n' || raw[i + 1] == 't' || raw[i + 1] == 'r')) {
      ++i;
      continue;
    }
    return false;
  }
  return true;
}

bool IsSupportedImageType(std::string_view t) {
  return t == "image/jpeg" || t == "image/png" || t == "image/gif" || t == "image/webp";
}

struct DataUri {
  std::string media_type;
  std::string_view data;  // a slice of the string it was parsed from
};

// Parses "data:<media type>[;params];base64,<data>".
bool ParseDataUri(std::string_view uri, DataUri* out) {
  if (uri.substr(0, 5) != "data:") return false;
  size_t comma = uri.find(',');
  if (comma == std::string_view::npos) return false;
  std::string_view header = uri.substr(5, comma - 5);
  constexpr std::string_view kBase64 = ";base64";
  if (header.size() < kBase64.size() || header.substr(header.size() - kBase64.size()) != kBase64) return false;
  header.remove_suffix(kBase64.size());
  out->media_type.assign(header.substr(0, header.find(';')));
  out->data = uri.substr(comma + 1);
  return true;
}

class Converter {
 public:
  Converter(const OpenAIToAnthropicRequestOptions& opt, ConvertedRequest* r) : opt_(opt), r_(r), w_(&r->body) {}
  absl::Status Run(JsonRef root);

 private:
  absl::Status CollectMessage(JsonRef msg, size_t i);
  absl::Status CollectUserContent(JsonRef content, const std::string& path, std::vector<Block>* blocks);
  absl::Status CollectImage(JsonRef part, const std::string& path, std::vector<Block>* blocks);
  absl::Status CollectFile(JsonRef part, const std::string& path, std::vector<Block>* blocks);
  absl::Status CollectAssistant(JsonRef msg, const std::string& path, std::vector<Block>* blocks);
  absl::Status CollectToolMessage(JsonRef msg, const std::string& path, std::vector<Block>* blocks);
  absl::Status CollectSystem(JsonRef content, const std::string& path);
  void AddTurn(bool user, std::vector<Block>&& blocks);
  void WriteBlock(const Block& b);
  void WriteToolResultContent(JsonRef content);
  absl::Status WriteTools(JsonRef tools, bool* any);

  const OpenAIToAnthropicRequestOptions& opt_;
  ConvertedRequest* r_;
  JsonWriter w_;
  std::vector<JsonRef> system_;
  std::vector<Turn> turns_;
  size_t generated_ids_ = 0;
};

absl::Status Converter::CollectSystem(JsonRef content, const std::string& path) {
  if (content.IsString()) {
    if (!IsBlank(content.raw())) system_.push_back(content);
    return absl::OkStatus();
  }
  if (!content.IsArray()) return Invalid(path + ".content", "expected a string or an array of text parts");
  size_t k = 0;
  for (JsonRef part : content) {
    std::string p = Indexed(path + ".content", k++);
    if (!part.IsObject() || !part["type"].Is("text")) return Invalid(p, "expected a text part");
    if (!part["text"].IsString()) return Invalid(p + ".text", "expected a string");
    if (!IsBlank(part["text"].raw())) system_.push_back(part["text"]);
  }
  return absl::OkStatus();
}

absl::Status Converter::CollectImage(JsonRef part, const std::string& path, std::vector<Block>* blocks) {
  JsonRef image = part["image_url"];
  JsonRef url = image.IsString() ? image : image["url"];  // a bare string is an old shorthand
  if (!url.IsString()) return Invalid(path + ".image_url.url", "expected a string");
  std::string owned;
  std::string_view text = url.raw();
  if (url.has_escapes()) {
    owned = url.str();
    text = owned;
  }
  if (text.substr(0, 8) == "https://" || text.substr(0, 7) == "http://") {
    blocks->push_back(Block{Block::kImageUrl, url, {}, {}, {}, {}});
    return absl::OkStatus();
  }
  DataUri uri;
  if (!ParseDataUri(text, &uri)) {
    return Invalid(path + ".image_url.url", "expected an http(s) URL or a data:<type>;base64,<data> URI");
  }
  if (!IsSupportedImageType(uri.media_type)) {
    return Invalid(path + ".image_url.url",
                   "unsupported image type \"" + uri.media_type + "\" (jpeg, png, gif or webp)");
  }
  Block b{Block::kImageBase64, {}, {}, uri.media_type, {}, {}};
  if (owned.empty()) {
    b.data = uri.data;
  } else {
    b.s2.assign(uri.data);
  }
  blocks->push_back(std::move(b));
  return absl::OkStatus();
}

absl::Status Converter::CollectFile(JsonRef part, const std::string& path, std::vector<Block>* blocks) {
  JsonRef file = part["file"];
  if (!file.IsObject()) return Invalid(path + ".file", "expected an object");
  if (!file["file_id"].IsNullish()) {
    return Invalid(path + ".file.file_id", "uploaded file references cannot be sent to an Anthropic-format model");
  }
  JsonRef data = file["file_data"];
  if (!data.IsString()) return Invalid(path + ".file.file_data", "expected a string");
  std::string owned = data.has_escapes() ? data.str() : std::string();
  std::string_view text = owned.empty() ? data.raw() : std::string_view(owned);
  DataUri uri;
  if (!ParseDataUri(text, &uri) || uri.media_type != "application/pdf") {
    return Invalid(path + ".file.file_data", "expected a data:application/pdf;base64,<data> URI");
  }
  Block b{Block::kPdf, {}, file["filename"], uri.media_type, {}, {}};
  if (owned.empty()) {
    b.data = uri.data;
  } else {
    b.s2.assign(uri.data);
  }
  blocks->push_back(std::move(b));
  return absl::OkStatus();
}

absl::Status Converter::CollectUserContent(JsonRef content, const std::string& path, std::vector<Block>* blocks) {
  if (content.IsString()) {
    if (!IsBlank(content.raw())) blocks->push_back(Block{Block::kText, content, {}, {}, {}, {}});
    return absl::OkStatus();
  }
  if (!content.IsArray()) return Invalid(path + ".content", "expected a string or an array of content parts");
  size_t k = 0;
  for (JsonRef part : content) {
    std::string p = Indexed(path + ".content", k++);
    if (!part.IsObject()) return Invalid(p, "expected a content part object");
    JsonRef type = part["type"];
    if (type.Is("text")) {
      if (!part["text"].IsString()) return Invalid(p + ".text", "expected a string");
      if (!IsBlank(part["text"].raw())) blocks->push_back(Block{Block::kText, part["text"], {}, {}, {}, {}});
    } else if (type.Is("image_url")) {
      if (auto s = CollectImage(part, p, blocks); !s.ok()) return s;
    } else if (type.Is("file")) {
      if (auto s = CollectFile(part, p, blocks); !s.ok()) return s;
    } else if (type.Is("input_audio")) {
      return Invalid(p + ".type", "audio input cannot be sent to an Anthropic-format model");
    } else {
      return Invalid(p + ".type", "unsupported content part type" +
                                      (type.IsString() ? " \"" + type.str() + "\"" : std::string()));
    }
  }
  return absl::OkStatus();
}

absl::Status Converter::CollectAssistant(JsonRef msg, const std::string& path, std::vector<Block>* blocks) {
  if (!msg["function_call"].IsNullish()) {
    return Invalid(path + ".function_call", "the legacy function_call is not supported; use tool_calls");
  }
  // 1. Thinking, only when signed and verifiable.
  JsonRef reasoning = msg["reasoning_content"].IsString() ? msg["reasoning_content"] : msg["reasoning"];
  JsonRef signature = msg["reasoning_signature"];
  if (reasoning.IsString() && signature.IsString() && !signature.raw().empty() && opt_.target_verifies_signatures) {
    blocks->push_back(Block{Block::kThinking, reasoning, signature, {}, {}, {}});
  }
  // 2. Text.
  JsonRef content = msg["content"];
  if (content.IsString()) {
    if (!IsBlank(content.raw())) blocks->push_back(Block{Block::kText, content, {}, {}, {}, {}});
  } else if (content.IsArray()) {
    size_t k = 0;
    for (JsonRef part : content) {
      std::string p = Indexed(path + ".content", k++);
      if (!part.IsObject()) return Invalid(p, "expected a content part object");
      JsonRef text = part["type"].Is("text") ? part["text"] : part["type"].Is("refusal") ? part["refusal"] : JsonRef();
      if (!text.IsString()) return Invalid(p, "expected a text or refusal part");
      if (!IsBlank(text.raw())) blocks->push_back(Block{Block::kText, text, {}, {}, {}, {}});
    }
  } else if (!content.IsNullish()) {
    return Invalid(path + ".content", "expected a string, an array of text parts or null");
  }
  if (JsonRef refusal = msg["refusal"]; refusal.IsString() && !IsBlank(refusal.raw()) && content.IsNullish()) {
    blocks->push_back(Block{Block::kText, refusal, {}, {}, {}, {}});
  }
  // 3. Tool calls.
  JsonRef calls = msg["tool_calls"];
  if (calls.IsNullish()) return absl::OkStatus();
  if (!calls.IsArray()) return Invalid(path + ".tool_calls", "expected an array");
  size_t k = 0;
  for (JsonRef call : calls) {
    std::string p = Indexed(path + ".tool_calls", k++);
    if (!call.IsObject()) return Invalid(p, "expected an object");
    if (!call["type"].IsNullish() && !call["type"].Is("function")) {
      return Invalid(p + ".type", "only function tool calls are supported");
    }
    JsonRef fn = call["function"];
    if (!fn.IsObject()) return Invalid(p + ".function", "expected an object");
    if (!fn["name"].IsString() || fn["name"].raw().empty()) {
      return Invalid(p + ".function.name", "expected a non-empty string");
    }
    if (!call["id"].IsNullish() && !call["id"].IsString()) return Invalid(p + ".id", "expected a string");
    Block b{Block::kToolUse, fn["name"], {}, SanitizeToolId(call["id"].str()), {}, {}};
    if (b.s1.empty()) b.s1 = GeneratedToolId("call", generated_ids_++);
    JsonRef args = fn["arguments"];
    if (args.IsObject()) {
      AppendCompactJson(args, &b.s2);
    } else if (args.IsNullish() || (args.IsString() && IsBlank(args.raw()))) {
      b.s2 = "{}";
    } else if (args.IsString()) {
      std::string text = args.str();
      JsonDoc parsed;
      if (parsed.Parse(text) && parsed.root().IsObject()) {
        AppendCompactJson(parsed.root(), &b.s2);
      } else {
        b.s2 = "{}";
        r_->warnings.push_back(p + ".function.arguments: not a JSON object; sent as {}");
      }
    } else {
      return Invalid(p + ".function.arguments", "expected a string");
    }
    blocks->push_back(std::move(b));
  }
  return absl::OkStatus();
}

absl::Status Converter::CollectToolMessage(JsonRef msg, const std::string& path, std::vector<Block>* blocks) {
  JsonRef id = msg["tool_call_id"];
  if (!id.IsString()) return Invalid(path + ".tool_call_id", "expected a string");
  JsonRef content = msg["content"];
  if (content.IsArray()) {
    size_t k = 0;
    for (JsonRef part : content) {
      std::string p = Indexed(path + ".content", k++);
      if (!part.IsObject() || !part["type"].Is("text") || !part["text"].IsString()) {
        return Invalid(p, "expected a text part (tool messages carry text only)");
      }
    }
  } else if (!content.IsNullish() && !content.IsString()) {
    return Invalid(path + ".content", "expected a string or an array of text parts");
  }
  std::string sanitized = SanitizeToolId(id.str());
  if (sanitized.empty()) sanitized = "toolu_missing";
  blocks->push_back(Block{Block::kToolResult, content, {}, std::move(sanitized), {}, {}});
  return absl::OkStatus();
}

void Converter::AddTurn(bool user, std::vector<Block>&& blocks) {
  if (blocks.empty()) return;
  if (!turns_.empty() && turns_.back().user == user) {
    auto& dst = turns_.back().blocks;
    for (auto& b : blocks) dst.push_back(std::move(b));
    return;
  }
  turns_.push_back(Turn{user, std::move(blocks)});
}

absl::Status Converter::CollectMessage(JsonRef msg, size_t i) {
  std::string path = Indexed("messages", i);
  if (!msg.IsObject()) return Invalid(path, "expected an object");
  JsonRef role = msg["role"];
  if (!role.IsString()) return Invalid(path + ".role", "expected a string");
  std::vector<Block> blocks;
  if (role.Is("system") || role.Is("developer")) return CollectSystem(msg["content"], path);
  if (role.Is("user")) {
    if (auto s = CollectUserContent(msg["content"], path, &blocks); !s.ok()) return s;
    AddTurn(true, std::move(blocks));
  } else if (role.Is("assistant")) {
    if (auto s = CollectAssistant(msg, path, &blocks); !s.ok()) return s;
    AddTurn(false, std::move(blocks));
  } else if (role.Is("tool")) {
    if (auto s = CollectToolMessage(msg, path, &blocks); !s.ok()) return s;
    AddTurn(true, std::move(blocks));
  } else {
    return Invalid(path + ".role", "unsupported role \"" + role.str() + "\"");
  }
  return absl::OkStatus();
}

void Converter::WriteToolResultContent(JsonRef content) {
  if (content.IsString()) {
    if (!content.raw().empty()) w_.Key("content").EscapedString(content.raw());
    return;
  }
  if (!content.IsArray()) return;
  bool any = false;
  for (JsonRef part : content) any = any || !IsBlank(part["text"].raw());
  if (!any) return;
  w_.Key("content").BeginArray();
  for (JsonRef part : content) {
    if (IsBlank(part["text"].raw())) continue;
    w_.BeginObject().Key("type").String("text").Key("text").EscapedString(part["text"].raw()).EndObject();
  }
  w_.EndArray();
}

void Converter::WriteBlock(const Block& b) {
  w_.BeginObject();
  switch (b.kind) {
    case Block::kText:
      w_.Key("type").String("text").Key("text").EscapedString(b.a.raw());
      break;
    case Block::kOwnedText:
      w_.Key("type").String("text").Key("text").String(b.s1);
      break;
    case Block::kImageBase64:
    case Block::kPdf:
      w_.Key("type").String(b.kind == Block::kPdf ? "document" : "image");
      w_.Key("source").BeginObject().Key("type").String("base64").Key("media_type").String(b.s1).Key("data");
      if (b.s2.empty()) {
        w_.EscapedString(b.data);
      } else {
        w_.String(b.s2);
      }
      w_.EndObject();
      if (b.kind == Block::kPdf && b.b.IsString() && !b.b.raw().empty()) w_.Key("title").EscapedString(b.b.raw());
      break;
    case Block::kImageUrl:
      w_.Key("type").String("image").Key("source").BeginObject().Key("type").String("url");
      w_.Key("url").EscapedString(b.a.raw()).EndObject();
      break;
    case Block::kToolUse:
      w_.Key("type").String("tool_use").Key("id").String(b.s1).Key("name").EscapedString(b.a.raw());
      w_.Key("input").RawValue(b.s2);
      break;
    case Block::kToolResult:
      w_.Key("type").String("tool_result").Key("tool_use_id").String(b.s1);
      WriteToolResultContent(b.a);
      break;
    case Block::kThinking:
      w_.Key("type").String("thinking").Key("thinking").EscapedString(b.a.raw());
      w_.Key("signature").EscapedString(b.b.raw());
      break;
  }
  w_.EndObject();
}

absl::Status Converter::WriteTools(JsonRef tools, bool* any) {
  *any = false;
  if (tools.IsNullish()) return absl::OkStatus();
  if (!tools.IsArray()) return Invalid("tools", "expected an array");
  size_t k = 0;
  for (JsonRef tool : tools) {
    std::string p = Indexed("tools", k++);
    if (!tool.IsObject()) return Invalid(p, "expected an object");
    if (!tool["type"].Is("function")) return Invalid(p + ".type", "only \"function\" tools are supported");
    JsonRef fn = tool["function"];
    if (!fn.IsObject()) return Invalid(p + ".function", "expected an object");
    if (!fn["name"].IsString() || fn["name"].raw().empty()) {
      return Invalid(p + ".function.name", "expected a non-empty string");
    }
    if (!fn["description"].IsNullish() && !fn["description"].IsString()) {
      return Invalid(p + ".function.description", "expected a string");
    }
    if (!fn["parameters"].IsNullish() && !fn["parameters"].IsObject()) {
      return Invalid(p + ".function.parameters", "expected an object");
    }
  }
  if (k == 0) return absl::OkStatus();
  *any = true;
  w_.Key("tools").BeginArray();
  for (JsonRef tool : tools) {
    JsonRef fn = tool["function"];
    w_.BeginObject().Key("name").EscapedString(fn["name"].raw());
    if (fn["description"].IsString()) w_.Key("description").EscapedString(fn["description"].raw());
    w_.Key("input_schema");
    if (fn["parameters"].IsObject()) {
      w_.Value(fn["parameters"]);
    } else {
      w_.RawValue(R"({"type":"object","properties":{}})");
    }
    if (fn["strict"].IsBool()) w_.Key("strict").Bool(fn["strict"].AsBool(false));
    w_.EndObject();
  }
  w_.EndArray();
  return absl::OkStatus();
}

absl::Status Converter::Run(JsonRef root) {
  if (!root.IsObject()) return Invalid("request body", "expected a JSON object");
  JsonRef model = root["model"];
  if (!model.present()) return Invalid("model", "field required");
  if (!model.IsString() || model.raw().empty()) return Invalid("model", "expected a non-empty string");
  r_->client_model = model.str();
  JsonRef messages = root["messages"];
  if (!messages.present()) return Invalid("messages", "field required");
  if (!messages.IsArray()) return Invalid("messages", "expected an array");
  if (messages.size() == 0) return Invalid("messages", "at least one message is required");
  if (JsonRef n = root["n"]; !n.IsNullish()) {
    auto v = n.AsInt();
    if (!v || *v < 1) return Invalid("n", "expected a positive integer");
    if (*v > 1) return Invalid("n", "only n=1 is supported by Anthropic-format models");
  }
  JsonRef stream = root["stream"];
  if (!stream.IsNullish() && !stream.IsBool()) return Invalid("stream", "expected a boolean");
  r_->stream = stream.AsBool(false);
  if (JsonRef so = root["stream_options"]; so.IsObject()) r_->client_include_usage = so["include_usage"].AsBool(false);

  // Token limits.
  int64_t max_tokens = opt_.default_max_tokens;
  for (std::string_view field : {"max_tokens", "max_completion_tokens"}) {  // the second wins
    JsonRef v = root[field];
    if (v.IsNullish()) continue;
    auto n = v.AsInt();
    if (!n || *n < 1) return Invalid(std::string(field), "expected a positive integer");
    max_tokens = *n;
  }
  if (opt_.max_tokens_limit > 0) max_tokens = std::min(max_tokens, opt_.max_tokens_limit);

  size_t i = 0;
  for (JsonRef msg : messages) {
    if (auto s = CollectMessage(msg, i++); !s.ok()) return s;
  }
  if (turns_.empty() || !turns_.front().user) {
    std::vector<Block> leading_user_turn;
    leading_user_turn.push_back(Block{Block::kOwnedText, {}, {}, "...", {}, {}});
    turns_.insert(turns_.begin(), Turn{true, std::move(leading_user_turn)});
  }
  for (Turn& t : turns_) {
    if (t.user) {
      std::stable_partition(t.blocks.begin(), t.blocks.end(),
                            [](const Block& b) { return b.kind == Block::kToolResult; });
    }
  }

  // Tool choice.
  JsonRef choice = root["tool_choice"];
  JsonRef parallel = root["parallel_tool_calls"];
  if (!parallel.IsNullish() && !parallel.IsBool()) return Invalid("parallel_tool_calls", "expected a boolean");
  std::string choice_type;  // auto, any, tool, none; "" = not given
  std::string choice_name;
  if (choice.IsString()) {
    if (choice.Is("auto")) {
      choice_type = "auto";
    } else if (choice.Is("required")) {
      choice_type = "any";
    } else if (choice.Is("none")) {
      choice_type = "none";
    } else {
      return Invalid("tool_choice", "expected \"auto\", \"required\", \"none\" or a function object");
    }
  } else if (choice.IsObject()) {
    if (choice["type"].Is("function")) {
      if (!choice["function"]["name"].IsString()) return Invalid("tool_choice.function.name", "expected a string");
      choice_type = "tool";
      choice_name = choice["function"]["name"].str();
    } else if (choice["type"].Is("allowed_tools")) {
      choice_type = choice["allowed_tools"]["mode"].Is("required") ? "any" : "auto";
      r_->warnings.push_back("tool_choice: allowed_tools is sent as " + choice_type + " (no per-tool restriction)");
    } else {
      return Invalid("tool_choice.type", "expected \"function\" or \"allowed_tools\"");
    }
  } else if (!choice.IsNullish()) {
    return Invalid("tool_choice", "expected a string or an object");
  }
  bool disable_parallel = parallel.IsBool() && !parallel.AsBool(true);

  // Reasoning → thinking.
  JsonRef effort = root["reasoning_effort"];
  if (!effort.IsNullish() && !effort.IsString()) return Invalid("reasoning_effort", "expected a string");
  int64_t budget = 0;
  std::string effort_text = effort.str();
  if (effort.IsString()) {
    budget = ThinkingBudgetForEffort(effort_text);
    if (budget < 0) return Invalid("reasoning_effort", "unsupported value \"" + effort_text + "\"");
  }
  bool thinking = budget > 0;
  if (thinking && (choice_type == "any" || choice_type == "tool")) {
    thinking = false;
    r_->warnings.push_back("reasoning_effort: thinking turned off because tool_choice forces a tool");
  }
  if (thinking && !opt_.adaptive_thinking) {
    for (auto it = turns_.rbegin(); it != turns_.rend(); ++it) {
      if (it->user) continue;
      bool has_tool = false;
      for (const Block& b : it->blocks) has_tool = has_tool || b.kind == Block::kToolUse;
      if (has_tool && it->blocks.front().kind != Block::kThinking) {
        thinking = false;
        r_->warnings.push_back(
            "reasoning_effort: thinking turned off because the last assistant turn has tool calls without "
            "a signed thinking block");
      }
      break;
    }
  }
  if (thinking && !opt_.adaptive_thinking) {
    if (budget >= max_tokens) max_tokens += budget;
    if (opt_.max_tokens_limit > 0) max_tokens = std::min(max_tokens, opt_.max_tokens_limit);
    if (budget >= max_tokens) budget = max_tokens - 1;
    if (budget < 1024) {
      thinking = false;
      r_->warnings.push_back("reasoning_effort: thinking turned off: max_tokens leaves no room for a budget");
    }
  }

  // Write.
  w_.BeginObject();
  w_.Key("model");
  if (opt_.model.empty()) {
    w_.EscapedString(model.raw());
  } else {
    w_.String(opt_.model);
  }
  w_.Key("max_tokens").Int(max_tokens);
  if (!system_.empty()) {
    w_.Key("system").BeginArray();
    for (JsonRef s : system_) w_.BeginObject().Key("type").String("text").Key("text").EscapedString(s.raw()).EndObject();
    w_.EndArray();
  }
  w_.Key("messages").BeginArray();
  for (const Turn& t : turns_) {
    w_.BeginObject().Key("role").String(t.user ? "user" : "assistant").Key("content");
    if (t.blocks.size() == 1 && t.blocks[0].kind == Block::kText) {
      w_.EscapedString(t.blocks[0].a.raw());
    } else if (t.blocks.size() == 1 && t.blocks[0].kind == Block::kOwnedText) {
      w_.String(t.blocks[0].s1);
    } else {
      w_.BeginArray();
      for (const Block& b : t.blocks) WriteBlock(b);
      w_.EndArray();
    }
    w_.EndObject();
  }
  w_.EndArray();

  if (!thinking) {
    if (JsonRef t = root["temperature"]; !t.IsNullish()) {
      auto v = t.AsDouble();
      if (!v) return Invalid("temperature", "expected a number");
      if (*v > 1.0 || *v < 0.0) {
        w_.Key("temperature").Double(std::clamp(*v, 0.0, 1.0));
      } else {
        w_.Key("temperature").Value(t);
      }
    }
    if (JsonRef t = root["top_p"]; !t.IsNullish()) {
      if (!t.IsNumber()) return Invalid("top_p", "expected a number");
      w_.Key("top_p").Value(t);
    }
  }
  if (JsonRef stop = root["stop"]; !stop.IsNullish()) {
    if (stop.IsString()) {
      if (!IsBlank(stop.raw())) w_.Key("stop_sequences").BeginArray().EscapedString(stop.raw()).EndArray();
    } else if (stop.IsArray()) {
      size_t k = 0;
      bool any = false;
      for (JsonRef s : stop) {
        if (!s.IsString()) return Invalid(Indexed("stop", k), "expected a string");
        any = any || !IsBlank(s.raw());
        ++k;
      }
      if (any) {
        w_.Key("stop_sequences").BeginArray();
        for (JsonRef s : stop) {
          if (!IsBlank(s.raw())) w_.EscapedString(s.raw());
        }
        w_.EndArray();
      }
    } else {
      return Invalid("stop", "expected a string or an array of strings");
    }
  }
  if (r_->stream) w_.Key("stream").Bool(true);
  bool any_tools = false;
  if (auto s = WriteTools(root["tools"], &any_tools); !s.ok()) return s;
  if (any_tools && (!choice_type.empty() || disable_parallel)) {
    if (choice_type.empty()) choice_type = "auto";
    w_.Key("tool_choice").BeginObject().Key("type").String(choice_type);
    if (choice_type == "tool") w_.Key("name").String(choice_name);
    if (disable_parallel && choice_type != "none") w_.Key("disable_parallel_tool_use").Bool(true);
    w_.EndObject();
  }
  JsonRef format = root["response_format"];
  bool schema = format.IsObject() && format["type"].Is("json_schema") && format["json_schema"]["schema"].IsObject();
  if (format.IsObject() && format["type"].Is("json_object")) {
    r_->warnings.push_back("response_format: json_object has no Anthropic equivalent and was dropped");
  }
  if (thinking) {
    if (opt_.adaptive_thinking) {
      w_.Key("thinking").BeginObject().Key("type").String("adaptive").EndObject();
    } else {
      w_.Key("thinking").BeginObject().Key("type").String("enabled").Key("budget_tokens").Int(budget).EndObject();
    }
  }
  if ((thinking && opt_.adaptive_thinking) || schema) {
    w_.Key("output_config").BeginObject();
    if (thinking && opt_.adaptive_thinking) {
      w_.Key("effort").String(effort_text == "minimal" ? "low" : effort_text);
    }
    if (schema) {
      w_.Key("format").BeginObject().Key("type").String("json_schema");
      w_.Key("schema").Value(format["json_schema"]["schema"]).EndObject();
    }
    w_.EndObject();
  }
  JsonRef user = root["user"];
  if (!user.IsNullish() && !user.IsString()) return Invalid("user", "expected a string");
  if (user.IsString() && !user.raw().empty()) {
    w_.Key("metadata").BeginObject().Key("user_id").EscapedString(user.raw()).EndObject();
  }
  w_.EndObject();
  return absl::OkStatus();
}

}  // namespace

int64_t ThinkingBudgetForEffort(std::string_view effort) {
  if (effort == "none") return 0;
  if (effort == "minimal" || effort == "low") return 1024;
  if (effort == "medium") return 2048;
  if (effort == "high") return 4096;
  if (effort == "xhigh") return 8192;
  if (effort == "max") return 16384;
  return -1;
}

absl::StatusOr<ConvertedRequest> ConvertOpenAIToAnthropicRequest(std::string_view body,
                                                                 const OpenAIToAnthropicRequestOptions& options) {
  JsonDoc doc;
  if (!doc.Parse(body)) return absl::InvalidArgumentError("request body is not valid JSON: " + doc.error());
  ConvertedRequest result;
  result.body.reserve(body.size() + 256);
  Converter converter(options, &result);
  if (auto s = converter.Run(doc.root()); !s.ok()) return s;
  return result;
}

}  // namespace luna::gateway
