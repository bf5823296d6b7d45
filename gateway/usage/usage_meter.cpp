#include "gateway/usage/usage_meter.h"

#include <algorithm>
#include <optional>

#include "gateway/convert/json_scan.h"

namespace luna::gateway {

namespace {

std::string_view SpanText(std::string_view text, const JsonSpan& s) { return text.substr(s.begin, s.end - s.begin); }

// The value of `key` inside the JSON object `obj` when it is an integer (a negative count, which no
// honest upstream sends, reads as 0 so the ledger never goes backwards). Read with the top-level
// scanner: the usage object is small, and a DOM per answer cost more than the rest of the request.
bool ReadInt(std::string_view obj, std::string_view key, int64_t* out) {
  auto v = TopLevelInt64(obj, key);
  if (!v) return false;
  *out = std::max<int64_t>(0, *v);
  return true;
}

bool IsObject(std::string_view text) {
  size_t i = text.find_first_not_of(" \t\r\n");
  return i != std::string_view::npos && text[i] == '{';
}

}  // namespace

UsageMeter::UsageMeter(WireFormat format, bool streaming) : format_(format), streaming_(streaming) {}

void UsageMeter::Feed(std::string_view bytes) {
  if (!streaming_) {
    if (body_overflow_) return;
    if (body_.size() + bytes.size() > kMaxBufferedBody) {
      body_overflow_ = true;
      body_.clear();
      body_.shrink_to_fit();
      return;
    }
    body_.append(bytes);
    return;
  }
  events_.clear();
  parser_.Feed(bytes, &events_);
  for (const auto& ev : events_) OnEvent(ev);
}

void UsageMeter::Finish() {
  if (streaming_ || body_overflow_ || body_.empty()) return;
  std::string_view body = body_;
  // One pass over the body: the model, the usage, and whether the body is whole.
  std::optional<JsonSpan> model, usage;
  complete_ = ScanTopLevelMembers(body, [&](std::string_view key, JsonSpan v) {
    if (key == "model") model = v;
    if (key == "usage") usage = v;
    return true;
  });
  if (model) {
    if (auto m = StringAt(body, *model)) served_model_ = std::string(*m);
  }
  if (usage) {
    if (format_ == WireFormat::kAnthropic) {
      ReadAnthropicUsage(SpanText(body, *usage), true);
    } else {
      ReadOpenAIUsage(SpanText(body, *usage));
    }
  }
}

void UsageMeter::OnEvent(const SseEvent& ev) {
  std::string_view data = ev.data;
  if (format_ == WireFormat::kAnthropic) {
    // Dispatch on the JSON "type" (the event: line says the same; some relays drop it).
    // "type" leads Anthropic's events: stop there, so the many content deltas cost a few bytes each.
    auto type = FirstTopLevelString(data, "type");
    if (!type) return;
    if (*type == "message_start") {
      if (auto msg = FindTopLevelMember(data, "message")) {
        std::string_view m = SpanText(data, *msg);
        if (auto model = TopLevelString(m, "model")) served_model_ = std::string(*model);
        if (auto u = FindTopLevelMember(m, "usage")) ReadAnthropicUsage(SpanText(m, *u), true);
      }
    } else if (*type == "message_delta") {
      // Cumulative counts: present fields replace what message_start said; never add.
      if (auto u = FindTopLevelMember(data, "usage")) ReadAnthropicUsage(SpanText(data, *u), false);
    } else if (*type == "message_stop") {
      complete_ = true;
    }
    return;
  }
  if (data == "[DONE]") {
    complete_ = true;
    return;
  }
  if (served_model_.empty()) {
    if (auto model = TopLevelString(data, "model")) served_model_ = std::string(*model);
  }
  if (auto u = FindTopLevelMember(data, "usage")) {
    std::string_view text = SpanText(data, *u);
    if (text != "null") ReadOpenAIUsage(text);
  }
}

void UsageMeter::ReadAnthropicUsage(std::string_view usage_json, bool replace_all) {
  std::string_view u = usage_json;
  if (!IsObject(u)) return;
  UsageCounts next = replace_all ? UsageCounts{} : usage_;
  bool any = false;
  any |= ReadInt(u, "input_tokens", &next.input_tokens);
  any |= ReadInt(u, "output_tokens", &next.output_tokens);
  any |= ReadInt(u, "cache_read_input_tokens", &next.cache_read_tokens);
  any |= ReadInt(u, "cache_creation_input_tokens", &next.cache_write_tokens);
  if (any) {
    usage_ = next;
    saw_usage_ = true;
  }
}

void UsageMeter::ReadOpenAIUsage(std::string_view usage_json) {
  std::string_view u = usage_json;
  if (!IsObject(u)) return;
  int64_t prompt = 0, completion = 0, cached = 0, cache_write = 0;
  bool any = ReadInt(u, "prompt_tokens", &prompt);
  any |= ReadInt(u, "completion_tokens", &completion);
  if (!any) return;
  if (auto d = FindTopLevelMember(u, "prompt_tokens_details")) {
    std::string_view details = SpanText(u, *d);
    ReadInt(details, "cached_tokens", &cached);
    ReadInt(details, "cache_write_tokens", &cache_write);
  }
  // DeepSeek reports its cache hits apart.
  if (cached == 0) ReadInt(u, "prompt_cache_hit_tokens", &cached);
  // OpenAI's prompt_tokens include the cached ones; Anthropic's input_tokens do not (FORMATS.md §7.3).
  usage_.input_tokens = std::max<int64_t>(0, prompt - cached - cache_write);
  usage_.output_tokens = completion;
  usage_.cache_read_tokens = cached;
  usage_.cache_write_tokens = cache_write;
  saw_usage_ = true;
}

}  // namespace luna::gateway
