#include "gateway/convert/json_view.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace luna::gateway {
namespace {

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

// True if any of the 8 bytes of `v` is a quote, a backslash, a control character or non-ASCII:
// the bytes a string scan must look at one by one.
inline bool HasSpecialByte(uint64_t v) {
  uint64_t quote = v ^ (kOnes * '"');
  uint64_t backslash = v ^ (kOnes * '\\');
  uint64_t zero_quote = (quote - kOnes) & ~quote;
  uint64_t zero_backslash = (backslash - kOnes) & ~backslash;
  uint64_t less_than_space = (v - kOnes * 0x20) & ~v;
  return ((zero_quote | zero_backslash | less_than_space) & kHighs) != 0 || (v & kHighs) != 0;
}

inline bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads 4 hex digits at p (which has at least 4 bytes); -1 if they are not hex.
inline int Hex4(const char* p) {
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    int h = HexValue(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

inline bool IsCont(unsigned char c) { return (c & 0xC0) == 0x80; }

// The length of the multi-byte UTF-8 sequence at u (u[0] >= 0x80), or 0 if it is invalid
// (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
size_t Utf8SequenceLength(const unsigned char* u, ptrdiff_t left) {
  unsigned char c = u[0];
  if (c < 0xC2) return 0;
  if (c < 0xE0) return left >= 2 && IsCont(u[1]) ? 2 : 0;
  if (c < 0xF0) {
    if (left < 3 || !IsCont(u[1]) || !IsCont(u[2])) return 0;
    if ((c == 0xE0 && u[1] < 0xA0) || (c == 0xED && u[1] > 0x9F)) return 0;
    return 3;
  }
  if (c < 0xF5) {
    if (left < 4 || !IsCont(u[1]) || !IsCont(u[2]) || !IsCont(u[3])) return 0;
    if ((c == 0xF0 && u[1] < 0x90) || (c == 0xF4 && u[1] > 0x8F)) return 0;
    return 4;
  }
  return 0;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  const unsigned char* u = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    if (u[i] < 0x80) {
      ++i;
      continue;
    }
    size_t n = Utf8SequenceLength(u + i, static_cast<ptrdiff_t>(s.size() - i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void AppendUnescaped(std::string_view raw, std::string* out) {
  size_t i = 0;
  while (i < raw.size()) {
    size_t bs = raw.find('\\', i);
    if (bs == std::string_view::npos) {
      out->append(raw.substr(i));
      return;
    }
    out->append(raw.substr(i, bs - i));
    i = bs + 1;
    if (i >= raw.size()) return;
    char e = raw[i++];
    switch (e) {
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        if (i + 4 > raw.size()) return;
        uint32_t cp = static_cast<uint32_t>(Hex4(raw.data() + i));
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= raw.size() && raw[i] == '\\' && raw[i + 1] == 'u') {
          uint32_t lo = static_cast<uint32_t>(Hex4(raw.data() + i + 2));
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          }
        }
        AppendUtf8(cp, out);
        break;
      }
      default: out->push_back(e); break;  // " \ /
    }
  }
}

bool JsonDoc::Fail(const char* what) {
  if (ok_) {
    ok_ = false;
    error_ = "invalid JSON at byte " + std::to_string(p_ - start_) + ": " + what;
  }
  return false;
}

bool JsonDoc::Parse(std::string_view text) {
  nodes_.clear();
  error_.clear();
  start_ = p_ = text.data();
  end_ = text.data() + text.size();
  ok_ = true;
  if (text.size() > UINT32_MAX) return Fail("document too large");
  if (!ParseValue(0)) return false;
  while (p_ < end_ && IsSpace(*p_)) ++p_;
  if (p_ != end_) return Fail("unexpected data after the value");
  return true;
}

bool JsonDoc::ParseString(const char** begin, uint32_t* len, bool* escaped) {
  ++p_;  // opening quote
  const char* s = p_;
  bool esc = false;
  for (;;) {
    while (end_ - p_ >= 8) {
      uint64_t v;
      std::memcpy(&v, p_, 8);
      if (HasSpecialByte(v)) break;
      p_ += 8;
    }
    if (p_ >= end_) return Fail("unterminated string");
    unsigned char c = static_cast<unsigned char>(*p_);
    if (c == '"') break;
    if (c == '\\') {
      esc = true;
      if (end_ - p_ < 2) return Fail("unterminated string");
      switch (p_[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          p_ += 2;
          break;
        case 'u': {
          if (end_ - p_ < 6) return Fail("truncated \\u escape");
          int cp = Hex4(p_ + 2);
          if (cp < 0) return Fail("invalid \\u escape");
          p_ += 6;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return Fail("unpaired surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') return Fail("unpaired surrogate in \\u escape");
            int lo = Hex4(p_ + 2);
            if (lo < 0xDC00 || lo > 0xDFFF) return Fail("unpaired surrogate in \\u escape");
            p_ += 6;
          }
          break;
        }
        default:
          return Fail("invalid escape in string");
      }
      continue;
    }
    if (c < 0x20) return Fail("control character in string");
    if (c < 0x80) {
      ++p_;
      continue;
    }
    size_t n = Utf8SequenceLength(reinterpret_cast<const unsigned char*>(p_), end_ - p_);
    if (n == 0) return Fail("invalid UTF-8");
    p_ += n;
  }
  *begin = s;
  *len = static_cast<uint32_t>(p_ - s);
  *escaped = esc;
  ++p_;  // closing quote
  return true;
}

bool JsonDoc::ParseNumber() {
  auto digit = [this] { return p_ < end_ && *p_ >= '0' && *p_ <= '9'; };
  if (p_ < end_ && *p_ == '-') ++p_;
  if (!digit()) return Fail("invalid number");
  if (*p_ == '0') {
    ++p_;
  } else {
    while (digit()) ++p_;
  }
  if (p_ < end_ && *p_ == '.') {
    ++p_;
    if (!digit()) return Fail("invalid number");
    while (digit()) ++p_;
  }
  if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
    ++p_;
    if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (!digit()) return Fail("invalid number");
    while (digit()) ++p_;
  }
  return true;
}

bool JsonDoc::ParseValue(int depth) {
  while (p_ < end_ && IsSpace(*p_)) ++p_;
  if (p_ >= end_) return Fail(nodes_.empty() ? "empty document" : "unexpected end of input");
  uint32_t self = static_cast<uint32_t>(nodes_.size());
  nodes_.push_back(Node{p_, 0, 0, 0, 0, nullptr, 0, JsonType::kNull, false, false});
  const char* value_begin = p_;
  char c = *p_;
  switch (c) {
    case '"': {
      const char* b;
      uint32_t len;
      bool esc;
      if (!ParseString(&b, &len, &esc)) return false;
      Node& n = nodes_[self];
      n.type = JsonType::kString;
      n.begin = b;
      n.len = len;
      n.escaped = esc;
      return true;
    }
    case '{':
    case '[': {
      if (depth >= kMaxDepth) return Fail("nesting too deep");
      bool object = c == '{';
      char close = object ? '}' : ']';
      ++p_;
      uint32_t prev = 0;
      uint32_t count = 0;
      for (;;) {
        while (p_ < end_ && IsSpace(*p_)) ++p_;
        if (p_ >= end_) return Fail("unexpected end of input");
        if (*p_ == close && count == 0) break;
        const char* key = nullptr;
        uint32_t key_len = 0;
        bool key_esc = false;
        if (object) {
          if (*p_ != '"') return Fail("expected a member name");
          if (!ParseString(&key, &key_len, &key_esc)) return false;
          while (p_ < end_ && IsSpace(*p_)) ++p_;
          if (p_ >= end_ || *p_ != ':') return Fail("expected ':'");
          ++p_;
        }
        uint32_t child = static_cast<uint32_t>(nodes_.size());
        if (!ParseValue(depth + 1)) return false;
        if (object) {
          nodes_[child].key = key;
          nodes_[child].key_len = key_len;
          nodes_[child].key_escaped = key_esc;
        }
        if (prev == 0) {
          nodes_[self].first = child;
        } else {
          nodes_[prev].next = child;
        }
        prev = child;
        ++count;
        while (p_ < end_ && IsSpace(*p_)) ++p_;
        if (p_ >= end_) return Fail("unexpected end of input");
        if (*p_ == ',') {
          ++p_;
          continue;
        }
        if (*p_ == close) break;
        return Fail(object ? "expected ',' or '}'" : "expected ',' or ']'");
      }
      ++p_;
      Node& n = nodes_[self];
      n.type = object ? JsonType::kObject : JsonType::kArray;
      n.count = count;
      n.len = static_cast<uint32_t>(p_ - value_begin);
      return true;
    }
    case 't':
    case 'f':
    case 'n': {
      std::string_view word = c == 't' ? "true" : c == 'f' ? "false" : "null";
      if (static_cast<size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0) {
        return Fail("invalid literal");
      }
      p_ += word.size();
      Node& n = nodes_[self];
      n.type = c == 't' ? JsonType::kTrue : c == 'f' ? JsonType::kFalse : JsonType::kNull;
      n.len = static_cast<uint32_t>(word.size());
      return true;
    }
    default: {
      if (c != '-' && (c < '0' || c > '9')) return Fail("unexpected character");
      if (!ParseNumber()) return false;
      Node& n = nodes_[self];
      n.type = JsonType::kNumber;
      n.len = static_cast<uint32_t>(p_ - value_begin);
      return true;
    }
  }
}

JsonType JsonRef::type() const { return doc_ ? doc_->nodes_[idx_].type : JsonType::kNull; }

JsonRef JsonRef::operator[](std::string_view key) const {
  if (!IsObject()) return {};
  const auto& nodes = doc_->nodes_;
  uint32_t found = 0;
  bool any = false;
  for (uint32_t i = nodes[idx_].first; i != 0; i = nodes[i].next) {
    const auto& n = nodes[i];
    bool match;
    if (!n.key_escaped) {
      match = n.key_len == key.size() && std::memcmp(n.key, key.data(), key.size()) == 0;
    } else {
      std::string k;
      AppendUnescaped(std::string_view(n.key, n.key_len), &k);
      match = k == key;
    }
    if (match) {
      found = i;
      any = true;
    }
  }
  return any ? JsonRef(doc_, found) : JsonRef();
}

JsonRef JsonRef::At(size_t i) const {
  if (!IsArray()) return {};
  const auto& nodes = doc_->nodes_;
  for (uint32_t k = nodes[idx_].first; k != 0; k = nodes[k].next) {
    if (i-- == 0) return JsonRef(doc_, k);
  }
  return {};
}

size_t JsonRef::size() const {
  if (!IsArray() && !IsObject()) return 0;
  return doc_->nodes_[idx_].count;
}

std::string_view JsonRef::raw_key() const {
  if (!doc_ || doc_->nodes_[idx_].key == nullptr) return {};
  const auto& n = doc_->nodes_[idx_];
  return std::string_view(n.key, n.key_len);
}

std::string JsonRef::key() const {
  std::string out;
  if (doc_ && doc_->nodes_[idx_].key_escaped) {
    AppendUnescaped(raw_key(), &out);
  } else {
    out.assign(raw_key());
  }
  return out;
}

std::string_view JsonRef::raw() const {
  if (!IsString() && !IsNumber()) return {};
  const auto& n = doc_->nodes_[idx_];
  return std::string_view(n.begin, n.len);
}

bool JsonRef::has_escapes() const { return IsString() && doc_->nodes_[idx_].escaped; }

std::string JsonRef::str() const {
  std::string out;
  if (!IsString()) return out;
  if (has_escapes()) {
    AppendUnescaped(raw(), &out);
  } else {
    out.assign(raw());
  }
  return out;
}

bool JsonRef::Is(std::string_view s) const {
  if (!IsString()) return false;
  if (!has_escapes()) return raw() == s;
  return str() == s;
}

std::string_view JsonRef::text() const {
  if (!doc_) return {};
  const auto& n = doc_->nodes_[idx_];
  if (n.type == JsonType::kString) return std::string_view(n.begin - 1, n.len + 2);
  return std::string_view(n.begin, n.len);
}

std::optional<int64_t> JsonRef::AsInt() const {
  if (!IsNumber()) return std::nullopt;
  std::string_view t = raw();
  if (t.find_first_of(".eE") == std::string_view::npos) {
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || ptr != t.data() + t.size()) return std::nullopt;
    return v;
  }
  auto d = AsDouble();
  if (!d || !std::isfinite(*d) || std::floor(*d) != *d || *d < -9.2e18 || *d > 9.2e18) return std::nullopt;
  return static_cast<int64_t>(*d);
}

std::optional<double> JsonRef::AsDouble() const {
  if (!IsNumber()) return std::nullopt;
  std::string_view t = raw();
  double v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || ptr != t.data() + t.size()) return std::nullopt;
  return v;
}

JsonRef::Iterator& JsonRef::Iterator::operator++() {
  idx_ = doc_->nodes_[idx_].next;
  return *this;
}

JsonRef::Iterator JsonRef::begin() const {
  if (!IsArray() && !IsObject()) return end();
  return Iterator(doc_, doc_->nodes_[idx_].first);
}

}  // namespace luna::gateway
