// A fast scanner over the top level of a JSON object: finds members without building a DOM. The
// request path uses it to read `model` and `stream` from 60 KB agent requests in microseconds, and
// to splice values in place without re-serializing the body (DESIGN.md, hot path rule 6).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace luna::gateway {

// Where a top-level member's value sits in the text: [begin, end) byte offsets.
struct JsonSpan {
  size_t begin = 0;
  size_t end = 0;
};

// Finds the value of the top-level member `key` of the JSON object `text`. Returns nullopt if `text`
// is not an object, the key is absent, or the text is malformed before the key is found. Keys are
// compared after unescaping only for the common case of no escapes (a key written with escapes is
// not matched). If the key appears more than once, the last one wins (as JSON parsers do).
std::optional<JsonSpan> FindTopLevelMember(std::string_view text, std::string_view key);

// Calls `on_member(key, value span)` for each top-level member of the JSON object `text`, in order,
// until the object ends, the text stops making sense or `on_member` returns false (stop). Returns true
// only if the object was walked whole: it closes, and nothing but whitespace follows (a body cut short
// returns false). Structural only: strings, nesting and separators are checked, the spelling of
// numbers and literals is not.
bool ScanTopLevelMembers(std::string_view text, const std::function<bool(std::string_view, JsonSpan)>& on_member);
// The same, and `*max_depth` is raised to the deepest nesting of arrays and objects within the
// members' values (a member whose value is an object or array: 1).
bool ScanTopLevelMembers(std::string_view text, const std::function<bool(std::string_view, JsonSpan)>& on_member,
                         int* max_depth);

// Like TopLevelString, but the first occurrence of `key` wins and the scan stops there: for members
// that lead their object, such as an SSE event's "type", read without walking the rest.
std::optional<std::string_view> FirstTopLevelString(std::string_view text, std::string_view key);

// The value at `span` of `text` if it is a JSON string without escapes (its content), or true/false.
std::optional<std::string_view> StringAt(std::string_view text, JsonSpan span);
std::optional<bool> BoolAt(std::string_view text, JsonSpan span);

// The value of top-level `key` if it is a JSON string without escapes (model names are), else nullopt.
std::optional<std::string_view> TopLevelString(std::string_view text, std::string_view key);

// The value of top-level `key` if it is `true` or `false`, else nullopt.
std::optional<bool> TopLevelBool(std::string_view text, std::string_view key);

// The value of top-level `key` if it is an integer that fits in int64 (no fraction or exponent).
std::optional<int64_t> TopLevelInt64(std::string_view text, std::string_view key);

// Replaces the value of top-level member `key` of the JSON object in `*text` with `json_value` (which
// must be valid JSON), leaving every other byte as it was. Returns false, changing nothing, if the
// member is absent or the text is not an object.
bool ReplaceTopLevelValue(std::string* text, std::string_view key, std::string_view json_value);

}  // namespace luna::gateway
