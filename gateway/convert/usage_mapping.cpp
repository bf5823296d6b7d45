#include "gateway/convert/usage_mapping.h"

#include <algorithm>

namespace luna::gateway {
namespace {

// A non-negative count, or nullopt if absent, null or not a number (negative counts become 0).
std::optional<int64_t> Count(JsonRef v) {
  auto n = v.AsInt();
  if (!n) return std::nullopt;
  return std::max<int64_t>(0, *n);
}

}  // namespace

TokenUsage UsageFromOpenAI(JsonRef usage) {
  TokenUsage u;
  int64_t prompt = Count(usage["prompt_tokens"]).value_or(0);
  JsonRef details = usage["prompt_tokens_details"];
  auto cached = Count(details["cached_tokens"]);
  if (!cached) cached = Count(usage["prompt_cache_hit_tokens"]);  // DeepSeek
  if (!cached) cached = Count(usage["cached_tokens"]);            // Moonshot (Kimi)
  u.cache_read_tokens = cached.value_or(0);
  u.cache_creation_tokens = Count(details["cache_write_tokens"]).value_or(0);
  u.input_tokens = std::max<int64_t>(0, prompt - u.cache_read_tokens - u.cache_creation_tokens);
  u.output_tokens = Count(usage["completion_tokens"]).value_or(0);
  u.reasoning_tokens = Count(usage["completion_tokens_details"]["reasoning_tokens"]);
  return u;
}

TokenUsage UsageFromAnthropic(JsonRef usage) {
  TokenUsage u;
  u.input_tokens = Count(usage["input_tokens"]).value_or(0);
  u.output_tokens = Count(usage["output_tokens"]).value_or(0);
  u.cache_read_tokens = Count(usage["cache_read_input_tokens"]).value_or(0);
  u.cache_creation_tokens = Count(usage["cache_creation_input_tokens"]).value_or(0);
  u.reasoning_tokens = Count(usage["output_tokens_details"]["thinking_tokens"]);
  return u;
}

void ApplyAnthropicUsageDelta(JsonRef usage, TokenUsage* acc) {
  if (auto v = Count(usage["output_tokens"])) acc->output_tokens = *v;
  if (auto v = Count(usage["input_tokens"])) acc->input_tokens = *v;
  if (auto v = Count(usage["cache_read_input_tokens"])) acc->cache_read_tokens = *v;
  if (auto v = Count(usage["cache_creation_input_tokens"])) acc->cache_creation_tokens = *v;
  if (auto v = Count(usage["output_tokens_details"]["thinking_tokens"])) acc->reasoning_tokens = *v;
}

void WriteOpenAIUsage(const TokenUsage& u, JsonWriter* w) {
  int64_t prompt = u.TotalInput();
  w->BeginObject();
  w->Key("prompt_tokens").Int(prompt);
  w->Key("completion_tokens").Int(u.output_tokens);
  w->Key("total_tokens").Int(prompt + u.output_tokens);
  w->Key("prompt_tokens_details").BeginObject();
  w->Key("cached_tokens").Int(u.cache_read_tokens);
  if (u.cache_creation_tokens > 0) w->Key("cache_write_tokens").Int(u.cache_creation_tokens);
  w->EndObject();
  if (u.reasoning_tokens) {
    w->Key("completion_tokens_details").BeginObject().Key("reasoning_tokens").Int(*u.reasoning_tokens).EndObject();
  }
  w->EndObject();
}

void WriteAnthropicUsage(const TokenUsage& u, JsonWriter* w) {
  w->BeginObject();
  w->Key("input_tokens").Int(u.input_tokens);
  w->Key("cache_creation_input_tokens").Int(u.cache_creation_tokens);
  w->Key("cache_read_input_tokens").Int(u.cache_read_tokens);
  w->Key("output_tokens").Int(u.output_tokens);
  w->EndObject();
}

}  // namespace luna::gateway
