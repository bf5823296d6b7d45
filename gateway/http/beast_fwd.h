// The Beast/Asio types the gateway's I/O layers share. Include only from the few translation units
// that do I/O (http/, api/router, upstream/): each costs ~20 s to compile.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace luna::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

template <class T>
using Awaitable = boost::asio::awaitable<T>;

using Request = http::request<http::string_body>;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// One extra response header. (A braced list of string literals inside a co_await expression trips
// GCC 12's "array used as initializer" coroutine bug; a function call does not.)
inline HeaderList OneHeader(std::string name, std::string value) {
  return HeaderList{{std::move(name), std::move(value)}};
}

// Writes a complete response with a JSON (or other) body. Returns false if the client is gone.
Awaitable<bool> WriteResponse(beast::tcp_stream& stream, unsigned version, int status, std::string body,
                              bool keep_alive, std::string_view content_type = "application/json",
                              const HeaderList& extra_headers = {});
// The answer to `req`: its HTTP version, and for a HEAD request the head alone (with the length the
// body would have), as RFC 9110 §9.3.2 asks. True if it was written and the connection may carry
// another request (`keep_alive`).
Awaitable<bool> WriteResponse(beast::tcp_stream& stream, const Request& req, int status, std::string body,
                              bool keep_alive, std::string_view content_type = "application/json",
                              const HeaderList& extra_headers = {});

// Feeds to `p` what `buf` already holds, up to the end of the head (`head_only`) or of the message,
// without reading: the part of an async_read that needs no I/O. Beast posts the completion of a read
// that found everything buffered; a message received whole is parsed here instead, and the caller
// reads (asynchronously) only when `p` wants more. Errors are the parser's, as the read gives them.
template <bool isRequest, class Body>
inline beast::error_code ParseBuffered(http::parser<isRequest, Body>& p, beast::flat_buffer& buf, bool head_only) {
  beast::error_code ec;
  while (buf.size() > 0 && !(head_only ? p.is_header_done() : p.is_done())) {
    size_t used = p.put(buf.data(), ec);
    buf.consume(used);
    if (ec == http::error::need_more) return {};
    if (ec || used == 0) return ec;
  }
  return ec;
}

}  // namespace luna::gateway
