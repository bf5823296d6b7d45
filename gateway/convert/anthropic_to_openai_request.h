// Anthropic Messages request → OpenAI Chat Completions request (FORMATS.md §7.1), for an Anthropic
// client served by an OpenAI-format upstream. Pure: text in, text out.
//
// Mapping decisions beyond the table of §7.1:
// - system blocks are joined with "\n" into one system (or developer) message, cache_control dropped;
// - a user turn's tool_result blocks become `tool` messages placed before the user message built from
//   the rest of the turn; images inside a tool result move to that user message; is_error results
//   are prefixed with "[error] "; a user turn whose parts are all text becomes one string ("\n"-joined);
// - assistant text blocks are concatenated; thinking blocks are dropped (the signature cannot travel)
//   or, with thinking_to_reasoning_content, their text becomes `reasoning_content` (DeepSeek);
//   redacted_thinking and server-tool blocks are dropped;
// - tool names longer than 64 characters are shortened (ConvertedRequest::tool_names restores them);
// - server tools (a `type` other than "custom") are dropped with a warning;
// - stop_sequences beyond the first 4 are dropped with a warning.
// Rejected with an error (HTTP 400, message naming the field): malformed JSON, a non-object body,
// missing model / max_tokens / messages, wrong types, unknown roles or content block types, documents
// the target cannot take.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "gateway/convert/convert_types.h"

namespace luna::gateway {

struct AnthropicToOpenAIRequestOptions {
  std::string model;             // the upstream's model name; "" keeps the client's
  int64_t max_tokens_limit = 0;  // clamp max_tokens to this (the tier's max_tokens_limit); 0 = none
  bool use_max_completion_tokens = false;  // OpenAI's own reasoning models reject `max_tokens`
  bool system_as_developer = false;        // send the system prompt as a `developer` message
  bool thinking_to_reasoning_content = false;  // earlier thinking → assistant reasoning_content
  bool send_reasoning_effort = true;       // thinking / output_config.effort → reasoning_effort
  bool send_top_k = false;                 // vLLM-like upstreams accept top_k
  bool allow_file_parts = true;            // PDF documents → `file` parts; false: 400
};

// Converts the body of a POST /v1/messages. On success ConvertedRequest::body is the body for the
// upstream's /v1/chat/completions; `stream:true` always adds stream_options.include_usage.
absl::StatusOr<ConvertedRequest> ConvertAnthropicToOpenAIRequest(std::string_view body,
                                                                 const AnthropicToOpenAIRequestOptions& options);

// The reasoning_effort for a thinking budget (§7.1, LiteLLM's buckets): ≥16384 max, ≥8192 xhigh,
// ≥4096 high, ≥2048 medium, ≥1024 low, else minimal.
std::string_view ReasoningEffortForBudget(int64_t budget_tokens);

}  // namespace luna::gateway
