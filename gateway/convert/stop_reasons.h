// Anthropic stop_reason <-> OpenAI finish_reason (FORMATS.md §7.3 table).
#pragma once

#include <string_view>

namespace luna::gateway {

// end_turn, stop_sequence, pause_turn → stop; max_tokens, model_context_window_exceeded → length;
// tool_use → tool_calls; refusal → content_filter; unknown → stop.
std::string_view OpenAIFinishReason(std::string_view anthropic_stop_reason);

// stop → end_turn, or tool_use when the answer has tool calls (a named tool_choice yields `stop`);
// length → max_tokens; tool_calls / function_call → tool_use; content_filter → refusal;
// empty or unknown → end_turn (tool_use if there are tool calls).
std::string_view AnthropicStopReason(std::string_view openai_finish_reason, bool has_tool_calls);

}  // namespace luna::gateway
