// Reads token usage from an upstream's answer as it streams past, in either API format, without
// holding the answer: non-streaming JSON bodies are scanned for their top-level "usage" member;
// SSE streams are parsed event by event (FORMATS.md §3 and §6). Pure: bytes in, counts out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/convert/sse_parser.h"
#include "gateway/upstream/wire_format.h"

namespace luna::gateway {

struct UsageCounts {
  int64_t input_tokens = 0;        // Anthropic semantics: excludes cache tokens
  int64_t output_tokens = 0;
  int64_t cache_read_tokens = 0;
  int64_t cache_write_tokens = 0;
};

class UsageMeter {
 public:
  // `format` is the format of the upstream's answer; `streaming` whether it is SSE.
  UsageMeter(WireFormat format, bool streaming);

  // Feeds the next piece of the answer body.
  void Feed(std::string_view bytes);
  // Called once the body ended (or was cut); parses a buffered JSON body.
  void Finish();

  const UsageCounts& usage() const { return usage_; }
  bool saw_usage() const { return saw_usage_; }
  // The model the upstream said answered ("" if it did not say).
  const std::string& served_model() const { return served_model_; }
  // The stream reached its end marker (Anthropic message_stop, OpenAI [DONE]); for JSON, a body parsed.
  bool complete() const { return complete_; }

  // Largest JSON body buffered for usage; beyond it the body is not parsed (usage stays unknown).
  static constexpr size_t kMaxBufferedBody = 8 << 20;

 private:
  void OnEvent(const SseEvent& ev);
  void ReadAnthropicUsage(std::string_view usage_json, bool replace_all);
  void ReadOpenAIUsage(std::string_view usage_json);

  WireFormat format_;
  bool streaming_;
  SseParser parser_;
  std::vector<SseEvent> events_;
  std::string body_;
  bool body_overflow_ = false;
  UsageCounts usage_;
  bool saw_usage_ = false;
  std::string served_model_;
  bool complete_ = false;
};

}  // namespace luna::gateway
