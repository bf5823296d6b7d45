#include "gateway/convert/stop_reasons.h"

namespace luna::gateway {

std::string_view OpenAIFinishReason(std::string_view r) {
  if (r == "max_tokens" || r == "model_context_window_exceeded") return "length";
  if (r == "tool_use") return "tool_calls";
  if (r == "refusal") return "content_filter";
  return "stop";  // end_turn, stop_sequence, pause_turn, unknown
}

std::string_view AnthropicStopReason(std::string_view f, bool has_tool_calls) {
  if (f == "length") return "max_tokens";
  if (f == "tool_calls" || f == "function_call") return "tool_use";
  if (f == "content_filter") return "refusal";
  return has_tool_calls ? "tool_use" : "end_turn";  // stop, null, unknown
}

}  // namespace luna::gateway
