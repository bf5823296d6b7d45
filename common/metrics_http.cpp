#include "common/metrics_http.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/env_config.h"
#include "common/prometheus_text.h"

namespace luna {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::as_tuple;
using asio::use_awaitable;

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";
constexpr std::string_view kJson = "application/json";

struct Answer {
  http::status status = http::status::ok;
  std::string_view content_type = kTextPlain;
  std::string body;
  bool allow_get = false;  // add "Allow: GET" (405)
};

Answer Text(http::status status, std::string body) { return Answer{status, kTextPlain, std::move(body)}; }

}  // namespace

struct MetricsHttpServer::Impl {
  explicit Impl(Options o) : options(std::move(o)) {}

  const Options options;
  // Destroyed last: the acceptor and every session's stream belong to it.
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  bool stopped = false;  // Stop() ran (caller's thread)

  // Only touched on the server's thread.
  size_t open = 0;                         // accepted connections not yet closed
  std::set<beast::tcp_stream*> sessions;  // their streams, once their coroutine has started
  bool closing = false;

  asio::awaitable<void> Accept();
  asio::awaitable<void> Serve(tcp::socket socket);
  Answer Route(const http::request_parser<http::empty_body>& parser);
  void CloseAll();
};

asio::awaitable<void> MetricsHttpServer::Impl::Accept() {
  while (!closing) {
    auto [ec, socket] = co_await acceptor.async_accept(as_tuple(use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || closing) co_return;
      spdlog::warn("metrics endpoint: accept failed: {}", ec.message());
      // Out of file descriptors and the like: back off instead of spinning.
      asio::steady_timer t(ioc, std::chrono::milliseconds(50));
      co_await t.async_wait(as_tuple(use_awaitable));
      continue;
    }
    if (open >= options.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);  // over the limit: closed at once
      continue;
    }
    ++open;
    asio::co_spawn(ioc, Serve(std::move(socket)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("metrics endpoint: connection ended with an exception: {}", ex.what());
      }
    });
  }
}

Answer MetricsHttpServer::Impl::Route(const http::request_parser<http::empty_body>& parser) {
  const auto& req = parser.get();
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics" && path != "/health") return Text(http::status::not_found, "not found\n");
  if (req.method() != http::verb::get) {
    Answer a = Text(http::status::method_not_allowed, "method not allowed\n");
    a.allow_get = true;
    return a;
  }
  if (parser.chunked() || parser.content_length().value_or(0) > 0) {
    return Text(http::status::payload_too_large, "a request body is not accepted\n");
  }
  try {
    if (path == "/metrics") {
      return Answer{http::status::ok, prom::kContentType, options.metrics ? options.metrics() : std::string()};
    }
    bool serving = options.serving ? options.serving() : true;
    std::string problem = options.problem ? options.problem() : std::string();
    nlohmann::ordered_json body = {{"status", !serving ? "not_serving" : problem.empty() ? "ok" : "degraded"}};
    if (!problem.empty()) body["problem"] = problem;
    return Answer{serving ? http::status::ok : http::status::service_unavailable, kJson,
                  body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)};
  } catch (const std::exception& e) {
    spdlog::error("metrics endpoint: {} failed: {}", std::string(path), e.what());
    return Text(http::status::internal_server_error, "internal error\n");
  }
}

asio::awaitable<void> MetricsHttpServer::Impl::Serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  struct Forget {
    Impl* impl;
    beast::tcp_stream* stream;
    ~Forget() {
      impl->sessions.erase(stream);
      --impl->open;
    }
  } forget{this, &stream};
  if (closing) co_return;  // accepted just before Stop: closed with the stream
  sessions.insert(&stream);

  beast::flat_buffer buffer;
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  stream.expires_after(options.read_timeout);
  auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, as_tuple(use_awaitable));
  (void)n;
  Answer answer;
  unsigned version = 11;
  if (ec == http::error::header_limit) {
    answer = Text(http::status::request_header_fields_too_large, "request headers too large\n");
  } else if (ec) {
    // The peer went away, timed out or we are stopping: nothing to answer to.
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof || closing) {
      co_return;
    }
    answer = Text(http::status::bad_request, "bad request: " + ec.message() + "\n");
  } else {
    version = parser.get().version() == 10 ? 10 : 11;
    answer = Route(parser);
  }

  http::response<http::string_body> res{answer.status, version};
  res.set(http::field::content_type, answer.content_type);
  if (answer.allow_get) res.set(http::field::allow, "GET");
  res.keep_alive(false);
  res.body() = std::move(answer.body);
  res.prepare_payload();
  stream.expires_after(options.read_timeout);
  auto [wec, wn] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
  (void)wec;
  (void)wn;
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.socket().close(ignored);
}

void MetricsHttpServer::Impl::CloseAll() {
  closing = true;
  beast::error_code ignored;
  acceptor.close(ignored);
  for (beast::tcp_stream* s : sessions) s->socket().close(ignored);
}

MetricsHttpServer::MetricsHttpServer(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

absl::StatusOr<int> MetricsHttpServer::Start(const std::string& listen, const std::string& what) {
  Impl& m = *impl_;
  if (m.thread.joinable() || m.stopped) return absl::FailedPreconditionError("the metrics endpoint was started before");
  auto hp = ParseHostPort(listen, what);
  if (!hp.ok()) return hp.status();
  beast::error_code ec;
  tcp::endpoint ep;
  auto addr = asio::ip::make_address(hp->host, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, hp->port);
  } else {
    // A host name (localhost): its first IPv4 address, else its first one.
    tcp::resolver resolver(m.ioc);
    auto results = resolver.resolve(hp->host, std::to_string(hp->port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(what + ": cannot resolve \"" + hp->host + "\"" +
                                        (ec ? ": " + ec.message() : std::string()));
    }
    ep = results.begin()->endpoint();
    for (const auto& r : results) {
      if (r.endpoint().address().is_v4()) {
        ep = r.endpoint();
        break;
      }
    }
  }
  m.acceptor.open(ep.protocol(), ec);
  if (!ec) m.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) m.acceptor.bind(ep, ec);
  if (!ec) m.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    m.acceptor.close(ignored);
    return absl::UnavailableError(what + ": cannot listen on " + listen + ": " + ec.message());
  }
  port_ = m.acceptor.local_endpoint().port();
  asio::co_spawn(m.ioc, m.Accept(), asio::detached);
  m.thread = std::thread([&m] {
    pthread_setname_np(pthread_self(), "metrics-http");
    m.ioc.run();
  });
  return port_;
}

void MetricsHttpServer::Stop() {
  Impl& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  if (!m.thread.joinable()) return;
  // Closing the listener and every connection ends every coroutine; run() then returns by itself.
  asio::post(m.ioc, [&m] { m.CloseAll(); });
  m.thread.join();
}

}  // namespace luna
