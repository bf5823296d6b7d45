// A byte relay: the floor of what any proxy costs on this machine, for bench/run.sh.
//
// It accepts loopback connections and, for each, opens one to the upstream port and copies bytes
// both ways as they arrive: one epoll thread, non-blocking sockets, TCP_NODELAY, no parsing. A
// request through it makes the same system calls as through the gateway (a receive and a send on
// each side, and the wake-ups between them), so what it adds over going straight is what the
// kernel's second loopback hop and the scheduler cost here. bench/run.sh measures it in the same
// run as the gateway: the gateway's added latency minus the relay's is the gateway's own work.
//
//   relay --upstream-port N --port-file FILE   (listens on 127.0.0.1, a free port written to FILE;
//                                               stops on SIGTERM or SIGINT)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

constexpr size_t kBuffer = 64 * 1024;

// One direction of a connection pair: bytes read from `from`, not yet written to `to`.
struct Side {
  int from = -1, to = -1;
  std::vector<char> buf = std::vector<char>(kBuffer);
  size_t begin = 0, end = 0;  // pending bytes are buf[begin, end)
};

struct Pair {
  Side up;    // client -> upstream
  Side down;  // upstream -> client
  uint32_t interest_client = EPOLLIN, interest_upstream = EPOLLIN;  // as registered with epoll
  bool closed = false;
};

int g_epoll = -1;
std::unordered_map<int, std::shared_ptr<Pair>> g_by_fd;

void Die(const char* what) {
  std::fprintf(stderr, "relay: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

void SetSocketOptions(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// The events a socket waits for: readable unless what it read is still waiting to be written, and
// writable while bytes for it wait. epoll is told only of changes (in the steady state, none: each
// side stays readable and every write completes at once, as in the gateway).
void Update(int fd, Pair& p) {
  const Side& reading = fd == p.up.from ? p.up : p.down;
  const Side& writing = fd == p.up.to ? p.up : p.down;
  uint32_t want = (reading.begin == reading.end ? EPOLLIN : 0u) | (writing.begin != writing.end ? EPOLLOUT : 0u);
  uint32_t& now = fd == p.up.from ? p.interest_client : p.interest_upstream;
  if (want == now) return;
  now = want;
  epoll_event ev{};
  ev.events = want;
  ev.data.fd = fd;
  ::epoll_ctl(g_epoll, EPOLL_CTL_MOD, fd, &ev);
}

// Closes both sockets of a pair. The caller holds its own reference to the pair, so it outlives
// the map entries erased here.
void Close(Pair& p) {
  if (p.closed) return;
  p.closed = true;
  for (int fd : {p.up.from, p.down.from}) {
    ::epoll_ctl(g_epoll, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    g_by_fd.erase(fd);
  }
}

// Writes what `s` holds; false when the connection is gone.
bool Flush(Side& s) {
  while (s.begin < s.end) {
    ssize_t n = ::send(s.to, s.buf.data() + s.begin, s.end - s.begin, MSG_NOSIGNAL);
    if (n > 0) {
      s.begin += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    } else {
      return false;
    }
  }
  s.begin = s.end = 0;
  return true;
}

// Reads from `s.from` and writes it on at once; false when the connection is gone.
bool Pump(Side& s) {
  if (s.begin != s.end) return true;  // wait for the write side first
  ssize_t n = ::recv(s.from, s.buf.data(), s.buf.size(), 0);
  if (n == 0) return false;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  s.begin = 0;
  s.end = static_cast<size_t>(n);
  return Flush(s);
}

// A blocking connect to the upstream (a loopback connect completes at once); -1 on failure.
int ConnectUpstream(int upstream_port) {
  int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(upstream_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (up < 0 || ::connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "relay: cannot connect to the upstream: %s\n", std::strerror(errno));
    if (up >= 0) ::close(up);
    return -1;
  }
  return up;
}

// Upstream connections opened ahead, as a gateway's pool has them: a connection the upstream
// accepted a while ago, not one whose first bytes race its accept. Each one taken is replaced at
// once. (Fresh upstream connections carrying 60 KB at once stalled for up to 600 ms here, which a
// proxy with a pool never meets; a relay cannot reuse them, not knowing where an answer ends.)
std::vector<int> g_ready;
constexpr size_t kReady = 128;

void Accept(int listener, int upstream_port) {
  while (true) {
    int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    int up = -1;
    if (!g_ready.empty()) {
      up = g_ready.back();
      g_ready.pop_back();
    } else {
      up = ConnectUpstream(upstream_port);
    }
    if (up < 0) {
      ::close(client);
      continue;
    }
    if (int next = ConnectUpstream(upstream_port); next >= 0) g_ready.push_back(next);
    SetSocketOptions(client);
    SetSocketOptions(up);
    auto p = std::make_shared<Pair>();
    p->up.from = client;
    p->up.to = up;
    p->down.from = up;
    p->down.to = client;
    g_by_fd[client] = p;
    g_by_fd[up] = p;
    for (int fd : {client, up}) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      ::epoll_ctl(g_epoll, EPOLL_CTL_ADD, fd, &ev);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int upstream_port = 0;
  std::string port_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--upstream-port") upstream_port = std::atoi(argv[i + 1]);
    else if (a == "--port-file") port_file = argv[i + 1];
  }
  if (upstream_port <= 0 || port_file.empty()) {
    std::fprintf(stderr, "usage: relay --upstream-port N --port-file FILE\n");
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);

  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listener < 0) Die("socket");
  int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Die("bind");
  if (::listen(listener, 1024) != 0) Die("listen");
  for (size_t i = 0; i < kReady; ++i) {
    if (int up = ConnectUpstream(upstream_port); up >= 0) g_ready.push_back(up);
  }
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  {
    std::string tmp = port_file + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) Die("port file");
    std::fprintf(f, "%d\n", ntohs(addr.sin_port));
    std::fclose(f);
    if (::rename(tmp.c_str(), port_file.c_str()) != 0) Die("port file");
  }

  g_epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (g_epoll < 0) Die("epoll_create1");
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.fd = listener;
  ::epoll_ctl(g_epoll, EPOLL_CTL_ADD, listener, &lev);

  std::vector<epoll_event> events(256);
  while (!g_stop) {
    int n = ::epoll_wait(g_epoll, events.data(), static_cast<int>(events.size()), 500);
    if (n < 0 && errno != EINTR) Die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        Accept(listener, upstream_port);
        continue;
      }
      auto it = g_by_fd.find(fd);
      if (it == g_by_fd.end()) continue;  // closed earlier in this round
      std::shared_ptr<Pair> p = it->second;
      Side& reading = fd == p->up.from ? p->up : p->down;
      Side& writing = fd == p->up.to ? p->up : p->down;
      bool ok = (events[i].events & EPOLLERR) == 0;
      if (ok && (events[i].events & EPOLLOUT)) ok = Flush(writing);
      if (ok && (events[i].events & (EPOLLIN | EPOLLHUP))) ok = Pump(reading);
      if (ok) {
        Update(p->up.from, *p);
        Update(p->down.from, *p);
      } else {
        Close(*p);
      }
    }
  }
  for (auto& [fd, p] : g_by_fd) ::close(fd);
  for (int fd : g_ready) ::close(fd);
  ::close(listener);
  return 0;
}
