// Anthropic Messages event stream → OpenAI chat.completion.chunk stream: FORMATS.md §7.5, for an
// OpenAI client served by an Anthropic-format upstream.
//
// Incremental and pure: feed the upstream bytes in any split; send what comes back. Output: a role
// chunk, content / reasoning_content / tool_calls deltas (tool index = the count of earlier tool_use
// blocks, not the Anthropic block index), one finish_reason chunk, the usage chunk only if the
// client asked for it (include_usage), then `data: [DONE]`. An upstream `error` event, a malformed
// event or a cut stream ends with one `data: {"error":{…}}` chunk and no [DONE] (so a client never
// mistakes a broken answer for a complete one).
//
// The usage is accumulated as the Anthropic SDK does (§3: message_delta values replace, never add)
// and is available for billing whether or not the client asked for it.
//
// Not thread-safe: one converter per response, used by one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/convert/json_view.h"
#include "gateway/convert/sse_parser.h"
#include "gateway/convert/usage_mapping.h"

namespace luna::gateway {

struct AnthropicToOpenAIStreamOptions {
  std::string id;             // the chunks' id; "" = "chatcmpl-" + message_start's message id
  std::string model;          // the model shown; "" = message_start's model
  int64_t created = 0;        // `created` (unix seconds, from the caller's clock)
  bool client_include_usage = false;  // the client's stream_options.include_usage
  bool expose_signature = false;      // signature_delta → delta.reasoning_signature (extension)
};

class AnthropicToOpenAIStream {
 public:
  explicit AnthropicToOpenAIStream(AnthropicToOpenAIStreamOptions options);

  // Consumes upstream bytes; returns (or appends to `out`) the client bytes they complete.
  std::string Feed(std::string_view upstream_bytes);
  void Feed(std::string_view upstream_bytes, std::string* out);

  // Ends the stream. If message_stop was not seen, emits an error chunk (api_error);
  // `upstream_eof_clean` only changes its message.
  std::string Finish(bool upstream_eof_clean);
  void Finish(bool upstream_eof_clean, std::string* out);

  bool started() const { return started_; }
  bool done() const { return done_; }            // [DONE] or an error chunk was emitted
  bool completed() const { return completed_; }  // ended with message_stop and [DONE]
  bool usage_known() const { return usage_known_; }
  const TokenUsage& usage() const { return usage_; }

 private:
  enum class Kind : uint8_t { kUnknown, kText, kThinking, kTool, kOther };
  struct Block {
    Kind kind = Kind::kUnknown;
    int tool_pos = -1;
    bool got_args = false;
  };

  void HandleEvent(const SseEvent& e, std::string* out);
  void Start(JsonRef message, std::string* out);
  Block* BlockAt(JsonRef index);
  // Writes `data: {chunk header,"choices":[{"index":0,"delta":` — the caller writes the delta
  // object, then calls EndChunk.
  void BeginChunk(std::string* out);
  void EndChunk(std::string_view finish_reason, std::string* out);
  void EmitError(std::string_view type, std::string_view message, std::string* out);

  AnthropicToOpenAIStreamOptions opt_;
  SseParser parser_;
  std::vector<SseEvent> events_;
  JsonDoc doc_;
  std::string id_, model_;
  std::vector<Block> blocks_;
  int tool_count_ = 0;
  bool finishing_ = false;  // inside Finish: a truncated last event means a cut stream
  bool started_ = false, done_ = false, completed_ = false, finish_sent_ = false;
  bool usage_known_ = false;
  TokenUsage usage_;
};

}  // namespace luna::gateway
