// A thread that keeps one gRPC server stream open (authsvc's keys, fallbacksvc's routes, usagesvc's
// spend): it calls `run` (which opens the stream with the context it is given and reads until the
// stream ends), then reconnects with a backoff (100 ms doubling to 2 s, back to 100 ms after a stream
// that delivered anything) until Stop, which cancels the open stream and joins.
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace luna::gateway {

class StreamWatcher {
 public:
  // `run` returns the stream's final status and whether it delivered anything. Called on the
  // watcher's own thread only.
  using Run = std::function<grpc::Status(grpc::ClientContext& ctx, bool* delivered)>;
  // `on_end` (optional) is told each time a stream ends (not at Stop).
  explicit StreamWatcher(Run run, std::function<void(const grpc::Status&)> on_end = nullptr)
      : run_(std::move(run)), on_end_(std::move(on_end)) {}
  ~StreamWatcher() { Stop(); }

  void Start() { thread_ = std::thread([this] { Loop(); }); }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      if (ctx_ != nullptr) ctx_->TryCancel();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    auto backoff = std::chrono::milliseconds(100);
    while (true) {
      grpc::ClientContext ctx;
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        ctx_ = &ctx;
      }
      // Wait for the service to come up rather than failing at once while it restarts.
      ctx.set_wait_for_ready(true);
      bool delivered = false;
      grpc::Status st = run_(ctx, &delivered);
      std::unique_lock lock(mu_);
      ctx_ = nullptr;
      if (stopping_) return;
      lock.unlock();
      if (on_end_) on_end_(st);
      if (delivered) backoff = std::chrono::milliseconds(100);
      lock.lock();
      if (cv_.wait_for(lock, backoff, [this] { return stopping_; })) return;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }

  const Run run_;
  const std::function<void(const grpc::Status&)> on_end_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  grpc::ClientContext* ctx_ = nullptr;  // guarded by mu_
  std::thread thread_;
};

}  // namespace luna::gateway
