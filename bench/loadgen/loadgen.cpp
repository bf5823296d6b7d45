// loadgen: an open-loop HTTP/1.1 load generator for bench/run.sh.
//
//   loadgen --port P --body FILE [--host 127.0.0.1] [--path /v1/messages] [--header 'name: value']...
//           [--rate 1000] [--duration 10] [--warmup 1] [--connections 16] [--max-connections 256]
//           [--drain 5] [--sse] [--expect-events N]
//   loadgen body --model M --bytes N [--stream]      (prints a request body, see MakeBody)
//
// Requests are sent on a fixed schedule (request i at start + i/rate) whatever the answers do: a
// request whose slot comes while every connection is busy opens another keep-alive connection (up to
// --max-connections), else waits in a queue. Latency is measured from the SCHEDULED send time, so a
// slow answer delays the measurement of the requests behind it instead of hiding them (no
// coordinated omission). Requests scheduled during --warmup are sent but not measured.
//
// Responses are parsed far enough for keep-alive: status line, Content-Length or chunked bodies,
// Connection: close. With --sse the decoded body is scanned for Server-Sent Events (a blank line ends
// an event) and the time to the first byte of the answer, to the first complete event and between
// consecutive events is recorded.
//
// Prints one JSON object on stdout; progress and errors go to stderr. Plain POSIX sockets + epoll,
// one thread.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

int64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "loadgen: %s\n", message.c_str());
  std::exit(2);
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/v1/messages";
  std::string body_file;
  std::vector<std::string> headers;
  double rate = 1000;
  double duration_s = 10;
  double warmup_s = 1;
  int connections = 16;
  int max_connections = 256;
  double drain_s = 5;
  bool sse = false;
  int expect_events = -1;
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--host") {
      o.host = next();
    } else if (a == "--port") {
      o.port = std::atoi(next().c_str());
    } else if (a == "--path") {
      o.path = next();
    } else if (a == "--body") {
      o.body_file = next();
    } else if (a == "--header") {
      o.headers.push_back(next());
    } else if (a == "--rate") {
      o.rate = std::atof(next().c_str());
    } else if (a == "--duration") {
      o.duration_s = std::atof(next().c_str());
    } else if (a == "--warmup") {
      o.warmup_s = std::atof(next().c_str());
    } else if (a == "--connections") {
      o.connections = std::atoi(next().c_str());
    } else if (a == "--max-connections") {
      o.max_connections = std::atoi(next().c_str());
    } else if (a == "--drain") {
      o.drain_s = std::atof(next().c_str());
    } else if (a == "--sse") {
      o.sse = true;
    } else if (a == "--expect-events") {
      o.expect_events = std::atoi(next().c_str());
    } else {
      Die("unknown argument `" + std::string(a) + "`");
    }
  }
  if (o.port <= 0 || o.port > 65535) Die("--port is required");
  if (o.rate <= 0 || o.duration_s <= 0 || o.warmup_s < 0) Die("--rate and --duration must be positive");
  if (o.connections < 1) o.connections = 1;
  if (o.max_connections < o.connections) o.max_connections = o.connections;
  return o;
}

// One request's timeline (ns, CLOCK_MONOTONIC).
struct Request {
  int64_t scheduled = 0;
  int64_t sent = 0;
  bool measured = false;
};

enum class BodyMode { kLength, kChunked, kUntilClose, kNone };
enum class ChunkState { kSize, kData, kDataEnd, kTrailer };

struct Conn {
  int fd = -1;
  bool connecting = false;
  bool busy = false;
  bool want_write = false;
  size_t written = 0;
  Request req;
  // Response parsing.
  bool in_head = true;
  std::string head;
  int status = 0;
  bool close_after = false;
  BodyMode mode = BodyMode::kNone;
  uint64_t remaining = 0;
  ChunkState chunk = ChunkState::kSize;
  std::string line;  // chunk size or trailer line being read
  // Timing.
  int64_t first_byte = 0;
  int64_t first_event = 0;
  int64_t last_event = 0;
  int events = 0;
  bool prev_newline = false;
};

struct Stats {
  std::vector<int64_t> latency, ttfb, first_event, inter_event, send_lag;
  std::vector<int> events;
  std::map<int, int64_t> status;
  int64_t sent = 0, sent_measured = 0, completed = 0, ok = 0, errors = 0, io_errors = 0, event_mismatch = 0;
  int64_t connections_opened = 0;
};

class LoadGen {
 public:
  explicit LoadGen(Options o) : o_(std::move(o)) {
    std::ifstream in(o_.body_file, std::ios::binary);
    if (!in) Die("cannot read --body " + o_.body_file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string body = ss.str();
    request_ = "POST " + o_.path + " HTTP/1.1\r\nHost: " + o_.host + ":" + std::to_string(o_.port) +
               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    for (const std::string& h : o_.headers) request_ += h + "\r\n";
    request_ += "\r\n" + body;
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epoll_ < 0 || timer_ < 0) Die("epoll/timerfd failed");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the timer
    epoll_ctl(epoll_, EPOLL_CTL_ADD, timer_, &ev);
    std::memset(&addr_, 0, sizeof addr_);
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<uint16_t>(o_.port));
    if (inet_pton(AF_INET, o_.host.c_str(), &addr_.sin_addr) != 1) Die("--host must be an IPv4 address");
  }

  void Run() {
    for (int i = 0; i < o_.connections; ++i) {
      Conn* c = Open(/*blocking=*/true);
      if (c == nullptr) Die("cannot connect to " + o_.host + ":" + std::to_string(o_.port));
      idle_.push_back(c);
    }
    const int64_t interval = static_cast<int64_t>(1e9 / o_.rate);
    const int64_t total = static_cast<int64_t>(std::llround(o_.rate * (o_.warmup_s + o_.duration_s)));
    const int64_t measured_from = static_cast<int64_t>(std::llround(o_.rate * o_.warmup_s));
    start_ = NowNs() + 10'000'000;
    int64_t next = 0;
    ArmTimer(start_);
    int64_t deadline = 0;  // set once everything is sent
    std::vector<epoll_event> events(512);
    for (;;) {
      int64_t now = NowNs();
      if (next >= total) {
        if (deadline == 0) deadline = start_ + (total - 1) * interval + static_cast<int64_t>(o_.drain_s * 1e9);
        if (outstanding_ == 0 && pending_.empty()) break;
        if (now >= deadline) break;
      }
      int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 100);
      if (n < 0) {
        if (errno == EINTR) continue;
        Die("epoll_wait failed");
      }
      for (int i = 0; i < n; ++i) {
        Conn* c = static_cast<Conn*>(events[static_cast<size_t>(i)].data.ptr);
        if (c == nullptr) {
          uint64_t expirations = 0;
          ssize_t r = read(timer_, &expirations, sizeof expirations);
          (void)r;
          now = NowNs();
          while (next < total && start_ + next * interval <= now) {
            Request req;
            req.scheduled = start_ + next * interval;
            req.measured = next >= measured_from;
            pending_.push_back(req);
            ++next;
          }
          Dispatch();
          if (next < total) ArmTimer(start_ + next * interval);
          continue;
        }
        uint32_t ev = events[static_cast<size_t>(i)].events;
        if (c->fd < 0) continue;  // closed earlier in this batch
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
          if (c->connecting) FinishConnect(c);
          if (c->fd >= 0 && c->busy && c->want_write) Write(c);
        }
        if (c->fd >= 0 && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) Read(c);
      }
      Dispatch();
    }
    end_ = NowNs();
    Report(measured_from);
  }

 private:
  void ArmTimer(int64_t at_ns) {
    itimerspec its{};
    its.it_value.tv_sec = at_ns / 1'000'000'000;
    its.it_value.tv_nsec = at_ns % 1'000'000'000;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    timerfd_settime(timer_, TFD_TIMER_ABSTIME, &its, nullptr);
  }

  Conn* Open(bool blocking) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
    if (fd < 0) return nullptr;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = connect(fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    if (r != 0) {
      if (blocking || errno != EINPROGRESS) {
        close(fd);
        return nullptr;
      }
      c->connecting = true;
    }
    if (blocking) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN | (c->connecting ? EPOLLOUT : 0u);
    ev.data.ptr = c.get();
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
    ++stats_.connections_opened;
    conns_.push_back(std::move(c));
    return conns_.back().get();
  }

  void SetWantWrite(Conn* c, bool want) {
    if (c->want_write == want && !c->connecting) return;
    c->want_write = want;
    epoll_event ev{};
    ev.events = EPOLLIN | ((want || c->connecting) ? EPOLLOUT : 0u);
    ev.data.ptr = c;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, c->fd, &ev);
  }

  void FinishConnect(Conn* c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    c->connecting = false;
    if (err != 0) {
      Fail(c);
      return;
    }
    SetWantWrite(c, c->busy);
  }

  // Gives waiting requests to idle connections, opening new ones up to the limit.
  void Dispatch() {
    while (!pending_.empty()) {
      Conn* c = nullptr;
      while (!idle_.empty() && c == nullptr) {
        c = idle_.back();
        idle_.pop_back();
        if (c->fd < 0) c = nullptr;
      }
      if (c == nullptr) {
        if (open_count() >= o_.max_connections) return;
        c = Open(/*blocking=*/false);
        if (c == nullptr) {
          // Cannot even connect: count the request as failed.
          Request req = pending_.front();
          pending_.pop_front();
          ++stats_.sent;
          if (req.measured) {
            ++stats_.sent_measured;
            ++stats_.io_errors;
          }
          continue;
        }
      }
      Start(c, pending_.front());
      pending_.pop_front();
    }
  }

  int open_count() const {
    int n = 0;
    for (const auto& c : conns_) n += c->fd >= 0 ? 1 : 0;
    return n;
  }

  void Start(Conn* c, const Request& req) {
    c->busy = true;
    c->req = req;
    c->written = 0;
    c->in_head = true;
    c->head.clear();
    c->status = 0;
    c->close_after = false;
    c->mode = BodyMode::kNone;
    c->remaining = 0;
    c->chunk = ChunkState::kSize;
    c->line.clear();
    c->first_byte = c->first_event = c->last_event = 0;
    c->events = 0;
    c->prev_newline = false;
    ++outstanding_;
    ++stats_.sent;
    if (req.measured) ++stats_.sent_measured;
    if (c->connecting) {
      c->want_write = true;
      return;
    }
    Write(c);
  }

  void Write(Conn* c) {
    if (c->written == 0) c->req.sent = NowNs();
    while (c->written < request_.size()) {
      ssize_t n = send(c->fd, request_.data() + c->written, request_.size() - c->written, MSG_NOSIGNAL);
      if (n > 0) {
        c->written += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        SetWantWrite(c, true);
        return;
      }
      if (n < 0 && errno == EINTR) continue;
      Fail(c);
      return;
    }
    SetWantWrite(c, false);
  }

  void Read(Conn* c) {
    char buf[65536];
    for (;;) {
      ssize_t n = recv(c->fd, buf, sizeof buf, 0);
      if (n > 0) {
        if (!c->busy) {  // data on an idle connection: not HTTP we understand
          CloseConn(c);
          return;
        }
        if (!Consume(c, buf, static_cast<size_t>(n))) return;
        continue;
      }
      if (n == 0) {
        if (c->busy && !c->in_head && c->mode == BodyMode::kUntilClose) {
          Complete(c);
          if (c->fd >= 0) CloseConn(c);
          return;
        }
        if (c->busy) {
          Fail(c);
        } else {
          CloseConn(c);
        }
        return;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      if (c->busy) {
        Fail(c);
      } else {
        CloseConn(c);
      }
      return;
    }
  }

  // Decoded body bytes: SSE boundaries.
  void Body(Conn* c, const char* p, size_t n, int64_t now) {
    if (!o_.sse) return;
    for (size_t i = 0; i < n; ++i) {
      char ch = p[i];
      if (ch == '\n') {
        if (c->prev_newline) {
          ++c->events;
          if (c->first_event == 0) {
            c->first_event = now;
          } else if (c->req.measured) {
            stats_.inter_event.push_back(now - c->last_event);
          }
          c->last_event = now;
          c->prev_newline = false;
        } else {
          c->prev_newline = true;
        }
      } else if (ch != '\r') {
        c->prev_newline = false;
      }
    }
  }

  static bool HeaderIs(std::string_view line, std::string_view name, std::string_view* value) {
    if (line.size() <= name.size() || line[name.size()] != ':') return false;
    for (size_t i = 0; i < name.size(); ++i) {
      char a = line[i];
      if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
      if (a != name[i]) return false;
    }
    std::string_view v = line.substr(name.size() + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.remove_suffix(1);
    *value = v;
    return true;
  }

  static bool ContainsNoCase(std::string_view hay, std::string_view needle) {
    if (needle.size() > hay.size()) return false;
    for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
      bool eq = true;
      for (size_t j = 0; j < needle.size() && eq; ++j) {
        char a = hay[i + j];
        if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
        eq = a == needle[j];
      }
      if (eq) return true;
    }
    return false;
  }

  // Returns false when the connection was closed or reused (stop reading into this buffer).
  bool Consume(Conn* c, const char* p, size_t n) {
    int64_t now = NowNs();
    if (c->first_byte == 0) c->first_byte = now;
    while (n > 0) {
      if (c->in_head) {
        size_t before = c->head.size();
        c->head.append(p, n);
        size_t end = c->head.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
        if (end == std::string::npos) {
          if (c->head.size() > 1'000'000) {
            Fail(c);
            return false;
          }
          return true;
        }
        size_t used = end + 4 - before;
        p += used;
        n -= used;
        c->head.resize(end + 2);
        if (!ParseHead(c)) {
          Fail(c);
          return false;
        }
        c->in_head = false;
        if (c->status == 100) {  // interim answer: read the real head next
          c->in_head = true;
          c->head.clear();
          continue;
        }
        if (c->mode == BodyMode::kNone || (c->mode == BodyMode::kLength && c->remaining == 0)) {
          Complete(c);
          return false;
        }
        continue;
      }
      switch (c->mode) {
        case BodyMode::kLength: {
          size_t take = static_cast<size_t>(std::min<uint64_t>(c->remaining, n));
          Body(c, p, take, now);
          p += take;
          n -= take;
          c->remaining -= take;
          if (c->remaining == 0) {
            Complete(c);
            return false;  // anything after it would be a pipelined answer we did not ask for
          }
          break;
        }
        case BodyMode::kUntilClose:
          Body(c, p, n, now);
          n = 0;
          break;
        case BodyMode::kChunked:
          if (!Chunked(c, p, n, now)) return false;
          break;
        case BodyMode::kNone:
          return false;
      }
    }
    return true;
  }

  // Consumes chunked framing from p/n. Returns false once the response is complete or failed.
  bool Chunked(Conn* c, const char*& p, size_t& n, int64_t now) {
    while (n > 0) {
      switch (c->chunk) {
        case ChunkState::kSize: {
          const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
          size_t take = nl ? static_cast<size_t>(nl - p) + 1 : n;
          c->line.append(p, take);
          p += take;
          n -= take;
          if (!nl) break;
          uint64_t size = 0;
          bool any = false;
          for (char ch : c->line) {
            int d = -1;
            if (ch >= '0' && ch <= '9') d = ch - '0';
            else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
            else if (ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
            if (d < 0) break;
            size = size * 16 + static_cast<uint64_t>(d);
            any = true;
          }
          c->line.clear();
          if (!any) {
            Fail(c);
            return false;
          }
          if (size == 0) {
            c->chunk = ChunkState::kTrailer;
          } else {
            c->remaining = size;
            c->chunk = ChunkState::kData;
          }
          break;
        }
        case ChunkState::kData: {
          size_t take = static_cast<size_t>(std::min<uint64_t>(c->remaining, n));
          Body(c, p, take, now);
          p += take;
          n -= take;
          c->remaining -= take;
          if (c->remaining == 0) c->chunk = ChunkState::kDataEnd;
          break;
        }
        case ChunkState::kDataEnd: {
          // "\r\n" after the data: read up to and including '\n'.
          const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
          size_t take = nl ? static_cast<size_t>(nl - p) + 1 : n;
          p += take;
          n -= take;
          if (nl) c->chunk = ChunkState::kSize;
          break;
        }
        case ChunkState::kTrailer: {
          const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
          size_t take = nl ? static_cast<size_t>(nl - p) + 1 : n;
          c->line.append(p, take);
          p += take;
          n -= take;
          if (!nl) break;
          bool empty = c->line == "\r\n" || c->line == "\n";
          c->line.clear();
          if (empty) {
            Complete(c);
            return false;
          }
          break;
        }
      }
    }
    return true;
  }

  bool ParseHead(Conn* c) {
    std::string_view h = c->head;
    size_t eol = h.find("\r\n");
    std::string_view status_line = h.substr(0, eol);
    if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12) return false;
    c->status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    bool http10 = status_line.starts_with("HTTP/1.0");
    c->close_after = http10;
    bool have_length = false, chunked = false;
    uint64_t length = 0;
    size_t pos = eol + 2;
    while (pos < h.size()) {
      size_t e = h.find("\r\n", pos);
      if (e == std::string_view::npos) e = h.size();
      std::string_view line = h.substr(pos, e - pos);
      pos = e + 2;
      std::string_view v;
      if (HeaderIs(line, "content-length", &v)) {
        have_length = true;
        length = std::strtoull(std::string(v).c_str(), nullptr, 10);
      } else if (HeaderIs(line, "transfer-encoding", &v)) {
        chunked = ContainsNoCase(v, "chunked");
      } else if (HeaderIs(line, "connection", &v)) {
        if (ContainsNoCase(v, "close")) c->close_after = true;
        if (ContainsNoCase(v, "keep-alive")) c->close_after = false;
      }
    }
    if (c->status == 100) return true;
    if (c->status == 204 || c->status == 304) {
      c->mode = BodyMode::kNone;
    } else if (chunked) {
      c->mode = BodyMode::kChunked;
    } else if (have_length) {
      c->mode = BodyMode::kLength;
      c->remaining = length;
    } else {
      c->mode = BodyMode::kUntilClose;
      c->close_after = true;
    }
    return true;
  }

  void Complete(Conn* c) {
    int64_t now = NowNs();
    const Request& r = c->req;
    --outstanding_;
    c->busy = false;
    if (r.measured) {
      ++stats_.completed;
      ++stats_.status[c->status];
      bool ok = c->status >= 200 && c->status < 300;
      if (ok) {
        ++stats_.ok;
        stats_.latency.push_back(now - r.scheduled);
        stats_.ttfb.push_back(c->first_byte - r.scheduled);
        stats_.send_lag.push_back(r.sent - r.scheduled);
        if (o_.sse) {
          stats_.events.push_back(c->events);
          if (c->first_event != 0) stats_.first_event.push_back(c->first_event - r.scheduled);
          if (o_.expect_events >= 0 && c->events != o_.expect_events) ++stats_.event_mismatch;
        }
      } else {
        ++stats_.errors;
      }
    }
    if (c->close_after) {
      CloseConn(c);
    } else {
      idle_.push_back(c);
    }
  }

  void Fail(Conn* c) {
    if (c->busy) {
      --outstanding_;
      c->busy = false;
      if (c->req.measured) ++stats_.io_errors;
    }
    CloseConn(c);
  }

  void CloseConn(Conn* c) {
    if (c->fd >= 0) {
      epoll_ctl(epoll_, EPOLL_CTL_DEL, c->fd, nullptr);
      close(c->fd);
      c->fd = -1;
    }
    idle_.erase(std::remove(idle_.begin(), idle_.end(), c), idle_.end());
  }

  static std::string Dist(std::vector<int64_t>& v) {
    if (v.empty()) return "null";
    std::sort(v.begin(), v.end());
    auto pct = [&](double q) {
      size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) ;
      if (i > 0) --i;
      if (i >= v.size()) i = v.size() - 1;
      return static_cast<double>(v[i]) / 1000.0;
    };
    double sum = 0;
    for (int64_t x : v) sum += static_cast<double>(x);
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "{\"n\":%zu,\"min\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,"
                  "\"mean\":%.1f}",
                  v.size(), static_cast<double>(v.front()) / 1000.0, pct(0.50), pct(0.90), pct(0.99), pct(0.999),
                  static_cast<double>(v.back()) / 1000.0, sum / static_cast<double>(v.size()) / 1000.0);
    return buf;
  }

  void Report(int64_t measured_from) {
    (void)measured_from;
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    double cpu_us = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    // Requests still queued at the end were never sent (every connection busy): they count as unfinished.
    int64_t never_sent = 0;
    for (const Request& r : pending_) never_sent += r.measured ? 1 : 0;
    int64_t unfinished = stats_.sent_measured - stats_.completed - stats_.io_errors + never_sent;
    std::string status = "{";
    for (const auto& [code, count] : stats_.status) {
      if (status.size() > 1) status += ",";
      char item[64];
      std::snprintf(item, sizeof item, "\"%d\":%" PRId64, code, count);
      status += item;
    }
    status += "}";
    std::string events = "null";
    if (!stats_.events.empty()) {
      auto [mn, mx] = std::minmax_element(stats_.events.begin(), stats_.events.end());
      double sum = 0;
      for (int e : stats_.events) sum += e;
      char buf[160];
      std::snprintf(buf, sizeof buf, "{\"min\":%d,\"max\":%d,\"mean\":%.2f}", *mn, *mx,
                    sum / static_cast<double>(stats_.events.size()));
      events = buf;
    }
    double measured_s = o_.duration_s;
    std::printf(
        "{\"rate\":%.1f,\"duration_s\":%.3f,\"warmup_s\":%.3f,\"sent\":%" PRId64 ",\"measured\":%" PRId64
        ",\"completed\":%" PRId64 ",\"ok\":%" PRId64 ",\"errors\":%" PRId64 ",\"io_errors\":%" PRId64
        ",\"unfinished\":%" PRId64 ",\"never_sent\":%" PRId64 ",\"achieved_rate\":%.1f,\"status\":%s,\"connections_opened\":%" PRId64
        ",\"sse\":%s,\"events_per_stream\":%s,\"event_count_mismatch\":%" PRId64 ",\"latency_us\":%s,"
        "\"ttfb_us\":%s,\"first_event_us\":%s,\"inter_event_us\":%s,\"send_lag_us\":%s,"
        "\"loadgen_cpu_us_per_request\":%.1f,\"wall_s\":%.3f}\n",
        o_.rate, o_.duration_s, o_.warmup_s, stats_.sent, stats_.sent_measured, stats_.completed, stats_.ok,
        stats_.errors, stats_.io_errors, unfinished, never_sent, static_cast<double>(stats_.ok) / measured_s, status.c_str(),
        stats_.connections_opened, o_.sse ? "true" : "false", events.c_str(), stats_.event_mismatch,
        Dist(stats_.latency).c_str(), Dist(stats_.ttfb).c_str(), Dist(stats_.first_event).c_str(),
        Dist(stats_.inter_event).c_str(), Dist(stats_.send_lag).c_str(),
        stats_.sent > 0 ? cpu_us / static_cast<double>(stats_.sent) : 0.0,
        static_cast<double>(end_ - start_) / 1e9);
  }

  Options o_;
  std::string request_;
  int epoll_ = -1;
  int timer_ = -1;
  sockaddr_in addr_{};
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> idle_;
  std::deque<Request> pending_;
  int64_t outstanding_ = 0;
  int64_t start_ = 0, end_ = 0;
  Stats stats_;
};

// --- Request bodies ------------------------------------------------------------------------------

// `loadgen body --model M --bytes N [--stream]`: prints a /v1/messages body of about N bytes. Below
// 1.5 KB: one short user message, padded. Otherwise an OpenClaw-like agent turn: two system blocks
// (the second, large one with cache_control), 12 tools (the last with cache_control), a conversation
// with tool_use / tool_result, metadata and an unknown field; the large system block is padded to
// reach N bytes.
std::string MakeBody(const std::string& model, size_t bytes, bool stream) {
  const std::string s = stream ? "true" : "false";
  if (bytes < 1500) {
    std::string head = "{\"model\":\"" + model + "\",\"max_tokens\":1024,\"stream\":" + s +
                       ",\"messages\":[{\"role\":\"user\",\"content\":\"";
    std::string tail = "\"}]}";
    std::string text = "Say hello.";
    while (head.size() + text.size() + tail.size() < bytes) text += " Please.";
    text.resize(std::max<size_t>(10, bytes > head.size() + tail.size() ? bytes - head.size() - tail.size() : 0),
                '.');
    return head + text + tail;
  }
  std::string tools;
  for (int i = 0; i < 12; ++i) {
    if (i > 0) tools += ",";
    tools += "{\"name\":\"tool_" + std::to_string(i) + "\",\"description\":\"Does thing number " +
             std::to_string(i) +
             " for the agent, carefully.\",\"input_schema\":{\"type\":\"object\",\"properties\":{\"path\":{"
             "\"type\":\"string\"},\"limit\":{\"type\":\"integer\"}},\"required\":[\"path\"]}" +
             (i == 11 ? ",\"cache_control\":{\"type\":\"ephemeral\"}" : "") + "}";
  }
  std::string head = "{\"model\":\"" + model + "\",\"max_tokens\":8192,\"stream\":" + s +
                     ",\"system\":[{\"type\":\"text\",\"text\":\"You are a personal assistant running inside "
                     "OpenClaw.\"},{\"type\":\"text\",\"text\":\"";
  std::string tail =
      "\",\"cache_control\":{\"type\":\"ephemeral\"}}],\"tools\":[" + tools +
      "],\"messages\":[{\"role\":\"user\",\"content\":\"List the files in my home directory, please. "
      "\\u00dcn\\u00efc\\u00f6d\\u00e9 \\\"quoted\\\"\"},{\"role\":\"assistant\",\"content\":[{\"type\":"
      "\"tool_use\",\"id\":\"toolu_01\",\"name\":\"tool_0\",\"input\":{\"path\":\"/home\"}}]},{\"role\":"
      "\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_01\",\"content\":\"a.txt\\n"
      "b.txt\",\"cache_control\":{\"type\":\"ephemeral\"}}]}],\"metadata\":{\"user_id\":\"agent-1\"},"
      "\"an_unknown_field\":{\"kept\":true}}";
  std::string filler;
  const std::string line = "Agent workspace rules: be careful, be brief, use tools well. ";
  size_t need = bytes > head.size() + tail.size() ? bytes - head.size() - tail.size() : 0;
  while (filler.size() < need) filler += line;
  filler.resize(need);
  return head + filler + tail;
}

int BodyMain(int argc, char** argv) {
  std::string model = "bench-model";
  size_t bytes = 200;
  bool stream = false;
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--model" && i + 1 < argc) {
      model = argv[++i];
    } else if (a == "--bytes" && i + 1 < argc) {
      bytes = static_cast<size_t>(std::strtoull(argv[++i], nullptr, 10));
    } else if (a == "--stream") {
      stream = true;
    } else {
      Die("body: unknown argument `" + std::string(a) + "`");
    }
  }
  std::string body = MakeBody(model, bytes, stream);
  std::fwrite(body.data(), 1, body.size(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "body") return BodyMain(argc, argv);
  Options o = ParseOptions(argc, argv);
  LoadGen gen(std::move(o));
  gen.Run();
  return 0;
}
