#include "gateway/convert/sse_parser.h"

#include <cstring>

namespace luna::gateway {

void SseParser::Feed(std::string_view bytes, std::vector<SseEvent>* out) {
  size_t i = 0;
  while (i < bytes.size()) {
    char c = bytes[i];
    if (last_was_cr_ && c == '\n') {
      // The LF of a CRLF whose CR ended the previous line.
      last_was_cr_ = false;
      ++i;
      continue;
    }
    last_was_cr_ = false;
    // Find the next line end and take the whole run of ordinary bytes at once. memchr (vectorized)
    // finds the LF; a CR, rare in practice, is looked for only before it.
    const char* base = bytes.data();
    const void* lf = std::memchr(base + i, '\n', bytes.size() - i);
    const size_t limit = lf != nullptr ? static_cast<size_t>(static_cast<const char*>(lf) - base) : bytes.size();
    const void* cr = std::memchr(base + i, '\r', limit - i);
    const size_t j = cr != nullptr ? static_cast<size_t>(static_cast<const char*>(cr) - base) : limit;
    if (j == bytes.size()) {
      line_.append(bytes.substr(i));
      return;
    }
    if (line_.empty()) {
      ProcessLine(bytes.substr(i, j - i), out);
    } else {
      line_.append(bytes.substr(i, j - i));
      ProcessLine(line_, out);
      line_.clear();
    }
    last_was_cr_ = bytes[j] == '\r';
    i = j + 1;
  }
}

void SseParser::ProcessLine(std::string_view line, std::vector<SseEvent>* out) {
  if (line.empty()) {
    // Blank line: dispatch.
    if (has_fields_ && (has_data_ || !current_.event.empty())) out->push_back(std::move(current_));
    current_ = SseEvent{};
    has_fields_ = false;
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment
  auto colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) current_.data.push_back('\n');
    current_.data.append(value);
    has_data_ = true;
    has_fields_ = true;
  } else if (field == "event") {
    current_.event.assign(value);
    has_fields_ = true;
  }
  // id, retry and unknown fields are ignored.
}

}  // namespace luna::gateway
