#include "gateway/convert/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace luna::gateway {
namespace {

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

// True if any of the 8 bytes is a quote, a backslash or a control character.
inline bool NeedsEscape8(uint64_t v) {
  uint64_t quote = v ^ (kOnes * '"');
  uint64_t backslash = v ^ (kOnes * '\\');
  uint64_t hits = ((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash) | ((v - kOnes * 0x20) & ~v);
  return (hits & kHighs) != 0;
}

inline bool NeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

}  // namespace

void AppendJsonEscaped(std::string_view s, std::string* out) {
  const char* p = s.data();
  const char* end = p + s.size();
  const char* run = p;
  while (p < end) {
    if (end - p >= 8) {
      uint64_t v;
      std::memcpy(&v, p, 8);
      if (!NeedsEscape8(v)) {
        p += 8;
        continue;
      }
    }
    unsigned char c = static_cast<unsigned char>(*p);
    if (!NeedsEscape(c)) {
      ++p;
      continue;
    }
    out->append(run, p);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        char buf[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out->append(buf, 6);
      }
    }
    ++p;
    run = p;
  }
  out->append(run, end);
}

void AppendCompactJson(JsonRef v, std::string* out) {
  if (!v.present()) {
    out->append("null");
    return;
  }
  switch (v.type()) {
    case JsonType::kString:
      out->push_back('"');
      out->append(v.raw());
      out->push_back('"');
      return;
    case JsonType::kArray: {
      out->push_back('[');
      bool first = true;
      for (JsonRef e : v) {
        if (!first) out->push_back(',');
        first = false;
        AppendCompactJson(e, out);
      }
      out->push_back(']');
      return;
    }
    case JsonType::kObject: {
      out->push_back('{');
      bool first = true;
      for (JsonRef m : v) {
        if (!first) out->push_back(',');
        first = false;
        out->push_back('"');
        out->append(m.raw_key());
        out->append("\":");
        AppendCompactJson(m, out);
      }
      out->push_back('}');
      return;
    }
    default:
      out->append(v.text());
      return;
  }
}

JsonWriter& JsonWriter::Key(std::string_view plain) {
  Sep();
  out_->push_back('"');
  AppendJsonEscaped(plain, out_);
  out_->append("\":");
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::EscapedKey(std::string_view escaped) {
  Sep();
  out_->push_back('"');
  out_->append(escaped);
  out_->append("\":");
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view plain) {
  Sep();
  out_->push_back('"');
  AppendJsonEscaped(plain, out_);
  out_->push_back('"');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::EscapedString(std::string_view escaped) {
  Sep();
  out_->push_back('"');
  out_->append(escaped);
  out_->push_back('"');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t v) {
  Sep();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out_->append(buf, r.ptr);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::Double(double v) {
  Sep();
  if (!std::isfinite(v)) {
    out_->append("null");
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out_->append(buf, r.ptr);
  }
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::Bool(bool v) {
  Sep();
  out_->append(v ? "true" : "false");
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::Null() {
  Sep();
  out_->append("null");
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::Value(JsonRef v) {
  Sep();
  AppendCompactJson(v, out_);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::RawValue(std::string_view json) {
  Sep();
  out_->append(json);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::BeginString() {
  Sep();
  out_->push_back('"');
  return *this;
}

JsonWriter& JsonWriter::StringPiece(std::string_view plain) {
  AppendJsonEscaped(plain, out_);
  return *this;
}

JsonWriter& JsonWriter::EscapedStringPiece(std::string_view escaped) {
  out_->append(escaped);
  return *this;
}

JsonWriter& JsonWriter::EndString() {
  out_->push_back('"');
  need_comma_ = true;
  return *this;
}

}  // namespace luna::gateway
