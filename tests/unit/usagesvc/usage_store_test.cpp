#include "usagesvc/usage_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>

#include "test_util.h"

namespace luna::usagesvc {
namespace {

namespace pb = luna::usage::v1;
namespace spb = luna::usage::storage::v1;
using namespace std::chrono_literals;
using testing::Event;
using testing::kHourMs;
using testing::kMar1Utc;
using testing::ReadBytes;
using testing::TempDir;
using testing::WriteBytes;

UsageStoreOptions Options(const std::string& dir) {
  UsageStoreOptions o;
  o.data_dir = dir;
  o.ledger.legacy_zone = LedgerZone{8 * 3600, "+08:00"};
  o.ledger.now_ms = [] { return kMar1Utc + 86400 * 1000; };
  o.snapshot_every_events = 0;
  o.snapshot_interval_ms = 0;
  o.retry_interval_ms = 50;
  return o;
}

std::unique_ptr<UsageStore> OpenStore(const UsageStoreOptions& o) {
  auto s = UsageStore::Open(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

struct Outcome {
  absl::Status status;
  RecordResult result;
};

// Records `events` and waits for the acknowledgement.
Outcome RecordSync(UsageStore* store, const std::vector<pb::UsageEvent>& events) {
  UsageStore::EventList list;
  for (const auto& e : events) *list.Add() = e;
  std::promise<Outcome> done;
  store->Record(&list, [&](const absl::Status& st, RecordResult r) { done.set_value({st, r}); });
  return done.get_future().get();
}

std::vector<pb::UsageEvent> Events(const std::string& prefix, int n, int64_t start = kMar1Utc) {
  std::vector<pb::UsageEvent> out;
  for (int i = 0; i < n; ++i)
    out.push_back(Event(prefix + std::to_string(i), "key_" + std::to_string(i % 3), start + i * 1000));
  return out;
}

QueryTotals Total(const UsageStore& store) {
  auto rows = store.ledger().Query(UsageQuery());
  return rows.empty() ? QueryTotals() : rows[0].totals;
}

TEST(UsageStoreTest, AnAcknowledgedBatchSurvivesARestartAndRepeatsAreDuplicates) {
  // OK comes back with the counts; after reopening the directory the events are there and count as duplicates.
  TempDir dir;
  auto store = OpenStore(Options(dir.path()));
  auto events = Events("e", 10);
  events.push_back(events[0]);
  Outcome o = RecordSync(store.get(), events);
  ASSERT_TRUE(o.status.ok()) << o.status;
  EXPECT_EQ(o.result.recorded, 10);
  EXPECT_EQ(o.result.duplicates, 1);
  store.reset();

  store = OpenStore(Options(dir.path()));
  EXPECT_EQ(store->load_report().events_replayed, 10);
  EXPECT_EQ(Total(*store).requests, 10);
  o = RecordSync(store.get(), Events("e", 12));
  EXPECT_EQ(o.result.recorded, 2);
  EXPECT_EQ(o.result.duplicates, 10);
  EXPECT_EQ(Total(*store).requests, 12);
}

TEST(UsageStoreTest, ConcurrentBatchesAreGroupCommittedAndAllCounted) {
  // 8 threads x 50 batches arrive together: every batch is acknowledged, fewer journal records than
  // batches are written (group commit), and the totals are exact after a restart.
  TempDir dir;
  auto store = OpenStore(Options(dir.path()));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < 50; ++b) {
        if (RecordSync(store.get(), Events("t" + std::to_string(t) + "b" + std::to_string(b) + "-", 20)).status.ok()) {
          ++ok;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 400);
  EXPECT_EQ(Total(*store).requests, 8000);
  store.reset();
  store = OpenStore(Options(dir.path()));
  EXPECT_EQ(Total(*store).requests, 8000);
  EXPECT_LE(store->load_report().records_replayed, 400);
}

TEST(UsageStoreTest, ATornTailIsCutOffReportedAndKeptAside) {
  // Garbage after the last good record (an interrupted write) is cut at load, reported with its size, and
  // saved beside the journal; new records then follow the good ones and survive another restart.
  TempDir dir;
  auto store = OpenStore(Options(dir.path()));
  ASSERT_TRUE(RecordSync(store.get(), Events("a", 5)).status.ok());
  store.reset();
  std::string journal = dir.File("journal.1.log");
  std::string good = ReadBytes(journal);
  WriteBytes(journal, good + std::string("\x40\x00\x00\x00garbage", 11));

  store = OpenStore(Options(dir.path()));
  const LoadReport& report = store->load_report();
  EXPECT_EQ(report.bytes_dropped, 11);
  ASSERT_FALSE(report.problems.empty());
  EXPECT_NE(report.problems.back().find("cut off 11 bytes"), std::string::npos) << report.problems.back();
  EXPECT_EQ(ReadBytes(journal), good);
  EXPECT_EQ(ReadBytes(journal + ".dropped-" + std::to_string(good.size())).size(), 11u);
  EXPECT_EQ(Total(*store).requests, 5);
  ASSERT_TRUE(RecordSync(store.get(), Events("b", 3)).status.ok());
  store.reset();
  store = OpenStore(Options(dir.path()));
  EXPECT_EQ(store->load_report().bytes_dropped, 0);
  EXPECT_EQ(Total(*store).requests, 8);
}

TEST(UsageStoreTest, AWriteFailureAcknowledgesNothingAndTheStoreHealsItself) {
  // While writes fail, batches get UNAVAILABLE, nothing is counted and health is false; once the disk
  // works again the store says healthy by itself, the same batch is then recorded, and a restart loads cleanly.
  TempDir dir;
  auto store = OpenStore(Options(dir.path()));
  std::mutex mu;
  std::condition_variable cv;
  std::vector<bool> health;
  store->SetHealthListener([&](bool h) {
    std::lock_guard lock(mu);
    health.push_back(h);
    cv.notify_all();
  });
  ASSERT_TRUE(RecordSync(store.get(), Events("ok", 2)).status.ok());
  for (JournalFault fault : {JournalFault::kPartialWrite, JournalFault::kWriteFails, JournalFault::kSyncFails}) {
    store->InjectFaultForTesting(fault);
    auto batch = Events("f", 4);
    Outcome o = RecordSync(store.get(), batch);
    EXPECT_EQ(o.status.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(o.result.recorded, 0);
    EXPECT_FALSE(store->healthy());
    EXPECT_EQ(store->problem().rfind("usage journal not writable (usage events are refused): cannot ", 0), 0u)
        << store->problem();
    EXPECT_EQ(Total(*store).requests, 2);
    EXPECT_FALSE(store->ledger().Seen(DigestOf("f0")));
    std::this_thread::sleep_for(150ms);  // retries keep failing meanwhile
    EXPECT_FALSE(store->healthy());

    store->InjectFaultForTesting(JournalFault::kNone);
    {
      std::unique_lock lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return !health.empty() && health.back(); }));
    }
    EXPECT_TRUE(store->healthy());
    EXPECT_EQ(store->problem(), "");
  }
  EXPECT_EQ(health, (std::vector<bool>{true, false, true, false, true, false, true}));
  Outcome o = RecordSync(store.get(), Events("f", 4));
  ASSERT_TRUE(o.status.ok());
  EXPECT_EQ(o.result.recorded, 4);
  store.reset();
  store = OpenStore(Options(dir.path()));
  EXPECT_EQ(store->load_report().bytes_dropped, 0);
  EXPECT_TRUE(store->load_report().problems.empty());
  EXPECT_EQ(Total(*store).requests, 6);
}

TEST(UsageStoreTest, SnapshotsReplaceOldJournalsAndRecoveryCombinesSnapshotAndJournal) {
  // With a snapshot every 10 events, old journals disappear; a restart loads the snapshot plus the newest
  // journal and the totals, ids, detail and legacy import are exact.
  TempDir dir;
  UsageStoreOptions o = Options(dir.path());
  o.snapshot_every_events = 10;
  auto store = OpenStore(o);
  for (int b = 0; b < 5; ++b)
    ASSERT_TRUE(RecordSync(store.get(), Events("b" + std::to_string(b) + "-", 7)).status.ok());
  store.reset();  // waits for a snapshot in progress
  EXPECT_TRUE(std::filesystem::exists(dir.File("snapshot.bin")));
  EXPECT_FALSE(std::filesystem::exists(dir.File("journal.1.log")));
  store = OpenStore(o);
  EXPECT_TRUE(store->load_report().snapshot_found);
  EXPECT_EQ(Total(*store).requests, 35);
  EXPECT_EQ(store->ledger().ListEvents("", 0, 100).size(), 35u);
  EXPECT_EQ(RecordSync(store.get(), Events("b4-", 7)).result.duplicates, 7);
}

TEST(UsageStoreTest, SnapshotsByCountWaitUntilTheLedgerHasGrownByTheGrowthShare) {
  // A snapshot writes the whole ledger: with 100 events held and a growth share of 50%, the next one by
  // count comes after 50 new events, not after snapshot_every_events (10) — unless the share is 0.
  // Events replayed from the journal at a restart count towards it. Each snapshot begins the next
  // journal generation (and deletes the older ones), so the newest generation counts the snapshots.
  auto newest_journal = [](const TempDir& dir) {
    int newest = 0;
    for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
      int g = 0;
      if (std::sscanf(f.path().filename().c_str(), "journal.%d.log", &g) == 1) newest = std::max(newest, g);
    }
    return newest;
  };
  for (int64_t growth : {0, 50}) {
    SCOPED_TRACE("growth " + std::to_string(growth));
    TempDir dir;
    UsageStoreOptions o = Options(dir.path());
    o.snapshot_every_events = 10;
    o.snapshot_growth_percent = growth;
    auto store = OpenStore(o);
    ASSERT_TRUE(RecordSync(store.get(), Events("big-", 100)).status.ok());
    ASSERT_TRUE(luna::testing::Eventually([&] { return store->counters().snapshots_written.load() == 1; }));
    for (int b = 0; b < 3; ++b) {
      ASSERT_TRUE(RecordSync(store.get(), Events("s" + std::to_string(b) + "-", 10)).status.ok());
    }
    store.reset();  // every due check has run, and a snapshot in progress has finished
    if (growth == 0) {
      EXPECT_GE(newest_journal(dir), 3) << "a snapshot after 10 or 20 of the 30 new events";
      continue;
    }
    EXPECT_EQ(newest_journal(dir), 2) << "30 of 50";
    store = OpenStore(o);  // replays the 30 events after the snapshot
    ASSERT_TRUE(RecordSync(store.get(), Events("s3-", 10)).status.ok());
    store.reset();
    EXPECT_EQ(newest_journal(dir), 2) << "40 of 50";
    store = OpenStore(o);
    ASSERT_TRUE(RecordSync(store.get(), Events("s4-", 10)).status.ok());
    store.reset();
    EXPECT_EQ(newest_journal(dir), 3) << "50 of 50";
    store = OpenStore(o);
    EXPECT_EQ(Total(*store).requests, 150);
  }
}

TEST(UsageStoreTest, AFailedSnapshotIsReportedUntilOneSucceedsAndRecordingGoesOn) {
  // A snapshot that cannot be written (here: snapshot.bin is a directory, so the rename fails) is named
  // by problem() while the store stays healthy and keeps recording; the next snapshot that works clears it.
  TempDir dir;
  auto store = OpenStore(Options(dir.path()));
  ASSERT_TRUE(RecordSync(store.get(), Events("a", 3)).status.ok());
  std::filesystem::create_directory(dir.File("snapshot.bin"));
  EXPECT_FALSE(store->SnapshotNowForTesting().ok());
  EXPECT_TRUE(store->healthy());
  EXPECT_EQ(store->problem().rfind("snapshot not written (events are still recorded): ", 0), 0u) << store->problem();
  ASSERT_TRUE(RecordSync(store.get(), Events("b", 3)).status.ok());
  std::filesystem::remove(dir.File("snapshot.bin"));
  ASSERT_TRUE(store->SnapshotNowForTesting().ok());
  EXPECT_EQ(store->problem(), "");
  store.reset();
  store = OpenStore(Options(dir.path()));
  EXPECT_EQ(Total(*store).requests, 6);
}

TEST(UsageStoreTest, BatchesAreAcknowledgedWhileASnapshotIsInProgress) {
  // A snapshot held right after the journal switch does not delay acknowledgements; the batches recorded
  // meanwhile are deduplicated, show in the totals once it is done, and survive a restart (from the journal).
  TempDir dir;
  UsageStoreOptions o = Options(dir.path());
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  auto entered = std::make_shared<std::promise<void>>();
  o.crash_after_step = [released, entered](SnapshotStep s) {
    if (s == SnapshotStep::kRotated) {
      entered->set_value();
      released.wait();
    }
    return false;
  };
  auto store = OpenStore(o);
  ASSERT_TRUE(RecordSync(store.get(), Events("a", 4)).status.ok());
  auto snapshot = std::async(std::launch::async, [&] { return store->SnapshotNowForTesting(); });
  entered->get_future().wait();
  auto started = std::chrono::steady_clock::now();
  Outcome during = RecordSync(store.get(), Events("b", 3));
  ASSERT_TRUE(during.status.ok());
  EXPECT_EQ(during.result.recorded, 3);
  EXPECT_EQ(RecordSync(store.get(), Events("b", 3)).result.duplicates, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  release->set_value();
  ASSERT_TRUE(snapshot.get().ok());
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (Total(*store).requests != 7 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(Total(*store).requests, 7);
  store.reset();
  UsageStoreOptions plain = Options(dir.path());
  store = OpenStore(plain);
  EXPECT_TRUE(store->load_report().snapshot_found);
  EXPECT_EQ(store->load_report().events_replayed, 3);
  EXPECT_EQ(Total(*store).requests, 7);
}

class SnapshotCrashTest : public ::testing::TestWithParam<SnapshotStep> {};

TEST_P(SnapshotCrashTest, AKillAfterAnySnapshotStepLosesAndDuplicatesNothing) {
  // The process "dies" right after the step (no further writes); with a leftover temporary snapshot too, the
  // next start loads exactly the acknowledged events, dedups them, and snapshots normally afterwards.
  TempDir dir;
  const UsageStoreOptions o = Options(dir.path());
  UsageStoreOptions crashing = o;
  const SnapshotStep crash_step = GetParam();
  auto armed = std::make_shared<std::atomic<bool>>(false);
  crashing.crash_after_step = [armed, crash_step](SnapshotStep s) { return *armed && s == crash_step; };
  auto store = OpenStore(crashing);
  ASSERT_TRUE(RecordSync(store.get(), Events("a", 6)).status.ok());
  ASSERT_TRUE(store->SnapshotNowForTesting().ok());  // a first, complete snapshot
  ASSERT_TRUE(RecordSync(store.get(), Events("b", 4)).status.ok());
  *armed = true;
  EXPECT_FALSE(store->SnapshotNowForTesting().ok());  // "killed" after crash_step
  EXPECT_EQ(RecordSync(store.get(), Events("c", 1)).status.code(), absl::StatusCode::kUnavailable);
  store.reset();
  WriteBytes(dir.File("snapshot.bin.tmp.424242"), "half a snapshot");

  store = OpenStore(o);
  EXPECT_EQ(Total(*store).requests, 10);
  EXPECT_FALSE(std::filesystem::exists(dir.File("snapshot.bin.tmp.424242")));
  Outcome again = RecordSync(store.get(), Events("b", 5));
  EXPECT_EQ(again.result.duplicates, 4);
  EXPECT_EQ(again.result.recorded, 1);
  ASSERT_TRUE(store->SnapshotNowForTesting().ok());
  store.reset();
  store = OpenStore(o);
  EXPECT_EQ(Total(*store).requests, 11);
}

INSTANTIATE_TEST_SUITE_P(EveryStep, SnapshotCrashTest,
                         ::testing::Values(SnapshotStep::kRotated, SnapshotStep::kSnapshotWritten,
                                           SnapshotStep::kOldJournalsDeleted));

TEST(UsageStoreTest, AMissingJournalOrADamagedSnapshotStopsTheLoadAndChangesNothing) {
  // Losing the snapshot that covered early journals, or a snapshot with a bad checksum, refuses to start
  // with the file named, leaving the files as they were.
  TempDir dir;
  UsageStoreOptions o = Options(dir.path());
  auto store = OpenStore(o);
  ASSERT_TRUE(RecordSync(store.get(), Events("a", 3)).status.ok());
  ASSERT_TRUE(store->SnapshotNowForTesting().ok());
  ASSERT_TRUE(RecordSync(store.get(), Events("b", 3)).status.ok());
  store.reset();

  std::string snapshot = ReadBytes(dir.File("snapshot.bin"));
  std::string damaged = snapshot;
  damaged[damaged.size() - 3] ^= 1;
  WriteBytes(dir.File("snapshot.bin"), damaged);
  auto failed = UsageStore::Open(o);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(failed.status().message()).find("snapshot.bin"), std::string::npos);
  EXPECT_EQ(ReadBytes(dir.File("snapshot.bin")), damaged);

  std::filesystem::remove(dir.File("snapshot.bin"));
  failed = UsageStore::Open(o);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(std::string(failed.status().message()).find("journal.2.log"), std::string::npos) << failed.status();

  WriteBytes(dir.File("snapshot.bin"), snapshot);
  store = OpenStore(o);
  EXPECT_EQ(Total(*store).requests, 6);
}

TEST(UsageStoreTest, LegacyImportIsJournaledOnceAcrossRestarts) {
  // Importing the same key twice (in one run or after a restart) counts its history once.
  TempDir dir;
  auto store = OpenStore(Options(dir.path()));
  auto import = [&](UsageStore* s) {
    spb::LegacyImport imp;
    imp.set_key_id("key_old");
    imp.set_usage_json(R"({"total_input": 10, "total_output": 2, "total_requests": 3})");
    std::promise<int> done;
    s->ImportLegacy({imp, imp}, [&](const absl::Status& st, int n) {
      EXPECT_TRUE(st.ok());
      done.set_value(n);
    });
    return done.get_future().get();
  };
  EXPECT_EQ(import(store.get()), 1);
  EXPECT_EQ(import(store.get()), 0);
  store.reset();
  store = OpenStore(Options(dir.path()));
  EXPECT_EQ(import(store.get()), 0);
  EXPECT_EQ(Total(*store).requests, 3);
  EXPECT_EQ(Total(*store).input, 10);
}

}  // namespace
}  // namespace luna::usagesvc
