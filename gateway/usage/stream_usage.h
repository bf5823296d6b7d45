// OpenAI streams carry usage only when asked (`stream_options.include_usage`). The gateway always
// asks the upstream, so every stream can be billed, and hides the extra usage chunk from clients that
// did not ask for it (FORMATS.md §6, §8.5). Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gateway/convert/sse_parser.h"

namespace luna::gateway {

// Makes `body` (an OpenAI chat request) ask for `stream_options.include_usage: true`, editing only
// that member. Returns whether the client had asked for it itself. A body that is not a JSON object
// is left alone (returns true: nothing to hide).
bool EnsureIncludeUsage(std::string* body);

// Re-frames an OpenAI SSE stream, dropping the usage-only chunk (`"choices":[]` with a usage). Other
// events pass through as `data: ...` frames, in order.
class UsageChunkFilter {
 public:
  // Returns the bytes to send on for `bytes` (complete events only; a partial event waits).
  std::string Feed(std::string_view bytes);

 private:
  SseParser parser_;
  std::vector<SseEvent> events_;
};

}  // namespace luna::gateway
