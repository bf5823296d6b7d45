// Helpers for the converter tests: read an SSE transcript back, check the Anthropic stream
// invariants of FORMATS.md §7.4 step 9, and rebuild what an SDK would accumulate from a stream.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/convert/sse_parser.h"

namespace luna::gateway::testing {

std::vector<SseEvent> ParseSse(std::string_view bytes);

// "" if `bytes` is a well-formed Anthropic stream (§7.4 step 9), else what is wrong. An `error` event
// may end the stream instead of message_stop (blocks may stay open then). With `check_tool_json`,
// each tool block's concatenated input_json_delta must parse as an object (true for valid upstream
// input; a converter passes broken upstream arguments through as sent).
std::string CheckAnthropicStream(std::string_view bytes, bool check_tool_json = true);

// "" if `bytes` is a well-formed OpenAI chunk stream: `data:` frames only, JSON chunks with one id /
// created / model, at most one finish_reason, ending in [DONE] or in one error chunk.
std::string CheckOpenAIStream(std::string_view bytes);

// What the Anthropic SDK accumulates: {"content":[blocks with parsed tool input], "stop_reason",
// "usage" (message_start usage overridden by message_delta values), "error" if any, "events":[names]}.
nlohmann::json AccumulateAnthropic(std::string_view bytes);

// What an OpenAI client accumulates: {"role","content","reasoning_content","tool_calls":[{id,name,
// arguments}] by index,"finish_reason","usage" (or null),"error" (or null),"done": saw [DONE]}.
nlohmann::json AccumulateOpenAI(std::string_view bytes);

// Splits `input` at `cuts` (sorted offsets), feeds every piece through `feed`, then calls `finish`;
// returns the concatenated output.
std::string FeedPieces(std::string_view input, const std::vector<size_t>& cuts,
                       const std::function<std::string(std::string_view)>& feed,
                       const std::function<std::string()>& finish);

// Random cut points for `size` bytes from `seed` (between 1 and 20 cuts, or none for tiny inputs).
std::vector<size_t> RandomCuts(size_t size, uint32_t seed);

// Feeds `pieces` to `conv` in order, then finishes it; returns all output. (Never write
// `conv.Feed(a) + conv.Finish(b)`: the operands of + are unsequenced.)
template <class Converter>
std::string FeedAll(Converter& conv, std::initializer_list<std::string_view> pieces, bool eof_clean = true) {
  std::string out;
  for (std::string_view p : pieces) out += conv.Feed(p);
  out += conv.Finish(eof_clean);
  return out;
}

// Joins SSE frames: Frames({"data: a", "data: b"}) == "data: a\n\ndata: b\n\n".
std::string Frames(const std::vector<std::string>& frames);

}  // namespace luna::gateway::testing
