// The gateway's link to authsvc: keeps the local KeyTable in sync through WatchKeys (a snapshot, then
// every change), validates keys the table does not know, tracks authsvc's health, and forwards the
// admin RPCs with the caller's credential.
//
// Threads: one watch thread and one health thread of its own. Every callback passed to a method here
// runs on a gRPC thread: the caller must hop back to its own executor before touching its state.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "auth.grpc.pb.h"
#include "common/grpc_security.h"
#include "gateway/clients/key_table.h"
#include "gateway/clients/stream_watcher.h"

namespace luna::gateway {

struct ValidateOutcome {
  enum class Kind { kFound, kNotFound, kUnavailable };
  Kind kind = Kind::kUnavailable;
  std::shared_ptr<const KeyEntry> entry;  // set for kFound
  std::string error;   // set for kUnavailable
};

class GrpcAuthClient {
 public:
  GrpcAuthClient(const std::string& target, const GrpcSecurity& security, KeyTable* table);
  ~GrpcAuthClient();

  void Start();
  void Stop();

  // True while the watch stream is open and its snapshot has been applied: the table is current.
  bool synced() const { return synced_.load(std::memory_order_acquire); }
  // True once any snapshot has ever been applied (the table holds authsvc's keys, maybe stale).
  bool ever_synced() const { return ever_synced_.load(std::memory_order_acquire); }
  // Last health check answer: authsvc reported SERVING.
  bool serving() const { return serving_.load(std::memory_order_acquire); }

  // One ValidateKey call (deadline 2 s). A found key is also added to the table.
  void ValidateKey(const std::string& key, const Sha256Digest& digest, std::function<void(ValidateOutcome)> done);

  // For admin RPCs (see grpc_call.h): authsvc's async stub interface.
  luna::auth::v1::AuthService::Stub::async_interface* async() { return stub_->async(); }

 private:
  // One WatchKeys stream, until it ends (StreamWatcher reconnects).
  grpc::Status RunWatch(grpc::ClientContext& ctx, bool* delivered);
  void HealthLoop();
  bool SleepUnlessStopped(std::chrono::milliseconds d);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<luna::auth::v1::AuthService::Stub> stub_;
  KeyTable* table_;
  std::atomic<bool> synced_{false};
  std::atomic<bool> ever_synced_{false};
  std::atomic<bool> serving_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  StreamWatcher watcher_;
  std::thread health_thread_;
};

}  // namespace luna::gateway
