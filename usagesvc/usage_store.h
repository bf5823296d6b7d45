// The durable side of the ledger: the data directory (snapshot + journals), loading and recovery, and
// the writer thread that makes RecordUsage batches durable with group commit.
//
// Files in USAGE_DATA_DIR:
//   snapshot.bin        a storage.v1.Snapshot framed with a CRC (snapshot_file.h); written with
//                       WriteFileAtomically; covers every journal below its next_generation
//   journal.<G>.log     see journal.h; one record per group commit (storage.v1.JournalRecord)
//   journal.<G>.log.dropped-<offset>
//                       a torn or corrupted tail cut off at load, kept for inspection
//
// Group commit: Record() only queues (it never blocks, so gRPC threads may call it). The writer thread
// takes everything queued, drops ids already recorded, writes one record with one write + one fdatasync,
// applies it to the Ledger, and only then calls each batch's callback: OK means durable.
//
// Snapshot (every `snapshot_every_events` events or `snapshot_interval_ms`):
//   1. (writer thread) create journal G+1 durably and switch appends to it — journal G is complete;
//   2. (snapshot thread) capture the ledger as of the end of G into a temporary file, a piece at a time
//      as it is read (the snapshot is never whole in memory), then make it snapshot.bin with
//      next_generation = G+1 (fsync, atomic rename);
//   3. (snapshot thread) delete the journals below G+1.
// Writes never wait for a snapshot: while the ledger is being captured, the writer keeps journaling and
// acknowledging groups and holds their records back (deduplicating against them too), applying them to
// the ledger as soon as the capture is done; queries meanwhile see the ledger as of the rotation.
// A crash between any two steps leaves a loadable state: before 2 the old snapshot plus journals G and
// G+1 are replayed; after 2 journal G is ignored (and deleted at load); a half-written snapshot is only
// ever a temporary file, removed at load. Replaying is idempotent anyway (event ids are deduplicated).
//
// Load: snapshot (if any), then every journal from its next_generation on, in order; a torn or
// corrupted record ends its journal: the rest is cut off and reported (how many bytes, where, why).
// A missing journal generation, a snapshot that does not verify, or a record that verifies but does not
// parse stops the load with an error naming the file: usagesvc then refuses to start, touching nothing.
//
// Write failures: the calls of the failed group get UNAVAILABLE (nothing of it is acknowledged or
// applied), the journal is cut back to its last good size, the store reports unhealthy, and the
// writer retries every `retry_interval_ms` with a probe record (and with any new batch) until a write
// succeeds; then it reports healthy again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "usagesvc/journal.h"
#include "usagesvc/ledger.h"
#include "usagesvc/spend_tracker.h"

namespace luna::usagesvc {

// The steps of a snapshot, for the crash-point test hook.
enum class SnapshotStep { kRotated, kSnapshotWritten, kOldJournalsDeleted };

struct UsageStoreOptions {
  std::string data_dir = "./usage-data";
  LedgerOptions ledger;
  // Take a snapshot after this many newly recorded events (0: never by count) ...
  int64_t snapshot_every_events = 100000;
  // ... but not before the new events are this share (in percent) of the events the last snapshot
  // held (0: no such floor). A snapshot writes the whole ledger, so with a fixed count its cost per
  // event grows with the ledger (quadratic in all); with the floor it stays bounded.
  int64_t snapshot_growth_percent = 50;
  // ... or this long after the last one if anything was recorded since (0: never by time).
  int64_t snapshot_interval_ms = 3600 * 1000;
  // How often to retry writing while the journal is failing.
  int64_t retry_interval_ms = 1000;
  // Events queued beyond this are refused with UNAVAILABLE (back-pressure).
  size_t max_queued_events = 2000000;
  // Test knob (env USAGE_TEST_FAIL_WRITES_IF_EXISTS): while this file exists, journal writes fail.
  std::string fail_writes_if_exists;
  // Test hook: called after each snapshot step (kRotated: on the snapshot thread, before the capture);
  // returning true abandons the store right there, as if the process had been killed (nothing more is
  // written or acknowledged). It may also block, to hold a snapshot mid-way. Null in production.
  std::function<bool(SnapshotStep)> crash_after_step;
};

// What loading found, for the log and for tests.
struct LoadReport {
  bool snapshot_found = false;
  int64_t snapshot_next_generation = 0;
  int journals_replayed = 0;
  int64_t records_replayed = 0;
  int64_t events_replayed = 0;
  int64_t bytes_dropped = 0;
  std::vector<std::string> problems;  // one line per tail cut off or file removed
};

// What the store has done since Open, for metrics. Written by the store's threads, read by any.
struct UsageStoreCounters {
  std::atomic<uint64_t> events_recorded{0};   // new events made durable and acknowledged
  std::atomic<uint64_t> events_duplicate{0};  // events of acknowledged batches that were already recorded
  // Journal records made durable: one write() + one fdatasync() each (batch groups, legacy imports,
  // the probe records written to recover from a failure).
  std::atomic<uint64_t> journal_writes{0};
  std::atomic<uint64_t> journal_write_failures{0};  // appends whose write or fdatasync failed
  std::atomic<uint64_t> snapshots_written{0};
  std::atomic<uint64_t> snapshot_failures{0};
};

struct RecordResult {
  int32_t recorded = 0;
  int32_t duplicates = 0;
};

class UsageStore {
 public:
  using EventList = google::protobuf::RepeatedPtrField<luna::usage::v1::UsageEvent>;
  using RecordDone = std::function<void(const absl::Status&, RecordResult)>;
  using ImportDone = std::function<void(const absl::Status&, int imported)>;

  // Loads the data directory (creating it if missing) and starts the writer thread.
  static absl::StatusOr<std::unique_ptr<UsageStore>> Open(UsageStoreOptions options);
  // Commits whatever is queued, then stops the writer thread.
  ~UsageStore();
  UsageStore(const UsageStore&) = delete;
  UsageStore& operator=(const UsageStore&) = delete;

  // Queues a validated batch. `events` must stay valid until `done` runs, on the writer thread (or at
  // once, with UNAVAILABLE, when the queue is full or the store is stopping).
  void Record(const EventList* events, RecordDone done);
  // Queues legacy histories; the ones already imported are skipped. `done` gets how many were new.
  void ImportLegacy(std::vector<storage::v1::LegacyImport> imports, ImportDone done);

  const Ledger& ledger() const { return *ledger_; }
  // A tracker of the keys' spend over this store's ledger; from then on records are applied through
  // it. Call before the store receives its first Record.
  SpendTracker* StartSpendTracking();
  const LoadReport& load_report() const { return load_report_; }
  const std::string& data_dir() const { return options_.data_dir; }

  bool healthy() const;
  // What is wrong, for /health: why the journal cannot be written (while !healthy()), else why the
  // last snapshot failed (until one succeeds; recording goes on meanwhile); "" when nothing is.
  std::string problem() const;
  // Journal records written (one write + one fdatasync each) since Open: batches / this = group size.
  int64_t records_written() const { return records_written_.load(std::memory_order_relaxed); }
  const UsageStoreCounters& counters() const { return counters_; }
  // Events queued for the writer, not yet durable.
  size_t queued_events() const;
  // Calls `listener(healthy)` now and on every change, from the writer thread. Replaces any earlier one.
  void SetHealthListener(std::function<void(bool)> listener);

  // Test hooks: inject a journal fault (kNone clears it); take a snapshot now and wait for it.
  void InjectFaultForTesting(JournalFault fault) { faults_.mode.store(fault); }
  absl::Status SnapshotNowForTesting();

 private:
  struct Submission {
    const EventList* events = nullptr;
    RecordDone record_done;
    std::vector<storage::v1::LegacyImport> imports;
    ImportDone import_done;
  };

  explicit UsageStore(UsageStoreOptions options);
  absl::Status Load();
  std::string SnapshotPath() const;
  std::string JournalPath(uint64_t generation) const;
  void Enqueue(Submission s, size_t events);
  void WriterLoop();
  void CommitGroup(std::vector<Submission>& group);
  void TryRecover();
  void SetHealthy(bool healthy, const std::string& why);
  void SetSnapshotProblem(std::string problem);
  // Writer thread: step 1, then starts the snapshot thread for steps 2 and 3.
  absl::Status StartSnapshot(std::vector<std::function<void(absl::Status)>> waiters);
  void RunSnapshot(uint64_t next_generation, std::vector<std::function<void(absl::Status)>> waiters);
  absl::Status WriteSnapshot(uint64_t next_generation);
  // Writer thread: applies the records held back during a capture.
  void ApplyHeldBack();
  // `bytes`: the record as journaled, if at hand (Ledger::Apply).
  void ApplyRecord(const storage::v1::JournalRecord& record, std::string_view bytes = {});
  bool CrashAt(SnapshotStep step);
  int64_t NowMs() const { return ledger_->options().now_ms(); }

  UsageStoreOptions options_;
  JournalFaults faults_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<SpendTracker> spend_;
  LoadReport load_report_;

  // Owned by the writer thread after Open.
  std::unique_ptr<JournalFile> journal_;
  int64_t events_since_snapshot_ = 0;
  // Events (ids) the last snapshot held, or the ledger held at load: the base of the growth floor.
  std::atomic<int64_t> snapshot_held_events_{0};
  int64_t last_snapshot_ms_ = 0;
  int64_t next_retry_ms_ = 0;
  std::atomic<bool> crashed_{false};
  // Records journaled and acknowledged during a capture, and their ids / legacy keys (writer thread).
  std::vector<storage::v1::JournalRecord> held_back_;
  absl::flat_hash_set<EventDigest> held_back_ids_;
  absl::flat_hash_set<std::string> held_back_imports_;
  bool snapshot_running_ = false;  // writer thread
  bool deferred_request_ = false;  // writer thread: SnapshotNowForTesting during a running snapshot
  std::vector<std::function<void(absl::Status)>> deferred_waiters_;
  std::atomic<bool> capturing_{false};
  std::thread snapshot_thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Submission> queue_;
  size_t queued_events_ = 0;
  bool stopping_ = false;
  bool snapshot_requested_ = false;
  bool snapshot_progress_ = false;  // set by the snapshot thread: capture done or snapshot finished
  bool snapshot_finished_ = false;
  std::vector<std::function<void(absl::Status)>> snapshot_waiters_;
  bool healthy_ = false;
  std::string journal_problem_;   // why the journal is not writable (while !healthy_)
  std::string snapshot_problem_;  // why the last snapshot failed; "" after one succeeded
  std::function<void(bool)> health_listener_;
  std::mutex health_mu_;  // serializes listener calls

  std::atomic<int64_t> records_written_{0};
  UsageStoreCounters counters_;
  std::thread writer_;
};

}  // namespace luna::usagesvc
