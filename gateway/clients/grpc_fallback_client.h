// The gateway's link to fallbacksvc: keeps the current route table (WatchRoutes: the table, then every
// new version), compiled for the request path, and reports attempt outcomes in batches off the request
// path. When fallbacksvc is down the last table stays in force; before any table has arrived every
// request goes to the default upstream as asked.
//
// Threads: one watch thread and one report thread of its own.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/grpc_security.h"
#include "fallback.grpc.pb.h"
#include "gateway/clients/stream_watcher.h"
#include "gateway/clients/stream_watcher.h"
#include "gateway/route/route_plan.h"

namespace luna::gateway {

struct AttemptReport {
  std::string tier;
  std::string provider;
  std::string model;  // the model sent upstream
  int status = 0;     // 0: no answer
  AttemptKind kind = AttemptKind::kOk;
  int64_t retry_after_ms = 0;
  std::string message;  // the upstream's error message (cut to 300 bytes)
  int64_t time_unix_ms = 0;
};

// Compiles a route table for the request path. Providers without a base URL are the default upstream
// (`default_target`: its URL, API, credential and auth style). A tier whose provider is unknown or whose
// URL does not parse is left out (with `*warnings`).
std::shared_ptr<const CompiledRoutes> CompileRoutes(const luna::fallback::v1::RouteTable& table,
                                                    const UpstreamTarget& default_target,
                                                    std::vector<std::string>* warnings);

class GrpcFallbackClient {
 public:
  GrpcFallbackClient(const std::string& target, const GrpcSecurity& security, UpstreamTarget default_target,
                     std::string gateway_id);
  ~GrpcFallbackClient();

  void Start();
  void Stop();

  // The table in force (null before the first one arrived). Cheap: a shared_ptr copy under a lock.
  std::shared_ptr<const CompiledRoutes> routes() const;
  // The watch stream is open and its table applied.
  bool synced() const { return synced_.load(std::memory_order_acquire); }

  // Queues an outcome for fallbacksvc; never blocks. Beyond 10,000 queued, outcomes are dropped
  // (they are advice: the next failure reports again).
  void Report(AttemptReport report);

  struct Stats {
    uint64_t table_version = 0;
    int64_t reports_sent = 0;
    int64_t reports_dropped = 0;
  };
  Stats stats() const;

  luna::fallback::v1::FallbackService::Stub::async_interface* async() { return stub_->async(); }

 private:
  // One WatchRoutes stream, until it ends (StreamWatcher reconnects).
  grpc::Status RunWatch(grpc::ClientContext& ctx, bool* delivered);
  void ReportLoop();

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<luna::fallback::v1::FallbackService::Stub> stub_;
  UpstreamTarget default_target_;
  std::string gateway_id_;
  std::atomic<bool> synced_{false};

  mutable std::mutex routes_mu_;
  std::shared_ptr<const CompiledRoutes> routes_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<AttemptReport> queue_;           // guarded by mu_
  bool urgent_ = false;                       // guarded by mu_: a failure (or a full batch) is queued
  int64_t reports_sent_ = 0, reports_dropped_ = 0;
  StreamWatcher watcher_;
  std::thread report_thread_;
};

}  // namespace luna::gateway
