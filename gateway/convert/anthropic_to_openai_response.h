// Anthropic Messages response → OpenAI chat.completion (FORMATS.md §7.3), non-streaming. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/convert/convert_types.h"

namespace luna::gateway {

struct AnthropicToOpenAIResponseOptions {
  std::string model;         // the model name shown to the client; "" = the upstream's
  int64_t created = 0;       // `created` (unix seconds, from the caller's clock)
  bool map_529_to_503 = false;
  bool expose_signature = false;  // put the thinking signature in message.reasoning_signature (extension)
};

// Converts an upstream answer (any status). 2xx: content = all text blocks joined (null if there are
// none and tool calls exist), one tool call per tool_use block, reasoning_content = the joined
// thinking text, finish_reason mapped, usage per §7.3, id "chatcmpl-" + the message id.
// ≥400: the error mapped by AnthropicErrorToOpenAI. A 2xx body that is not a message (malformed
// JSON, an error object) becomes an error in OpenAI's shape (502 for malformed bodies).
ConvertedResponse ConvertAnthropicToOpenAIResponse(int status, std::string_view body, const UpstreamHeaders& headers,
                                                   const AnthropicToOpenAIResponseOptions& options);

}  // namespace luna::gateway
