// The write side of a server-streaming watch (authsvc's WatchKeys, fallbacksvc's WatchRoutes): items
// are queued from any thread without blocking and written one at a time, each StartWrite after the
// previous OnWriteDone. Finish is called only when no write is in flight (and not before the subclass
// says it has started), and StartWrite never after Finish.
//
// A subclass keeps its own queue (TakeNextLocked / ClearPendingLocked, called under mu_), renders an
// item into the message outside the lock (Render), and enqueues under mu_ then calls Pump.
#pragma once

#include <grpcpp/grpcpp.h>

#include <mutex>
#include <utility>

namespace luna {

template <class Msg, class Item>
class SerialWriteReactor : public grpc::ServerWriteReactor<Msg> {
 public:
  // Ends the stream with `status` once the write in flight (if any) is done; drops what is queued.
  void RequestFinish(grpc::Status status) {
    std::unique_lock lock(mu_);
    if (finishing_) return;
    BeginFinishLocked(std::move(status));
    Pump(std::move(lock));
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mu_);
    write_in_flight_ = false;
    if (!ok && !finishing_) BeginFinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream broken"));
    Pump(std::move(lock));
  }

 protected:
  // Under mu_: moves the next queued item to `*out`; false if there is none.
  virtual bool TakeNextLocked(Item* out) = 0;
  // Under mu_: drops every queued item (the stream is finishing).
  virtual void ClearPendingLocked() = 0;
  // Without the lock, by the only thread allowed to touch the message until OnWriteDone.
  virtual void Render(const Item& item, Msg* out) = 0;

  void BeginFinishLocked(grpc::Status status) {
    finishing_ = true;
    finish_status_ = std::move(status);
    ClearPendingLocked();
  }

  // Starts the next step if none is in flight: the finish, or the next write. Releases the lock before
  // calling into gRPC.
  void Pump(std::unique_lock<std::mutex> lock) {
    if (write_in_flight_ || finished_) return;
    if (finishing_) {
      if (!started_) return;  // the subclass's Start finishes it once it is set up
      finished_ = true;
      grpc::Status status = finish_status_;
      lock.unlock();
      this->Finish(std::move(status));
      return;
    }
    Item next;
    if (!TakeNextLocked(&next)) return;
    write_in_flight_ = true;
    lock.unlock();
    Render(next, &current_);
    this->StartWrite(&current_);
  }

  std::mutex mu_;
  bool finishing_ = false;  // guarded by mu_
  bool started_ = true;     // guarded by mu_; a subclass that subscribes in Start sets it false first

 private:
  bool write_in_flight_ = false;
  bool finished_ = false;
  grpc::Status finish_status_;
  Msg current_;
};

}  // namespace luna
