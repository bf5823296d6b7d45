#include "gateway/convert/openai_to_anthropic_stream.h"

#include <algorithm>

#include "gateway/convert/error_mapping.h"
#include "gateway/convert/json_writer.h"
#include "gateway/convert/stop_reasons.h"

namespace luna::gateway {
namespace {

// The Anthropic error type for an error object inside an OpenAI stream: from a numeric code or
// status when there is one, else its type if it already is an Anthropic type, else api_error.
std::string StreamErrorType(JsonRef err) {
  for (std::string_view field : {"code", "status"}) {
    auto code = err[field].AsInt();
    if (code && *code >= 400 && *code < 600) return std::string(AnthropicErrorTypeForStatus(static_cast<int>(*code)));
  }
  std::string type = err["type"].str();
  if (StatusForAnthropicErrorType(type) != 500 || type == "api_error") return type;
  return "api_error";
}

}  // namespace

OpenAIToAnthropicStream::OpenAIToAnthropicStream(OpenAIToAnthropicStreamOptions options) : opt_(std::move(options)) {}

std::string OpenAIToAnthropicStream::Feed(std::string_view upstream_bytes) {
  std::string out;
  Feed(upstream_bytes, &out);
  return out;
}

void OpenAIToAnthropicStream::Feed(std::string_view upstream_bytes, std::string* out) {
  if (done_) return;
  parser_.Feed(upstream_bytes, &events_);
  for (const SseEvent& e : events_) {
    if (done_) break;
    HandleEvent(e.data, out);
  }
  events_.clear();
}

std::string OpenAIToAnthropicStream::Finish(bool upstream_eof_clean) {
  std::string out;
  Finish(upstream_eof_clean, &out);
  return out;
}

void OpenAIToAnthropicStream::Finish(bool upstream_eof_clean, std::string* out) {
  if (done_) return;
  // A last event without its blank line still counts when the body ended normally.
  finishing_ = true;
  if (upstream_eof_clean && parser_.HasPartial()) Feed("\n\n", out);
  if (done_) return;
  if (finish_seen_) {
    EmitEnd(out);
    return;
  }
  EmitError("api_error",
            upstream_eof_clean ? "upstream stream ended before the response was complete"
                               : "upstream connection lost before the response was complete",
            out);
}

void OpenAIToAnthropicStream::BeginEvent(std::string_view name, std::string* out) {
  out->append("event: ");
  out->append(name);
  out->append("\ndata: ");
}

void OpenAIToAnthropicStream::EndEvent(std::string* out) { out->append("\n\n"); }

void OpenAIToAnthropicStream::EmitError(std::string_view type, std::string_view message, std::string* out) {
  AppendAnthropicErrorEvent(type, message, out);
  done_ = true;
}

void OpenAIToAnthropicStream::HandleEvent(std::string_view data, std::string* out) {
  if (data.empty()) return;
  if (data == "[DONE]") {
    EmitEnd(out);
    return;
  }
  if (!doc_.Parse(data)) {
    if (finishing_) return;  // a truncated last event: Finish reports the cut (or completes after a finish)
    EmitError("api_error", "upstream sent a malformed stream chunk (" + doc_.error() + ")", out);
    return;
  }
  JsonRef chunk = doc_.root();
  if (!chunk.IsObject()) return;
  HandleChunk(chunk, out);
}

void OpenAIToAnthropicStream::EmitMessageStart(JsonRef chunk, std::string* out) {
  started_ = true;
  BeginEvent("message_start", out);
  JsonWriter w(out);
  w.BeginObject().Key("type").String("message_start").Key("message").BeginObject();
  w.Key("id").String(opt_.message_id).Key("type").String("message").Key("role").String("assistant");
  w.Key("model");
  if (!opt_.model.empty()) {
    w.String(opt_.model);
  } else if (chunk["model"].IsString()) {
    w.EscapedString(chunk["model"].raw());
  } else {
    w.String("unknown");
  }
  w.Key("content").BeginArray().EndArray();
  w.Key("stop_reason").Null().Key("stop_sequence").Null();
  TokenUsage start;
  start.input_tokens = opt_.estimated_input_tokens;
  w.Key("usage");
  WriteAnthropicUsage(start, &w);
  w.EndObject().EndObject();
  EndEvent(out);
}

void OpenAIToAnthropicStream::HandleChunk(JsonRef chunk, std::string* out) {
  if (JsonRef err = chunk["error"]; !err.IsNullish()) {
    std::string type = err.IsObject() ? StreamErrorType(err) : "api_error";
    EmitError(type, ErrorMessageFromBody(500, chunk.text()), out);
    return;
  }
  if (!started_) EmitMessageStart(chunk, out);
  if (JsonRef usage = chunk["usage"]; usage.IsObject()) {
    usage_ = UsageFromOpenAI(usage);
    usage_known_ = true;
  }
  for (JsonRef choice : chunk["choices"]) {
    if (auto i = choice["index"].AsInt(); i && *i != 0) continue;  // only n=1 is supported
    if (finish_seen_) continue;
    JsonRef delta = choice["delta"];
    JsonRef reasoning = delta["reasoning_content"];
    if (!reasoning.IsString() || reasoning.raw().empty()) reasoning = delta["reasoning"];
    if (reasoning.IsString() && !reasoning.raw().empty()) {
      EnsureBlock(BlockKind::kThinking, out);
      BeginEvent("content_block_delta", out);
      JsonWriter w(out);
      w.BeginObject().Key("type").String("content_block_delta").Key("index").Int(open_index_);
      w.Key("delta").BeginObject().Key("type").String("thinking_delta").Key("thinking").EscapedString(reasoning.raw());
      w.EndObject().EndObject();
      EndEvent(out);
    }
    if (open_kind_ == BlockKind::kThinking) {
      for (JsonRef detail : delta["reasoning_details"]) {
        if (detail["signature"].IsString() && !detail["signature"].raw().empty()) {
          signature_.assign(detail["signature"].raw());  // kept escaped
        }
      }
    }
    auto text_delta = [&](JsonRef text) {
      if (!text.IsString() || text.raw().empty()) return false;
      EnsureBlock(BlockKind::kText, out);
      BeginEvent("content_block_delta", out);
      JsonWriter w(out);
      w.BeginObject().Key("type").String("content_block_delta").Key("index").Int(open_index_);
      w.Key("delta").BeginObject().Key("type").String("text_delta").Key("text").EscapedString(text.raw());
      w.EndObject().EndObject();
      EndEvent(out);
      return true;
    };
    text_delta(delta["content"]);
    if (text_delta(delta["refusal"])) refusal_seen_ = true;
    for (JsonRef call : delta["tool_calls"]) HandleToolCall(call, out);
    JsonRef finish = choice["finish_reason"];
    if (finish.IsString() && !finish.raw().empty()) {
      finish_ = finish.str();
      finish_seen_ = true;
      CloseOpenBlock(out);
      CloseTools(out);
    }
  }
}

void OpenAIToAnthropicStream::HandleToolCall(JsonRef call, std::string* out) {
  if (!call.IsObject()) return;
  JsonRef id = call["id"];
  JsonRef fn = call["function"];
  int64_t key;
  if (auto k = call["index"].AsInt()) {
    key = *k;
  } else if (id.IsString() && !id.raw().empty() && (tools_.empty() || tools_.back().id != SanitizeToolId(id.str()))) {
    key = tools_.empty() ? 0 : tools_.back().key + 1;  // no index: a new id is a new call
  } else {
    key = tools_.empty() ? 0 : tools_.back().key;
  }
  Tool* t = nullptr;
  for (Tool& candidate : tools_) {
    if (candidate.key == key) t = &candidate;
  }
  if (t == nullptr) {
    CloseOpenBlock(out);
    tools_.push_back(Tool{key});
    t = &tools_.back();
    any_tool_call_ = true;
  }
  if (t->id.empty() && id.IsString()) t->id = SanitizeToolId(id.str());
  if (t->name.empty() && fn["name"].IsString() && !fn["name"].raw().empty()) {
    t->name = std::string(opt_.tool_names.Restore(fn["name"].str()));
  }
  JsonRef args = fn["arguments"];
  std::string_view piece = args.IsString() ? args.raw() : std::string_view();
  if (opt_.tool_mode == ParallelToolMode::kBuffer) {
    t->args.append(piece);
    return;
  }
  if (t->state == ToolState::kPending && !t->name.empty()) OpenTool(t, out);
  if (piece.empty()) return;
  if (t->state == ToolState::kPending) {
    t->args.append(piece);
  } else if (t->state == ToolState::kOpen) {
    BeginEvent("content_block_delta", out);
    JsonWriter w(out);
    w.BeginObject().Key("type").String("content_block_delta").Key("index").Int(t->block);
    w.Key("delta").BeginObject().Key("type").String("input_json_delta").Key("partial_json").EscapedString(piece);
    w.EndObject().EndObject();
    EndEvent(out);
  }
}

void OpenAIToAnthropicStream::OpenTool(Tool* t, std::string* out) {
  if (t->id.empty()) t->id = GeneratedToolId(opt_.message_id, generated_ids_++);
  t->block = next_index_++;
  t->state = ToolState::kOpen;
  BeginEvent("content_block_start", out);
  JsonWriter w(out);
  w.BeginObject().Key("type").String("content_block_start").Key("index").Int(t->block);
  w.Key("content_block").BeginObject().Key("type").String("tool_use").Key("id").String(t->id);
  w.Key("name").String(t->name).Key("input").BeginObject().EndObject().EndObject();
  w.EndObject();
  EndEvent(out);
  if (!t->args.empty()) {
    BeginEvent("content_block_delta", out);
    JsonWriter d(out);
    d.BeginObject().Key("type").String("content_block_delta").Key("index").Int(t->block);
    d.Key("delta").BeginObject().Key("type").String("input_json_delta").Key("partial_json").EscapedString(t->args);
    d.EndObject().EndObject();
    EndEvent(out);
    t->args.clear();
  }
}

void OpenAIToAnthropicStream::CloseTools(std::string* out) {
  if (opt_.tool_mode == ParallelToolMode::kBuffer) {
    std::stable_sort(tools_.begin(), tools_.end(), [](const Tool& a, const Tool& b) { return a.key < b.key; });
  }
  for (Tool& t : tools_) {
    if (t.state == ToolState::kPending) OpenTool(&t, out);
    if (opt_.tool_mode == ParallelToolMode::kBuffer && t.state == ToolState::kOpen) {
      BeginEvent("content_block_stop", out);
      JsonWriter(out).BeginObject().Key("type").String("content_block_stop").Key("index").Int(t.block).EndObject();
      EndEvent(out);
      t.state = ToolState::kClosed;
    }
  }
  std::vector<Tool*> open;
  for (Tool& t : tools_) {
    if (t.state == ToolState::kOpen) open.push_back(&t);
  }
  std::sort(open.begin(), open.end(), [](const Tool* a, const Tool* b) { return a->block < b->block; });
  for (Tool* t : open) {
    BeginEvent("content_block_stop", out);
    JsonWriter(out).BeginObject().Key("type").String("content_block_stop").Key("index").Int(t->block).EndObject();
    EndEvent(out);
    t->state = ToolState::kClosed;
  }
}

void OpenAIToAnthropicStream::EnsureBlock(BlockKind kind, std::string* out) {
  if (open_kind_ == kind) return;
  CloseOpenBlock(out);
  open_kind_ = kind;
  open_index_ = next_index_++;
  BeginEvent("content_block_start", out);
  JsonWriter w(out);
  w.BeginObject().Key("type").String("content_block_start").Key("index").Int(open_index_);
  if (kind == BlockKind::kText) {
    w.Key("content_block").RawValue(R"({"type":"text","text":""})");
  } else {
    w.Key("content_block").RawValue(R"({"type":"thinking","thinking":"","signature":""})");
  }
  w.EndObject();
  EndEvent(out);
}

void OpenAIToAnthropicStream::CloseOpenBlock(std::string* out) {
  if (open_kind_ == BlockKind::kNone) return;
  if (open_kind_ == BlockKind::kThinking && !signature_.empty()) {
    BeginEvent("content_block_delta", out);
    JsonWriter w(out);
    w.BeginObject().Key("type").String("content_block_delta").Key("index").Int(open_index_);
    w.Key("delta").BeginObject().Key("type").String("signature_delta").Key("signature").EscapedString(signature_);
    w.EndObject().EndObject();
    EndEvent(out);
    signature_.clear();
  }
  BeginEvent("content_block_stop", out);
  JsonWriter(out).BeginObject().Key("type").String("content_block_stop").Key("index").Int(open_index_).EndObject();
  EndEvent(out);
  open_kind_ = BlockKind::kNone;
}

void OpenAIToAnthropicStream::EmitEnd(std::string* out) {
  if (!started_) EmitMessageStart(JsonRef(), out);
  CloseOpenBlock(out);
  CloseTools(out);
  std::string_view stop = AnthropicStopReason(finish_, any_tool_call_);
  if (refusal_seen_ && stop == "end_turn") stop = "refusal";
  BeginEvent("message_delta", out);
  JsonWriter w(out);
  w.BeginObject().Key("type").String("message_delta");
  w.Key("delta").BeginObject().Key("stop_reason").String(stop).Key("stop_sequence").Null().EndObject();
  w.Key("usage");
  WriteAnthropicUsage(usage_, &w);
  w.EndObject();
  EndEvent(out);
  BeginEvent("message_stop", out);
  out->append(R"({"type":"message_stop"})");
  EndEvent(out);
  done_ = true;
  completed_ = true;
}

}  // namespace luna::gateway
