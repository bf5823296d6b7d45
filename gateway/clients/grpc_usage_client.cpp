#include "gateway/clients/grpc_usage_client.h"

#include <spdlog/spdlog.h>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "absl/cleanup/cleanup.h"

#include "common/crypto.h"

namespace luna::gateway {

namespace usagepb = luna::usage::v1;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kLinger = std::chrono::milliseconds(1);

// The writer and the sender are woken by the I/O thread (an event to write, a full batch). As
// SCHED_BATCH threads their wake-up does not preempt the thread that woke them: the I/O thread goes
// on with other connections' work, and the woken thread runs on the other core if it is idle, or
// when the I/O thread next waits. Under load that spares the I/O thread a context switch on most
// hand-overs: about 12% of the gateway's CPU per small request on 2 cores (README.md, "Benchmarks").
// Not being allowed to (some sandboxes) only costs that gain.
void DoNotPreemptTheWaker() {
  sched_param param{};
  if (int err = pthread_setschedparam(pthread_self(), SCHED_BATCH, &param); err != 0) {
    spdlog::debug("usage shipper thread stays SCHED_OTHER: {}", std::strerror(err));
  }
}

}  // namespace

UsageShipper::UsageShipper(std::string target, const GrpcSecurity& security, std::string spool_path, int batch_size,
                           std::string spool_pattern, uint32_t ring_slots)
    : target_(std::move(target)),
      spool_path_(std::move(spool_path)),
      spool_pattern_(std::move(spool_pattern)),
      batch_size_(batch_size),
      ring_slots_(ring_slots),
      id_prefix_("gw-" + RandomHex(6)) {
  if (!target_.empty()) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = security.CreateChannel(target_, args);
    stub_ = usagepb::UsageService::NewStub(channel_);
  }
}

UsageShipper::~UsageShipper() { Stop(0); }

absl::Status UsageShipper::Start() {
  auto lock = SpoolLock::TryLock(spool_path_);
  if (!lock.ok()) return lock.status();
  own_lock_.emplace(std::move(*lock));
  auto spool = UsageSpool::Open(spool_path_);
  if (!spool.ok()) return spool.status();
  spool_ = std::move(*spool);
  if (spool_->dropped_tail_bytes() > 0) {
    spdlog::warn("usage spool {}: cut off a torn tail of {} bytes (a crash mid-write)", spool_path_,
                 spool_->dropped_tail_bytes());
  }
  if (spool_->recovered_from_ring() > 0) {
    spdlog::warn("usage spool {}: {} events of answers given just before a crash taken in from its ring", spool_path_,
                 spool_->recovered_from_ring());
  }
  if (!spool_->pending().empty()) {
    spdlog::info("usage spool {}: {} events from a previous run to deliver", spool_path_, spool_->pending().size());
  }
  if (ring_slots_ > 0) {
    auto ring = UsageRing::Create(RingPathFor(spool_path_), ring_slots_);
    if (ring.ok()) {
      ring_ = std::move(*ring);
    } else {
      spdlog::warn("{}: every answer waits for its usage event to be written to the spool",
                   std::string(ring.status().message()));
    }
  }
  {
    std::lock_guard lock(mu_);
    stats_.pending = static_cast<int64_t>(spool_->pending().size());
  }
  writer_ = std::thread([this] { WriterLoop(); });
  sender_ = std::thread([this] { SenderLoop(); });
  return absl::OkStatus();
}

void UsageShipper::Stop(int drain_ms) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    drain_ms_ = drain_ms;
  }
  cv_.notify_all();
  send_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (sender_.joinable()) sender_.join();
}

bool UsageShipper::SubmitCrashSafe(usagepb::UsageEvent& event) {
  if (ring_slots_ == 0) return false;
  std::string payload;
  if (!event.SerializeToString(&payload)) return false;
  bool wake;
  {
    std::lock_guard lock(mu_);
    if (ring_ == nullptr || ring_->Stage(payload) == 0) return false;
    inbox_.push_back(std::move(event));
    ++stats_.submitted;
    wake = writer_idle_;
    writer_idle_ = false;
  }
  if (wake) wake_due_.store(true, std::memory_order_release);
  return true;
}

void UsageShipper::Submit(usagepb::UsageEvent event, std::function<void()> on_spooled) {
  if (!on_spooled && SubmitCrashSafe(event)) return;
  bool wake;
  {
    std::lock_guard lock(mu_);
    inbox_.push_back(std::move(event));
    ++stats_.submitted;
    // Wake the writer only when it sleeps (under load it is already busy and takes the next batch), or
    // when an answer waits, which ends its linger.
    wake = writer_idle_ || static_cast<bool>(on_spooled);
    writer_idle_ = false;
    if (on_spooled) {
      waiters_.push_back(std::move(on_spooled));
      ++stats_.waited;
    }
  }
  if (wake) cv_.notify_one();
}

UsageShipperStats UsageShipper::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void UsageShipper::WriterLoop() {
  DoNotPreemptTheWaker();
  std::vector<usagepb::UsageEvent> batch;
  std::vector<std::function<void()>> waiters;
  bool wrote = false;
  while (true) {
    bool stopping;
    uint64_t staged_upto;
    {
      std::unique_lock lock(mu_);
      // Events staged in the ring are safe already, so after a write the writer lingers a moment for
      // more instead of being woken by the I/O thread for each next one: under load one wake-up and
      // one write carry a millisecond of events. An answer waiting for the spool cuts it short.
      if (wrote && ring_ != nullptr && !stopping_) {
        cv_.wait_for(lock, kLinger, [this] { return stopping_ || !waiters_.empty(); });
      }
      if (inbox_.empty() && !stopping_) {
        writer_idle_ = true;
        cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_ || !inbox_.empty(); });
        writer_idle_ = false;
      }
      batch.swap(inbox_);
      waiters.swap(waiters_);
      // Every event staged so far is in this batch (the inbox is in staging order).
      staged_upto = ring_ != nullptr ? ring_->last_staged() : 0;
      stopping = stopping_;
    }
    wrote = !batch.empty();
    if (!batch.empty()) {
      absl::Status st;
      size_t pending;
      {
        std::lock_guard slock(spool_mu_);
        st = spool_->Append(&batch);  // moves the events in once written
        pending = spool_->pending().size();
      }
      {
        std::lock_guard lock(mu_);
        if (!st.ok()) {
          // The spool cannot be written (disk full?): keep the events in memory and try again.
          spdlog::error("{}; {} usage events held in memory", std::string(st.message()), batch.size());
          inbox_.insert(inbox_.begin(), std::make_move_iterator(batch.begin()),
                        std::make_move_iterator(batch.end()));
        } else {
          stats_.pending = static_cast<int64_t>(pending);
          if (ring_ != nullptr) ring_->MarkConsumed(staged_upto);  // in the spool now: slots free
        }
      }
      batch.clear();
      // Written (or held in memory after a write error, where blocking answers would help no one).
      for (auto& w : waiters) w();
      waiters.clear();
      // The sender wakes by itself every 100 ms and sends what has gathered; waking it for every
      // event cost a thread wake-up and an RPC per request. A full batch goes at once.
      if (st.ok() && pending >= static_cast<size_t>(batch_size_)) {
        {
          std::lock_guard lock(mu_);
          send_soon_ = true;
        }
        send_cv_.notify_one();
      }
      if (!st.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (stopping) {
      std::lock_guard lock(mu_);
      if (!inbox_.empty()) continue;
      writer_done_ = true;
      send_cv_.notify_all();
      return;
    }
  }
}

bool UsageShipper::SendPending(int deadline_ms, SendMode mode) {
  if (!stub_) return false;
  if (!SendFrom(*spool_, spool_mu_, deadline_ms, mode)) return false;
  // Then what adopted spools still hold; each is removed once delivered.
  for (auto it = adopted_.begin(); it != adopted_.end();) {
    Adopted& a = **it;
    // An adopted spool gets no new events: it is sent whole and removed.
    if (!SendFrom(*a.spool, a.mu, deadline_ms, SendMode::kAll)) return false;
    spdlog::info("usage spool {} (adopted) delivered; removing it", a.spool->path());
    a.spool.reset();
    a.lock.RemoveSpoolAndRelease();
    it = adopted_.erase(it);
  }
  return true;
}

bool UsageShipper::SendFrom(UsageSpool& spool, std::mutex& mu, int deadline_ms, SendMode mode) {
  const bool own = &spool == spool_.get();
  bool sent_partial = false;
  const auto full = static_cast<size_t>(batch_size_);
  while (true) {
    // The request borrows the spool's own events instead of copying them (each copy is a dozen
    // allocations): only this thread removes events from the spool, and the writer's appends to
    // its deque move no element, so they stay in place until Ack below. They are given back before
    // the request is destroyed.
    usagepb::RecordUsageRequest req;
    std::vector<std::string_view> ids;
    {
      std::lock_guard slock(mu);
      const auto& pending = spool.pending();
      if (pending.empty()) return true;
      if (pending.size() < full && mode != SendMode::kAll &&
          (mode == SendMode::kFullBatches || sent_partial)) {
        return true;
      }
      const size_t n = std::min(pending.size(), full);
      req.mutable_events()->Reserve(static_cast<int>(n));
      ids.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        req.mutable_events()->UnsafeArenaAddAllocated(const_cast<usagepb::UsageEvent*>(&pending[i]));
        ids.push_back(pending[i].event_id());
      }
      sent_partial = n < full;
    }
    absl::Cleanup give_back = [&req] {
      auto* events = req.mutable_events();
      while (!events->empty()) events->UnsafeArenaReleaseLast();
    };
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
    usagepb::RecordUsageResponse resp;
    auto st = stub_->RecordUsage(&ctx, req, &resp);
    std::move(give_back).Invoke();  // before Ack removes the events
    if (st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      // Events are validated before they are submitted, so this is a bug somewhere; keeping them
      // would block every later event. Drop this batch and say so loudly.
      spdlog::error("usagesvc refused {} usage events as malformed ({}); dropping them", ids.size(),
                    st.error_message());
      std::lock_guard lock(mu_);
      stats_.rejected += static_cast<int64_t>(ids.size());
    } else if (!st.ok()) {
      std::lock_guard lock(mu_);
      if (stats_.connected) {
        spdlog::warn("usagesvc unreachable ({}): keeping usage events in the spool", st.error_message());
      }
      stats_.connected = false;
      return false;
    } else {
      std::lock_guard lock(mu_);
      if (!stats_.connected) spdlog::info("usagesvc reachable: delivering spooled usage events");
      stats_.connected = true;
      stats_.acknowledged += static_cast<int64_t>(ids.size());
    }
    size_t pending;
    {
      std::lock_guard slock(mu);
      auto ast = spool.Ack(ids);
      if (!ast.ok()) spdlog::error("{}", std::string(ast.message()));
      pending = spool.pending().size();
    }
    if (own) {
      std::lock_guard lock(mu_);
      stats_.pending = static_cast<int64_t>(pending);
    }
  }
}

void UsageShipper::NoteIdleReachability() {
  // Only the calls say whether usagesvc takes events; with none to make (a gateway restarted with an
  // empty spool and no traffic yet, or a quiet one) the channel's state is the best word: ready is
  // reachable, a failed connection is not, and idle or connecting changes nothing.
  {
    std::lock_guard lock(mu_);
    if (stats_.pending != 0) return;
  }
  const grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
  std::lock_guard lock(mu_);
  if (state == GRPC_CHANNEL_READY && !stats_.connected) {
    spdlog::info("usagesvc reachable: nothing to deliver");
    stats_.connected = true;
  } else if (state == GRPC_CHANNEL_TRANSIENT_FAILURE && stats_.connected) {
    spdlog::warn("usagesvc unreachable: its connection failed while there was nothing to deliver");
    stats_.connected = false;
  }
}

void UsageShipper::AdoptOrphans() {
  for (const auto& path : SiblingSpools(spool_pattern_, spool_path_)) {
    bool have = false;
    for (const auto& a : adopted_) have |= a->spool->path() == path;
    if (have) continue;
    auto lock = SpoolLock::TryLock(path);
    if (!lock.ok()) continue;  // its gateway is running (or the file cannot be locked): not ours
    auto spool = UsageSpool::Open(path);
    if (!spool.ok()) {
      spdlog::error("cannot adopt usage spool {}: {}", path, std::string(spool.status().message()));
      continue;
    }
    if ((*spool)->pending().empty()) {
      lock->RemoveSpoolAndRelease();
      spdlog::info("usage spool {} of a gateway that is gone had nothing pending; removed", path);
      continue;
    }
    spdlog::info("adopted usage spool {} of a gateway that is gone: {} events to deliver", path,
                 (*spool)->pending().size());
    adopted_.push_back(std::unique_ptr<Adopted>(new Adopted{std::move(*lock), std::move(*spool), {}}));
  }
}

void UsageShipper::SenderLoop() {
  DoNotPreemptTheWaker();
  auto backoff = std::chrono::milliseconds(100);
  auto next_send = Clock::now();
  // Spools left by gateways that are gone: looked for at start and then every 30 s (a replica replaced
  // after this one started leaves its file too).
  auto next_adopt = Clock::now();
  while (true) {
    bool stopping, writer_done, full_batch;
    int drain;
    {
      std::unique_lock lock(mu_);
      full_batch = send_cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_ || send_soon_; });
      send_soon_ = false;
      stopping = stopping_;
      writer_done = writer_done_;
      drain = drain_ms_;
    }
    if (stopping) {
      if (!writer_done) {
        // Let the writer hand its last events to the spool first.
        std::unique_lock lock(mu_);
        send_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return writer_done_; });
      }
      if (drain > 0) SendPending(drain, SendMode::kAll);
      std::lock_guard slock(spool_mu_);
      if (auto st = spool_->Sync(); !st.ok()) spdlog::error("{}", std::string(st.message()));
      return;
    }
    if (stub_ && !spool_pattern_.empty() && Clock::now() >= next_adopt) {
      AdoptOrphans();
      next_adopt = Clock::now() + std::chrono::seconds(30);
    }
    if (Clock::now() < next_send) continue;
    if (SendPending(5000, full_batch ? SendMode::kFullBatches : SendMode::kTick)) {
      backoff = std::chrono::milliseconds(100);
      if (!full_batch) NoteIdleReachability();  // on the 100 ms tick only, never per batch under load
    } else {
      next_send = Clock::now() + backoff;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }
}

}  // namespace luna::gateway
