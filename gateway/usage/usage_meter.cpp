#include "gateway/usage/usage_meter.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include "gateway/convert/json_scan.h"

namespace luna::gateway {

namespace {

std::string_view SpanText(std::string_view text, const JsonSpan& s) { return text.substr(s.begin, s.end - s.begin); }

// Integer members of one JSON object, read in one pass of the top-level scanner (the usage object is
// small, and a DOM per answer cost more than the rest of the request; a pass per field cost 3% of a
// small request). As TopLevelInt64: the last of repeated members counts, and a member that is not an
// integer is absent. A negative count, which no honest upstream sends, reads as 0 so the ledger never
// goes backwards.
struct IntField {
  std::string_view key;
  int64_t* out;
  bool found = false;
};

template <size_t N>
bool ReadInts(std::string_view obj, IntField (&fields)[N], std::optional<JsonSpan>* details = nullptr,
              std::string_view details_key = {}) {
  std::optional<JsonSpan> spans[N];
  constexpr size_t n = N;
  ScanTopLevelMembers(obj, [&](std::string_view k, JsonSpan v) {
    for (size_t i = 0; i < n; ++i) {
      if (k == fields[i].key) spans[i] = v;
    }
    if (details != nullptr && k == details_key) *details = v;
    return true;
  });
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    if (!spans[i]) continue;
    int64_t v = 0;
    const char* b = obj.data() + spans[i]->begin;
    const char* e = obj.data() + spans[i]->end;
    auto [end, ec] = std::from_chars(b, e, v);
    if (ec != std::errc() || end != e) continue;
    *fields[i].out = std::max<int64_t>(0, v);
    fields[i].found = true;
    any = true;
  }
  return any;
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
  IntField fields[] = {{"input_tokens", &next.input_tokens},
                       {"output_tokens", &next.output_tokens},
                       {"cache_read_input_tokens", &next.cache_read_tokens},
                       {"cache_creation_input_tokens", &next.cache_write_tokens}};
  if (ReadInts(u, fields)) {
    usage_ = next;
    saw_usage_ = true;
  }
}

void UsageMeter::ReadOpenAIUsage(std::string_view usage_json) {
  std::string_view u = usage_json;
  if (!IsObject(u)) return;
  int64_t prompt = 0, completion = 0, cached = 0, cache_write = 0, deepseek_hits = 0;
  IntField fields[] = {{"prompt_tokens", &prompt},
                       {"completion_tokens", &completion},
                       {"prompt_cache_hit_tokens", &deepseek_hits}};
  std::optional<JsonSpan> d;
  ReadInts(u, fields, &d, "prompt_tokens_details");
  if (!fields[0].found && !fields[1].found) return;
  if (d) {
    IntField detail_fields[] = {{"cached_tokens", &cached}, {"cache_write_tokens", &cache_write}};
    ReadInts(SpanText(u, *d), detail_fields);
  }
  // DeepSeek reports its cache hits apart.
  if (cached == 0) cached = deepseek_hits;
  // OpenAI's prompt_tokens include the cached ones; Anthropic's input_tokens do not (FORMATS.md §7.3).
  usage_.input_tokens = std::max<int64_t>(0, prompt - cached - cache_write);
  usage_.output_tokens = completion;
  usage_.cache_read_tokens = cached;
  usage_.cache_write_tokens = cache_write;
  saw_usage_ = true;
}

}  // namespace luna::gateway
