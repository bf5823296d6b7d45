// A compact JSON writer that appends to a caller-owned string. Values taken from a parsed JsonDoc
// are copied in their escaped source form (no unescape / re-escape), which is what keeps the
// converters cheap on large bodies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/convert/json_view.h"

namespace luna::gateway {

// Appends `s` escaped for use inside a JSON string (quotes, backslashes and control characters).
void AppendJsonEscaped(std::string_view s, std::string* out);

// Appends `v` as compact JSON (no whitespace outside strings; strings and numbers copied as in the
// source). An absent value is written as null.
void AppendCompactJson(JsonRef v, std::string* out);

// Writes one JSON value structurally. The caller pairs Begin/End calls and puts a Key before each
// object member; commas are inserted automatically. The writer never fails: it does not validate
// the call sequence (tests do, by parsing the output).
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }

  // A member name given in plain text (escaped if needed).
  JsonWriter& Key(std::string_view plain);
  // A member name already escaped (JsonRef::raw_key()).
  JsonWriter& EscapedKey(std::string_view escaped);

  JsonWriter& String(std::string_view plain);
  // A string whose content is already escaped (JsonRef::raw() of a string).
  JsonWriter& EscapedString(std::string_view escaped);
  JsonWriter& Int(int64_t v);
  JsonWriter& Double(double v);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  // Any parsed value, compacted (an absent value becomes null).
  JsonWriter& Value(JsonRef v);
  // A complete, already serialized JSON value.
  JsonWriter& RawValue(std::string_view json);

  // Starts / ends a string value whose content the caller appends piecewise with StringPiece /
  // EscapedStringPiece (used to join text blocks without a temporary).
  JsonWriter& BeginString();
  JsonWriter& StringPiece(std::string_view plain);
  JsonWriter& EscapedStringPiece(std::string_view escaped);
  JsonWriter& EndString();

  std::string* out() { return out_; }

 private:
  void Sep() {
    if (need_comma_) out_->push_back(',');
  }
  JsonWriter& Open(char c) {
    Sep();
    out_->push_back(c);
    need_comma_ = false;
    return *this;
  }
  JsonWriter& Close(char c) {
    out_->push_back(c);
    need_comma_ = true;
    return *this;
  }

  std::string* out_;
  bool need_comma_ = false;
};

}  // namespace luna::gateway
