// Token usage in one currency, read from and written to both APIs (FORMATS.md §2, §3, §6, §7.3).
//
// TokenUsage uses Anthropic's semantics: `input_tokens` EXCLUDES cache reads and writes. OpenAI's
// `prompt_tokens` INCLUDES cached tokens; the mapping subtracts / adds them so nothing is counted
// twice: OpenAI prompt_tokens = input + cache_read + cache_creation.
#pragma once

#include <cstdint>
#include <optional>

#include "gateway/convert/json_view.h"
#include "gateway/convert/json_writer.h"

namespace luna::gateway {

struct TokenUsage {
  int64_t input_tokens = 0;           // uncached input
  int64_t output_tokens = 0;          // includes reasoning / thinking tokens
  int64_t cache_read_tokens = 0;      // Anthropic cache_read_input_tokens, OpenAI cached_tokens
  int64_t cache_creation_tokens = 0;  // Anthropic cache_creation_input_tokens, OpenAI cache_write_tokens
  std::optional<int64_t> reasoning_tokens;  // informational: already inside output_tokens

  // All input, cached or not (OpenAI's prompt_tokens).
  int64_t TotalInput() const { return input_tokens + cache_read_tokens + cache_creation_tokens; }
  bool operator==(const TokenUsage&) const = default;
};

// From an OpenAI `usage` object (§7.3): input = max(0, prompt − cached − cache_write); cached is
// prompt_tokens_details.cached_tokens, else DeepSeek's prompt_cache_hit_tokens, else Moonshot's
// top-level cached_tokens. Missing fields are 0.
TokenUsage UsageFromOpenAI(JsonRef usage);

// From an Anthropic `usage` object (a response's, or message_start's). Missing fields are 0.
TokenUsage UsageFromAnthropic(JsonRef usage);

// The Anthropic SDK's accumulator for a `message_delta.usage` (§3): output_tokens is set, and every
// other count that is present and non-null REPLACES the stored one. Values are cumulative: never add.
void ApplyAnthropicUsageDelta(JsonRef usage, TokenUsage* acc);

// Writes the OpenAI `usage` object: prompt_tokens (= TotalInput), completion_tokens, total_tokens,
// prompt_tokens_details{cached_tokens, cache_write_tokens if non-zero},
// completion_tokens_details{reasoning_tokens} if known.
void WriteOpenAIUsage(const TokenUsage& u, JsonWriter* w);

// Writes the Anthropic `usage` object: input_tokens, cache_creation_input_tokens,
// cache_read_input_tokens, output_tokens.
void WriteAnthropicUsage(const TokenUsage& u, JsonWriter* w);

}  // namespace luna::gateway
