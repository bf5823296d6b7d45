// OpenAI chat.completion.chunk stream → Anthropic Messages event stream: the state machine of
// FORMATS.md §7.4, for an Anthropic client served by an OpenAI-format upstream.
//
// Incremental and pure: feed the upstream bytes as they arrive, in any split (CRLF, comment lines,
// JSON cut across reads), and send what comes back to the client. The output always satisfies §7.4
// step 9: every event has an `event:` line; block indices are 0, 1, 2… without gaps; each block has
// one start and one stop with its deltas between; exactly one message_delta and one message_stop,
// and nothing after message_stop. A stream that ends otherwise ends with one `event: error` (an
// upstream error chunk, a malformed chunk, or a cut stream — never an invented end_turn); blocks
// still open then stay open, as in Anthropic's own error streams.
//
// Not thread-safe: one converter per response, used by one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/convert/json_view.h"
#include "gateway/convert/sse_parser.h"
#include "gateway/convert/tool_ids.h"
#include "gateway/convert/usage_mapping.h"

namespace luna::gateway {

// How tool calls are streamed when an upstream may interleave fragments of parallel calls (§7.4
// step 6).
enum class ParallelToolMode {
  // Each tool block opens when its name is known and stays open until the finish; every fragment goes
  // to its own block index as it arrives (the SDK accumulates by index). Streams tool arguments live.
  kKeepOpen,
  // Each call's id, name and arguments are buffered; at the finish every tool is emitted as start,
  // one input_json_delta and stop, in OpenAI index order. Never interleaves blocks.
  kBuffer,
};

struct OpenAIToAnthropicStreamOptions {
  std::string message_id = "msg_gateway";  // message_start.message.id (the caller makes it unique)
  std::string model;                       // the model name shown; "" = the first chunk's `model`
  ParallelToolMode tool_mode = ParallelToolMode::kKeepOpen;
  ToolNameMap tool_names;                  // from the request's conversion: restores long names
  int64_t estimated_input_tokens = 0;      // message_start.usage.input_tokens (real value comes later)
};

class OpenAIToAnthropicStream {
 public:
  explicit OpenAIToAnthropicStream(OpenAIToAnthropicStreamOptions options);

  // Consumes upstream bytes; returns (or appends to `out`) the client bytes they complete.
  std::string Feed(std::string_view upstream_bytes);
  void Feed(std::string_view upstream_bytes, std::string* out);

  // Ends the stream. `upstream_eof_clean`: the upstream body ended normally (false: connection error
  // or timeout). After a finish_reason the message is completed normally (message_delta with the
  // usage seen so far, message_stop); otherwise an `event: error` (api_error) is emitted.
  std::string Finish(bool upstream_eof_clean);
  void Finish(bool upstream_eof_clean, std::string* out);

  bool started() const { return started_; }      // message_start has been emitted
  bool done() const { return done_; }            // message_stop or error emitted; later input is ignored
  bool completed() const { return completed_; }  // ended with message_stop
  bool usage_known() const { return usage_known_; }  // the upstream sent usage
  const TokenUsage& usage() const { return usage_; }

 private:
  enum class BlockKind { kNone, kText, kThinking };
  enum class ToolState { kPending, kOpen, kClosed };
  struct Tool {
    int64_t key;  // OpenAI tool_calls[].index
    int block = -1;
    ToolState state = ToolState::kPending;
    std::string id, name, args;
  };

  void HandleEvent(std::string_view data, std::string* out);
  void HandleChunk(JsonRef chunk, std::string* out);
  void HandleToolCall(JsonRef call, std::string* out);
  void EnsureBlock(BlockKind kind, std::string* out);
  void CloseOpenBlock(std::string* out);
  void OpenTool(Tool* t, std::string* out);
  void CloseTools(std::string* out);
  void EmitMessageStart(JsonRef chunk, std::string* out);
  void EmitEnd(std::string* out);
  void EmitError(std::string_view type, std::string_view message, std::string* out);
  void BeginEvent(std::string_view name, std::string* out);
  void EndEvent(std::string* out);

  OpenAIToAnthropicStreamOptions opt_;
  SseParser parser_;
  std::vector<SseEvent> events_;
  JsonDoc doc_;
  std::string restored_;  // scratch

  bool finishing_ = false;  // inside Finish: a truncated last event means a cut stream
  bool started_ = false, done_ = false, completed_ = false;
  int next_index_ = 0;
  BlockKind open_kind_ = BlockKind::kNone;
  int open_index_ = -1;
  std::string signature_;  // for the open thinking block
  std::vector<Tool> tools_;
  size_t generated_ids_ = 0;
  bool finish_seen_ = false, any_tool_call_ = false, refusal_seen_ = false;
  std::string finish_;
  bool usage_known_ = false;
  TokenUsage usage_;
};

}  // namespace luna::gateway
