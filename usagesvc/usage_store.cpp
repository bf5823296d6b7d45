#include "usagesvc/usage_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "usagesvc/snapshot_file.h"

namespace luna::usagesvc {
namespace pb = luna::usage::v1;
namespace spb = luna::usage::storage::v1;

namespace {

constexpr size_t kProbeBytes = 4096;
// A group stops growing at this many events (one journal record stays well below its size limit).
constexpr size_t kMaxGroupEvents = 200000;

// "journal.<G>.log" -> G.
std::optional<uint64_t> JournalGeneration(std::string_view name) {
  constexpr std::string_view kPrefix = "journal.", kSuffix = ".log";
  if (name.size() <= kPrefix.size() + kSuffix.size() || name.substr(0, kPrefix.size()) != kPrefix ||
      name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return std::nullopt;
  }
  std::string_view digits = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  uint64_t g = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    g = g * 10 + static_cast<uint64_t>(c - '0');
  }
  return g;
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return absl::FailedPreconditionError(absl::StrCat("cannot list ", dir, ": ", std::strerror(errno)));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  return names;
}

absl::Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot open ", dir, ": ", std::strerror(errno)));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::UnavailableError(absl::StrCat("cannot sync ", dir, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

// Retry timing follows real time, whatever clock the ledger was given.
int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

UsageStore::UsageStore(UsageStoreOptions options) : options_(std::move(options)) {
  faults_.fail_while_file_exists = options_.fail_writes_if_exists;
}

absl::StatusOr<std::unique_ptr<UsageStore>> UsageStore::Open(UsageStoreOptions options) {
  std::unique_ptr<UsageStore> store(new UsageStore(std::move(options)));
  if (auto st = store->Load(); !st.ok()) return st;
  store->healthy_ = true;
  store->last_snapshot_ms_ = store->NowMs();
  store->writer_ = std::thread([s = store.get()] { s->WriterLoop(); });
  return store;
}

UsageStore::~UsageStore() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
}

std::string UsageStore::SnapshotPath() const { return options_.data_dir + "/snapshot.bin"; }

std::string UsageStore::JournalPath(uint64_t generation) const {
  return absl::StrCat(options_.data_dir, "/journal.", generation, ".log");
}

absl::Status UsageStore::Load() {
  const std::string& dir = options_.data_dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot create USAGE_DATA_DIR ", dir, ": ", ec.message()));
  auto names = ListDir(dir);
  if (!names.ok()) return names.status();

  std::map<uint64_t, std::string> journals;
  for (const std::string& name : *names) {
    if (name.find(".tmp.") != std::string::npos &&
        (name.rfind("snapshot.bin", 0) == 0 || name.rfind("journal.", 0) == 0)) {
      // A temporary file of an interrupted atomic write: the real file was never replaced by it.
      ::unlink((dir + "/" + name).c_str());
      load_report_.problems.push_back(absl::StrCat("removed ", name, ", left by an interrupted write"));
    } else if (auto g = JournalGeneration(name)) {
      journals[*g] = dir + "/" + name;
    }
  }

  uint64_t next_generation = 1;
  auto snapshot_text = ReadFile(SnapshotPath());
  if (snapshot_text.ok()) {
    auto decoded = DecodeSnapshotFileParts(*snapshot_text);
    if (!decoded.ok()) {
      return absl::DataLossError(absl::StrCat(
          "snapshot ", SnapshotPath(), " is damaged (", decoded.status().message(),
          "); usagesvc will not start and has changed nothing: restore the file from a backup, or move it away to "
          "rebuild from the journals (only if journal.1.log is still there)"));
    }
    const spb::Snapshot& snapshot = decoded->snapshot;
    auto ledger = Ledger::FromSnapshot(snapshot, options_.ledger, decoded->detail);
    if (!ledger.ok()) {
      return absl::Status(ledger.status().code(), absl::StrCat(SnapshotPath(), ": ", ledger.status().message()));
    }
    ledger_ = std::move(*ledger);
    snapshot_held_events_ = static_cast<int64_t>(ledger_->Stats().event_ids);
    next_generation = static_cast<uint64_t>(snapshot.next_generation());
    load_report_.snapshot_found = true;
    load_report_.snapshot_next_generation = snapshot.next_generation();
  } else if (absl::IsNotFound(snapshot_text.status())) {
    ledger_ = std::make_unique<Ledger>(options_.ledger);
    if (!journals.empty() && journals.begin()->first > 1) {
      return absl::DataLossError(absl::StrCat(
          "USAGE_DATA_DIR ", dir, " has ", journals.begin()->second,
          " but no snapshot.bin: the snapshot that covered the earlier journals is gone; usagesvc will not start "
          "(restore snapshot.bin from a backup)"));
    }
  } else {
    return absl::FailedPreconditionError(std::string(snapshot_text.status().message()));
  }

  // Journals below the snapshot's generation are already in it (a crash came between writing the
  // snapshot and deleting them).
  for (auto it = journals.begin(); it != journals.end() && it->first < next_generation;) {
    ::unlink(it->second.c_str());
    load_report_.problems.push_back(absl::StrCat("removed ", it->second, ", already covered by the snapshot"));
    it = journals.erase(it);
  }
  uint64_t expected = next_generation;
  for (const auto& [g, path] : journals) {
    if (g != expected) {
      return absl::DataLossError(absl::StrCat("USAGE_DATA_DIR ", dir, ": ", JournalPath(expected), " is missing but ",
                                              path, " exists; usagesvc will not start (restore the missing journal)"));
    }
    ++expected;
  }

  uint64_t last_valid_bytes = 0;
  for (const auto& [g, path] : journals) {
    auto scan = JournalFile::Scan(path, g, [&](std::string_view payload) -> absl::Status {
      spb::JournalRecord record;
      if (!record.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        return absl::DataLossError(
            "the record's checksum is right but it does not parse (written by another version?)");
      }
      std::vector<std::string> legacy_errors;
      load_report_.events_replayed += ledger_->Apply(record, &legacy_errors, nullptr, payload);
      for (auto& e : legacy_errors) load_report_.problems.push_back("legacy import skipped: " + e);
      ++load_report_.records_replayed;
      return absl::OkStatus();
    });
    if (!scan.ok()) {
      return absl::Status(scan.status().code(),
                          absl::StrCat(scan.status().message(), "; usagesvc will not start and has changed nothing"));
    }
    ++load_report_.journals_replayed;
    last_valid_bytes = scan->valid_bytes;
    if (!scan->problem.empty()) {
      // Keep what is cut off, for inspection, before cutting it.
      std::string kept = absl::StrCat(path, ".dropped-", scan->valid_bytes);
      if (auto content = ReadFile(path); content.ok()) {
        if (auto st = WriteFileAtomically(kept, std::string_view(*content).substr(scan->valid_bytes)); !st.ok()) {
          spdlog::warn("cannot keep the cut-off tail in {}: {}", kept, std::string(st.message()));
        }
      }
      bool last = g == journals.rbegin()->first;
      std::string line =
          absl::StrCat(path, ": ", scan->problem, "; cut off ", scan->dropped_bytes(), " bytes (of ", scan->file_bytes,
                       "), kept in ", kept, "; ", scan->records, " valid records before it",
                       last ? " (a write interrupted by a crash: it was never acknowledged)"
                            : " (NOT the last journal: acknowledged events may have been lost)");
      load_report_.problems.push_back(line);
      load_report_.bytes_dropped += static_cast<int64_t>(scan->dropped_bytes());
      auto cut = JournalFile::OpenForAppend(path, g, scan->valid_bytes, nullptr);
      if (!cut.ok()) return cut.status();
    }
  }

  if (journals.empty()) {
    std::string path = JournalPath(next_generation);
    if (auto st = JournalFile::Create(path, next_generation); !st.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("cannot create ", path, ": ", st.message()));
    }
    auto j = JournalFile::OpenForAppend(path, next_generation, JournalFile::kHeaderBytes, &faults_);
    if (!j.ok()) return j.status();
    journal_ = std::move(*j);
  } else {
    auto j =
        JournalFile::OpenForAppend(journals.rbegin()->second, journals.rbegin()->first, last_valid_bytes, &faults_);
    if (!j.ok()) return j.status();
    journal_ = std::move(*j);
  }
  // What the journals added since the snapshot counts towards the next one, as if never restarted.
  events_since_snapshot_ = load_report_.events_replayed;
  return absl::OkStatus();
}

bool UsageStore::healthy() const {
  std::lock_guard lock(mu_);
  return healthy_;
}

size_t UsageStore::queued_events() const {
  std::lock_guard lock(mu_);
  return queued_events_;
}

void UsageStore::SetHealthListener(std::function<void(bool)> listener) {
  std::lock_guard hl(health_mu_);
  health_listener_ = std::move(listener);
  if (health_listener_) health_listener_(healthy());
}

std::string UsageStore::problem() const {
  std::lock_guard lock(mu_);
  if (!healthy_) return "usage journal not writable (usage events are refused): " + journal_problem_;
  if (!snapshot_problem_.empty()) return "snapshot not written (events are still recorded): " + snapshot_problem_;
  return "";
}

void UsageStore::SetSnapshotProblem(std::string problem) {
  std::lock_guard lock(mu_);
  snapshot_problem_ = std::move(problem);
}

void UsageStore::SetHealthy(bool healthy, const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (!healthy) journal_problem_ = why;
    if (healthy_ == healthy) return;
    healthy_ = healthy;
  }
  if (healthy) {
    spdlog::info("usage journal writable again ({}); serving", why);
  } else {
    spdlog::error("usage journal not writable: {}; not serving, retrying every {} ms", why, options_.retry_interval_ms);
  }
  std::lock_guard hl(health_mu_);
  if (health_listener_) health_listener_(healthy);
}

void UsageStore::Enqueue(Submission s, size_t events) {
  {
    std::unique_lock lock(mu_);
    if (!stopping_ && queued_events_ + events <= options_.max_queued_events) {
      queued_events_ += events;
      queue_.push_back(std::move(s));
      lock.unlock();
      cv_.notify_one();
      return;
    }
  }
  absl::Status st = absl::UnavailableError("usagesvc is overloaded or stopping; retry later");
  if (s.record_done) s.record_done(st, {});
  if (s.import_done) s.import_done(st, 0);
}

void UsageStore::Record(const EventList* events, RecordDone done) {
  Submission s;
  s.events = events;
  s.record_done = std::move(done);
  Enqueue(std::move(s), static_cast<size_t>(events->size()));
}

void UsageStore::ImportLegacy(std::vector<spb::LegacyImport> imports, ImportDone done) {
  Submission s;
  s.imports = std::move(imports);
  s.import_done = std::move(done);
  Enqueue(std::move(s), 1);
}

absl::Status UsageStore::SnapshotNowForTesting() {
  auto done = std::make_shared<std::promise<absl::Status>>();
  auto result = done->get_future();
  {
    std::lock_guard lock(mu_);
    snapshot_requested_ = true;
    snapshot_waiters_.push_back([done](absl::Status st) { done->set_value(std::move(st)); });
  }
  cv_.notify_one();
  return result.get();
}

void UsageStore::WriterLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    int64_t wait_ms = healthy_ ? 1000 : std::max<int64_t>(1, options_.retry_interval_ms);
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms),
                 [&] { return stopping_ || !queue_.empty() || snapshot_requested_ || snapshot_progress_; });
    std::vector<Submission> group;
    size_t events = 0;
    while (!queue_.empty() && events < kMaxGroupEvents) {
      events += queue_.front().events != nullptr ? static_cast<size_t>(queue_.front().events->size()) : 1;
      group.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queued_events_ -= std::min(queued_events_, events);
    snapshot_progress_ = false;
    bool snapshot_finished = std::exchange(snapshot_finished_, false);
    bool snapshot_requested = std::exchange(snapshot_requested_, false);
    auto waiters = std::move(snapshot_waiters_);
    snapshot_waiters_.clear();
    bool stop = stopping_ && queue_.empty();
    bool healthy = healthy_;
    lock.unlock();

    if (snapshot_finished && snapshot_thread_.joinable()) {
      snapshot_thread_.join();
      snapshot_running_ = false;
      if (std::exchange(deferred_request_, false)) {
        snapshot_requested = true;
        for (auto& w : deferred_waiters_) waiters.push_back(std::move(w));
        deferred_waiters_.clear();
      }
    }
    if (!capturing_.load() && !crashed_.load()) ApplyHeldBack();
    if (!healthy && !crashed_ && (!group.empty() || SteadyMs() >= next_retry_ms_)) TryRecover();
    if (!group.empty()) CommitGroup(group);

    bool due = (options_.snapshot_every_events > 0 &&
                events_since_snapshot_ >= std::max(options_.snapshot_every_events,
                                                   snapshot_held_events_.load() * options_.snapshot_growth_percent / 100)) ||
               (options_.snapshot_interval_ms > 0 && events_since_snapshot_ > 0 &&
                NowMs() - last_snapshot_ms_ >= options_.snapshot_interval_ms);
    if ((due || snapshot_requested) && !crashed_ && !stop) {
      if (snapshot_running_) {
        // One at a time: a request is served once the running snapshot has finished.
        if (snapshot_requested) {
          deferred_request_ = true;
          for (auto& w : waiters) deferred_waiters_.push_back(std::move(w));
        }
      } else if (!this->healthy()) {
        for (auto& w : waiters) w(absl::UnavailableError("the journal is not writable"));
      } else if (auto st = StartSnapshot(std::move(waiters)); !st.ok()) {
        spdlog::warn("snapshot not taken: {}", std::string(st.message()));
      }
    } else {
      for (auto& w : waiters) w(absl::UnavailableError("the store has stopped"));
    }
    lock.lock();
    if (stop) break;
  }
  lock.unlock();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
}

SpendTracker* UsageStore::StartSpendTracking() {
  std::lock_guard lock(mu_);
  if (!spend_) spend_ = std::make_unique<SpendTracker>(ledger_.get(), ledger_->options().now_ms);
  return spend_.get();
}

void UsageStore::ApplyRecord(const spb::JournalRecord& record, std::string_view bytes) {
  std::vector<std::string> legacy_errors;
  if (spend_) {
    spend_->Apply(record, &legacy_errors, bytes);
  } else {
    ledger_->Apply(record, &legacy_errors, nullptr, bytes);
  }
  for (const auto& e : legacy_errors) spdlog::error("legacy usage not imported: {}", e);
}

void UsageStore::ApplyHeldBack() {
  if (held_back_.empty()) return;
  for (const auto& record : held_back_) ApplyRecord(record);
  held_back_.clear();
  held_back_ids_.clear();
  held_back_imports_.clear();
}

void UsageStore::CommitGroup(std::vector<Submission>& group) {
  if (crashed_) {
    for (auto& s : group) {
      absl::Status st = absl::UnavailableError("usagesvc is stopping");
      if (s.record_done) s.record_done(st, {});
      if (s.import_done) s.import_done(st, 0);
    }
    return;
  }
  spb::JournalRecord record;
  std::vector<RecordResult> results(group.size());
  std::vector<int> imported(group.size(), 0);
  absl::flat_hash_set<EventDigest> in_group;
  absl::flat_hash_set<std::string> imports_in_group;
  for (size_t i = 0; i < group.size(); ++i) {
    Submission& s = group[i];
    if (s.events != nullptr) {
      for (const pb::UsageEvent& e : *s.events) {
        EventDigest d = DigestOf(e.event_id());
        if (ledger_->Seen(d) || held_back_ids_.contains(d) || !in_group.insert(d).second) {
          ++results[i].duplicates;
        } else {
          // Borrowed, not copied (a copy is a dozen allocations per event): the caller keeps `events`
          // until its record_done runs, below, and they are given back before that.
          record.mutable_events()->UnsafeArenaAddAllocated(const_cast<pb::UsageEvent*>(&e));
          ++results[i].recorded;
        }
      }
    }
    for (auto& imp : s.imports) {
      if (ledger_->LegacyImported(imp.key_id()) || held_back_imports_.contains(imp.key_id()) ||
          !imports_in_group.insert(imp.key_id()).second) {
        continue;
      }
      *record.add_legacy_imports() = imp;
      ++imported[i];
    }
  }

  absl::Status status;
  const auto new_events = static_cast<uint64_t>(record.events_size());
  if (record.events_size() > 0 || record.legacy_imports_size() > 0) {
    const std::string bytes = record.SerializeAsString();
    std::string framed;
    JournalFile::AppendRecord(&framed, bytes);
    status = journal_->Append(framed);
    (status.ok() ? counters_.journal_writes : counters_.journal_write_failures)
        .fetch_add(1, std::memory_order_relaxed);
    if (status.ok()) {
      records_written_.fetch_add(1, std::memory_order_relaxed);
      events_since_snapshot_ += record.events_size();
      if (capturing_.load()) {
        // Durable, so acknowledged now; applied once the snapshot has captured the ledger.
        for (const auto& e : record.events()) held_back_ids_.insert(DigestOf(e.event_id()));
        for (const auto& imp : record.legacy_imports()) held_back_imports_.insert(imp.key_id());
        held_back_.push_back(record);  // a copy: it outlives the borrowed events
      } else {
        ApplyHeldBack();
        ApplyRecord(record, bytes);
      }
    } else {
      next_retry_ms_ = SteadyMs() + options_.retry_interval_ms;
      SetHealthy(false, std::string(status.message()));
    }
  } else if (!healthy()) {
    // Only duplicates: they are durable already, but while the journal fails say so consistently.
    status = absl::UnavailableError("the usage journal is not writable; retry later");
  }
  if (status.ok()) {
    uint64_t duplicates = 0;
    for (const RecordResult& r : results) duplicates += static_cast<uint64_t>(r.duplicates);
    counters_.events_recorded.fetch_add(new_events, std::memory_order_relaxed);
    counters_.events_duplicate.fetch_add(duplicates, std::memory_order_relaxed);
  }
  // The borrowed events go back to their requests before those can end.
  while (!record.events().empty()) record.mutable_events()->UnsafeArenaReleaseLast();
  for (size_t i = 0; i < group.size(); ++i) {
    Submission& s = group[i];
    if (s.record_done) s.record_done(status, status.ok() ? results[i] : RecordResult{});
    if (s.import_done) s.import_done(status, status.ok() ? imported[i] : 0);
  }
}

void UsageStore::TryRecover() {
  next_retry_ms_ = SteadyMs() + options_.retry_interval_ms;
  absl::Status st = journal_->Recover();
  if (st.ok()) {
    // A real write proves the disk takes data again; the probe record is ignored on replay.
    spb::JournalRecord probe;
    probe.set_probe(std::string(kProbeBytes, '\0'));
    std::string framed;
    JournalFile::AppendRecord(&framed, probe.SerializeAsString());
    st = journal_->Append(framed);
    (st.ok() ? counters_.journal_writes : counters_.journal_write_failures).fetch_add(1, std::memory_order_relaxed);
  }
  if (st.ok()) {
    SetHealthy(true, "a probe write succeeded");
  } else {
    spdlog::debug("usage journal still not writable: {}", std::string(st.message()));
  }
}

bool UsageStore::CrashAt(SnapshotStep step) {
  if (options_.crash_after_step && options_.crash_after_step(step)) crashed_ = true;
  return crashed_;
}

absl::Status UsageStore::StartSnapshot(std::vector<std::function<void(absl::Status)>> waiters) {
  const uint64_t next = journal_->generation() + 1;
  const std::string next_path = JournalPath(next);
  absl::Status st = JournalFile::Create(next_path, next);
  if (st.ok()) {
    auto j = JournalFile::OpenForAppend(next_path, next, JournalFile::kHeaderBytes, &faults_);
    if (j.ok()) {
      journal_ = std::move(*j);
    } else {
      st = j.status();
    }
  }
  if (!st.ok()) {
    counters_.snapshot_failures.fetch_add(1);
    SetSnapshotProblem(std::string(st.message()));
    for (auto& w : waiters) w(st);
    return st;
  }
  events_since_snapshot_ = 0;
  last_snapshot_ms_ = NowMs();
  capturing_ = true;
  snapshot_running_ = true;
  snapshot_thread_ =
      std::thread([this, next, waiters = std::move(waiters)]() mutable { RunSnapshot(next, std::move(waiters)); });
  return absl::OkStatus();
}

void UsageStore::RunSnapshot(uint64_t next_generation, std::vector<std::function<void(absl::Status)>> waiters) {
  absl::Status st = WriteSnapshot(next_generation);
  if (!st.ok() && !crashed_) spdlog::warn("snapshot not taken: {}", std::string(st.message()));
  if (!crashed_) {
    (st.ok() ? counters_.snapshots_written : counters_.snapshot_failures).fetch_add(1);
    SetSnapshotProblem(st.ok() ? std::string() : std::string(st.message()));
  }
  capturing_ = false;
  for (auto& w : waiters) w(st);
  {
    std::lock_guard lock(mu_);
    snapshot_progress_ = true;
    snapshot_finished_ = true;
  }
  cv_.notify_all();
}

absl::Status UsageStore::WriteSnapshot(uint64_t next) {
  auto start = std::chrono::steady_clock::now();
  if (CrashAt(SnapshotStep::kRotated)) return absl::AbortedError("crash hook");
  ledger_->PruneDetail();
  // The snapshot goes to the file as it is captured, a piece at a time: built whole in memory first it
  // doubled usagesvc's memory for the length of a snapshot (the detail is most of both).
  absl::StatusOr<SnapshotCounts> counts;
  auto file = SnapshotFileWriter::Open(SnapshotPath());
  if (file.ok()) {
    counts = ledger_->WriteSnapshot(static_cast<int64_t>(next),
                                    [&](std::string_view piece) { return (*file)->Append(piece); });
  } else {
    counts = file.status();
  }
  capturing_ = false;
  {
    std::lock_guard lock(mu_);
    snapshot_progress_ = true;
  }
  cv_.notify_all();
  auto captured = std::chrono::steady_clock::now();

  if (!counts.ok()) return counts.status();
  snapshot_held_events_ = static_cast<int64_t>(counts->event_ids);
  if (auto st = (*file)->Commit(); !st.ok()) return st;
  if (CrashAt(SnapshotStep::kSnapshotWritten)) return absl::AbortedError("crash hook");

  if (auto names = ListDir(options_.data_dir); names.ok()) {
    for (const std::string& name : *names) {
      if (auto g = JournalGeneration(name); g && *g < next) ::unlink((options_.data_dir + "/" + name).c_str());
    }
    if (auto st = SyncDir(options_.data_dir); !st.ok()) spdlog::warn("{}", std::string(st.message()));
  }
  if (CrashAt(SnapshotStep::kOldJournalsDeleted)) return absl::AbortedError("crash hook");

  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  auto end = std::chrono::steady_clock::now();
  spdlog::info(
      "snapshot written: {} aggregate rows, {} event ids, {} detail events, {} bytes; captured into the file in {} "
      "ms, made durable in {} ms; journal {} begun",
      counts->aggregate_rows, counts->event_ids, counts->detail_events, (*file)->file_bytes(),
      ms(captured - start), ms(end - captured), next);
  return absl::OkStatus();
}

}  // namespace luna::usagesvc
