#include "gateway/upstream/upstream_client.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <span>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>

namespace luna::gateway {

namespace ssl = boost::asio::ssl;
using asio::as_tuple;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

struct UpstreamClient::Conn {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  // Body relay buffer, allocated once per connection (not zeroed): a fresh 64 KiB buffer per request
  // cost more than the rest of the relay, in memset and page faults.
  static constexpr size_t kRelayBufferSize = 64 * 1024;
  std::unique_ptr<char[]> relay_buf{new char[kRelayBufferSize]};
  Clock::time_point idle_since;

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

namespace {

std::string PoolKey(const Url& u) { return (u.tls ? "https://" : "http://") + u.host + ":" + std::to_string(u.port); }

// Idle pooled connections older than this are not reused: upstreams close idle keep-alive
// connections after some seconds, and a write into a half-closed one costs a retry.
constexpr auto kMaxIdle = std::chrono::seconds(30);

constexpr size_t kReadBufferBytes = 16 * 1024;

bool IsHopByHop(http::field f, std::string_view name) {
  switch (f) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_authenticate:
    case http::field::proxy_authorization:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::content_length:
      return true;
    default:
      return beast::iequals(name, "proxy-connection");
  }
}

// Reads the next piece of an answer's body into `buf`; returns how many bytes arrived, or the error.
template <class Stream>
Awaitable<std::pair<beast::error_code, size_t>> ReadBodyPiece(Stream& up, beast::tcp_stream& up_tcp,
                                                               beast::flat_buffer& up_buf,
                                                               http::response_parser<http::buffer_body>& p,
                                                               char* buf, const size_t& buf_size,
                                                               const GatewayConfig& cfg) {
  p.get().body().data = buf;
  p.get().body().size = buf_size;
  if (up_buf.size() > 0) {  // body bytes that came with the head or the last piece: no read needed
    beast::error_code ec = ParseBuffered(p, up_buf, false);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return std::pair<beast::error_code, size_t>{ec, 0};
    const size_t got = buf_size - p.get().body().size;
    if (got > 0 || p.is_done()) co_return std::pair<beast::error_code, size_t>{ec, got};
  }
  up_tcp.expires_after(std::chrono::seconds(cfg.upstream_timeout_s));
  auto [ec, n] = co_await http::async_read_some(up, up_buf, p, as_tuple(use_awaitable));
  (void)n;
  if (ec == http::error::need_buffer) ec = {};
  co_return std::pair<beast::error_code, size_t>{ec, ec ? 0 : buf_size - p.get().body().size};
}

// Reads the rest of an answer the caller holds back from the client.
template <class Stream>
Awaitable<bool> ReadHeldBody(Stream& up, beast::tcp_stream& up_tcp, beast::flat_buffer& up_buf,
                             http::response_parser<http::buffer_body>& p, char* buf, const size_t& buf_size,
                             const GatewayConfig& cfg, const size_t& limit, RelayResult& r) {
  while (!p.is_done()) {
    auto [rec, got] = co_await ReadBodyPiece(up, up_tcp, up_buf, p, buf, buf_size, cfg);
    if (rec) {
      r.outcome = rec == beast::error::timeout ? RelayResult::Outcome::kTimeout : RelayResult::Outcome::kConnectFailed;
      r.error = "reading upstream answer: " + rec.message();
      co_return false;
    }
    if (r.held_body.size() + got > limit) {
      r.outcome = RelayResult::Outcome::kConnectFailed;
      r.error = "upstream answer larger than " + std::to_string(limit) + " bytes";
      co_return false;
    }
    r.held_body.append(buf, got);
  }
  r.body_bytes = static_cast<int64_t>(r.held_body.size());
  co_return true;
}

// The request's head as sent upstream: request line and fields, in the order they are held. Beast's
// serializer walks a chain of buffer views per field; framing the head into one string and sending it
// gathered with the body costs a fraction of that (and one send either way).
void FrameRequestHead(const Request& req, std::string& head) {
  head.clear();
  head.reserve(512);
  std::string_view method(req.method_string().data(), req.method_string().size());
  head.append(method).append(" ");
  head.append(req.target().data(), req.target().size());
  head += " HTTP/1.1\r\n";
  for (const auto& f : req) {
    head.append(f.name_string().data(), f.name_string().size());
    head += ": ";
    head.append(f.value().data(), f.value().size());
    head += "\r\n";
  }
  head += "\r\n";
}

// Whether `name` is one of `headers`' names (ASCII case-insensitive).
bool Overridden(std::string_view name, const HeaderList* headers) {
  if (headers == nullptr) return false;
  for (const auto& [k, v] : *headers) {
    if (beast::iequals(name, k)) return true;
  }
  return false;
}

// One non-blocking gathered send of bufs[0, n) (at most 5); what the kernel does not take at once goes
// through the event loop as an asynchronous write, under a deadline of `timeout_s` (0: the stream's
// deadline as it stands). A send taken whole costs no trip through the event loop, no coroutine
// suspension and no timer: an asynchronous write that completes at once is still posted, and at low
// load each such trip is a poll of the reactor (a system call) more.
Awaitable<beast::error_code> SendGathered(beast::tcp_stream& s, asio::const_buffer* bufs, size_t n, int timeout_s) {
  std::array<iovec, 5> iov;
  for (size_t i = 0; i < n; ++i) {
    iov[i].iov_base = const_cast<void*>(bufs[i].data());
    iov[i].iov_len = bufs[i].size();
  }
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = n;
  size_t skip = 0;
  while (true) {
    ssize_t r = ::sendmsg(s.socket().native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r >= 0) {
      skip = static_cast<size_t>(r);
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    co_return beast::error_code(errno, boost::system::system_category());
  }
  size_t first = 0;
  while (first < n && skip >= bufs[first].size()) skip -= bufs[first++].size();
  if (first == n) co_return beast::error_code{};
  bufs[first] += skip;
  if (timeout_s > 0) s.expires_after(std::chrono::seconds(timeout_s));
  auto [ec, written] =
      co_await asio::async_write(s, std::span<const asio::const_buffer>(bufs + first, n - first), as_tuple(use_awaitable));
  (void)written;
  co_return ec;
}

// Writes the relayed answer to the client with its own HTTP/1.1 framing instead of Beast's
// serializer: the head goes out together with the first piece of the body (one send for a whole small
// answer instead of three), and each piece relayed (an SSE event, or the events that arrived in one
// read) costs one gathered write of [size line, bytes, CRLF].
class ClientWriter {
 public:
  ClientWriter(beast::tcp_stream& client, const GatewayConfig& cfg) : client_(client), cfg_(cfg) {}

  // The answer's head: the upstream's status line and fields without the hop-by-hop ones and those
  // `extra` replaces, then the framing (`framing`: a Content-Length or Transfer-Encoding line, or
  // empty), `extra`, and Connection: close unless the client connection is kept. Sent with the next
  // Write. Built straight from the parsed upstream head: no second Beast field list per answer.
  void SetHead(const http::response_header<>& up, std::string_view framing, bool chunked, const HeaderList* extra,
               bool keep_alive) {
    chunked_ = chunked;
    head_.clear();
    head_.reserve(512);
    head_ += "HTTP/1.1 ";
    char status[8];
    auto [status_end, status_ec] = std::to_chars(status, status + sizeof status, up.result_int());
    (void)status_ec;  // a status has at most 3 digits
    head_.append(status, status_end);
    head_ += ' ';
    std::string_view reason(up.reason().data(), up.reason().size());
    if (reason.empty()) {
      auto r = http::obsolete_reason(up.result());
      reason = std::string_view(r.data(), r.size());
    }
    head_ += reason;
    head_ += "\r\n";
    for (const auto& f : up) {
      std::string_view name(f.name_string().data(), f.name_string().size());
      if (IsHopByHop(f.name(), name) || Overridden(name, extra)) continue;
      AddField(name, std::string_view(f.value().data(), f.value().size()));
    }
    head_ += framing;
    if (extra != nullptr) {
      for (const auto& [k, v] : *extra) AddField(k, v);
    }
    if (!keep_alive) head_ += "Connection: close\r\n";
    head_ += "\r\n";
    head_pending_ = true;
  }
  bool head_pending() const { return head_pending_; }

  // Sends the pending head (if any), `piece` (framed as a chunk when chunked) and, if `final`, the
  // chunked body's terminator — in one gathered write.
  Awaitable<beast::error_code> Write(std::string_view piece, bool final) {
    std::array<asio::const_buffer, 5> bufs;
    size_t n = 0;
    if (head_pending_) bufs[n++] = asio::buffer(head_);
    char size_line[24];
    if (!piece.empty()) {
      if (chunked_) {
        // The chunk size in hex; snprintf's format parsing was about 2.5% of a relayed event's instructions.
        char* end = std::to_chars(size_line, size_line + sizeof size_line - 2, piece.size(), 16).ptr;
        *end++ = '\r';
        *end++ = '\n';
        bufs[n++] = asio::buffer(size_line, static_cast<size_t>(end - size_line));
        bufs[n++] = asio::buffer(piece.data(), piece.size());
        bufs[n++] = asio::buffer("\r\n", 2);
      } else {
        bufs[n++] = asio::buffer(piece.data(), piece.size());
      }
    }
    if (final && chunked_) bufs[n++] = asio::buffer("0\r\n\r\n", 5);
    if (n == 0) co_return beast::error_code{};
    head_pending_ = false;
    // Nearly always the kernel takes the whole piece at once (the client reads as it goes): send it
    // straight away, without a trip through the event loop, a coroutine suspension and a deadline
    // timer set and cancelled for every relayed event. Only what the kernel leaves goes the long way.
    // A client that stops reading its answer is dropped after SEND_TIMEOUT_SECONDS, which frees
    // the upstream connection too.
    co_return co_await SendGathered(client_, bufs.data(), n, cfg_.send_timeout_s);
  }

 private:
  void AddField(std::string_view name, std::string_view value) {
    head_.append(name).append(": ").append(value).append("\r\n");
  }

  beast::tcp_stream& client_;
  const GatewayConfig& cfg_;
  std::string head_;
  bool head_pending_ = false;
  bool chunked_ = false;
};

template <class Stream>
Awaitable<RelayResult> Relay(Stream& up, beast::tcp_stream& up_tcp, beast::flat_buffer& up_buf, char* buf,
                             size_t buf_size, Request& req,
                             beast::tcp_stream& client, bool keep_alive, const GatewayConfig& cfg, bool reused,
                             const RelayOptions& options, bool* retryable, bool* upstream_reusable) {
  RelayObserver* observer = options.observer;
  const auto* before_complete = options.before_complete;
  RelayResult r;
  *retryable = false;
  *upstream_reusable = false;
  auto t0 = Clock::now();
  up_tcp.expires_after(std::chrono::seconds(options.first_byte_timeout_s > 0 ? options.first_byte_timeout_s
                                                                             : cfg.upstream_timeout_s));
  std::string head;
  FrameRequestHead(req, head);
  std::array<asio::const_buffer, 2> request_bufs{asio::buffer(head), asio::buffer(req.body())};
  beast::error_code wec;
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
    wec = co_await SendGathered(up, request_bufs.data(), request_bufs.size(), 0);  // under the deadline set above
  } else {
    auto [tec, tn] = co_await asio::async_write(up, request_bufs, as_tuple(use_awaitable));
    (void)tn;
    wec = tec;
  }
  if (wec) {
    *retryable = reused;
    r.outcome = wec == beast::error::timeout ? RelayResult::Outcome::kTimeout : RelayResult::Outcome::kConnectFailed;
    r.error = "writing to upstream: " + wec.message();
    co_return r;
  }
  http::response_parser<http::buffer_body> p;
  p.body_limit(boost::none);
  if (req.method() == http::verb::head) p.skip(true);
  auto [hec, hn] = co_await http::async_read_header(up, up_buf, p, as_tuple(use_awaitable));
  (void)hn;
  if (hec) {
    // A reused connection the upstream closed while idle fails with EOF/reset before any byte:
    // safe to send again on a fresh connection.
    *retryable = reused && (hec == http::error::end_of_stream || hec == asio::error::connection_reset ||
                            hec == asio::error::eof);
    r.outcome = hec == beast::error::timeout ? RelayResult::Outcome::kTimeout : RelayResult::Outcome::kConnectFailed;
    r.error = "reading upstream response: " + hec.message();
    co_return r;
  }
  r.upstream_first_byte_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
  auto& uh = p.get();
  r.status = static_cast<int>(uh.result_int());
  if (options.commit != nullptr && *options.commit && !(*options.commit)(r.status)) {
    for (const auto& f : uh) {
      if (IsHopByHop(f.name(), f.name_string())) continue;
      if (f.name() == http::field::content_type) {
        r.held_content_type = std::string(f.value());
        continue;
      }
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      r.held_headers.emplace_back(std::move(name), std::string(f.value()));
    }
    if (req.method() != http::verb::head &&
        !co_await ReadHeldBody(up, up_tcp, up_buf, p, buf, buf_size, cfg, options.held_body_limit, r)) {
      co_return r;
    }
    r.outcome = RelayResult::Outcome::kHeld;
    *upstream_reusable = p.keep_alive();
    co_return r;
  }
  bool rewrite = false;
  if (observer != nullptr) {
    auto ct = uh.find(http::field::content_type);
    observer->OnResponseHead(r.status, ct == uh.end() ? std::string_view() : std::string_view(ct->value().data(), ct->value().size()));
    rewrite = observer->RewritesBody();
  }

  bool has_body = !p.is_done() || (uh.has_content_length() && *p.content_length() > 0);
  std::string framing;
  bool chunked = false;
  if (req.method() == http::verb::head || r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200)) {
    if (auto cl = uh.find(http::field::content_length); cl != uh.end()) {
      framing.append("Content-Length: ").append(cl->value().data(), cl->value().size()).append("\r\n");
    }
    has_body = false;
  } else if (auto len = p.content_length(); len && !rewrite) {
    framing = "Content-Length: " + std::to_string(*len) + "\r\n";
  } else if (has_body || rewrite) {
    framing = "Transfer-Encoding: chunked\r\n";
    chunked = true;
  } else {
    framing = "Content-Length: 0\r\n";
  }

  ClientWriter out_writer(client, cfg);
  out_writer.SetHead(uh, framing, chunked, options.extra_headers, keep_alive);
  // The head waits for the first piece of the body only when that piece is already here (a small
  // answer read whole with its head); otherwise it goes now, so a stream's head is never held back.
  if (up_buf.size() == 0 && !p.is_done()) {
    auto hwec = co_await out_writer.Write({}, false);
    if (hwec) {
      if (observer != nullptr) observer->OnEnd(false);
      r.outcome = RelayResult::Outcome::kClientGone;
      r.error = "writing to client: " + hwec.message();
      co_return r;
    }
  }

  bool ended = false;
  while (has_body && !p.is_done()) {
    auto [rec, got] = co_await ReadBodyPiece(up, up_tcp, up_buf, p, buf, buf_size, cfg);
    if (rec) {
      r.outcome = RelayResult::Outcome::kUpstreamCut;
      r.error = "upstream broke off the answer: " + rec.message();
      std::string_view tail = observer != nullptr ? observer->OnEnd(false) : std::string_view();
      if (!tail.empty()) {
        // The observer ends the body itself (a converted stream's error event): send it as a
        // well-formed end so the client reads the error rather than a broken transfer.
        co_await out_writer.Write(tail, true);
      } else if (out_writer.head_pending()) {
        co_await out_writer.Write({}, false);  // the client sees the cut after the head
      }
      co_return r;  // the client connection is closed by the caller
    }
    bool last = p.is_done();
    r.body_bytes += static_cast<int64_t>(got);
    std::string_view out(buf, got);
    if (observer != nullptr && got > 0) out = observer->OnBody(out);
    std::string joined;
    if (last) {
      // Everything has arrived: settle what depends on the whole answer before the client can see
      // its end.
      if (observer != nullptr) {
        std::string_view tail = observer->OnEnd(true);
        if (!tail.empty()) {
          joined.reserve(out.size() + tail.size());
          joined.append(out).append(tail);
          out = joined;
        }
      }
      ended = true;
      if (before_complete != nullptr && *before_complete) co_await (*before_complete)();
    }
    if (out.empty() && !last) continue;
    auto cec = co_await out_writer.Write(out, last);
    if (cec) {
      r.outcome = RelayResult::Outcome::kClientGone;
      r.error = "writing to client: " + cec.message();
      if (observer != nullptr) observer->OnEnd(false);
      co_return r;  // the upstream connection is dropped, which cancels the upstream request
    }
    if (last) break;
  }
  if (!ended) {
    // No body (or it ended before the loop): the observer's tail and the terminator still go.
    std::string_view tail;
    if (observer != nullptr) tail = observer->OnEnd(true);
    if (before_complete != nullptr && *before_complete) co_await (*before_complete)();
    auto tec = co_await out_writer.Write(tail, has_body || rewrite);
    if (tec) {
      r.outcome = RelayResult::Outcome::kClientGone;
      r.error = "writing to client: " + tec.message();
      co_return r;
    }
  }
  r.outcome = RelayResult::Outcome::kRelayed;
  r.client_keep_alive = keep_alive;
  *upstream_reusable = p.keep_alive();
  co_return r;
}

}  // namespace

UpstreamClient::UpstreamClient(std::shared_ptr<const GatewayConfig> config)
    : config_(std::move(config)), ssl_ctx_(std::make_unique<ssl::context>(ssl::context::tls_client)) {
  ssl_ctx_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (config_->upstream_tls_verify) {
    ssl_ctx_->set_verify_mode(ssl::verify_peer);
    if (!config_->upstream_ca_file.empty()) {
      ssl_ctx_->load_verify_file(config_->upstream_ca_file);
    } else {
      ssl_ctx_->set_default_verify_paths();
    }
  } else {
    ssl_ctx_->set_verify_mode(ssl::verify_none);
  }
}

UpstreamClient::~UpstreamClient() = default;

void UpstreamClient::CloseIdle() {
  std::lock_guard lock(mu_);
  idle_.clear();
}

std::unique_ptr<UpstreamClient::Conn> UpstreamClient::TakeIdle(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& v = it->second;
  auto now = Clock::now();
  while (!v.empty()) {
    auto c = std::move(v.back());
    v.pop_back();
    if (now - c->idle_since < kMaxIdle && c->tcp().socket().is_open()) return c;
  }
  return nullptr;
}

void UpstreamClient::GiveBack(const std::string& key, std::unique_ptr<Conn> conn) {
  conn->idle_since = Clock::now();
  conn->tcp().expires_never();
  std::lock_guard lock(mu_);
  auto& v = idle_[key];
  if (static_cast<int>(v.size()) < config_->upstream_max_idle_per_host) v.push_back(std::move(conn));
}

Awaitable<std::unique_ptr<UpstreamClient::Conn>> UpstreamClient::Connect(const Url& url, std::string* error,
                                                                         bool* timed_out) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<tcp::endpoint> endpoints;
  beast::error_code aec;
  // An address needs no resolver (whose getaddrinfo runs on a thread of its own, a hop each way).
  auto literal = asio::ip::make_address(url.host, aec);
  if (!aec) {
    endpoints.emplace_back(literal, url.port);
  } else {
    tcp::resolver resolver(ex);
    auto [rec, results] =
        co_await resolver.async_resolve(url.host, std::to_string(url.port), as_tuple(use_awaitable));
    if (rec) {
      *error = "cannot resolve " + url.host + ": " + rec.message();
      co_return nullptr;
    }
    for (const auto& e : results) endpoints.push_back(e.endpoint());
  }
  auto conn = std::make_unique<Conn>();
  // Read the answer in pieces of up to 16 KiB: Beast's default first read is 512 bytes, which cut SSE
  // events into fragments (more reads, more client writes, events split across chunks).
  conn->buffer.reserve(kReadBufferBytes);
  if (url.tls) {
    conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, *ssl_ctx_);
  } else {
    conn->plain = std::make_unique<beast::tcp_stream>(ex);
  }
  auto& tcp_stream = conn->tcp();
  tcp_stream.expires_after(std::chrono::milliseconds(config_->upstream_connect_timeout_ms));
  auto [cec, ep] = co_await tcp_stream.async_connect(endpoints, as_tuple(use_awaitable));
  (void)ep;
  if (cec) {
    *timed_out = cec == beast::error::timeout;
    *error = "cannot connect to " + url.host + ":" + std::to_string(url.port) + ": " + cec.message();
    co_return nullptr;
  }
  tcp_stream.socket().set_option(tcp::no_delay(true));
  if (url.tls) {
    if (!SSL_set_tlsext_host_name(conn->tls->native_handle(), url.host.c_str())) {
      *error = "cannot set TLS server name for " + url.host;
      co_return nullptr;
    }
    if (config_->upstream_tls_verify) conn->tls->set_verify_callback(ssl::host_name_verification(url.host));
    auto [hec] = co_await conn->tls->async_handshake(ssl::stream_base::client, as_tuple(use_awaitable));
    if (hec) {
      *timed_out = hec == beast::error::timeout;
      *error = "TLS handshake with " + url.host + " failed: " + hec.message();
      co_return nullptr;
    }
  }
  co_return conn;
}

Awaitable<RelayResult> UpstreamClient::Forward(const Url& url, Request& req, beast::tcp_stream& client,
                                               bool keep_alive, const RelayOptions& options) {
  // Pooled per event loop: a connection is reused only on the loop (thread) whose reactor it is
  // registered with, so no strand is needed around it.
  auto& loop = asio::query(co_await asio::this_coro::executor, asio::execution::context);
  const std::string key = PoolKey(url) + "#" + std::to_string(reinterpret_cast<uintptr_t>(&loop));
  req.version(11);
  req.keep_alive(true);
  req.prepare_payload();
  RelayResult last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto conn = TakeIdle(key);
    bool reused = conn != nullptr;
    if (!conn) {
      std::string error;
      bool timed_out = false;
      conn = co_await Connect(url, &error, &timed_out);
      if (!conn) {
        last.outcome = timed_out ? RelayResult::Outcome::kTimeout : RelayResult::Outcome::kConnectFailed;
        last.error = error;
        co_return last;
      }
    }
    bool retryable = false;
    bool reusable = false;
    if (conn->tls) {
      last = co_await Relay(*conn->tls, conn->tcp(), conn->buffer, conn->relay_buf.get(), Conn::kRelayBufferSize, req, client, keep_alive, *config_, reused,
                            options, &retryable, &reusable);
    } else {
      last = co_await Relay(*conn->plain, *conn->plain, conn->buffer, conn->relay_buf.get(), Conn::kRelayBufferSize, req, client, keep_alive, *config_, reused,
                            options, &retryable, &reusable);
    }
    if ((last.outcome == RelayResult::Outcome::kRelayed || last.outcome == RelayResult::Outcome::kHeld) && reusable) {
      GiveBack(key, std::move(conn));
    }
    if (!retryable) co_return last;
    spdlog::debug("rid={} pooled upstream connection was stale ({}); retrying on a new one",
                  std::string_view(req["x-request-id"].data(), req["x-request-id"].size()), last.error);
  }
  co_return last;
}

}  // namespace luna::gateway
