// The network side of the fake upstream: an HTTP/1.1 listener (Boost.Beast, C++20 coroutines) that
// reads requests, asks a FakeRouter for a ResponsePlan and carries it out (delays, chunked SSE,
// cuts). Boost headers stay in fake_server.cpp so only that translation unit pays for them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace luna::fake {

class FakeRouter;

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free port
  int threads = 1;                     // one io_context per thread; connections spread round-robin
};

class FakeServer {
 public:
  // Binds the listening socket and starts catching SIGTERM/SIGINT. On failure returns null and
  // sets `error`. `router` must outlive the server.
  static std::unique_ptr<FakeServer> Create(const ServerOptions& options, FakeRouter& router,
                                            std::string& error);
  ~FakeServer();

  std::string host() const;
  uint16_t port() const;

  // Serves until SIGTERM or SIGINT arrives, then stops accepting, drops open connections and
  // returns. Call once, from the main thread.
  void Run();

 private:
  struct Impl;
  explicit FakeServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace luna::fake
