// OpenAI Chat Completions request → Anthropic Messages request (FORMATS.md §7.2), for an OpenAI
// client served by an Anthropic-format upstream. Pure: text in, text out.
//
// Mapping decisions beyond §7.2:
// - system and developer messages, wherever they are, become top-level `system` text blocks in order;
// - consecutive messages of one role are merged; a run of `tool` messages becomes one user message
//   of tool_result blocks, followed by the next user message's content; within a user message
//   tool_result blocks are put first;
// - empty or whitespace-only text is dropped; a user message left empty gets the text "...", and so
//   does a conversation whose first turn is the assistant's (prepended user turn);
// - assistant tool_call arguments that are not a JSON object become {} (with a warning);
// - earlier reasoning (reasoning_content / reasoning) is sent back as a thinking block only if the
//   message also carries the gateway's `reasoning_signature` extension field and the target can
//   verify it (target_verifies_signatures); otherwise it is dropped (an unsigned thinking block is
//   rejected upstream);
// - reasoning_effort → thinking{enabled, budget}: minimal/low 1024, medium 2048, high 4096,
//   xhigh 8192, max 16384; "none" → no thinking. If budget ≥ max_tokens, max_tokens += budget (then
//   clamped; budget < max_tokens kept; thinking is turned off if the budget would fall below 1024).
//   Thinking removes temperature/top_p, and is turned off (with a warning) when tool_choice forces a
//   tool or when the last assistant turn made tool calls without a signed thinking block.
// Rejected (HTTP 400, message naming the field): malformed JSON, wrong types, unknown roles and part
// types, `n` > 1, audio parts, file references, non-function tools.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "gateway/convert/convert_types.h"

namespace luna::gateway {

struct OpenAIToAnthropicRequestOptions {
  std::string model;                 // the upstream's model name; "" keeps the client's
  int64_t default_max_tokens = 4096;  // when the client sets neither max_completion_tokens nor max_tokens
  int64_t max_tokens_limit = 0;      // clamp (the tier's max_tokens_limit); 0 = none
  bool target_verifies_signatures = false;  // see above (same provider family as the signatures)
  bool adaptive_thinking = false;    // models from 4.7 on: {type:"adaptive"} + output_config.effort
};

// Converts the body of a POST /v1/chat/completions. ConvertedRequest::client_include_usage tells the
// stream converter whether to send the usage chunk; stream_options is never sent upstream.
absl::StatusOr<ConvertedRequest> ConvertOpenAIToAnthropicRequest(std::string_view body,
                                                                 const OpenAIToAnthropicRequestOptions& options);

// The thinking budget for a reasoning_effort: 0 for "none", -1 for a value it does not know.
int64_t ThinkingBudgetForEffort(std::string_view effort);

}  // namespace luna::gateway
