#include "gateway/clients/grpc_usage_client.h"

#include <grpcpp/impl/client_unary_call.h>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

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
    record_method_path_ = std::string("/") + usagepb::UsageService::service_full_name() + "/RecordUsage";
    record_method_.emplace(record_method_path_.c_str(), grpc::internal::RpcMethod::NORMAL_RPC, channel_);
  }
}

void UsageShipper::EventIdInto(uint64_t seq, std::string* out) const {
  char digits[24];
  char* end = std::to_chars(digits, digits + sizeof digits, seq).ptr;
  out->assign(id_prefix_).push_back('-');
  out->append(digits, end);
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

bool UsageShipper::SubmitCrashSafe(const usagepb::UsageEvent& event) {
  if (ring_slots_ == 0) return false;
  // Serialized outside the lock into this thread's buffer, which keeps its capacity: no allocation.
  thread_local std::string payload;
  if (!event.SerializeToString(&payload)) return false;
  bool wake;
  {
    std::lock_guard lock(mu_);
    if (ring_ == nullptr || ring_->Stage(payload) == 0) return false;
    ++stats_.submitted;
    wake = writer_idle_;
    writer_idle_ = false;
  }
  if (wake) wake_due_.store(true, std::memory_order_release);
  return true;
}

void UsageShipper::Submit(const usagepb::UsageEvent& event, std::function<void()> on_spooled) {
  if (!on_spooled && SubmitCrashSafe(event)) return;
  SubmitSerialized(event.SerializeAsString(), std::move(on_spooled));
}

void UsageShipper::SubmitSerialized(std::string payload, std::function<void()> on_spooled) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    inbox_.push_back(std::move(payload));
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

bool UsageShipper::HasWorkLocked() const {
  return !inbox_.empty() || (ring_ != nullptr && ring_->last_staged() > ring_written_);
}

void UsageShipper::WriterLoop() {
  DoNotPreemptTheWaker();
  std::vector<std::string> batch;
  std::vector<std::string_view> payloads;
  std::vector<std::function<void()>> waiters;
  bool wrote = false;
  while (true) {
    bool stopping;
    uint64_t ring_from = 0;
    uint64_t ring_upto = 0;
    {
      std::unique_lock lock(mu_);
      // Events staged in the ring are safe already, so after a write the writer lingers a moment for
      // more instead of being woken by the I/O thread for each next one: under load one wake-up and
      // one write carry a millisecond of events. An answer waiting for the spool cuts it short.
      if (wrote && ring_ != nullptr && !stopping_) {
        cv_.wait_for(lock, kLinger, [this] { return stopping_ || !waiters_.empty(); });
      }
      if (!HasWorkLocked() && !stopping_) {
        writer_idle_ = true;
        cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_ || HasWorkLocked(); });
        writer_idle_ = false;
      }
      batch.swap(inbox_);
      waiters.swap(waiters_);
      if (ring_ != nullptr) {
        ring_from = ring_written_;
        ring_upto = ring_->last_staged();
      }
      stopping = stopping_;
    }
    // The ring's slots up to ring_upto stay as they are until MarkConsumed below: read in place.
    payloads.clear();
    for (uint64_t seq = ring_from + 1; seq <= ring_upto; ++seq) payloads.push_back(ring_->Staged(seq));
    payloads.insert(payloads.end(), batch.begin(), batch.end());
    wrote = !payloads.empty();
    if (!payloads.empty()) {
      absl::Status st;
      size_t pending;
      int64_t refused = 0;
      {
        std::lock_guard slock(spool_mu_);
        st = spool_->Append(payloads, &refused);
        pending = spool_->pending().size();
      }
      {
        std::lock_guard lock(mu_);
        if (!st.ok()) {
          // The spool cannot be written (disk full?): keep the events (in memory, or in the ring,
          // whose slots are not freed) and try again.
          spdlog::error("{}; {} usage events held in memory ({} of them in the ring, safe from a crash)",
                        std::string(st.message()), payloads.size(), ring_upto - ring_from);
          inbox_.insert(inbox_.begin(), std::make_move_iterator(batch.begin()),
                        std::make_move_iterator(batch.end()));
        } else {
          stats_.pending = static_cast<int64_t>(pending);
          if (refused > 0) {
            spdlog::error("{} usage events without an event id dropped", refused);
            stats_.rejected += refused;
          }
          if (ring_upto > ring_from) {  // in the spool now: slots free
            ring_written_ = ring_upto;
            ring_->MarkConsumed(ring_upto);
          }
        }
      }
      batch.clear();
      // Written (or held after a write error, where blocking answers would help no one).
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
      if (HasWorkLocked()) continue;
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

grpc::Status UsageShipper::RecordSerialized(grpc::ClientContext* ctx, absl::Span<const SpooledEvent* const> events,
                                            usagepb::RecordUsageResponse* resp) {
  namespace wire = google::protobuf::internal;
  // RecordUsageRequest { repeated UsageEvent events = 1; }: per event its tag, its length, its bytes.
  constexpr uint32_t kTag = wire::WireFormatLite::MakeTag(usagepb::RecordUsageRequest::kEventsFieldNumber,
                                                          wire::WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  static_assert(kTag < 0x80, "the tag is one byte");
  size_t bytes = 0;
  for (const SpooledEvent* e : events) bytes += 1 + 5 + e->payload().size();
  std::string body;
  body.reserve(bytes);
  for (const SpooledEvent* e : events) {
    uint8_t len[5];
    uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
        static_cast<uint32_t>(e->payload().size()), len);
    body.push_back(static_cast<char>(kTag));
    body.append(reinterpret_cast<const char*>(len), static_cast<size_t>(end - len));
    body.append(e->payload());
  }
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1);
  // What the generated stub's RecordUsage does, with the request already serialized.
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, usagepb::RecordUsageResponse, grpc::ByteBuffer,
                                           google::protobuf::MessageLite>(channel_.get(), *record_method_, ctx,
                                                                          request, resp);
}

bool UsageShipper::SendFrom(UsageSpool& spool, std::mutex& mu, int deadline_ms, SendMode mode) {
  const bool own = &spool == spool_.get();
  bool sent_partial = false;
  const auto full = static_cast<size_t>(batch_size_);
  std::vector<const SpooledEvent*> events;
  std::vector<std::string_view> ids;
  while (true) {
    // The request is built from views of the spool's own events: only this thread removes events
    // from the spool, and the writer's appends to its deque move no element, so they stay in place
    // until Ack below.
    events.clear();
    ids.clear();
    {
      std::lock_guard slock(mu);
      const auto& pending = spool.pending();
      if (pending.empty()) return true;
      if (pending.size() < full && mode != SendMode::kAll &&
          (mode == SendMode::kFullBatches || sent_partial)) {
        return true;
      }
      const size_t n = std::min(pending.size(), full);
      for (size_t i = 0; i < n; ++i) {
        events.push_back(&pending[i]);
        ids.push_back(pending[i].event_id());
      }
      sent_partial = n < full;
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
    usagepb::RecordUsageResponse resp;
    auto st = RecordSerialized(&ctx, events, &resp);
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
