#include "gateway/convert/anthropic_to_openai_request.h"

#include <vector>

#include "gateway/convert/json_view.h"
#include "gateway/convert/json_writer.h"
#include "gateway/convert/field_errors.h"

namespace luna::gateway {
namespace {

// A piece of a user message for the upstream.
struct UserPart {
  enum Kind { kText, kImageData, kImageUrl, kPdf } kind;
  JsonRef a;  // kText: the text; kImageData: media_type; kImageUrl: url; kPdf: data
  JsonRef b;  // kImageData: data; kPdf: title
};

bool IsServerBlock(std::string_view type) {
  constexpr std::string_view kSuffix = "_tool_result";
  if (type == "server_tool_use" || type == "mcp_tool_use" || type == "container_upload") return true;
  return type != "tool_result" && type.size() > kSuffix.size() &&
         type.substr(type.size() - kSuffix.size()) == kSuffix;
}

class Converter {
 public:
  Converter(const AnthropicToOpenAIRequestOptions& opt, ConvertedRequest* r) : opt_(opt), r_(r), w_(&r->body) {}

  absl::Status Run(JsonRef root);

 private:
  absl::Status WriteSystem(JsonRef system);
  absl::Status WriteMessage(JsonRef msg, size_t i);
  absl::Status WriteUserBlocks(JsonRef content, size_t i);
  absl::Status WriteAssistantBlocks(JsonRef content, size_t i);
  absl::Status WriteToolMessage(JsonRef block, const std::string& path);
  // Validates a user content block and adds its parts to parts_. `media_only` (inside a tool result,
  // whose text stays in the tool message): only images and files are added.
  absl::Status CollectPart(JsonRef block, const std::string& path, bool media_only);
  absl::Status CollectImage(JsonRef block, const std::string& path);
  absl::Status CollectDocument(JsonRef block, const std::string& path, bool media_only);
  void AddText(JsonRef text, bool media_only) {
    if (!media_only) parts_.push_back({UserPart::kText, text, {}});
  }
  void WriteUserParts();
  absl::Status WriteTools(JsonRef tools);
  absl::Status WriteToolChoice(JsonRef choice);
  absl::Status WriteReasoning(JsonRef root);

  const AnthropicToOpenAIRequestOptions& opt_;
  ConvertedRequest* r_;
  JsonWriter w_;
  std::vector<UserPart> parts_;
  std::vector<JsonRef> texts_, tool_uses_, thinkings_;
  std::string scratch_;
  size_t generated_ids_ = 0;
  bool any_tools_ = false;
};

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
  JsonRef max_tokens = root["max_tokens"];
  if (!max_tokens.present()) return Invalid("max_tokens", "field required");
  auto max_tokens_value = max_tokens.AsInt();
  if (!max_tokens_value || *max_tokens_value < 0) return Invalid("max_tokens", "expected a non-negative integer");
  JsonRef stream = root["stream"];
  if (!stream.IsNullish() && !stream.IsBool()) return Invalid("stream", "expected a boolean");
  r_->stream = stream.AsBool(false);

  w_.BeginObject();
  w_.Key("model");
  if (opt_.model.empty()) {
    w_.EscapedString(model.raw());
  } else {
    w_.String(opt_.model);
  }
  w_.Key("messages").BeginArray();
  if (auto s = WriteSystem(root["system"]); !s.ok()) return s;
  size_t i = 0;
  for (JsonRef msg : messages) {
    if (auto s = WriteMessage(msg, i); !s.ok()) return s;
    ++i;
  }
  w_.EndArray();

  int64_t limit = *max_tokens_value;
  if (opt_.max_tokens_limit > 0 && limit > opt_.max_tokens_limit) limit = opt_.max_tokens_limit;
  w_.Key(opt_.use_max_completion_tokens ? "max_completion_tokens" : "max_tokens").Int(limit);

  for (std::string_view field : {"temperature", "top_p"}) {
    JsonRef v = root[field];
    if (v.IsNullish()) continue;
    if (!v.IsNumber()) return Invalid(std::string(field), "expected a number");
    w_.Key(field).Value(v);
  }
  if (JsonRef top_k = root["top_k"]; !top_k.IsNullish()) {
    if (!top_k.AsInt()) return Invalid("top_k", "expected an integer");
    if (opt_.send_top_k) w_.Key("top_k").Value(top_k);
  }
  if (JsonRef stops = root["stop_sequences"]; !stops.IsNullish()) {
    if (!stops.IsArray()) return Invalid("stop_sequences", "expected an array of strings");
    size_t n = 0;
    for (JsonRef s : stops) {
      if (!s.IsString()) return Invalid(Indexed("stop_sequences", n), "expected a string");
      ++n;
    }
    if (n > 0) {
      w_.Key("stop").BeginArray();
      n = 0;
      for (JsonRef s : stops) {
        if (n++ < 4) w_.EscapedString(s.raw());
      }
      w_.EndArray();
      if (n > 4) r_->warnings.push_back("stop_sequences: only the first 4 were sent (OpenAI's limit)");
    }
  }
  if (r_->stream) {
    w_.Key("stream").Bool(true);
    w_.Key("stream_options").BeginObject().Key("include_usage").Bool(true).EndObject();
  }
  if (auto s = WriteTools(root["tools"]); !s.ok()) return s;
  if (auto s = WriteToolChoice(root["tool_choice"]); !s.ok()) return s;
  if (JsonRef metadata = root["metadata"]; !metadata.IsNullish()) {
    if (!metadata.IsObject()) return Invalid("metadata", "expected an object");
    JsonRef user = metadata["user_id"];
    if (!user.IsNullish() && !user.IsString()) return Invalid("metadata.user_id", "expected a string");
    if (user.IsString() && !user.raw().empty()) w_.Key("user").EscapedString(user.raw());
  }
  if (auto s = WriteReasoning(root); !s.ok()) return s;
  w_.EndObject();
  return absl::OkStatus();
}

absl::Status Converter::WriteSystem(JsonRef system) {
  if (system.IsNullish()) return absl::OkStatus();
  const char* role = opt_.system_as_developer ? "developer" : "system";
  if (system.IsString()) {
    if (system.raw().empty()) return absl::OkStatus();
    w_.BeginObject().Key("role").String(role).Key("content").EscapedString(system.raw()).EndObject();
    return absl::OkStatus();
  }
  if (!system.IsArray()) return Invalid("system", "expected a string or an array of text blocks");
  size_t j = 0;
  size_t non_empty = 0;
  for (JsonRef block : system) {
    if (!block.IsObject() || !block["type"].Is("text")) return Invalid(Indexed("system", j), "expected a text block");
    if (!block["text"].IsString()) return Invalid(Indexed("system", j) + ".text", "expected a string");
    if (!block["text"].raw().empty()) ++non_empty;
    ++j;
  }
  if (non_empty == 0) return absl::OkStatus();
  w_.BeginObject().Key("role").String(role).Key("content").BeginString();
  bool first = true;
  for (JsonRef block : system) {
    std::string_view text = block["text"].raw();
    if (text.empty()) continue;
    if (!first) w_.StringPiece("\n");
    first = false;
    w_.EscapedStringPiece(text);
  }
  w_.EndString().EndObject();
  return absl::OkStatus();
}

absl::Status Converter::WriteMessage(JsonRef msg, size_t i) {
  if (!msg.IsObject()) return Invalid(Indexed("messages", i), "expected an object");
  JsonRef role = msg["role"];
  JsonRef content = msg["content"];
  bool string_content = content.IsString();
  if (!string_content && !content.IsArray()) {
    return Invalid(Indexed("messages", i) + ".content", "expected a string or an array of content blocks");
  }
  if (role.Is("user")) {
    if (string_content) {
      w_.BeginObject().Key("role").String("user").Key("content").EscapedString(content.raw()).EndObject();
      return absl::OkStatus();
    }
    return WriteUserBlocks(content, i);
  }
  if (role.Is("assistant")) {
    if (string_content) {
      if (content.raw().empty()) return absl::OkStatus();
      w_.BeginObject().Key("role").String("assistant").Key("content").EscapedString(content.raw()).EndObject();
      return absl::OkStatus();
    }
    return WriteAssistantBlocks(content, i);
  }
  if (role.Is("system")) {  // the newest API allows mid-conversation system turns: keep them in place
    const char* out_role = opt_.system_as_developer ? "developer" : "system";
    if (string_content) {
      w_.BeginObject().Key("role").String(out_role).Key("content").EscapedString(content.raw()).EndObject();
      return absl::OkStatus();
    }
    texts_.clear();
    size_t j = 0;
    for (JsonRef block : content) {
      std::string path = Indexed(Indexed("messages", i) + ".content", j++);
      if (!block.IsObject() || !block["type"].Is("text")) return Invalid(path, "expected a text block");
      if (!block["text"].IsString()) return Invalid(path + ".text", "expected a string");
      texts_.push_back(block["text"]);
    }
    w_.BeginObject().Key("role").String(out_role).Key("content").BeginString();
    for (size_t k = 0; k < texts_.size(); ++k) {
      if (k > 0) w_.StringPiece("\n");
      w_.EscapedStringPiece(texts_[k].raw());
    }
    w_.EndString().EndObject();
    return absl::OkStatus();
  }
  return Invalid(Indexed("messages", i) + ".role", "expected \"user\" or \"assistant\"");
}

absl::Status Converter::WriteUserBlocks(JsonRef content, size_t i) {
  parts_.clear();
  size_t j = 0;
  for (JsonRef block : content) {
    auto make_path = [&] { return Indexed(Indexed("messages", i) + ".content", j); };
    if (!block.IsObject()) return Invalid(make_path(), "expected a content block object");
    JsonRef type = block["type"];
    if (!type.IsString()) return Invalid(make_path() + ".type", "expected a string");
    if (type.Is("tool_result")) {
      if (auto s = WriteToolMessage(block, make_path()); !s.ok()) return s;
    } else if (type.Is("thinking") || type.Is("redacted_thinking") || IsServerBlock(type.raw())) {
      // Nothing a chat-completions user message can carry.
    } else {
      if (auto s = CollectPart(block, make_path(), /*media_only=*/false); !s.ok()) return s;
    }
    ++j;
  }
  WriteUserParts();
  return absl::OkStatus();
}

absl::Status Converter::CollectPart(JsonRef block, const std::string& path, bool media_only) {
  JsonRef type = block["type"];
  if (type.Is("text")) {
    if (!block["text"].IsString()) return Invalid(path + ".text", "expected a string");
    AddText(block["text"], media_only);
    return absl::OkStatus();
  }
  if (type.Is("image")) return CollectImage(block, path);
  if (type.Is("document")) return CollectDocument(block, path, media_only);
  if (type.Is("search_result")) {
    JsonRef inner = block["content"];
    if (!inner.IsArray()) return Invalid(path + ".content", "expected an array of text blocks");
    for (JsonRef t : inner) {
      if (t["text"].IsString()) AddText(t["text"], media_only);
    }
    return absl::OkStatus();
  }
  return Invalid(path + ".type",
                 "unsupported content block type \"" + type.str() + "\" for an OpenAI-format model");
}

absl::Status Converter::CollectImage(JsonRef block, const std::string& path) {
  JsonRef source = block["source"];
  if (!source.IsObject()) return Invalid(path + ".source", "expected an object");
  JsonRef type = source["type"];
  if (type.Is("base64")) {
    if (!source["media_type"].IsString()) return Invalid(path + ".source.media_type", "expected a string");
    if (!source["data"].IsString()) return Invalid(path + ".source.data", "expected a string");
    parts_.push_back({UserPart::kImageData, source["media_type"], source["data"]});
    return absl::OkStatus();
  }
  if (type.Is("url")) {
    if (!source["url"].IsString()) return Invalid(path + ".source.url", "expected a string");
    parts_.push_back({UserPart::kImageUrl, source["url"], {}});
    return absl::OkStatus();
  }
  return Invalid(path + ".source.type", "expected \"base64\" or \"url\"");
}

absl::Status Converter::CollectDocument(JsonRef block, const std::string& path, bool media_only) {
  JsonRef source = block["source"];
  if (!source.IsObject()) return Invalid(path + ".source", "expected an object");
  JsonRef type = source["type"];
  if (type.Is("text")) {
    if (!source["data"].IsString()) return Invalid(path + ".source.data", "expected a string");
    AddText(source["data"], media_only);
    return absl::OkStatus();
  }
  if (type.Is("content")) {
    JsonRef inner = source["content"];
    if (inner.IsString()) {
      AddText(inner, media_only);
      return absl::OkStatus();
    }
    if (!inner.IsArray()) return Invalid(path + ".source.content", "expected a string or an array");
    size_t k = 0;
    for (JsonRef b : inner) {
      std::string p = Indexed(path + ".source.content", k++);
      if (!b.IsObject()) return Invalid(p, "expected a content block object");
      if (b["type"].Is("text")) {
        if (!b["text"].IsString()) return Invalid(p + ".text", "expected a string");
        AddText(b["text"], media_only);
      } else if (b["type"].Is("image")) {
        if (auto s = CollectImage(b, p); !s.ok()) return s;
      } else {
        return Invalid(p + ".type", "expected \"text\" or \"image\"");
      }
    }
    return absl::OkStatus();
  }
  if (type.Is("base64")) {
    if (!source["media_type"].Is("application/pdf")) {
      return Invalid(path + ".source.media_type", "expected \"application/pdf\"");
    }
    if (!source["data"].IsString()) return Invalid(path + ".source.data", "expected a string");
    if (!opt_.allow_file_parts) {
      return Invalid(path, "PDF documents are not supported by this OpenAI-format model");
    }
    parts_.push_back({UserPart::kPdf, source["data"], block["title"]});
    return absl::OkStatus();
  }
  if (type.Is("url")) {
    return Invalid(path + ".source.type", "documents given by URL cannot be sent to an OpenAI-format model");
  }
  return Invalid(path + ".source.type", "expected \"base64\", \"text\", \"content\" or \"url\"");
}

absl::Status Converter::WriteToolMessage(JsonRef block, const std::string& path) {
  JsonRef id = block["tool_use_id"];
  if (!id.IsString()) return Invalid(path + ".tool_use_id", "expected a string");
  JsonRef content = block["content"];
  JsonRef is_error = block["is_error"];
  if (!is_error.IsNullish() && !is_error.IsBool()) return Invalid(path + ".is_error", "expected a boolean");
  if (!content.IsNullish() && !content.IsString() && !content.IsArray()) {
    return Invalid(path + ".content", "expected a string or an array of content blocks");
  }
  // Validate first (and move images to the user message), then write.
  if (content.IsArray()) {
    size_t k = 0;
    for (JsonRef b : content) {
      std::string p = Indexed(path + ".content", k++);
      if (!b.IsObject() || !b["type"].IsString()) return Invalid(p, "expected a content block object");
      if (b["type"].Is("text") || b["type"].Is("image") || b["type"].Is("document") ||
          b["type"].Is("search_result")) {
        if (auto s = CollectPart(b, p, /*media_only=*/true); !s.ok()) return s;
      } else if (!IsServerBlock(b["type"].raw()) && !b["type"].Is("tool_reference")) {
        return Invalid(p + ".type", "unsupported content block type \"" + b["type"].str() + "\" in a tool_result");
      }
    }
  }
  w_.BeginObject().Key("role").String("tool").Key("tool_call_id");
  std::string sanitized = SanitizeToolId(id.str());
  if (sanitized.empty()) sanitized = "toolu_missing";
  w_.String(sanitized);
  w_.Key("content").BeginString();
  if (is_error.AsBool(false)) w_.StringPiece("[error] ");
  if (content.IsString()) {
    w_.EscapedStringPiece(content.raw());
  } else if (content.IsArray()) {
    bool first = true;
    auto piece = [&](JsonRef text) {
      if (!first) w_.StringPiece("\n");
      first = false;
      w_.EscapedStringPiece(text.raw());
    };
    for (JsonRef b : content) {
      if (b["type"].Is("text")) {
        piece(b["text"]);
      } else if (b["type"].Is("document")) {
        JsonRef src = b["source"];
        if (src["type"].Is("text")) piece(src["data"]);
        if (src["type"].Is("content") && src["content"].IsString()) piece(src["content"]);
        if (src["type"].Is("content") && src["content"].IsArray()) {
          for (JsonRef t : src["content"]) {
            if (t["type"].Is("text")) piece(t["text"]);
          }
        }
      } else if (b["type"].Is("search_result")) {
        for (JsonRef t : b["content"]) {
          if (t["text"].IsString()) piece(t["text"]);
        }
      }
    }
  }
  w_.EndString().EndObject();
  return absl::OkStatus();
}

void Converter::WriteUserParts() {
  if (parts_.empty()) return;
  bool all_text = true;
  for (const auto& p : parts_) all_text = all_text && p.kind == UserPart::kText;
  w_.BeginObject().Key("role").String("user").Key("content");
  if (all_text) {
    w_.BeginString();
    for (size_t k = 0; k < parts_.size(); ++k) {
      if (k > 0) w_.StringPiece("\n");
      w_.EscapedStringPiece(parts_[k].a.raw());
    }
    w_.EndString().EndObject();
    return;
  }
  w_.BeginArray();
  for (const auto& p : parts_) {
    w_.BeginObject();
    switch (p.kind) {
      case UserPart::kText:
        w_.Key("type").String("text").Key("text").EscapedString(p.a.raw());
        break;
      case UserPart::kImageData:
        w_.Key("type").String("image_url").Key("image_url").BeginObject().Key("url").BeginString();
        w_.StringPiece("data:").EscapedStringPiece(p.a.raw()).StringPiece(";base64,").EscapedStringPiece(p.b.raw());
        w_.EndString().EndObject();
        break;
      case UserPart::kImageUrl:
        w_.Key("type").String("image_url").Key("image_url").BeginObject().Key("url").EscapedString(p.a.raw());
        w_.EndObject();
        break;
      case UserPart::kPdf:
        w_.Key("type").String("file").Key("file").BeginObject();
        w_.Key("filename");
        if (p.b.IsString() && !p.b.raw().empty()) {
          w_.EscapedString(p.b.raw());
        } else {
          w_.String("document.pdf");
        }
        w_.Key("file_data").BeginString().StringPiece("data:application/pdf;base64,").EscapedStringPiece(p.a.raw());
        w_.EndString().EndObject();
        break;
    }
    w_.EndObject();
  }
  w_.EndArray().EndObject();
}

absl::Status Converter::WriteAssistantBlocks(JsonRef content, size_t i) {
  texts_.clear();
  tool_uses_.clear();
  thinkings_.clear();
  size_t j = 0;
  for (JsonRef block : content) {
    auto make_path = [&] { return Indexed(Indexed("messages", i) + ".content", j); };
    if (!block.IsObject()) return Invalid(make_path(), "expected a content block object");
    JsonRef type = block["type"];
    if (!type.IsString()) return Invalid(make_path() + ".type", "expected a string");
    if (type.Is("text")) {
      if (!block["text"].IsString()) return Invalid(make_path() + ".text", "expected a string");
      texts_.push_back(block["text"]);
    } else if (type.Is("tool_use")) {
      if (!block["id"].IsString()) return Invalid(make_path() + ".id", "expected a string");
      if (!block["name"].IsString() || block["name"].raw().empty()) {
        return Invalid(make_path() + ".name", "expected a non-empty string");
      }
      JsonRef input = block["input"];
      if (!input.IsNullish() && !input.IsObject()) return Invalid(make_path() + ".input", "expected an object");
      tool_uses_.push_back(block);
    } else if (type.Is("thinking")) {
      if (!block["thinking"].IsString()) return Invalid(make_path() + ".thinking", "expected a string");
      thinkings_.push_back(block["thinking"]);
    } else if (type.Is("redacted_thinking") || IsServerBlock(type.raw())) {
      // Opaque to other providers: dropped.
    } else {
      return Invalid(make_path() + ".type",
                     "unsupported content block type \"" + type.str() + "\" in an assistant message");
    }
    ++j;
  }
  bool any_text = false;
  for (JsonRef t : texts_) any_text = any_text || !t.raw().empty();
  bool reasoning = opt_.thinking_to_reasoning_content && !thinkings_.empty();
  if (!any_text && tool_uses_.empty() && !reasoning) return absl::OkStatus();
  w_.BeginObject().Key("role").String("assistant").Key("content");
  if (any_text) {
    w_.BeginString();
    for (JsonRef t : texts_) w_.EscapedStringPiece(t.raw());
    w_.EndString();
  } else if (!tool_uses_.empty()) {
    w_.Null();
  } else {
    w_.String("");
  }
  if (!tool_uses_.empty()) {
    w_.Key("tool_calls").BeginArray();
    for (JsonRef tu : tool_uses_) {
      std::string id = SanitizeToolId(tu["id"].str());
      if (id.empty()) id = GeneratedToolId(r_->client_model, generated_ids_++);
      w_.BeginObject().Key("id").String(id).Key("type").String("function");
      w_.Key("function").BeginObject().Key("name").String(r_->tool_names.Shorten(tu["name"].str()));
      scratch_.clear();
      if (tu["input"].IsObject()) {
        AppendCompactJson(tu["input"], &scratch_);
      } else {
        scratch_ = "{}";
      }
      w_.Key("arguments").String(scratch_);
      w_.EndObject().EndObject();
    }
    w_.EndArray();
  }
  if (reasoning) {
    w_.Key("reasoning_content").BeginString();
    for (JsonRef t : thinkings_) w_.EscapedStringPiece(t.raw());
    w_.EndString();
  }
  w_.EndObject();
  return absl::OkStatus();
}

absl::Status Converter::WriteTools(JsonRef tools) {
  if (tools.IsNullish()) return absl::OkStatus();
  if (!tools.IsArray()) return Invalid("tools", "expected an array");
  size_t j = 0;
  size_t client_tools = 0;
  for (JsonRef tool : tools) {
    std::string path = Indexed("tools", j++);
    if (!tool.IsObject()) return Invalid(path, "expected an object");
    JsonRef type = tool["type"];
    if (!type.IsNullish() && !type.Is("custom")) continue;  // a server tool
    if (!tool["name"].IsString() || tool["name"].raw().empty()) {
      return Invalid(path + ".name", "expected a non-empty string");
    }
    if (!tool["description"].IsNullish() && !tool["description"].IsString()) {
      return Invalid(path + ".description", "expected a string");
    }
    if (!tool["input_schema"].IsNullish() && !tool["input_schema"].IsObject()) {
      return Invalid(path + ".input_schema", "expected an object");
    }
    ++client_tools;
  }
  if (client_tools < j) {
    r_->warnings.push_back("tools: server tools cannot be used through an OpenAI-format model and were dropped");
  }
  if (client_tools == 0) return absl::OkStatus();
  any_tools_ = true;
  w_.Key("tools").BeginArray();
  for (JsonRef tool : tools) {
    JsonRef type = tool["type"];
    if (!type.IsNullish() && !type.Is("custom")) continue;
    w_.BeginObject().Key("type").String("function").Key("function").BeginObject();
    w_.Key("name").String(r_->tool_names.Shorten(tool["name"].str()));
    if (tool["description"].IsString()) w_.Key("description").EscapedString(tool["description"].raw());
    w_.Key("parameters");
    if (tool["input_schema"].IsObject()) {
      w_.Value(tool["input_schema"]);
    } else {
      w_.RawValue(R"({"type":"object","properties":{}})");
    }
    if (tool["strict"].IsBool()) w_.Key("strict").Bool(tool["strict"].AsBool(false));
    w_.EndObject().EndObject();
  }
  w_.EndArray();
  return absl::OkStatus();
}

absl::Status Converter::WriteToolChoice(JsonRef choice) {
  if (choice.IsNullish()) return absl::OkStatus();
  if (!choice.IsObject()) return Invalid("tool_choice", "expected an object");
  JsonRef type = choice["type"];
  JsonRef disable = choice["disable_parallel_tool_use"];
  if (!disable.IsNullish() && !disable.IsBool()) {
    return Invalid("tool_choice.disable_parallel_tool_use", "expected a boolean");
  }
  if (type.Is("tool")) {
    if (!choice["name"].IsString() || choice["name"].raw().empty()) {
      return Invalid("tool_choice.name", "expected a non-empty string");
    }
  } else if (!type.Is("auto") && !type.Is("any") && !type.Is("none")) {
    return Invalid("tool_choice.type", "expected \"auto\", \"any\", \"tool\" or \"none\"");
  }
  if (!any_tools_) return absl::OkStatus();  // OpenAI rejects tool_choice without tools
  w_.Key("tool_choice");
  if (type.Is("auto")) {
    w_.String("auto");
  } else if (type.Is("any")) {
    w_.String("required");
  } else if (type.Is("none")) {
    w_.String("none");
  } else {
    w_.BeginObject().Key("type").String("function").Key("function").BeginObject();
    w_.Key("name").String(r_->tool_names.Shorten(choice["name"].str()));
    w_.EndObject().EndObject();
  }
  if (disable.AsBool(false) && !type.Is("none")) w_.Key("parallel_tool_calls").Bool(false);
  return absl::OkStatus();
}

absl::Status Converter::WriteReasoning(JsonRef root) {
  JsonRef thinking = root["thinking"];
  JsonRef output_config = root["output_config"];
  if (!output_config.IsNullish() && !output_config.IsObject()) return Invalid("output_config", "expected an object");
  JsonRef effort_field = output_config["effort"];
  if (!effort_field.IsNullish() && !effort_field.IsString()) {
    return Invalid("output_config.effort", "expected a string");
  }
  std::string effort;
  if (!thinking.IsNullish()) {
    if (!thinking.IsObject()) return Invalid("thinking", "expected an object");
    JsonRef type = thinking["type"];
    if (type.Is("enabled")) {
      auto budget = thinking["budget_tokens"].AsInt();
      if (!budget) return Invalid("thinking.budget_tokens", "expected an integer");
      effort = ReasoningEffortForBudget(*budget);
    } else if (type.Is("adaptive")) {
      effort = effort_field.IsString() ? effort_field.str() : "medium";
    } else if (!type.Is("disabled")) {
      return Invalid("thinking.type", "expected \"enabled\", \"adaptive\" or \"disabled\"");
    }
  } else if (effort_field.IsString()) {
    effort = effort_field.str();
  }
  if (!effort.empty() && opt_.send_reasoning_effort) w_.Key("reasoning_effort").String(effort);

  JsonRef format = output_config["format"];
  if (format.IsObject() && format["type"].Is("json_schema")) {
    if (!format["schema"].IsObject()) return Invalid("output_config.format.schema", "expected an object");
    w_.Key("response_format").BeginObject().Key("type").String("json_schema");
    w_.Key("json_schema").BeginObject().Key("name").String("output").Key("schema").Value(format["schema"]);
    w_.Key("strict").Bool(true).EndObject().EndObject();
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view ReasoningEffortForBudget(int64_t budget) {
  if (budget >= 16384) return "max";
  if (budget >= 8192) return "xhigh";
  if (budget >= 4096) return "high";
  if (budget >= 2048) return "medium";
  if (budget >= 1024) return "low";
  return "minimal";
}

absl::StatusOr<ConvertedRequest> ConvertAnthropicToOpenAIRequest(std::string_view body,
                                                                 const AnthropicToOpenAIRequestOptions& options) {
  JsonDoc doc;
  if (!doc.Parse(body)) return absl::InvalidArgumentError("request body is not valid JSON: " + doc.error());
  ConvertedRequest result;
  result.body.reserve(body.size() + 256);
  Converter converter(options, &result);
  if (auto s = converter.Run(doc.root()); !s.ok()) return s;
  return result;
}

}  // namespace luna::gateway
