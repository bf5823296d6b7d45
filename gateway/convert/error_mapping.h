// Upstream errors in the other API's shape (FORMATS.md §4, §6 "Errors", §7.3 "Errors").
#pragma once

#include <string>
#include <string_view>

#include "gateway/convert/convert_types.h"

namespace luna::gateway {

// The Anthropic error type for an upstream HTTP status (§7.3, LiteLLM's table plus the proposed
// 402/503/504 rows): 400 invalid_request_error, 401 authentication_error, 402 billing_error,
// 403 permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error,
// 500 api_error, 503 and 529 overloaded_error, 504 timeout_error; any other 4xx
// invalid_request_error, anything else api_error.
std::string_view AnthropicErrorTypeForStatus(int status);

// The HTTP status for an Anthropic error type (the inverse of §4's table; unknown → 500).
int StatusForAnthropicErrorType(std::string_view type);

// The message of an error body in either API's shape ({"error":{"message"}}, {"error":"..."},
// {"message"}, {"detail"}), or the body text itself (cut to 500 bytes) if it is not JSON, or
// "upstream returned HTTP <status>" if there is nothing.
std::string ErrorMessageFromBody(int status, std::string_view body);

// OpenAI-format upstream error → Anthropic client. Keeps the status, maps it to the type, keeps the
// message; a body that is already Anthropic-shaped passes unchanged. Passes retry-after,
// retry-after-ms and x-should-retry; the upstream request id becomes `request-id`.
ConvertedResponse OpenAIErrorToAnthropic(int status, std::string_view body, const UpstreamHeaders& headers);

// Anthropic-format upstream error → OpenAI client: {"error":{message, type: <anthropic type>,
// param:null, code:null}}. Keeps the status (529 → 503 if `map_529_to_503`). Passes retry-after,
// retry-after-ms and x-should-retry; `request-id` is copied to `x-request-id`.
ConvertedResponse AnthropicErrorToOpenAI(int status, std::string_view body, const UpstreamHeaders& headers,
                                         bool map_529_to_503);

// SSE frames for an error inside a stream.
// "event: error\ndata: {"type":"error","error":{"type":T,"message":M}}\n\n"
void AppendAnthropicErrorEvent(std::string_view type, std::string_view message, std::string* out);
// "data: {"error":{"message":M,"type":T,"param":null,"code":null}}\n\n"
void AppendOpenAIErrorChunk(std::string_view type, std::string_view message, std::string* out);

}  // namespace luna::gateway
