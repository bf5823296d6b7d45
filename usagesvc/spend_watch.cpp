#include "usagesvc/spend_watch.h"

#include <spdlog/spdlog.h>

#include <deque>

#include "common/serial_write_reactor.h"

namespace luna::usagesvc {

namespace pb = luna::usage::v1;

class SpendWatchHub::Reactor final : public SerialWriteReactor<pb::SpendUpdate, pb::SpendUpdate> {
 public:
  // A watcher this many updates behind is cut off; it reconnects and gets a snapshot.
  static constexpr size_t kMaxPending = 1000;

  Reactor(SpendWatchHub* hub, std::string gateway_id, std::string peer)
      : hub_(hub), gateway_id_(std::move(gateway_id)), peer_(std::move(peer)) {}

  const std::string& gateway_id() const { return gateway_id_; }

  void Send(pb::SpendUpdate update) {
    std::unique_lock lock(mu_);
    if (finishing_) return;
    if (update.snapshot()) pending_.clear();
    if (pending_.size() >= kMaxPending) {
      spdlog::warn("spend watch {} ({}) fell {} updates behind; ending it", gateway_id_, peer_, pending_.size());
      BeginFinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "watcher too slow; reconnect for a snapshot"));
    } else {
      pending_.push_back(std::move(update));
    }
    Pump(std::move(lock));
  }

  void OnCancel() override { RequestFinish(grpc::Status::CANCELLED); }

  void OnDone() override {
    if (hub_ != nullptr) {
      hub_->Unregister(this);
      spdlog::info("spend watch ended: {} ({})", gateway_id_, peer_);
    }
    delete this;
  }

 private:
  bool TakeNextLocked(pb::SpendUpdate* out) override {
    if (pending_.empty()) return false;
    *out = std::move(pending_.front());
    pending_.pop_front();
    return true;
  }
  void ClearPendingLocked() override { pending_.clear(); }
  void Render(const pb::SpendUpdate& item, pb::SpendUpdate* out) override { *out = item; }

  SpendWatchHub* const hub_;
  const std::string gateway_id_;
  const std::string peer_;
  std::deque<pb::SpendUpdate> pending_;  // guarded by mu_
};

grpc::ServerWriteReactor<pb::SpendUpdate>* FinishedSpendStream(grpc::Status status) {
  auto* r = new SpendWatchHub::Reactor(nullptr, "", "");
  r->RequestFinish(std::move(status));
  return r;
}

SpendWatchHub::SpendWatchHub(SpendTracker* tracker, int interval_ms)
    : tracker_(tracker), interval_ms_(interval_ms), thread_([this] { Loop(); }) {}

SpendWatchHub::~SpendWatchHub() { Shutdown(); }

grpc::ServerWriteReactor<pb::SpendUpdate>* SpendWatchHub::Open(grpc::CallbackServerContext* ctx,
                                                                const pb::WatchSpendRequest* request) {
  std::lock_guard lock(mu_);
  if (stopping_) return FinishedSpendStream(grpc::Status(grpc::StatusCode::UNAVAILABLE, "usagesvc is stopping"));
  auto* r = new Reactor(this, request->gateway_id(), ctx->peer());
  pb::SpendUpdate snapshot;
  // Under mu_, so the pusher cannot send this watcher a change older than its snapshot.
  tracker_->Snapshot(request->gateway_id(), &snapshot);
  watchers_.insert(r);
  spdlog::info("spend watch started: {} ({}), {} keys", request->gateway_id(), ctx->peer(), snapshot.keys_size());
  r->Send(std::move(snapshot));
  return r;
}

void SpendWatchHub::Unregister(Reactor* r) {
  std::lock_guard lock(mu_);
  watchers_.erase(r);
}

void SpendWatchHub::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (Reactor* r : watchers_) r->RequestFinish(grpc::Status::OK);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SpendWatchHub::Loop() {
  std::unique_lock lock(mu_);
  std::vector<std::string> gateways;
  std::vector<int64_t> marks;
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stopping_; });
    if (stopping_) break;
    if (tracker_->RollIfDue()) {
      for (Reactor* r : watchers_) {
        pb::SpendUpdate snapshot;
        tracker_->Snapshot(r->gateway_id(), &snapshot);
        r->Send(std::move(snapshot));
      }
      continue;
    }
    gateways.clear();
    for (Reactor* r : watchers_) gateways.push_back(r->gateway_id());
    pb::SpendUpdate changes;
    if (!tracker_->TakeChanges(&changes, gateways, &marks)) continue;
    size_t i = 0;
    for (Reactor* r : watchers_) {
      pb::SpendUpdate update = changes;
      update.set_gateway_watermark(marks[i++]);
      r->Send(std::move(update));
    }
  }
}

}  // namespace luna::usagesvc
