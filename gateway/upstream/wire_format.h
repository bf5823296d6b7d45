// The two client/upstream APIs the gateway speaks.
#pragma once

#include <string_view>

namespace luna::gateway {

enum class WireFormat { kAnthropic, kOpenAI };

inline std::string_view WireFormatName(WireFormat f) { return f == WireFormat::kAnthropic ? "anthropic" : "openai"; }

}  // namespace luna::gateway
