// The gateway's HTTP/1.1 server: listener, sessions (keep-alive, timeouts, size limits, a
// connection limit) and graceful shutdown. Asio stays behind this interface so main.cpp does not
// pay for its headers.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "gateway/api/router.h"

namespace luna::gateway {

class HttpServer {
 public:
  // Binds config->listen (port 0 picks a free port). `deps.stats` may be null (the server owns one).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(RouterDeps deps);
  ~HttpServer();

  int port() const;
  // Runs the I/O threads (config->threads) and returns at once.
  void Start();
  // Stops accepting, closes idle connections, lets in-flight requests and streams finish for up to
  // config->shutdown_grace_s, then cancels what is left and joins the I/O threads.
  void Shutdown();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace luna::gateway
