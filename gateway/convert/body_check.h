// Local checks of a model call's body (POST /v1/messages, /v1/chat/completions) before anything is
// sent upstream: a body that is not a JSON object, is cut short, is not UTF-8, holds raw control bytes
// or gives the fields the gateway reads (model, messages, stream, max_tokens) the wrong type gets a 400
// in the caller's format at once, and never costs an upstream call. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/convert/json_scan.h"

namespace luna::gateway {

// The offset of the first byte of `text` that is not valid UTF-8 (overlong forms and surrogates
// included) or is a control character other than tab, LF and CR (JSON allows those only as
// whitespace or escaped); npos if there is none. ASCII is checked 8 bytes at a time: a 60 KB agent
// request costs a few microseconds.
size_t FindBadTextByte(std::string_view text);

// Deepest nesting of arrays and objects a model call may have (agent requests: about 10, in tool
// schemas). Deeper bodies are refused: they serve no client and would cost the converters' and the
// upstream's parsers dearly.
constexpr int kMaxJsonDepth = 128;

// Where the members the gateway reads sit in a body that passed the check (one scan serves both).
struct ModelCallFields {
  std::optional<JsonSpan> model;
  std::optional<JsonSpan> stream;
};

// What is wrong with a model call's body, as a message for the client naming the field; nullopt if
// the body may go upstream (and then `*fields` says where model and stream are). Only what the
// gateway itself relies on is checked; every other field is the upstream's to judge.
std::optional<std::string> CheckModelCallBody(std::string_view body, ModelCallFields* fields);

}  // namespace luna::gateway
