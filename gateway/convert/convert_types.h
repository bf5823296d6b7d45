// Results shared by the converters. All converters are pure: text in, text and decisions out.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "gateway/convert/tool_ids.h"
#include "gateway/convert/usage_mapping.h"

namespace luna::gateway {

// Headers as (lower-case name, value) pairs.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A request converted for the upstream. Errors are returned as absl::InvalidArgumentError instead;
// the caller answers them with HTTP 400 and the status message, in the client's error shape.
struct ConvertedRequest {
  std::string body;              // the upstream request body
  std::string client_model;      // `model` as the client sent it
  bool stream = false;           // the client asked for a stream
  bool client_include_usage = false;  // O→A: stream_options.include_usage of the client (never sent upstream)
  ToolNameMap tool_names;        // A→O: long tool names replaced in the request; pass to the answer's converter
  std::vector<std::string> warnings;  // lossy but accepted conversions, for the caller to log
};

// The few upstream response headers the conversion looks at (empty = absent).
struct UpstreamHeaders {
  std::string retry_after;      // retry-after
  std::string retry_after_ms;   // retry-after-ms
  std::string should_retry;     // x-should-retry
  std::string request_id;       // request-id (Anthropic) or x-request-id (OpenAI)
};

// A non-streaming answer converted for the client.
struct ConvertedResponse {
  int status = 200;
  std::string body;
  HeaderList headers;      // headers to add to the client response (retry-after, request ids)
  bool is_error = false;   // the body is an error body
  bool usage_known = false;
  TokenUsage usage;        // what to bill, when usage_known
  std::vector<std::string> warnings;
};

}  // namespace luna::gateway
