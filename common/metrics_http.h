// A tiny HTTP/1.1 server for a service's operational endpoints, on its own port and its own thread:
//
//   GET /metrics   200, Prometheus text (the `metrics` callback's body)
//   GET /health    200 {"status":"ok"} while `serving` says so, else 503 {"status":"not_serving"}; while
//                  `problem` names one (a state file that cannot be written), "problem": "<text>" is
//                  added and a serving service says {"status":"degraded"} (still 200: it serves)
//   other paths    404;  other methods 405 (Allow: GET);  a request body 413;  headers over the
//                  limit 431;  malformed requests 400
//
// Bounded: one request per connection (Connection: close), request headers up to
// `max_header_bytes`, no body, `read_timeout` to receive the request, at most `max_connections`
// open connections (more are closed at once). The callbacks run on the server's thread, one at a
// time; they must be thread-safe with respect to the rest of the process and must not block long.
//
// Asio and Beast stay inside metrics_http.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace luna {

class MetricsHttpServer {
 public:
  struct Options {
    std::function<std::string()> metrics;  // the body of GET /metrics
    std::function<bool()> serving;         // GET /health: 200 when true, 503 when false
    std::function<std::string()> problem;  // GET /health: what is wrong though serving ("" = nothing)
    size_t max_header_bytes = 8 * 1024;
    std::chrono::milliseconds read_timeout{10000};
    size_t max_connections = 64;
  };

  explicit MetricsHttpServer(Options options);
  // Stops the server if it runs.
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds `listen` ("host:port", "[v6]:port" or ":port"; port 0 picks a free one), starts the thread
  // and returns the bound port. `what` names the setting in error messages (e.g. the variable).
  // Call once.
  absl::StatusOr<int> Start(const std::string& listen, const std::string& what = "metrics listen address");
  // Closes the listener and every connection and joins the thread. Idempotent.
  void Stop();

  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace luna
