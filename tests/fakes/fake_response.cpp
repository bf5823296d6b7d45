#include "fake_response.h"

#include <cstdio>

namespace luna::fake {

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 529:
      return "Overloaded";
    default:
      return "Unknown";
  }
}

std::string SerializeHead(const ResponsePlan& plan, bool keep_alive) {
  std::string head;
  head.reserve(256);
  head.append("HTTP/1.1 ")
      .append(std::to_string(plan.status))
      .append(" ")
      .append(ReasonPhrase(plan.status))
      .append("\r\nserver: fake_upstream\r\ncontent-type: ")
      .append(plan.content_type)
      .append("\r\nrequest-id: req_fake_")
      .append(std::to_string(plan.number))
      .append("\r\n");
  for (const auto& [name, value] : plan.extra_headers) {
    head.append(name).append(": ").append(value).append("\r\n");
  }
  if (plan.streaming) {
    head.append("cache-control: no-cache\r\ntransfer-encoding: chunked\r\n");
  } else {
    head.append("content-length: ").append(std::to_string(plan.body.size())).append("\r\n");
  }
  if (!keep_alive) head.append("connection: close\r\n");
  head.append("\r\n");
  return head;
}

std::string ChunkSizeLine(size_t size) {
  char line[32];
  int n = std::snprintf(line, sizeof(line), "%zx\r\n", size);
  return std::string(line, static_cast<size_t>(n));
}

}  // namespace luna::fake
