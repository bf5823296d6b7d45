#include "gateway/convert/tool_ids.h"

#include <cstdint>

namespace luna::gateway {
namespace {

inline bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

uint64_t Fnv1a(std::string_view s, uint64_t salt) {
  uint64_t h = 1469598103934665603ULL ^ salt;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

bool IsValidToolId(std::string_view id) {
  if (id.empty()) return false;
  for (char c : id) {
    if (!IsIdChar(c)) return false;
  }
  return true;
}

std::string SanitizeToolId(std::string_view id) {
  std::string out(id);
  for (char& c : out) {
    if (!IsIdChar(c)) c = '_';
  }
  return out;
}

std::string GeneratedToolId(std::string_view scope, size_t n) {
  std::string out = "toolu_";
  out += SanitizeToolId(scope);
  out += '_';
  out += std::to_string(n);
  return out;
}

std::string ToolNameMap::Shorten(std::string_view name) {
  if (name.size() <= kOpenAIMaxToolNameLength) return std::string(name);
  for (const auto& [short_name, original] : entries_) {
    if (original == name) return short_name;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  constexpr size_t kHashDigits = 8;
  constexpr size_t kPrefix = kOpenAIMaxToolNameLength - kHashDigits - 1;
  for (uint64_t salt = 0;; ++salt) {
    uint64_t h = Fnv1a(name, salt);
    std::string candidate(name.substr(0, kPrefix));
    candidate += '_';
    for (size_t i = 0; i < kHashDigits; ++i) candidate += kHex[(h >> (4 * i)) & 15];
    bool taken = false;
    for (const auto& entry : entries_) {
      if (entry.first == candidate) taken = true;
    }
    if (!taken) {
      entries_.emplace_back(candidate, std::string(name));
      return candidate;
    }
  }
}

std::string_view ToolNameMap::Restore(std::string_view upstream_name) const {
  for (const auto& [short_name, original] : entries_) {
    if (short_name == upstream_name) return original;
  }
  return upstream_name;
}

}  // namespace luna::gateway
