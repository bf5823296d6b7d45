// One mapper from an error to the HTTP status and JSON body of the caller's own API (DESIGN.md,
// "Errors"): Anthropic's shape on /v1/messages, OpenAI's on /v1/chat/completions, the old proxy's
// {"detail"} plus an error object on /admin/*, and a plain error object elsewhere.
#pragma once

#include <string>
#include <string_view>

namespace luna::gateway {

enum class ApiFlavor { kAnthropic, kOpenAI, kAdmin, kGeneric };

// Which API a request path speaks.
ApiFlavor FlavorForPath(std::string_view path);

// The JSON error body for `status` with `message`. `type` overrides the type derived from the status.
std::string ErrorBody(ApiFlavor flavor, int status, std::string_view message, std::string_view type = {});

// Anthropic's error type for an HTTP status (FORMATS.md §4).
std::string_view AnthropicErrorType(int status);
// OpenAI's error type for an HTTP status.
std::string_view OpenAIErrorType(int status);

}  // namespace luna::gateway
