// Routes one HTTP request to its handler and writes the answer: /health, /admin/*, and the client
// API under /v1/* (authenticated, then relayed to the upstream).
#pragma once

#include <atomic>
#include <memory>

#include "gateway/clients/grpc_auth_client.h"
#include "gateway/clients/grpc_fallback_client.h"
#include "gateway/clients/grpc_spend_watch.h"
#include "gateway/clients/grpc_usage_client.h"
#include "gateway/clients/key_table.h"
#include "gateway/config/gateway_config.h"
#include "gateway/api/dashboard_sessions.h"
#include "gateway/api/metrics.h"
#include "gateway/http/beast_fwd.h"
#include "gateway/route/exchange.h"
#include "gateway/upstream/upstream_client.h"
#include "gateway/upstream/url.h"

namespace luna::gateway {

// Counters the router and the server share (read by /health).
struct ServerStats {
  std::atomic<int64_t> open_connections{0};
  std::atomic<int64_t> requests{0};
  std::atomic<bool> stopping{false};
};

struct RouterDeps {
  std::shared_ptr<const GatewayConfig> config;
  Url upstream_url;
  KeyTable* keys = nullptr;
  GrpcAuthClient* auth = nullptr;
  UpstreamClient* upstream = nullptr;
  ServerStats* stats = nullptr;
  UsageShipper* usage = nullptr;  // null: usage is not recorded
  GrpcFallbackClient* fallback = nullptr;  // null: no fallback, the default upstream as asked
  SpendBook* spend = nullptr;  // usagesvc's totals per key for budgets; null: no usagesvc
};

class Router {
 public:
  explicit Router(RouterDeps deps);

  // Handles `req` and writes its answer to `stream`. Returns true if the connection may carry
  // another request.
  Awaitable<bool> Handle(Request& req, beast::tcp_stream& stream);

  // What one request did, for its log line (defined in router_internal.h).
  struct Outcome;

 private:
  Awaitable<bool> HandleClientApi(Request& req, beast::tcp_stream& stream, Outcome& out);
  Awaitable<bool> HandleAdmin(Request& req, beast::tcp_stream& stream, Outcome& out);
  Awaitable<bool> HandleHealth(Request& req, beast::tcp_stream& stream, Outcome& out);
  Awaitable<bool> HandleMetrics(Request& req, beast::tcp_stream& stream, Outcome& out);
  // /dashboard: the admin page, its assets and its sign-in API (dashboard.cpp).
  Awaitable<bool> HandleDashboard(Request& req, beast::tcp_stream& stream, Outcome& out);
  // The admin credential of the dashboard session the request's cookie names, if its x-csrf-token
  // matches; "" otherwise. Lets /admin/* accept a signed-in page.
  std::string DashboardCredential(const Request& req);
  // POST /v1/messages and /v1/chat/completions: routed, converted where the target speaks the other
  // API, metered.
  Awaitable<bool> HandleModelCall(Request& req, beast::tcp_stream& stream, Outcome& out, WireFormat api,
                                  std::chrono::steady_clock::time_point t0,
                                  std::chrono::system_clock::time_point wall0);

  RouterDeps deps_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::system_clock::time_point started_wall_;
  UpstreamTarget default_target_;
  std::string request_id_prefix_;            // random per process: ids stay unique across restarts
  std::atomic<uint64_t> next_request_id_{0};
  GatewayMetrics metrics_;
  DashboardSessions sessions_;
};

}  // namespace luna::gateway
