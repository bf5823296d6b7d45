// Per-model behaviour of the fake upstream and the response bodies it produces.
// Pure functions: no sockets, no Beast, no shared state; safe to call from any thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace luna::fake {

enum class Mode { kOk, k429, k503, k529, kCredit, k402, kCut };

// The usage the fake reports for one answer (Anthropic field meanings: input excludes cache
// tokens).
struct FakeUsage {
  int64_t input_tokens = 10;
  int64_t output_tokens = 20;
  int64_t cache_read_input_tokens = 0;
  int64_t cache_creation_input_tokens = 0;
};

// Usage to add to the statistics once a whole ok answer was written.
struct CompletedAnswer {
  std::string model;
  FakeUsage usage;
};

struct FakeToolCall {
  std::string name;
  nlohmann::json input = nlohmann::json::object();
};

// What POST /_control/models/{model} sets; every field has its default next to it.
struct ModelBehaviour {
  Mode mode = Mode::kOk;
  int retry_after = 7;  // seconds, sent as `retry-after` with 429/503/529
  int delay_ms = 0;     // wait before the status line
  int cut_after_events =
      2;                // mode kCut, streaming: SSE events sent before the connection is closed
  int events = 5;       // number of text deltas in a stream
  int interval_ms = 0;  // wait between two stream events
  std::string text = "Hello from the fake upstream.";
  std::optional<FakeToolCall> tool_call;
  FakeUsage usage;
};

// Parses a control body. Unknown keys and out-of-range values are rejected: returns nullopt and
// sets `error` to a message naming the key.
std::optional<ModelBehaviour> ParseModelBehaviour(const nlohmann::json& body, std::string& error);
nlohmann::json ToJson(const ModelBehaviour& behaviour);
std::string_view ModeName(Mode mode);

// Splits `text` into exactly `pieces` parts (some may be empty) without cutting a UTF-8 sequence.
std::vector<std::string> SplitUtf8(std::string_view text, int pieces);

// Serialises JSON that may contain client-supplied strings; invalid UTF-8 is replaced, never
// thrown.
std::string Dump(const nlohmann::json& value);

// --- Anthropic Messages -------------------------------------------------------------------------

std::string AnthropicMessageBody(const ModelBehaviour& b, std::string_view model, uint64_t n);
// Complete SSE frames ("event: x\ndata: {...}\n\n"), one per element, in sending order.
std::vector<std::string> AnthropicStreamEvents(const ModelBehaviour& b, std::string_view model,
                                               uint64_t n);

// --- OpenAI Chat Completions --------------------------------------------------------------------

std::string OpenAiCompletionBody(const ModelBehaviour& b, std::string_view model, uint64_t n,
                                 int64_t created);
// Complete SSE frames ("data: {...}\n\n"), ending with "data: [DONE]\n\n".
std::vector<std::string> OpenAiStreamChunks(const ModelBehaviour& b, std::string_view model,
                                            uint64_t n, int64_t created, bool include_usage);

// --- Errors -------------------------------------------------------------------------------------

enum class Api { kAnthropic, kOpenAi };

struct ErrorAnswer {
  int status = 0;
  std::string body;
  bool retry_after = false;  // whether the `retry-after` header goes with it
};

// The error answer for an error mode (k429, k503, k529, kCredit, k402) in the format of `api`.
ErrorAnswer ErrorForMode(Mode mode, Api api, uint64_t n);
// A 4xx/5xx answer with a free message, e.g. for a body that is not JSON.
std::string ErrorBody(Api api, int status, std::string_view message, uint64_t n);

}  // namespace luna::fake
