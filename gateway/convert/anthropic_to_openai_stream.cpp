#include "gateway/convert/anthropic_to_openai_stream.h"

#include "gateway/convert/error_mapping.h"
#include "gateway/convert/json_writer.h"
#include "gateway/convert/stop_reasons.h"

namespace luna::gateway {
namespace {

// Block indices beyond this are ignored rather than allocated for (a hostile or broken upstream).
constexpr int64_t kMaxBlocks = 4096;

}  // namespace

AnthropicToOpenAIStream::AnthropicToOpenAIStream(AnthropicToOpenAIStreamOptions options) : opt_(std::move(options)) {}

std::string AnthropicToOpenAIStream::Feed(std::string_view upstream_bytes) {
  std::string out;
  Feed(upstream_bytes, &out);
  return out;
}

void AnthropicToOpenAIStream::Feed(std::string_view upstream_bytes, std::string* out) {
  if (done_) return;
  parser_.Feed(upstream_bytes, &events_);
  for (const SseEvent& e : events_) {
    if (done_) break;
    HandleEvent(e, out);
  }
  events_.clear();
}

std::string AnthropicToOpenAIStream::Finish(bool upstream_eof_clean) {
  std::string out;
  Finish(upstream_eof_clean, &out);
  return out;
}

void AnthropicToOpenAIStream::Finish(bool upstream_eof_clean, std::string* out) {
  if (done_) return;
  finishing_ = true;
  if (upstream_eof_clean && parser_.HasPartial()) Feed("\n\n", out);
  if (done_) return;
  EmitError("api_error",
            upstream_eof_clean ? "upstream stream ended before message_stop"
                               : "upstream connection lost before the response was complete",
            out);
}

void AnthropicToOpenAIStream::EmitError(std::string_view type, std::string_view message, std::string* out) {
  AppendOpenAIErrorChunk(type, message, out);
  done_ = true;
}

void AnthropicToOpenAIStream::BeginChunk(std::string* out) {
  out->append("data: ");
  JsonWriter w(out);
  w.BeginObject().Key("id").String(id_).Key("object").String("chat.completion.chunk");
  w.Key("created").Int(opt_.created).Key("model").String(model_);
  out->append(R"(,"choices":[{"index":0,"delta":)");
}

void AnthropicToOpenAIStream::EndChunk(std::string_view finish_reason, std::string* out) {
  out->append(R"(,"logprobs":null,"finish_reason":)");
  if (finish_reason.empty()) {
    out->append("null");
  } else {
    out->push_back('"');
    out->append(finish_reason);
    out->push_back('"');
  }
  out->append("}]");
  if (opt_.client_include_usage) out->append(R"(,"usage":null)");
  out->append("}\n\n");
}

void AnthropicToOpenAIStream::Start(JsonRef message, std::string* out) {
  started_ = true;
  if (!opt_.id.empty()) {
    id_ = opt_.id;
  } else {
    id_ = "chatcmpl-" + (message["id"].IsString() ? message["id"].str() : std::string("gateway"));
  }
  model_ = !opt_.model.empty() ? opt_.model : message["model"].IsString() ? message["model"].str() : "unknown";
  if (message["usage"].IsObject()) {
    usage_ = UsageFromAnthropic(message["usage"]);
    usage_known_ = true;
  }
  BeginChunk(out);
  out->append(R"({"role":"assistant","content":""})");
  EndChunk({}, out);
}

AnthropicToOpenAIStream::Block* AnthropicToOpenAIStream::BlockAt(JsonRef index) {
  auto i = index.AsInt();
  if (!i || *i < 0 || *i >= kMaxBlocks) return nullptr;
  if (static_cast<size_t>(*i) >= blocks_.size()) blocks_.resize(static_cast<size_t>(*i) + 1);
  return &blocks_[static_cast<size_t>(*i)];
}

void AnthropicToOpenAIStream::HandleEvent(const SseEvent& e, std::string* out) {
  if (e.data.empty()) return;
  if (!doc_.Parse(e.data)) {
    if (finishing_) return;  // a truncated last event: Finish reports the cut (or completes after a finish)
    EmitError("api_error", "upstream sent a malformed stream event (" + doc_.error() + ")", out);
    return;
  }
  JsonRef data = doc_.root();
  if (!data.IsObject()) return;
  std::string_view type = data["type"].IsString() ? data["type"].raw() : std::string_view(e.event);

  if (type == "error") {
    JsonRef err = data["error"];
    std::string etype = err["type"].IsString() ? err["type"].str() : "api_error";
    std::string message = err["message"].IsString() ? err["message"].str() : ErrorMessageFromBody(500, e.data);
    EmitError(etype, message, out);
    return;
  }
  if (type == "ping") return;
  if (type == "message_start") {
    if (!started_) Start(data["message"], out);
    return;
  }
  if (!started_) Start(JsonRef(), out);

  if (type == "content_block_start") {
    Block* b = BlockAt(data["index"]);
    if (b == nullptr || b->kind != Kind::kUnknown) return;
    JsonRef cb = data["content_block"];
    JsonRef cb_type = cb["type"];
    if (cb_type.Is("tool_use")) {
      b->kind = Kind::kTool;
      b->tool_pos = tool_count_++;
      BeginChunk(out);
      JsonWriter w(out);
      w.BeginObject().Key("tool_calls").BeginArray().BeginObject();
      w.Key("index").Int(b->tool_pos).Key("id").EscapedString(cb["id"].raw()).Key("type").String("function");
      w.Key("function").BeginObject().Key("name").EscapedString(cb["name"].raw()).Key("arguments").String("");
      w.EndObject().EndObject().EndArray().EndObject();
      EndChunk({}, out);
    } else if (cb_type.Is("text")) {
      b->kind = Kind::kText;
      if (cb["text"].IsString() && !cb["text"].raw().empty()) {
        BeginChunk(out);
        JsonWriter(out).BeginObject().Key("content").EscapedString(cb["text"].raw()).EndObject();
        EndChunk({}, out);
      }
    } else if (cb_type.Is("thinking")) {
      b->kind = Kind::kThinking;
      if (cb["thinking"].IsString() && !cb["thinking"].raw().empty()) {
        BeginChunk(out);
        JsonWriter(out).BeginObject().Key("reasoning_content").EscapedString(cb["thinking"].raw()).EndObject();
        EndChunk({}, out);
      }
    } else {
      b->kind = Kind::kOther;  // redacted_thinking, server tool blocks: nothing for the client
    }
    return;
  }
  if (type == "content_block_delta") {
    Block* b = BlockAt(data["index"]);
    if (b == nullptr) return;
    JsonRef delta = data["delta"];
    JsonRef dtype = delta["type"];
    if (dtype.Is("text_delta") && b->kind == Kind::kText) {
      if (delta["text"].IsString() && !delta["text"].raw().empty()) {
        BeginChunk(out);
        JsonWriter(out).BeginObject().Key("content").EscapedString(delta["text"].raw()).EndObject();
        EndChunk({}, out);
      }
    } else if (dtype.Is("thinking_delta") && b->kind == Kind::kThinking) {
      if (delta["thinking"].IsString() && !delta["thinking"].raw().empty()) {
        BeginChunk(out);
        JsonWriter(out).BeginObject().Key("reasoning_content").EscapedString(delta["thinking"].raw()).EndObject();
        EndChunk({}, out);
      }
    } else if (dtype.Is("signature_delta") && b->kind == Kind::kThinking) {
      if (opt_.expose_signature && delta["signature"].IsString()) {
        BeginChunk(out);
        JsonWriter(out).BeginObject().Key("reasoning_signature").EscapedString(delta["signature"].raw()).EndObject();
        EndChunk({}, out);
      }
    } else if (dtype.Is("input_json_delta") && b->kind == Kind::kTool) {
      JsonRef piece = delta["partial_json"];
      if (piece.IsString() && !piece.raw().empty()) {
        b->got_args = true;
        BeginChunk(out);
        JsonWriter w(out);
        w.BeginObject().Key("tool_calls").BeginArray().BeginObject().Key("index").Int(b->tool_pos);
        w.Key("function").BeginObject().Key("arguments").EscapedString(piece.raw()).EndObject();
        w.EndObject().EndArray().EndObject();
        EndChunk({}, out);
      }
    }
    return;
  }
  if (type == "content_block_stop") {
    Block* b = BlockAt(data["index"]);
    if (b == nullptr || b->kind != Kind::kTool || b->got_args) return;
    b->got_args = true;  // a tool without arguments: "" means {}
    BeginChunk(out);
    JsonWriter w(out);
    w.BeginObject().Key("tool_calls").BeginArray().BeginObject().Key("index").Int(b->tool_pos);
    w.Key("function").BeginObject().Key("arguments").String("{}").EndObject();
    w.EndObject().EndArray().EndObject();
    EndChunk({}, out);
    return;
  }
  if (type == "message_delta") {
    if (data["usage"].IsObject()) {
      ApplyAnthropicUsageDelta(data["usage"], &usage_);
      usage_known_ = true;
    }
    JsonRef stop = data["delta"]["stop_reason"];
    if (stop.IsString() && !finish_sent_) {
      finish_sent_ = true;
      BeginChunk(out);
      out->append("{}");
      EndChunk(OpenAIFinishReason(stop.str()), out);
    }
    return;
  }
  if (type == "message_stop") {
    if (!finish_sent_) {
      finish_sent_ = true;
      BeginChunk(out);
      out->append("{}");
      EndChunk("stop", out);
    }
    if (opt_.client_include_usage) {
      out->append("data: ");
      JsonWriter w(out);
      w.BeginObject().Key("id").String(id_).Key("object").String("chat.completion.chunk");
      w.Key("created").Int(opt_.created).Key("model").String(model_);
      w.Key("choices").BeginArray().EndArray().Key("usage");
      WriteOpenAIUsage(usage_, &w);
      w.EndObject();
      out->append("\n\n");
    }
    out->append("data: [DONE]\n\n");
    done_ = true;
    completed_ = true;
    return;
  }
  // Unknown event types are ignored.
}

}  // namespace luna::gateway
