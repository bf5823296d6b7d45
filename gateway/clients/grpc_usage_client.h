// Ships usage events from the gateway to usagesvc (DESIGN.md, hot path rule 3). A request thread
// serializes its event once and stages the bytes in the spool's ring (usage_ring.h: a copy into a
// mapped file, safe from a crash of the process; no I/O, no RPC, no allocation), so its answer can go
// out at once. A writer thread appends the staged bytes to the local spool (it is woken by the first
// event after a quiet spell; after a write it lingers 1 ms for more, so under load one write carries a
// millisecond of events) and frees their ring slots; a sender thread sends the unacknowledged ones in
// batches with RecordUsage, the request built from the same bytes, and marks them acknowledged once
// usagesvc confirms they are durable. A usagesvc outage just lets the spool grow; it is drained when
// usagesvc is back, and replayed at the next start after a crash.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>
#include <thread>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/grpc_security.h"
#include "gateway/usage/spool_lock.h"
#include "gateway/usage/usage_ring.h"
#include "gateway/usage/usage_spool.h"
#include "usage.grpc.pb.h"

namespace luna::gateway {

struct UsageShipperStats {
  int64_t submitted = 0;     // events handed over by requests
  int64_t acknowledged = 0;  // events usagesvc confirmed
  int64_t rejected = 0;      // events usagesvc refused as malformed (dropped, logged)
  int64_t pending = 0;       // events in the spool waiting for acknowledgement
  int64_t waited = 0;        // events submitted with on_spooled: answers that waited for the spool's write
  bool connected = false;    // the last RecordUsage succeeded
};

class UsageShipper {
 public:
  // `target` is usagesvc's address ("" disables shipping: events are only spooled), reached with
  // `security`'s credentials and token. `spool_pattern` is
  // USAGE_SPOOL_FILE as configured: with "{hostname}" in it, the spools of gateways that are gone
  // (same directory, another host name, lock free) are adopted and delivered (see spool_lock.h).
  // `ring_slots` sizes the spool's ring (USAGE_RING_SLOTS; 0: no ring, every answer waits for the
  // spool's write).
  UsageShipper(std::string target, const GrpcSecurity& security, std::string spool_path, int batch_size = 500,
               std::string spool_pattern = "", uint32_t ring_slots = 0);
  ~UsageShipper();

  // Locks and opens the spool (replaying what a previous run left) and starts the shipper threads.
  // FailedPrecondition if another running gateway holds the spool.
  absl::Status Start();
  // Hands the queue to the spool and tries, up to `drain_ms`, to deliver what is pending.
  void Stop(int drain_ms = 2000);

  // From any thread: queue one event. Never blocks on I/O. `on_spooled`, if set, is called (on the
  // writer thread) once the event is in the spool file — or could not be written and is held in
  // memory — so a caller can hold back the end of its answer until its usage is safe from a crash.
  // The event is serialized before this returns; the shipper keeps only its bytes.
  void Submit(const luna::usage::v1::UsageEvent& event, std::function<void()> on_spooled = nullptr);
  // The same for an event already serialized (never staged in the ring: it goes to the writer).
  void SubmitSerialized(std::string payload, std::function<void()> on_spooled = nullptr);
  // From any thread: queue one event that is safe from a crash of this process on return (staged in
  // the ring); false when it cannot be staged (no ring, the ring full, the event larger than a slot):
  // then Submit with `on_spooled` and wait. The event is serialized once, here: the writer appends
  // the bytes staged in the ring to the spool and the sender sends them as they are.
  // The caller may reuse `event` at once (the router keeps one per thread, so building an event
  // allocates nothing once its strings have grown).
  // A sleeping writer is not woken here but by the next WakeWriterIfDue (or its own 200 ms timeout):
  // waking it costs a system call, which an I/O thread should pay after its answer is out, not before.
  // Submit without `on_spooled` stages the same way.
  bool SubmitCrashSafe(const luna::usage::v1::UsageEvent& event);
  // Wakes the writer if an event staged since it went to sleep is waiting for it. The I/O threads
  // call it after each request's answer.
  void WakeWriterIfDue() {
    if (wake_due_.load(std::memory_order_relaxed) && wake_due_.exchange(false, std::memory_order_acq_rel)) {
      cv_.notify_one();
    }
  }

  UsageShipperStats stats() const;
  // For the admin usage queries (see grpc_call.h); null when shipping is disabled.
  luna::usage::v1::UsageService::Stub::async_interface* async() { return stub_ ? stub_->async() : nullptr; }
  // A process-unique prefix for event ids.
  const std::string& id_prefix() const { return id_prefix_; }
  // The sequence number of the next event id, and the id it gives ("<prefix>-<seq>"), written into
  // `out` (reusing its buffer).
  uint64_t NextSequence() { return seq_.fetch_add(1, std::memory_order_relaxed) + 1; }
  void EventIdInto(uint64_t seq, std::string* out) const;

 private:
  void WriterLoop();
  void SenderLoop();
  // How much of what is pending one round of the sender sends, in batches of batch_size_:
  //   kFullBatches  only full batches (woken because a full batch gathered);
  //   kTick         full batches, then what is left as one partial batch (the 100 ms tick);
  //   kAll          until nothing is left (the drain at stop, an adopted spool).
  // Under load the sender is woken by full batches, so every call carries batch_size_ events instead
  // of the few that one round trip lets gather; a remainder waits at most one tick.
  enum class SendMode { kFullBatches, kTick, kAll };
  // Sends from our spool, then the adopted ones; false when a call fails.
  bool SendPending(int deadline_ms, SendMode mode);
  // With nothing pending, sets connected from the channel's state (no call to judge by).
  void NoteIdleReachability();
  // The same for one spool (ours under spool_mu_, or an adopted one).
  bool SendFrom(UsageSpool& spool, std::mutex& mu, int deadline_ms, SendMode mode);
  // Whether the writer has events to append (under mu_).
  bool HasWorkLocked() const;
  // Looks for spools of gateways that are gone and takes them over (sender thread).
  void AdoptOrphans();
  // One RecordUsage call carrying `events` as they are: the request is built from their serialized
  // bytes (an embedded message and a bytes field look the same on the wire) instead of each event
  // being parsed into a message and serialized again.
  grpc::Status RecordSerialized(grpc::ClientContext* ctx, absl::Span<const SpooledEvent* const> events,
                                luna::usage::v1::RecordUsageResponse* resp);

  std::string target_;
  std::string spool_path_;
  std::string spool_pattern_;
  int batch_size_;
  uint32_t ring_slots_;
  bool send_soon_ = false;  // guarded by mu_: a full batch is waiting in the spool
  std::string id_prefix_;
  std::atomic<int64_t> seq_{0};

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<luna::usage::v1::UsageService::Stub> stub_;
  std::string record_method_path_;  // "/luna.usage.v1.UsageService/RecordUsage" (RpcMethod keeps a pointer)
  std::optional<grpc::internal::RpcMethod> record_method_;  // for RecordSerialized
  std::mutex spool_mu_;                // guards spool_
  std::unique_ptr<UsageSpool> spool_;
  std::optional<SpoolLock> own_lock_;
  struct Adopted {
    SpoolLock lock;
    std::unique_ptr<UsageSpool> spool;
    std::mutex mu;  // (only the sender thread uses it)
  };
  std::vector<std::unique_ptr<Adopted>> adopted_;  // sender thread only

  mutable std::mutex mu_;              // guards everything below
  std::condition_variable cv_;         // wakes the writer
  std::condition_variable send_cv_;    // wakes the sender
  // Serialized events for the writer that are not in the ring (no ring, the ring full, or an answer
  // waiting for the spool); the ring's staged events are read from the ring itself.
  std::vector<std::string> inbox_;
  std::vector<std::function<void()>> waiters_;  // on_spooled callbacks of the events in inbox_
  std::unique_ptr<UsageRing> ring_;             // null when off or it could not be created
  uint64_t ring_written_ = 0;                   // the ring's events up to here are in the spool
  bool writer_idle_ = false;
  std::atomic<bool> wake_due_{false};  // the writer sleeps and an event was staged for it
  bool stopping_ = false;
  bool writer_done_ = false;
  int drain_ms_ = 0;
  UsageShipperStats stats_;
  std::thread writer_;
  std::thread sender_;
};

}  // namespace luna::gateway
