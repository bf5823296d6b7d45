#include "gateway/usage/stream_usage.h"

#include <nlohmann/json.hpp>

#include "gateway/convert/json_scan.h"

namespace luna::gateway {

using json = nlohmann::json;

bool EnsureIncludeUsage(std::string* body) {
  std::string_view text = *body;
  size_t open = text.find_first_not_of(" \t\r\n");
  if (open == std::string_view::npos || text[open] != '{') return true;
  auto span = FindTopLevelMember(text, "stream_options");
  if (!span) {
    bool empty_object = text.find_first_not_of(" \t\r\n", open + 1) != std::string_view::npos &&
                        text[text.find_first_not_of(" \t\r\n", open + 1)] == '}';
    body->insert(open + 1, empty_object ? R"("stream_options":{"include_usage":true})"
                                        : R"("stream_options":{"include_usage":true},)");
    return false;
  }
  json opts = json::parse(text.substr(span->begin, span->end - span->begin), nullptr, false);
  if (opts.is_object()) {
    auto it = opts.find("include_usage");
    if (it != opts.end() && it->is_boolean() && it->get<bool>()) return true;
  } else {
    opts = json::object();  // null or a wrong type: replace it
  }
  opts["include_usage"] = true;
  body->replace(span->begin, span->end - span->begin, opts.dump());
  return false;
}

std::string UsageChunkFilter::Feed(std::string_view bytes) {
  events_.clear();
  parser_.Feed(bytes, &events_);
  std::string out;
  for (const auto& ev : events_) {
    std::string_view data = ev.data;
    if (data != "[DONE]") {
      auto choices = FindTopLevelMember(data, "choices");
      auto usage = FindTopLevelMember(data, "usage");
      if (choices && usage) {
        std::string_view c = data.substr(choices->begin, choices->end - choices->begin);
        std::string_view u = data.substr(usage->begin, usage->end - usage->begin);
        bool no_choices = c.find_first_not_of("[ \t\r\n]") == std::string_view::npos;
        if (no_choices && u != "null") continue;  // the usage chunk the client did not ask for
      }
    }
    if (!ev.event.empty()) {
      out += "event: ";
      out += ev.event;
      out += '\n';
    }
    // A multi-line data field goes back out as several data: lines.
    size_t start = 0;
    while (true) {
      size_t nl = data.find('\n', start);
      out += "data: ";
      out += data.substr(start, nl == std::string_view::npos ? data.npos : nl - start);
      out += '\n';
      if (nl == std::string_view::npos) break;
      start = nl + 1;
    }
    out += '\n';
  }
  return out;
}

}  // namespace luna::gateway
