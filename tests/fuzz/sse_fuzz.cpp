// libFuzzer target for the SSE parser (gateway/convert/sse_parser): the stream in one piece, in pieces
// of a size the first byte picks, and a byte at a time must all give the events of a plain reference
// reading of the format (whole lines split at CRLF, LF or CR; comments and unknown fields skipped;
// data lines joined with '\n'; an event without data and without a name not emitted; an unfinished
// last line or event left pending), and HasPartial must say whether something is pending.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/convert/sse_parser.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using luna::fuzz::Fail;
using luna::gateway::SseEvent;
using luna::gateway::SseParser;

struct Reference {
  std::vector<SseEvent> events;
  bool partial = false;
};

Reference ReadReference(std::string_view s) {
  Reference r;
  SseEvent cur;
  bool fields = false, data = false;
  size_t i = 0;
  while (true) {
    size_t end = s.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      r.partial = i < s.size() || fields;
      return r;
    }
    std::string_view line = s.substr(i, end - i);
    i = end + (s[end] == '\r' && end + 1 < s.size() && s[end + 1] == '\n' ? 2 : 1);
    if (line.empty()) {
      if (fields && (data || !cur.event.empty())) r.events.push_back(cur);
      cur = SseEvent{};
      fields = data = false;
      continue;
    }
    if (line[0] == ':') continue;
    std::string_view name = line, value;
    if (auto c = line.find(':'); c != std::string_view::npos) {
      name = line.substr(0, c);
      value = line.substr(c + 1);
      if (!value.empty() && value[0] == ' ') value = value.substr(1);
    }
    if (name == "data") {
      if (data) cur.data += '\n';
      cur.data += value;
      data = fields = true;
    } else if (name == "event") {
      cur.event = std::string(value);
      fields = true;
    }
  }
}

void Compare(const std::vector<SseEvent>& got, const Reference& want, const SseParser& parser, const char* how,
             std::string_view input) {
  bool same = got.size() == want.events.size();
  for (size_t i = 0; same && i < got.size(); ++i) {
    same = got[i].event == want.events[i].event && got[i].data == want.events[i].data;
  }
  if (!same) Fail(how, input);
  if (parser.HasPartial() != want.partial) Fail("HasPartial disagrees", input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t step = 1 + data[0] % 13;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  Reference want = ReadReference(in);

  SseParser whole;
  std::vector<SseEvent> a;
  whole.Feed(in, &a);
  Compare(a, want, whole, "events differ (whole)", in);

  SseParser pieces;
  std::vector<SseEvent> b;
  for (size_t i = 0; i < in.size(); i += step) pieces.Feed(in.substr(i, step), &b);
  Compare(b, want, pieces, "events differ (pieces)", in);

  SseParser bytes;
  std::vector<SseEvent> c;
  for (size_t i = 0; i < in.size(); ++i) bytes.Feed(in.substr(i, 1), &c);
  Compare(c, want, bytes, "events differ (byte by byte)", in);
  return 0;
}
