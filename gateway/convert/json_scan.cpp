#include "gateway/convert/json_scan.h"

#include <charconv>
#include <cstring>
#include <functional>

namespace luna::gateway {
namespace {

inline bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

size_t SkipSpace(std::string_view t, size_t i) {
  while (i < t.size() && IsSpace(t[i])) ++i;
  return i;
}

// i points at the opening quote; returns the index just past the closing quote, or npos.
size_t SkipString(std::string_view t, size_t i) {
  ++i;
  while (i < t.size()) {
    const void* q = std::memchr(t.data() + i, '"', t.size() - i);
    if (q == nullptr) return std::string_view::npos;
    size_t pos = static_cast<size_t>(static_cast<const char*>(q) - t.data());
    // Count the backslashes right before the quote: an odd number escapes it.
    size_t bs = 0;
    while (pos - bs > i && t[pos - bs - 1] == '\\') ++bs;
    if (bs % 2 == 0) return pos + 1;
    i = pos + 1;
  }
  return std::string_view::npos;
}

// i points at the first character of a value; returns the index just past it, or npos. Raises
// *max_depth (if given) to the deepest nesting met inside the value (1: an array or object).
size_t SkipValue(std::string_view t, size_t i, int* max_depth = nullptr) {
  if (i >= t.size()) return std::string_view::npos;
  char c = t[i];
  if (c == '"') return SkipString(t, i);
  if (c == '{' || c == '[') {
    int depth = 0;
    while (i < t.size()) {
      char d = t[i];
      if (d == '"') {
        i = SkipString(t, i);
        if (i == std::string_view::npos) return i;
        continue;
      }
      if (d == '{' || d == '[') {
        ++depth;
        if (max_depth != nullptr && depth > *max_depth) *max_depth = depth;
      }
      if (d == '}' || d == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return std::string_view::npos;
  }
  // number, true, false, null
  size_t start = i;
  while (i < t.size() && t[i] != ',' && t[i] != '}' && t[i] != ']' && !IsSpace(t[i])) ++i;
  return i == start ? std::string_view::npos : i;
}

}  // namespace

bool ScanTopLevelMembers(std::string_view t, const std::function<bool(std::string_view, JsonSpan)>& on_member) {
  return ScanTopLevelMembers(t, on_member, nullptr);
}

bool ScanTopLevelMembers(std::string_view t, const std::function<bool(std::string_view, JsonSpan)>& on_member,
                         int* max_depth) {
  size_t i = SkipSpace(t, 0);
  if (i >= t.size() || t[i] != '{') return false;
  i = SkipSpace(t, i + 1);
  if (i < t.size() && t[i] == '}') return SkipSpace(t, i + 1) == t.size();
  while (i < t.size()) {
    if (t[i] != '"') return false;
    size_t key_end = SkipString(t, i);
    if (key_end == std::string_view::npos) return false;
    std::string_view k = t.substr(i + 1, key_end - i - 2);
    i = SkipSpace(t, key_end);
    if (i >= t.size() || t[i] != ':') return false;
    i = SkipSpace(t, i + 1);
    size_t vend = SkipValue(t, i, max_depth);
    if (vend == std::string_view::npos) return false;
    if (!on_member(k, JsonSpan{i, vend})) return false;
    i = SkipSpace(t, vend);
    if (i >= t.size()) return false;
    if (t[i] == '}') return SkipSpace(t, i + 1) == t.size();
    if (t[i] != ',') return false;
    i = SkipSpace(t, i + 1);
  }
  return false;
}

std::optional<JsonSpan> FindTopLevelMember(std::string_view t, std::string_view key) {
  std::optional<JsonSpan> found;
  ScanTopLevelMembers(t, [&](std::string_view k, JsonSpan v) {
    if (k == key) found = v;
    return true;
  });
  return found;
}

std::optional<std::string_view> FirstTopLevelString(std::string_view text, std::string_view key) {
  std::optional<JsonSpan> found;
  ScanTopLevelMembers(text, [&](std::string_view k, JsonSpan v) {
    if (k != key) return true;
    found = v;
    return false;
  });
  if (!found) return std::nullopt;
  return StringAt(text, *found);
}

std::optional<std::string_view> StringAt(std::string_view text, JsonSpan span) {
  if (span.end - span.begin < 2 || text[span.begin] != '"') return std::nullopt;
  std::string_view inner = text.substr(span.begin + 1, span.end - span.begin - 2);
  if (inner.find('\\') != std::string_view::npos) return std::nullopt;
  return inner;
}

std::optional<bool> BoolAt(std::string_view text, JsonSpan span) {
  std::string_view v = text.substr(span.begin, span.end - span.begin);
  if (v == "true") return true;
  if (v == "false") return false;
  return std::nullopt;
}

std::optional<std::string_view> TopLevelString(std::string_view text, std::string_view key) {
  auto span = FindTopLevelMember(text, key);
  if (!span) return std::nullopt;
  return StringAt(text, *span);
}

std::optional<bool> TopLevelBool(std::string_view text, std::string_view key) {
  auto span = FindTopLevelMember(text, key);
  if (!span) return std::nullopt;
  return BoolAt(text, *span);
}

std::optional<int64_t> TopLevelInt64(std::string_view text, std::string_view key) {
  auto span = FindTopLevelMember(text, key);
  if (!span) return std::nullopt;
  const char* b = text.data() + span->begin;
  const char* e = text.data() + span->end;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || end != e) return std::nullopt;
  return v;
}

bool ReplaceTopLevelValue(std::string* text, std::string_view key, std::string_view json_value) {
  auto span = FindTopLevelMember(*text, key);
  if (!span) return false;
  text->replace(span->begin, span->end - span->begin, json_value);
  return true;
}

}  // namespace luna::gateway
