#include "fake_server.h"

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <exception>
#include <iostream>
#include <string_view>
#include <thread>
#include <vector>

#include "fake_router.h"

namespace luna::fake {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

constexpr uint64_t kBodyLimit = 64ull * 1024 * 1024;
constexpr uint32_t kHeaderLimit = 64 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

std::string_view ToStd(beast::string_view s) { return {s.data(), s.size()}; }

auto Token(beast::error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

void LogException(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::cerr << "fake_upstream: connection failed: " << ex.what() << std::endl;
  }
}

// Ends the connection without the rest of the answer (mode "cut", errors, connection: close).
void Close(tcp::socket& socket) {
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

net::awaitable<bool> Wait(net::steady_timer& timer, int ms) {
  beast::error_code ec;
  timer.expires_after(std::chrono::milliseconds(ms));
  co_await timer.async_wait(Token(ec));
  co_return !ec;
}

// Writes `plan`; returns whether the connection can carry another request.
net::awaitable<bool> Send(tcp::socket& socket, net::steady_timer& timer, FakeRouter& router,
                          const ResponsePlan& plan, bool keep_alive) {
  beast::error_code ec;
  if (plan.delay_ms > 0 && !co_await Wait(timer, plan.delay_ms)) co_return false;
  std::string head = SerializeHead(plan, keep_alive);

  if (!plan.streaming) {
    std::string_view body = plan.body;
    if (plan.cut) body = body.substr(0, body.size() / 2);
    std::array<net::const_buffer, 2> buffers = {net::buffer(head), net::buffer(body)};
    co_await net::async_write(socket, buffers, Token(ec));
    if (ec) co_return false;
    if (plan.cut) {
      Close(socket);
      co_return false;
    }
  } else {
    co_await net::async_write(socket, net::buffer(head), Token(ec));
    if (ec) co_return false;
    for (size_t i = 0; i < plan.events.size(); ++i) {
      if (i > 0 && plan.interval_ms > 0 && !co_await Wait(timer, plan.interval_ms)) co_return false;
      if (plan.cut && i == plan.cut_after_events) {
        Close(socket);
        co_return false;
      }
      const std::string& event = plan.events[i];
      std::string size_line = ChunkSizeLine(event.size());
      std::array<net::const_buffer, 3> buffers = {net::buffer(size_line), net::buffer(event),
                                                  net::buffer(kChunkEnd.data(), kChunkEnd.size())};
      co_await net::async_write(socket, buffers, Token(ec));
      if (ec) co_return false;
    }
    if (plan.cut) {
      Close(socket);
      co_return false;
    }
    co_await net::async_write(socket, net::buffer(kLastChunk.data(), kLastChunk.size()), Token(ec));
    if (ec) co_return false;
  }
  router.Completed(plan);
  co_return keep_alive;
}

bool IsHttpError(const beast::error_code& ec) {
  return ec.category() == beast::error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

net::awaitable<void> Session(tcp::socket socket, FakeRouter& router) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  beast::flat_buffer buffer;
  net::steady_timer timer(socket.get_executor());
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    parser.header_limit(kHeaderLimit);
    co_await http::async_read_header(socket, buffer, parser, Token(ec));
    if (!ec && !parser.is_done()) {
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        co_await net::async_write(socket, net::buffer(kContinue.data(), kContinue.size()),
                                  Token(ec));
        if (ec) break;
      }
      co_await http::async_read(socket, buffer, parser, Token(ec));
    }
    if (ec) {
      if (IsHttpError(ec)) {
        // Malformed or oversized request: answer once, then close.
        bool too_large = ec == http::error::body_limit || ec == http::error::header_limit;
        std::string_view target = ToStd(parser.get().target());  // empty if not parsed yet
        ResponsePlan plan = router.Reject(target, too_large ? 413 : 400, ec.message());
        co_await Send(socket, timer, router, plan, /*keep_alive=*/false);
      }
      break;
    }

    const http::request<http::string_body>& request = parser.get();
    bool keep_alive = request.keep_alive();
    IncomingRequest incoming{
        ToStd(request.method_string()), ToStd(request.target()), {}, request.body()};
    for (const auto& field : request) {
      incoming.headers.emplace_back(ToStd(field.name_string()), ToStd(field.value()));
    }
    ResponsePlan plan = router.Handle(incoming);
    if (!co_await Send(socket, timer, router, plan, keep_alive)) break;
  }
  if (socket.is_open()) {
    socket.shutdown(tcp::socket::shutdown_send, ec);
  }
}

}  // namespace

struct FakeServer::Impl {
  Impl(FakeRouter& r, int threads) : router(r) {
    for (int i = 0; i < threads; ++i) {
      contexts.push_back(std::make_unique<net::io_context>(1));
      guards.push_back(net::make_work_guard(*contexts.back()));
    }
    acceptor = std::make_unique<tcp::acceptor>(*contexts.front());
    signals = std::make_unique<net::signal_set>(*contexts.front(), SIGINT, SIGTERM);
  }

  net::awaitable<void> Accept() {
    size_t next = 0;
    for (;;) {
      net::io_context& context = *contexts[next++ % contexts.size()];
      beast::error_code ec;
      tcp::socket socket = co_await acceptor->async_accept(context, Token(ec));
      if (ec) {
        if (!acceptor->is_open() || ec == net::error::operation_aborted) co_return;
        std::cerr << "fake_upstream: accept failed: " << ec.message() << std::endl;
        net::steady_timer backoff(acceptor->get_executor(), std::chrono::milliseconds(10));
        co_await backoff.async_wait(Token(ec));
        continue;
      }
      net::co_spawn(context, Session(std::move(socket), router), LogException);
    }
  }

  FakeRouter& router;
  // Declared first so they are destroyed last: the pending coroutines they destroy own sockets.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<net::signal_set> signals;
  tcp::endpoint bound;  // kept: local_endpoint() fails once the acceptor is closed
};

FakeServer::FakeServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FakeServer::~FakeServer() = default;

std::unique_ptr<FakeServer> FakeServer::Create(const ServerOptions& options, FakeRouter& router,
                                               std::string& error) {
  size_t colon = options.listen.rfind(':');
  if (colon == std::string::npos) {
    error = "--listen must be HOST:PORT, got `" + options.listen + "`";
    return nullptr;
  }
  std::string host = options.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string_view port_text = std::string_view(options.listen).substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    error = "--listen has an invalid port `" + std::string(port_text) + "`";
    return nullptr;
  }
  beast::error_code bec;
  net::ip::address address = net::ip::make_address(host, bec);
  if (bec) {
    error = "--listen has an invalid address `" + host + "`: " + bec.message();
    return nullptr;
  }
  if (options.threads < 1) {
    error = "--threads must be at least 1";
    return nullptr;
  }

  auto impl = std::make_unique<Impl>(router, options.threads);
  tcp::endpoint endpoint(address, static_cast<uint16_t>(port));
  tcp::acceptor& acceptor = *impl->acceptor;
  if (acceptor.open(endpoint.protocol(), bec) ||
      acceptor.set_option(net::socket_base::reuse_address(true), bec) ||
      acceptor.bind(endpoint, bec) ||
      acceptor.listen(net::socket_base::max_listen_connections, bec)) {
    error = "cannot listen on " + options.listen + ": " + bec.message();
    return nullptr;
  }
  impl->bound = acceptor.local_endpoint();
  return std::unique_ptr<FakeServer>(new FakeServer(std::move(impl)));
}

std::string FakeServer::host() const { return impl_->bound.address().to_string(); }

uint16_t FakeServer::port() const { return impl_->bound.port(); }

void FakeServer::Run() {
  Impl& impl = *impl_;
  impl.signals->async_wait([&impl](const beast::error_code& ec, int) {
    if (ec) return;
    beast::error_code ignored;
    impl.acceptor->close(ignored);
    for (auto& context : impl.contexts) context->stop();
  });
  net::co_spawn(*impl.contexts.front(), impl.Accept(), LogException);
  std::vector<std::thread> threads;
  for (size_t i = 1; i < impl.contexts.size(); ++i) {
    threads.emplace_back([&context = *impl.contexts[i]] { context.run(); });
  }
  impl.contexts.front()->run();
  for (std::thread& thread : threads) thread.join();
}

}  // namespace luna::fake
