// What the fake upstream answers to one request, decided before any byte is written, and the
// HTTP/1.1 wire text for it. The server (fake_server.cpp) only carries out a plan; all decisions
// (status, body, delays, where to cut) live in the plan so they can be tested without sockets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fake_behaviour.h"

namespace luna::fake {

struct ResponsePlan {
  uint64_t number = 0;  // the `<n>` of request-id req_fake_<n>
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> extra_headers;
  int delay_ms = 0;  // wait before the status line

  // Non-streaming answers: the whole body, sent with content-length.
  std::string body;
  // Streaming answers: one SSE frame per element, each written as its own chunk.
  bool streaming = false;
  std::vector<std::string> events;
  int interval_ms = 0;  // wait between two events

  // Mode "cut": streaming answers close the connection after `cut_after_events` events without the
  // terminating chunk; non-streaming answers close it after half the body.
  bool cut = false;
  size_t cut_after_events = 0;

  std::optional<CompletedAnswer> on_complete;
};

// Status line and headers, ending with the blank line. `keep_alive` false adds `connection: close`.
std::string SerializeHead(const ResponsePlan& plan, bool keep_alive);

// The chunk-size line that goes before `size` bytes of chunked body ("1a\r\n").
std::string ChunkSizeLine(size_t size);

inline constexpr std::string_view kChunkEnd = "\r\n";
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

std::string_view ReasonPhrase(int status);

}  // namespace luna::fake
