// An incremental Server-Sent Events parser: bytes in, whole events out, for any split of the byte
// stream (an event or a line split across reads, CRLF / LF / CR line ends, comment lines). Pure: no
// I/O. Used to read usage from streams and to convert streams between API formats.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace luna::gateway {

struct SseEvent {
  std::string event;  // the `event:` field ("" when the event had none, as in OpenAI streams)
  std::string data;   // the `data:` lines joined with '\n'
};

class SseParser {
 public:
  // Parses `bytes`, appending each event completed by them to `out`. Comment lines (":...") and
  // fields other than event/data are skipped; an event with neither event nor data is not emitted.
  void Feed(std::string_view bytes, std::vector<SseEvent>* out);

  // True if bytes of an unfinished event are buffered (a stream that ends here was cut).
  bool HasPartial() const { return !line_.empty() || has_fields_; }

  // Bytes buffered for an unfinished line (bounded by the caller's body limits).
  size_t buffered() const { return line_.size(); }

 private:
  void ProcessLine(std::string_view line, std::vector<SseEvent>* out);

  std::string line_;      // the current, unfinished line
  bool last_was_cr_ = false;
  SseEvent current_;
  bool has_fields_ = false;
  bool has_data_ = false;
};

}  // namespace luna::gateway
