#include "gateway/http/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "common/env_config.h"
#include "gateway/api/errors.h"

namespace luna::gateway {

using asio::as_tuple;
using asio::use_awaitable;

namespace {
// SEND_TIMEOUT_SECONDS, for WriteResponse (a free function the handlers share); set by Create.
std::atomic<int> g_send_timeout_s{60};
}  // namespace

Awaitable<bool> WriteResponse(beast::tcp_stream& stream, unsigned version, int status, std::string body,
                              bool keep_alive, std::string_view content_type,
                              const HeaderList& extra_headers) {
  http::response<http::string_body> res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, content_type);
  for (const auto& [k, v] : extra_headers) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  stream.expires_after(std::chrono::seconds(g_send_timeout_s.load(std::memory_order_relaxed)));
  auto [ec, n] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
  (void)n;
  co_return !ec;
}

Awaitable<bool> WriteResponse(beast::tcp_stream& stream, const Request& req, int status, std::string body,
                              bool keep_alive, std::string_view content_type, const HeaderList& extra_headers) {
  if (req.method() != http::verb::head) {
    bool ok = co_await WriteResponse(stream, req.version(), status, std::move(body), keep_alive, content_type,
                                     extra_headers);
    co_return ok && keep_alive;
  }
  http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
  res.set(http::field::content_type, content_type);
  for (const auto& [k, v] : extra_headers) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  http::response_serializer<http::string_body> sr{res};
  stream.expires_after(std::chrono::seconds(g_send_timeout_s.load(std::memory_order_relaxed)));
  auto [ec, n] = co_await http::async_write_header(stream, sr, as_tuple(use_awaitable));
  (void)n;
  co_return !ec && keep_alive;
}

namespace {

constexpr size_t kIdleBufferBytes = 16 * 1024;

// The API a request speaks, from its request line as received: for the answer to a request whose
// head could not be parsed (too large, malformed, too slow), still in the caller's own format.
ApiFlavor FlavorOfRawRequest(const beast::flat_buffer& buffer) {
  std::string_view raw(static_cast<const char*>(buffer.data().data()), buffer.size());
  raw = raw.substr(0, raw.find_first_of("\r\n"));
  auto sp = raw.find(' ');
  if (sp == std::string_view::npos) return ApiFlavor::kGeneric;
  std::string_view target = raw.substr(sp + 1);
  return FlavorForPath(target.substr(0, target.find(' ')));
}

std::string TooLargeMessage(int64_t limit) {
  std::string message = "Request body too large (limit ";
  message += std::to_string(limit);
  message += " bytes)";
  return message;
}

// One client connection. Lives as long as its coroutine (and its deadline's pending wait).
struct Session {
  explicit Session(tcp::socket s) : stream(std::move(s)), deadline(stream.get_executor()) {}
  beast::tcp_stream stream;
  // The deadline of the read in progress (idle wait, headers, body). Beast's own stream timeout
  // closes the socket when it passes; this one only cancels the read, so a slow client can still be
  // answered 408. Touched only on the connection's own thread.
  //
  // The timer is re-armed lazily: a request moves the deadline three times (headers, body, idle), and
  // cancelling and re-queueing a timer wait each time cost more than the rest of a small request's
  // bookkeeping. Instead `deadline_at` moves, and the timer is only re-armed when the new deadline is
  // earlier than its expiry; when it fires early it waits again until `deadline_at`.
  asio::steady_timer deadline;
  std::chrono::steady_clock::time_point deadline_at = std::chrono::steady_clock::time_point::max();
  bool timer_waiting = false;
  bool timed_out = false;
  std::atomic<bool> busy{false};  // read by Shutdown from another thread
};

void WaitDeadline(const std::shared_ptr<Session>& s, std::chrono::steady_clock::time_point at) {
  s->deadline.expires_at(at);
  s->timer_waiting = true;
  s->deadline.async_wait([s](beast::error_code ec) {
    if (ec) return;  // re-armed (a new wait is queued) or cancelled at the session's end
    s->timer_waiting = false;
    if (s->deadline_at == std::chrono::steady_clock::time_point::max()) return;  // disarmed
    if (std::chrono::steady_clock::now() < s->deadline_at) {
      WaitDeadline(s, s->deadline_at);  // the deadline moved on since the timer was armed
      return;
    }
    s->timed_out = true;
    beast::error_code ignored;
    s->stream.socket().cancel(ignored);
  });
}

// Starts `d` for the next read on `s`: when it passes, that read completes with operation_aborted and
// s->timed_out is set.
void ArmDeadline(const std::shared_ptr<Session>& s, std::chrono::seconds d) {
  s->stream.expires_never();  // (a write's timeout must not linger over the read)
  s->timed_out = false;
  s->deadline_at = std::chrono::steady_clock::now() + d;
  if (!s->timer_waiting || s->deadline.expiry() > s->deadline_at) WaitDeadline(s, s->deadline_at);
}

void DisarmDeadline(const std::shared_ptr<Session>& s) {
  s->deadline_at = std::chrono::steady_clock::time_point::max();
}

// At the session's end: the pending wait goes now, and with it its hold on the session.
void StopDeadline(const std::shared_ptr<Session>& s) {
  DisarmDeadline(s);
  s->deadline.cancel();
}

}  // namespace

struct HttpServer::Impl {
  std::shared_ptr<const GatewayConfig> config;
  ServerStats own_stats;
  ServerStats* stats = nullptr;
  // One single-threaded io_context per thread (threads > 0 set in Create): a connection lives on one
  // of them, so its handlers never run concurrently and need no strand; the acceptor lives on the first.
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  size_t next_ioc = 0;
  std::optional<tcp::acceptor> acceptor;
  std::unique_ptr<Router> router;
  std::vector<std::thread> threads;
  std::mutex sessions_mu;
  std::unordered_set<std::shared_ptr<Session>> sessions;
  std::atomic<bool> stopped{false};

  Awaitable<void> Accept();
  Awaitable<void> Serve(std::shared_ptr<Session> s);
  static void SetBusy(const std::shared_ptr<Session>& s, bool busy) { s->busy.store(busy); }
};

Awaitable<void> HttpServer::Impl::Accept() {
  while (!stats->stopping.load()) {
    // Connections are dealt to the threads' contexts in turn.
    asio::io_context& home = *iocs[next_ioc++ % iocs.size()];
    auto [ec, sock] = co_await acceptor->async_accept(home, as_tuple(use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || stats->stopping.load()) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      // Out of file descriptors and the like: back off briefly instead of spinning.
      asio::steady_timer t(*iocs[0], std::chrono::milliseconds(50));
      co_await t.async_wait(as_tuple(use_awaitable));
      continue;
    }
    sock.set_option(tcp::no_delay(true));
    auto s = std::make_shared<Session>(std::move(sock));
    {
      std::lock_guard lock(sessions_mu);
      sessions.insert(s);
    }
    stats->open_connections.fetch_add(1);
    auto ex = s->stream.get_executor();
    asio::co_spawn(ex, Serve(s), [this, s](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("session ended with an exception: {}", ex.what());
        }
      }
      stats->open_connections.fetch_sub(1);
      std::lock_guard lock(sessions_mu);
      sessions.erase(s);
    });
  }
}

Awaitable<void> HttpServer::Impl::Serve(std::shared_ptr<Session> s) {
  const auto& cfg = *config;
  auto& stream = s->stream;
  beast::flat_buffer buffer;
  if (stats->open_connections.load() > cfg.max_connections) {
    co_await WriteResponse(stream, 11, 503, ErrorBody(ApiFlavor::kGeneric, 503, "Too many connections"), false,
                           "application/json", OneHeader("retry-after", "1"));
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return;
  }
  bool first = true;
  while (!stats->stopping.load()) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(cfg.max_header_bytes));
    parser.body_limit(static_cast<std::uint64_t>(cfg.max_body_bytes));
    if (!first && buffer.size() == 0) {
      // Keep-alive: the next request may take IDLE_TIMEOUT_SECONDS to begin; from its first byte its
      // headers get HEADER_TIMEOUT_SECONDS (a client trickling them is cut off then).
      ArmDeadline(s, std::chrono::seconds(cfg.idle_timeout_s));
      auto [iec, in] = co_await stream.async_read_some(buffer.prepare(beast::read_size(buffer, 65536)),
                                                       as_tuple(use_awaitable));
      if (iec) break;
      buffer.commit(in);
    }
    // A new connection gets HEADER_TIMEOUT_SECONDS from its accept to its headers' end.
    ArmDeadline(s, std::chrono::seconds(cfg.header_timeout_s));
    first = false;
    // What the read above brought is parsed here; only a head that is not all in yet is read for.
    beast::error_code hec = ParseBuffered(parser, buffer, true);
    if (!hec && !parser.is_header_done()) {
      auto [rec, rn] = co_await http::async_read_header(stream, buffer, parser, as_tuple(use_awaitable));
      (void)rn;
      hec = rec;
    }
    if (hec && s->timed_out) hec = beast::error::timeout;
    if (hec) {
      // The parser has the request line unless the head failed before it (then: the raw bytes).
      std::string_view parsed_target(parser.get().target().data(), parser.get().target().size());
      ApiFlavor raw_flavor = parsed_target.empty() ? FlavorOfRawRequest(buffer) : FlavorForPath(parsed_target);
      if (hec == http::error::header_limit) {
        co_await WriteResponse(stream, 11, 431, ErrorBody(raw_flavor, 431, "Request headers too large"), false);
      } else if (hec == http::error::body_limit) {
        co_await WriteResponse(stream, 11, 413, ErrorBody(raw_flavor, 413, TooLargeMessage(cfg.max_body_bytes)),
                               false);
      } else if (hec == beast::error::timeout) {
        // Part of a request came, not all of its headers: tell the (slow) client; a connection that
        // sent nothing is just closed.
        if (buffer.size() > 0) {
          co_await WriteResponse(stream, 11, 408, ErrorBody(raw_flavor, 408, "Request headers not received in time"),
                                 false);
        }
      } else if (hec != http::error::end_of_stream && hec != asio::error::operation_aborted &&
                 hec != asio::error::connection_reset && hec != asio::error::eof) {
        co_await WriteResponse(stream, 11, 400, ErrorBody(raw_flavor, 400, "Bad request: " + hec.message()), false);
      }
      break;
    }
    SetBusy(s, true);
    auto& hdr = parser.get();
    std::string target(hdr.target());
    ApiFlavor flavor = FlavorForPath(target);
    if (auto len = parser.content_length(); len && *len > static_cast<uint64_t>(cfg.max_body_bytes)) {
      co_await WriteResponse(stream, hdr.version(), 413, ErrorBody(flavor, 413, TooLargeMessage(cfg.max_body_bytes)),
                             false);
      break;
    }
    if (beast::iequals(hdr[http::field::expect], "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, hdr.version()};
      auto [cec, cn] = co_await http::async_write(stream, cont, as_tuple(use_awaitable));
      (void)cn;
      if (cec) break;
    }
    ArmDeadline(s, std::chrono::seconds(cfg.request_timeout_s));
    // Room for the whole body at once: agent requests are 36-60 KB, and read in the buffer's default
    // steps they cost a dozen reads (each arming the timeout timer) instead of one or two.
    if (auto len = parser.content_length(); len && *len > buffer.capacity() - buffer.size()) {
      buffer.reserve(buffer.size() + static_cast<size_t>(*len));
    }
    beast::error_code bec = ParseBuffered(parser, buffer, false);
    if (!bec && !parser.is_done()) {
      auto [rec, rn] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
      (void)rn;
      bec = rec;
    }
    DisarmDeadline(s);
    if (bec && s->timed_out) bec = beast::error::timeout;
    if (bec) {
      if (bec == http::error::body_limit) {
        co_await WriteResponse(stream, hdr.version(), 413,
                               ErrorBody(flavor, 413, TooLargeMessage(cfg.max_body_bytes)), false);
      } else if (bec == beast::error::timeout) {
        co_await WriteResponse(stream, hdr.version(), 408,
                               ErrorBody(flavor, 408, "Request body not received in time"), false);
      } else if (bec != http::error::end_of_stream && bec != asio::error::connection_reset &&
                 bec != asio::error::eof && bec != asio::error::operation_aborted) {
        co_await WriteResponse(stream, hdr.version(), 400, ErrorBody(flavor, 400, "Bad request: " + bec.message()),
                               false);
      }
      break;
    }
    Request req = parser.release();
    bool keep = co_await router->Handle(req, stream);
    SetBusy(s, false);
    // An idle keep-alive connection keeps no large buffer (thousands of idle agents' connections).
    if (buffer.size() == 0 && buffer.capacity() > kIdleBufferBytes) buffer.shrink_to_fit();
    if (!keep) break;
  }
  StopDeadline(s);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.socket().close(ignored);
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(RouterDeps deps) {
  auto impl = std::make_unique<Impl>();
  impl->config = deps.config;
  g_send_timeout_s.store(impl->config->send_timeout_s);
  impl->stats = deps.stats != nullptr ? deps.stats : &impl->own_stats;
  deps.stats = impl->stats;
  auto hp = ParseHostPort(impl->config->listen, "GATEWAY_LISTEN");
  if (!hp.ok()) return hp.status();
  beast::error_code ec;
  auto addr = asio::ip::make_address(hp->host, ec);
  if (ec) return absl::InvalidArgumentError("GATEWAY_LISTEN: bad address \"" + hp->host + "\"");
  tcp::endpoint ep(addr, hp->port);
  int threads = std::max(1, impl->config->threads);
  for (int i = 0; i < threads; ++i) impl->iocs.push_back(std::make_unique<asio::io_context>(1));
  impl->acceptor.emplace(*impl->iocs[0]);
  auto& acceptor = *impl->acceptor;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError("cannot listen on " + impl->config->listen + ": " + ec.message());
  impl->router = std::make_unique<Router>(std::move(deps));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->acceptor->local_endpoint().port(); }

void HttpServer::Start() {
  asio::co_spawn(*impl_->iocs[0], impl_->Accept(), asio::detached);
  for (auto& ioc : impl_->iocs) {
    asio::io_context* c = ioc.get();
    impl_->threads.emplace_back([c] {
      // Keep running while connections come and go; Shutdown stops the context.
      auto guard = asio::make_work_guard(*c);
      c->run();
    });
  }
}

void HttpServer::Shutdown() {
  auto& m = *impl_;
  if (m.stopped.exchange(true)) return;
  m.stats->stopping.store(true);
  asio::post(*m.iocs[0], [&m] {
    beast::error_code ec;
    m.acceptor->close(ec);
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(m.config->shutdown_grace_s);
  // Close idle keep-alive connections now; busy ones close after their current answer.
  while (true) {
    size_t busy = 0;
    {
      std::lock_guard lock(m.sessions_mu);
      for (const auto& s : m.sessions) {
        if (s->busy) {
          ++busy;
          continue;
        }
        asio::post(s->stream.get_executor(), [s] { s->stream.cancel(); });
      }
      if (m.sessions.empty()) break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      spdlog::warn("shutdown grace period over: cancelling {} in-flight requests", busy);
      std::lock_guard lock(m.sessions_mu);
      for (const auto& s : m.sessions) {
        asio::post(s->stream.get_executor(), [s] {
          beast::error_code ec;
          s->stream.socket().close(ec);
        });
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Give cancelled sessions a moment to unwind, then stop the loop.
  for (int i = 0; i < 50; ++i) {
    {
      std::lock_guard lock(m.sessions_mu);
      if (m.sessions.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& ioc : m.iocs) ioc->stop();
  for (auto& t : m.threads) {
    if (t.joinable()) t.join();
  }
}

}  // namespace luna::gateway
