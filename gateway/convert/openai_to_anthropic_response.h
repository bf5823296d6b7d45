// OpenAI chat.completion → Anthropic Messages response (FORMATS.md §7.3), non-streaming. Pure.
#pragma once

#include <string>
#include <string_view>

#include "gateway/convert/convert_types.h"
#include "gateway/convert/tool_ids.h"

namespace luna::gateway {

struct OpenAIToAnthropicResponseOptions {
  std::string model;       // the model name shown to the client; "" = the upstream's
  std::string message_id;  // "msg_…" for the answer; "" = "msg_" + the sanitized upstream id
  const ToolNameMap* tool_names = nullptr;  // from the request's conversion: restores long names
};

// Converts an upstream answer (any status). 2xx: content blocks in the order thinking (from
// reasoning_content / reasoning, signature "" unless the upstream gave one) → text (content, or the
// refusal) → tool_use (ids sanitized or generated, names restored, arguments parsed; arguments that
// are not a JSON object become {} with a warning); stop_reason mapped (`stop` with tool calls →
// tool_use, a refusal → refusal); usage per §7.3. ≥400: OpenAIErrorToAnthropic. A 2xx body that is
// not a completion (malformed JSON, an error object) becomes an Anthropic error (502).
ConvertedResponse ConvertOpenAIToAnthropicResponse(int status, std::string_view body, const UpstreamHeaders& headers,
                                                   const OpenAIToAnthropicResponseOptions& options);

}  // namespace luna::gateway
