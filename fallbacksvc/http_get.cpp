#include "fallbacksvc/http_get.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <exception>
#include <optional>

#include "fallbacksvc/http_url.h"

namespace luna::fallbacksvc {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

constexpr uint64_t kBodyLimit = 4 * 1024 * 1024;

using Headers = std::vector<std::pair<std::string, std::string>>;

template <class Stream>
net::awaitable<void> Exchange(Stream& stream, const HttpUrl& url, const Headers& headers, HttpGetResult* out) {
  http::request<http::empty_body> req{http::verb::get, url.target, 11};
  req.set(http::field::host, url.HostHeader());
  req.set(http::field::user_agent, "luna-fallbacksvc");
  req.set(http::field::accept, "application/json");
  for (const auto& [name, value] : headers) req.set(name, value);
  co_await http::async_write(stream, req, net::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kBodyLimit);
  co_await http::async_read(stream, buffer, parser, net::use_awaitable);
  out->status = static_cast<int>(parser.get().result_int());
  out->body = std::move(parser.get().body());
}

net::awaitable<void> Get(HttpUrl url, Headers headers, ssl::context* tls, HttpGetResult* out) {
  auto executor = co_await net::this_coro::executor;
  tcp::resolver resolver(executor);
  // Named locals rather than temporaries inside co_await expressions (GCC 12 coroutine bugs).
  const std::string port = std::to_string(url.port);
  auto endpoints = co_await resolver.async_resolve(url.host, port, net::use_awaitable);
  if (!url.tls) {
    beast::tcp_stream stream(executor);
    co_await stream.async_connect(endpoints, net::use_awaitable);
    co_await Exchange(stream, url, headers, out);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(executor, *tls);
  // SNI, and the certificate must name the host.
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
    throw beast::system_error(beast::error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category()));
  }
  stream.set_verify_mode(ssl::verify_peer);
  stream.set_verify_callback(ssl::host_name_verification(url.host));
  co_await beast::get_lowest_layer(stream).async_connect(endpoints, net::use_awaitable);
  co_await stream.async_handshake(ssl::stream_base::client, net::use_awaitable);
  co_await Exchange(stream, url, headers, out);
}

}  // namespace

absl::StatusOr<HttpGetResult> HttpGet(const std::string& url_text, const Headers& headers,
                                      std::chrono::milliseconds timeout) {
  auto url = ParseHttpUrl(url_text);
  if (!url.ok()) return url.status();
  std::optional<ssl::context> tls;
  if (url->tls) {
    tls.emplace(ssl::context::tls_client);
    tls->set_default_verify_paths();
  }
  HttpGetResult result;
  std::exception_ptr error;
  bool done = false;
  {
    net::io_context ioc;
    net::co_spawn(ioc, Get(*url, headers, tls ? &*tls : nullptr, &result), [&](std::exception_ptr e) {
      error = e;
      done = true;
    });
    // The deadline covers every step; what is still pending is destroyed with the io_context.
    ioc.run_for(timeout);
  }
  if (!done) {
    return absl::DeadlineExceededError("GET " + url_text + ": no answer within " + std::to_string(timeout.count()) +
                                       " ms");
  }
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const beast::system_error& e) {
      return absl::UnavailableError("GET " + url_text + ": " + e.code().message());
    } catch (const std::exception& e) {
      return absl::UnavailableError("GET " + url_text + ": " + e.what());
    }
  }
  return result;
}

}  // namespace luna::fallbacksvc
