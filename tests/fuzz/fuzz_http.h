// Shared by the HTTP fuzz targets: reading one connection's bytes as the gateway's session does
// (Beast's request parser with the gateway's limits, pipelined requests one after the other).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/gateway_config.h"
#include "gateway/http/beast_fwd.h"
#include "tests/fuzz/fuzz_check.h"

namespace luna::fuzz {

using luna::gateway::Request;
namespace beast = boost::beast;
namespace http = boost::beast::http;

// The session's parser limits (gateway/http/server.cpp) with the configuration's defaults, except the
// body limit: MAX_BODY_BYTES at its smallest allowed value, so that fuzz inputs reach it.
constexpr uint64_t kBodyLimit = 1024;
constexpr size_t kMaxRequests = 16;  // read per connection; the rest is ignored

struct Parsed {
  std::vector<Request> requests;
  std::string error;  // the failure that ended the connection ("" = the bytes ran out cleanly)
  // Equal requests, and both runs ended cleanly or both failed. Which error ends a run may depend on
  // how the bytes came (found by fuzzing): Beast tries a request line as soon as the first bytes are
  // there, and once it has asked for more it waits for the header's end. Garbage after a request is
  // "bad method" when it arrives together, and "partial message" at the end when it trickles in.
  bool operator==(const Parsed& o) const {
    if (error.empty() != o.error.empty() || requests.size() != o.requests.size()) return false;
    for (size_t i = 0; i < requests.size(); ++i) {
      const Request& a = requests[i];
      const Request& b = o.requests[i];
      if (a.method_string() != b.method_string() || a.target() != b.target() || a.version() != b.version() ||
          a.body() != b.body()) {
        return false;
      }
      auto ia = a.begin(), ib = b.begin();
      for (; ia != a.end() && ib != b.end(); ++ia, ++ib) {
        if (ia->name_string() != ib->name_string() || ia->value() != ib->value()) return false;
      }
      if (ia != a.end() || ib != b.end()) return false;
    }
    return true;
  }
};

// Parses `bytes` as one connection's requests, handing the parser at most `step` new bytes at a time
// (0 = all at once), as reads from a socket would. Stops after a request that does not keep the
// connection alive, at the first error, or after kMaxRequests.
inline Parsed ParseConnection(std::string_view bytes, size_t step) {
  static const luna::gateway::GatewayConfig defaults;
  Parsed out;
  std::string buffer;  // received, not yet consumed
  size_t fed = 0;
  auto more = [&] {
    size_t n = step == 0 ? bytes.size() - fed : std::min(step, bytes.size() - fed);
    buffer.append(bytes.substr(fed, n));
    fed += n;
    return n > 0;
  };
  while (out.requests.size() < kMaxRequests) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(defaults.max_header_bytes));
    parser.body_limit(kBodyLimit);
    parser.eager(true);
    while (!parser.is_done()) {
      beast::error_code ec;
      if (!buffer.empty()) {
        size_t used = parser.put(boost::asio::buffer(buffer.data(), buffer.size()), ec);
        buffer.erase(0, used);
        if (ec && ec != http::error::need_more) {
          out.error = ec.message();
          return out;
        }
        if (!ec && used > 0) continue;
      }
      if (!more()) {
        // The peer closed: the end of a connection, or a message cut short.
        if (!parser.got_some()) return out;
        parser.put_eof(ec);
        if (ec) out.error = ec.message();
        if (ec || !parser.is_done()) return out;
      }
    }
    out.requests.push_back(parser.release());
    if (!out.requests.back().keep_alive()) return out;
  }
  return out;
}

}  // namespace luna::fuzz
