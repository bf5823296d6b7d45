// Tool call ids and tool names across the two APIs (FORMATS.md §5, §7.1, §8.1).
//
// Ids: Anthropic requires ^[a-zA-Z0-9_-]+$; some OpenAI-format upstreams emit ids like
// `functions.Bash:0`. SanitizeToolId is applied identically to tool_use.id and tool_use_id, so a
// call and its result still match after conversion.
//
// Names: OpenAI function names are limited to 64 characters, Anthropic tool names to 128. Longer
// Anthropic names are replaced by a short unique name in the request to an OpenAI upstream; the
// ToolNameMap that did it travels with the request and restores the original names in the answer.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace luna::gateway {

inline constexpr size_t kOpenAIMaxToolNameLength = 64;

// True if `id` is non-empty and matches ^[a-zA-Z0-9_-]+$.
bool IsValidToolId(std::string_view id);

// Replaces every character outside [a-zA-Z0-9_-] by '_' (each byte of a multi-byte character
// becomes one '_'). Returns "" for "": the caller generates an id then (GeneratedToolId).
std::string SanitizeToolId(std::string_view id);

// A deterministic id for a tool call that came without one: "toolu_" + the sanitized `scope`
// (e.g. the message id) + "_" + `n`.
std::string GeneratedToolId(std::string_view scope, size_t n);

// Maps long Anthropic tool names to OpenAI-legal ones and back. Not thread-safe; one per request.
class ToolNameMap {
 public:
  // The name to send upstream for the client's tool `name`: `name` itself if it has at most 64
  // characters, else its first 55 characters + '_' + 8 hex digits of a hash (unique within this
  // map). Calling it again with the same name returns the same short name.
  std::string Shorten(std::string_view name);

  // The client's name for a name the upstream used: the original long name if `upstream_name` was
  // produced by Shorten, else `upstream_name` unchanged.
  std::string_view Restore(std::string_view upstream_name) const;

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;  // {short, original}
};

}  // namespace luna::gateway
