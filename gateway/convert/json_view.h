// A validating JSON parser that builds a light tree of views into the source text, for the
// converters. Strings are kept in their escaped source form, so a converter can copy a 26 KB
// system prompt or a tool schema to its output with one memcpy instead of unescaping and
// re-escaping it (nlohmann::json costs ~0.5 ms per 60 KB request; this costs a few tens of µs).
//
// Ownership: a JsonDoc does not copy the text. The text must outlive the doc and every JsonRef
// taken from it. A doc can be re-parsed; its node storage is reused (streams parse one small
// document per event).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace luna::gateway {

enum class JsonType : uint8_t { kNull, kFalse, kTrue, kNumber, kString, kArray, kObject };

class JsonDoc;

// A handle to one value of a parsed JsonDoc (or "absent": a missing member, an index out of
// range). Cheap to copy. Every accessor is safe on an absent value and returns an empty result.
class JsonRef {
 public:
  JsonRef() = default;

  bool present() const { return doc_ != nullptr; }
  JsonType type() const;
  bool IsNull() const { return present() && type() == JsonType::kNull; }
  // Absent or null: "not given", the usual reading of optional fields.
  bool IsNullish() const { return !present() || type() == JsonType::kNull; }
  bool IsBool() const { return present() && (type() == JsonType::kTrue || type() == JsonType::kFalse); }
  bool IsNumber() const { return present() && type() == JsonType::kNumber; }
  bool IsString() const { return present() && type() == JsonType::kString; }
  bool IsArray() const { return present() && type() == JsonType::kArray; }
  bool IsObject() const { return present() && type() == JsonType::kObject; }

  // The member `key` of an object (the last one if duplicated); absent otherwise.
  JsonRef operator[](std::string_view key) const;
  // The element `i` of an array (a linear walk: for the first few elements); absent otherwise.
  JsonRef At(size_t i) const;
  // Number of elements (array) or members (object); 0 otherwise.
  size_t size() const;

  // For a member reached through iteration of an object: its key, escaped as in the source.
  std::string_view raw_key() const;
  // The key unescaped (allocates only if it had escapes).
  std::string key() const;

  // Strings: the content between the quotes, escaped as in the source. Numbers: their text.
  std::string_view raw() const;
  // True if the string's source form contains backslash escapes.
  bool has_escapes() const;
  // The unescaped string value ("" if not a string).
  std::string str() const;
  // True if this is a string equal to `s` (compared unescaped).
  bool Is(std::string_view s) const;
  // The whole value's source text (including quotes / brackets).
  std::string_view text() const;

  bool AsBool(bool fallback) const { return type() == JsonType::kTrue ? true : IsBool() ? false : fallback; }
  // An integer-valued number (`5` or `5.0`) that fits int64; nullopt otherwise.
  std::optional<int64_t> AsInt() const;
  std::optional<double> AsDouble() const;

  // Iteration over the elements of an array or the members of an object (empty otherwise).
  class Iterator {
   public:
    Iterator(const JsonDoc* doc, uint32_t idx) : doc_(doc), idx_(idx) {}
    JsonRef operator*() const { return JsonRef(doc_, idx_); }
    Iterator& operator++();
    bool operator!=(const Iterator& o) const { return idx_ != o.idx_; }
    bool operator==(const Iterator& o) const { return idx_ == o.idx_; }

   private:
    const JsonDoc* doc_;
    uint32_t idx_;
  };
  Iterator begin() const;
  Iterator end() const { return Iterator(doc_, 0); }

 private:
  friend class JsonDoc;
  JsonRef(const JsonDoc* doc, uint32_t idx) : doc_(doc), idx_(idx) {}

  const JsonDoc* doc_ = nullptr;
  uint32_t idx_ = 0;
};

class JsonDoc {
 public:
  // Parses `text` (RFC 8259, UTF-8 validated, nesting depth at most kMaxDepth). On failure returns
  // false, error() says what and at which byte, and root() is absent.
  bool Parse(std::string_view text);
  JsonRef root() const { return nodes_.empty() || !ok_ ? JsonRef() : JsonRef(this, 0); }
  const std::string& error() const { return error_; }

  static constexpr int kMaxDepth = 200;

 private:
  friend class JsonRef;
  struct Node {
    const char* begin;   // strings: after the opening quote; others: first character
    uint32_t len;        // strings: content length; others: length of the whole value text
    uint32_t next;       // next sibling, 0 = none (the root, index 0, is nobody's sibling)
    uint32_t first;      // first child, 0 = none
    uint32_t count;      // number of children
    const char* key;     // object members: the key's escaped content
    uint32_t key_len;
    JsonType type;
    bool escaped;
    bool key_escaped;
  };

  bool ParseValue(int depth);
  bool ParseString(const char** begin, uint32_t* len, bool* escaped);
  bool ParseNumber();
  bool Fail(const char* what);

  std::vector<Node> nodes_;
  const char* start_ = nullptr;
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  bool ok_ = false;
  std::string error_;
};

// True if `s` is valid UTF-8 (RFC 3629).
bool IsValidUtf8(std::string_view s);

// Appends the unescaped form of `raw` (an escaped JSON string's content, as validated by the
// parser) to `out`.
void AppendUnescaped(std::string_view raw, std::string* out);

}  // namespace luna::gateway
