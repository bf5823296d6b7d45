#include "gateway/convert/body_check.h"

#include <cstdint>
#include <cstring>

namespace luna::gateway {
namespace {

inline bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The first byte of a value, for its type: '"' string, '[' array, '{' object, 't'/'f' boolean, 'n'
// null, anything else a number (or junk the upstream will refuse).
char Lead(std::string_view body, JsonSpan span) { return span.end > span.begin ? body[span.begin] : '\0'; }

bool IsInteger(std::string_view v) {
  if (!v.empty() && v.front() == '-') v.remove_prefix(1);
  if (v.empty() || v.size() > 18) return false;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

size_t FindBadTextByte(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  constexpr uint64_t kSpace = 0x2020202020202020ULL;
  size_t i = 0;
  // No byte >= 0x80 and none < 0x20 in the word: plain printable ASCII, nothing to look at.
  auto plain = [&](uint64_t w) { return ((w | ((w - kSpace) & ~w)) & kHigh) == 0; };
  while (i < n) {
    // Most of a request is plain ASCII: 32 bytes a step while it is.
    while (i + 32 <= n) {
      uint64_t w[4];
      std::memcpy(w, p + i, 32);
      const uint64_t any = (w[0] | ((w[0] - kSpace) & ~w[0])) | (w[1] | ((w[1] - kSpace) & ~w[1])) |
                           (w[2] | ((w[2] - kSpace) & ~w[2])) | (w[3] | ((w[3] - kSpace) & ~w[3]));
      if ((any & kHigh) != 0) break;
      i += 32;
    }
    if (i >= n) break;
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (plain(w)) {
        i += 8;
        continue;
      }
    }
    unsigned char c = p[i];
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return i;
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // the range allowed for the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // beyond U+10FFFF
    } else {
      return i;
    }
    if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (!IsContinuation(p[i + k])) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

std::optional<std::string> CheckModelCallBody(std::string_view body, ModelCallFields* fields) {
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "Request body is empty: expected a JSON object";
  if (size_t bad = FindBadTextByte(body); bad != std::string_view::npos) {
    auto byte = static_cast<unsigned char>(body[bad]);
    if (byte < 0x20) return "Request body holds a raw control character at byte " + std::to_string(bad);
    return "Request body is not valid UTF-8 at byte " + std::to_string(bad);
  }
  if (body[first] != '{') return "Request body must be a JSON object";
  std::optional<JsonSpan> model, messages, stream, max_tokens;
  int depth = 0;
  bool whole = ScanTopLevelMembers(
      body,
      [&](std::string_view key, JsonSpan v) {
        if (key == "model") model = v;
        else if (key == "messages") messages = v;
        else if (key == "stream") stream = v;
        else if (key == "max_tokens") max_tokens = v;
        return true;
      },
      &depth);
  if (!whole) return "Malformed JSON body: not one complete JSON object";
  if (depth + 1 > kMaxJsonDepth) {
    return "Request body nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels";
  }
  if (!model) return "Field \"model\" is required";
  if (Lead(body, *model) != '"') return "Field \"model\" must be a string";
  if (!messages) return "Field \"messages\" is required";
  if (Lead(body, *messages) != '[') return "Field \"messages\" must be an array";
  if (stream) {
    std::string_view v = body.substr(stream->begin, stream->end - stream->begin);
    if (v != "true" && v != "false" && v != "null") return "Field \"stream\" must be a boolean";
  }
  if (max_tokens) {
    std::string_view v = body.substr(max_tokens->begin, max_tokens->end - max_tokens->begin);
    if (v != "null" && !IsInteger(v)) return "Field \"max_tokens\" must be an integer";
  }
  fields->model = model;
  fields->stream = stream;
  return std::nullopt;
}

}  // namespace luna::gateway
