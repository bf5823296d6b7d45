#include "usagesvc/ledger.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "test_util.h"
#include "usagesvc/snapshot_file.h"

namespace luna::usagesvc {
namespace {

namespace pb = luna::usage::v1;
namespace spb = luna::usage::storage::v1;
using testing::Event;
using testing::Record;
using testing::kHourMs;
using testing::kMar1Utc;

const LedgerZone kEast8{8 * 3600, "+08:00"};

LedgerOptions Options(LedgerZone zone = LedgerZone(), int64_t* now = nullptr) {
  LedgerOptions o;
  o.zone = zone;
  o.legacy_zone = kEast8;
  o.detail_retention_ms = 30LL * 86400 * 1000;
  if (now != nullptr) {
    o.now_ms = [now] { return *now; };
  } else {
    o.now_ms = [] { return kMar1Utc + 86400 * 1000; };
  }
  return o;
}

spb::JournalRecord Import(const std::string& key_id, const std::string& json) {
  spb::JournalRecord r;
  auto* imp = r.add_legacy_imports();
  imp->set_key_id(key_id);
  imp->set_usage_json(json);
  return r;
}

UsageQuery By(bool day, bool hour, bool key, bool model) {
  UsageQuery q;
  q.by_day = day || hour;
  q.by_hour = hour;
  q.by_key = key;
  q.by_model = model;
  return q;
}

TEST(LedgerTest, AnEventIdIsCountedOnceWhateverHowOftenItArrives) {
  // Repeats within a record and across records are dropped by id; the totals count each id once.
  Ledger ledger(Options());
  EXPECT_EQ(ledger.Apply(
                Record({Event("a", "key_1", kMar1Utc), Event("b", "key_1", kMar1Utc), Event("a", "key_1", kMar1Utc)})),
            2);
  EXPECT_EQ(ledger.Apply(Record({Event("a", "key_1", kMar1Utc), Event("b", "key_1", kMar1Utc)})), 0);
  EXPECT_TRUE(ledger.Seen(DigestOf("a")));
  EXPECT_FALSE(ledger.Seen(DigestOf("c")));
  auto rows = ledger.Query(UsageQuery());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].totals.requests, 2);
  EXPECT_EQ(rows[0].totals.input, 200);
  EXPECT_EQ(ledger.Stats().event_ids, 2u);
}

// An event's detail is kept as its bytes in the journaled record when those are given (no second
// serialization), and serialized from the event when they are not or do not match the record.
TEST(LedgerTest, DetailIsTheJournaledBytesWhenGivenAndMatching) {
  // Each event with input_tokens written twice (protobuf keeps the last): bytes protobuf itself would
  // not write, so finding them in the snapshot shows they were kept as given.
  std::string journaled;
  std::vector<std::string> odd_events;
  for (const auto& e : {Event("a", "key_1", kMar1Utc), Event("b", "key_2", kMar1Utc + 1)}) {
    odd_events.push_back(std::string("\x38\x07", 2) + e.SerializeAsString());
    journaled += '\x0a';
    journaled += static_cast<char>(odd_events.back().size());  // < 128: one byte
    journaled += odd_events.back();
  }
  spb::JournalRecord record;
  ASSERT_TRUE(record.ParseFromString(journaled));
  ASSERT_EQ(record.events_size(), 2);
  EXPECT_EQ(record.events(0).input_tokens(), 100);

  Ledger given(Options());
  EXPECT_EQ(given.Apply(record, nullptr, nullptr, journaled), 2);
  std::string snapshot;
  ASSERT_TRUE(given.AppendSnapshot(1, &snapshot).ok());
  for (const auto& odd : odd_events) EXPECT_NE(snapshot.find(odd), std::string::npos);

  // Bytes of another record (one event, not two): the events are serialized as before.
  Ledger mismatched(Options());
  const std::string other = Record({Event("c", "key_1", kMar1Utc)}).SerializeAsString();
  EXPECT_EQ(mismatched.Apply(record, nullptr, nullptr, other), 2);
  snapshot.clear();
  ASSERT_TRUE(mismatched.AppendSnapshot(1, &snapshot).ok());
  EXPECT_EQ(snapshot.find(odd_events[0]), std::string::npos);
  EXPECT_NE(snapshot.find(record.events(0).SerializeAsString()), std::string::npos);
  // Either way the answers are the same.
  EXPECT_EQ(given.ListEvents("", 0, 10).size(), 2u);
  EXPECT_EQ(mismatched.ListEvents("", 0, 10).size(), 2u);
  EXPECT_EQ(given.Query(UsageQuery())[0].totals.input, 200);
}

TEST(LedgerTest, TotalsSumEveryCounterAndCountNon2xxAsErrors) {
  // Each field of UsageTotals is summed; 4xx/5xx/499 are errors; last_used is the latest event time.
  Ledger ledger(Options());
  ledger.Apply(
      Record({Event("a", "key_1", kMar1Utc, "m", 10, 1, 200), Event("b", "key_1", kMar1Utc + 5, "m", 20, 2, 429),
              Event("c", "key_1", kMar1Utc + 9, "m", 30, 3, 499)}));
  auto rows = ledger.Query(UsageQuery());
  ASSERT_EQ(rows.size(), 1u);
  const QueryTotals& t = rows[0].totals;
  EXPECT_EQ(t.requests, 3);
  EXPECT_EQ(t.errors, 2);
  EXPECT_EQ(t.input, 60);
  EXPECT_EQ(t.output, 6);
  EXPECT_EQ(t.cache_read, 3);
  EXPECT_EQ(t.cache_write, 6);
  EXPECT_EQ(t.last_used_ms, kMar1Utc + 9);
  EXPECT_EQ(t.total_only, 0);
}

TEST(LedgerTest, DayAndHourBucketsFollowTheLedgerZoneAtThePlusEightBoundary) {
  // The same two events 1 ms apart around 16:00Z fall on different days in +08:00 and on one day in UTC.
  const int64_t boundary = kMar1Utc - 8 * kHourMs;  // 2026-03-01T00:00+08:00
  for (bool east8 : {false, true}) {
    Ledger ledger(Options(east8 ? kEast8 : LedgerZone()));
    ledger.Apply(Record({Event("a", "key_1", boundary - 1), Event("b", "key_1", boundary)}));
    auto days = ledger.Query(By(true, false, false, false));
    auto hours = ledger.Query(By(false, true, false, false));
    if (east8) {
      ASSERT_EQ(days.size(), 2u);
      EXPECT_EQ(FormatDay(*days[0].day), "2026-02-28");
      EXPECT_EQ(FormatDay(*days[1].day), "2026-03-01");
      ASSERT_EQ(hours.size(), 2u);
      EXPECT_EQ(FormatHour(*hours[0].hour), "2026-02-28 23:00");
      EXPECT_EQ(FormatHour(*hours[1].hour), "2026-03-01 00:00");
      EXPECT_EQ(FormatDay(*hours[1].day), "2026-03-01");
    } else {
      ASSERT_EQ(days.size(), 1u);
      EXPECT_EQ(FormatDay(*days[0].day), "2026-02-28");
      ASSERT_EQ(hours.size(), 2u);
      EXPECT_EQ(FormatHour(*hours[0].hour), "2026-02-28 15:00");
      EXPECT_EQ(FormatHour(*hours[1].hour), "2026-02-28 16:00");
    }
  }
}

TEST(LedgerTest, QueryGroupsFiltersAndSortsByDayHourKeyModel) {
  // Rows come sorted by time bucket, then key id, then model name; from/to are inclusive; key_id filters;
  // the model is the served one, else the requested one.
  Ledger ledger(Options());
  auto fallback = Event("f", "key_b", kMar1Utc + 2 * kHourMs, "requested-only");
  fallback.clear_served_model();
  ledger.Apply(Record({Event("1", "key_b", kMar1Utc, "zeta"), Event("2", "key_a", kMar1Utc + 1, "zeta"),
                       Event("3", "key_a", kMar1Utc + 2, "alpha"), Event("4", "key_a", kMar1Utc + 86400000, "alpha"),
                       Event("5", "key_c", kMar1Utc - 1, "alpha"), fallback}));

  auto rows = ledger.Query(By(true, false, true, true));
  std::vector<std::string> got;
  for (const auto& r : rows) got.push_back(FormatDay(*r.day) + "|" + r.key_id + "|" + r.model);
  EXPECT_EQ(got, (std::vector<std::string>{"2026-02-28|key_c|alpha", "2026-03-01|key_a|alpha", "2026-03-01|key_a|zeta",
                                           "2026-03-01|key_b|requested-only", "2026-03-01|key_b|zeta",
                                           "2026-03-02|key_a|alpha"}));

  UsageQuery q = By(false, false, true, false);
  q.from_day = ParseDay("2026-03-01");
  q.to_day = ParseDay("2026-03-01");
  rows = ledger.Query(q);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].key_id, "key_a");
  EXPECT_EQ(rows[0].totals.requests, 2);
  EXPECT_EQ(rows[1].key_id, "key_b");
  EXPECT_EQ(rows[1].totals.requests, 2);
  EXPECT_FALSE(rows[0].day.has_value());

  q = By(false, true, false, true);
  q.key_id = "key_a";
  rows = ledger.Query(q);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(FormatHour(*rows[0].hour), "2026-03-01 00:00");
  EXPECT_EQ(rows[0].model, "alpha");
  EXPECT_EQ(rows[1].model, "zeta");
  EXPECT_EQ(FormatHour(*rows[2].hour), "2026-03-02 00:00");

  q = UsageQuery();
  q.key_id = "key_unknown";
  EXPECT_TRUE(ledger.Query(q).empty());
  q = UsageQuery();
  q.from_day = ParseDay("2026-03-03");
  EXPECT_TRUE(ledger.Query(q).empty());
}

TEST(LedgerTest, DetailIsKeptForTheRetentionAndAggregatesForever) {
  // Detail older than the retention is not listed (and is pruned), while the aggregates still count it.
  int64_t now = kMar1Utc;
  LedgerOptions o = Options(LedgerZone(), &now);
  o.detail_retention_ms = 86400 * 1000;
  Ledger ledger(o);
  ledger.Apply(Record({Event("old", "key_1", kMar1Utc - 2 * 86400 * 1000), Event("new1", "key_1", kMar1Utc - 10),
                       Event("new2", "key_2", kMar1Utc - 5)}));
  auto events = ledger.ListEvents("", 0, 100);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event_id(), "new2");  // newest first
  EXPECT_EQ(events[1].event_id(), "new1");
  EXPECT_EQ(ledger.ListEvents("key_1", 0, 100).size(), 1u);
  EXPECT_EQ(ledger.ListEvents("", kMar1Utc - 7, 100).size(), 1u);
  EXPECT_EQ(ledger.ListEvents("", 0, 1).size(), 1u);

  now += 86400 * 1000 - 7;  // new1 is now older than a day, new2 not yet
  ledger.PruneDetail();
  events = ledger.ListEvents("", 0, 100);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_id(), "new2");
  EXPECT_EQ(ledger.ToSnapshot(1).detail_size(), 1);
  EXPECT_EQ(ledger.Query(UsageQuery())[0].totals.requests, 3);
}

constexpr char kLegacy[] = R"({
  "total_input": 5000, "total_output": 700, "total_requests": 42, "last_used": "2026-02-10T14:23:11+08:00",
  "daily": {"2026-02-10": {"input": 2000, "output": 200, "requests": 8,
                           "by_model": {"opus": {"total": 1800, "requests": 6}, "gpt": {"input": 300, "output": 50, "requests": 2}}}},
  "hourly": {"2026-02-10 07:00": {"by_model": {"opus": {"total": 1000, "requests": 3}}},
             "2026-02-10 14:00": {"by_model": {"opus": {"total": 800, "requests": 3}, "gpt": {"total": 350, "requests": 2}}}},
  "total_by_model": {"opus": {"total": 4000, "requests": 30}}
})";

TEST(LedgerTest, LegacyHistoryAnswersEachGranularityFromItsOwnOldFigures) {
  // Undated totals use the old key totals, by_day the old daily figures (under their own date), by_hour
  // the old hourly figures moved into the ledger zone, and by_model only what the old proxy gave models.
  Ledger ledger(Options());  // ledger in UTC, legacy in +08:00
  ledger.Apply(Import("key_old", kLegacy));
  ledger.Apply(Record({Event("n1", "key_old", kMar1Utc, "opus", 100, 10)}));

  auto total = ledger.Query(UsageQuery());
  ASSERT_EQ(total.size(), 1u);
  EXPECT_EQ(total[0].totals.input, 5100);
  EXPECT_EQ(total[0].totals.output, 710);
  EXPECT_EQ(total[0].totals.requests, 43);
  EXPECT_EQ(total[0].totals.last_used_ms, kMar1Utc);

  auto by_model = ledger.Query(By(false, false, false, true));
  ASSERT_EQ(by_model.size(), 1u);
  EXPECT_EQ(by_model[0].model, "opus");
  EXPECT_EQ(by_model[0].totals.total_only, 4000);
  EXPECT_EQ(by_model[0].totals.requests, 31);

  auto days = ledger.Query(By(true, false, false, false));
  ASSERT_EQ(days.size(), 2u);
  EXPECT_EQ(FormatDay(*days[0].day), "2026-02-10");
  EXPECT_EQ(days[0].totals.input, 2000);
  EXPECT_EQ(days[0].totals.output, 200);
  EXPECT_EQ(days[0].totals.requests, 8);
  EXPECT_EQ(FormatDay(*days[1].day), "2026-03-01");

  auto day_models = ledger.Query(By(true, false, true, true));
  ASSERT_EQ(day_models.size(), 3u);
  EXPECT_EQ(day_models[0].model, "gpt");
  EXPECT_EQ(day_models[0].key_id, "key_old");
  EXPECT_EQ(day_models[0].totals.input + day_models[0].totals.output + day_models[0].totals.total_only, 350);
  EXPECT_EQ(day_models[1].model, "opus");
  EXPECT_EQ(day_models[1].totals.total_only, 1800);

  auto hours = ledger.Query(By(false, true, false, true));
  std::vector<std::string> got;
  for (const auto& r : hours)
    got.push_back(FormatHour(*r.hour) + "|" + r.model + "|" +
                  std::to_string(r.totals.total_only + r.totals.input + r.totals.output));
  EXPECT_EQ(got, (std::vector<std::string>{"2026-02-09 23:00|opus|1000", "2026-02-10 06:00|gpt|350",
                                           "2026-02-10 06:00|opus|800", "2026-03-01 00:00|opus|110"}));

  // A date range switches undated totals to the dated (daily) figures.
  UsageQuery q;
  q.from_day = ParseDay("2026-02-01");
  q.to_day = ParseDay("2026-02-28");
  auto feb = ledger.Query(q);
  ASSERT_EQ(feb.size(), 1u);
  EXPECT_EQ(feb[0].totals.requests, 8);
}

TEST(LedgerTest, LegacyHoursStayPutWhenTheLedgerUsesTheOldZone) {
  // With USAGE_TIMEZONE=+08:00 the old hour strings come back exactly as the old proxy wrote them.
  Ledger ledger(Options(kEast8));
  ledger.Apply(Import("key_old", kLegacy));
  auto hours = ledger.Query(By(false, true, false, false));
  ASSERT_EQ(hours.size(), 2u);
  EXPECT_EQ(FormatHour(*hours[0].hour), "2026-02-10 07:00");
  EXPECT_EQ(FormatHour(*hours[1].hour), "2026-02-10 14:00");
  EXPECT_EQ(hours[1].totals.total_only, 1150);
  EXPECT_EQ(hours[1].totals.requests, 5);
}

TEST(LedgerTest, ImportingTheSameKeyTwiceCountsItOnce) {
  // A second import of a key id (a restart, a second run) changes nothing, even with other content.
  Ledger ledger(Options());
  ledger.Apply(Import("key_old", kLegacy));
  auto before = ledger.Query(By(true, false, true, true));
  ledger.Apply(Import("key_old", kLegacy));
  ledger.Apply(Import("key_old", R"({"total_requests": 1000})"));
  EXPECT_TRUE(ledger.LegacyImported("key_old"));
  auto after = ledger.Query(By(true, false, true, true));
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i].totals, after[i].totals);
  EXPECT_EQ(ledger.Query(UsageQuery())[0].totals.requests, 42);
}

TEST(LedgerTest, SnapshotRoundTripKeepsEveryAnswer) {
  // A ledger rebuilt from its snapshot answers every query as the original, and still knows its ids.
  Ledger ledger(Options());
  ledger.Apply(Import("key_old", kLegacy));
  ledger.Apply(Record({Event("1", "key_a", kMar1Utc, "m1"), Event("2", "key_b", kMar1Utc + 7 * kHourMs, "m2"),
                       Event("3", "key_a", kMar1Utc + 30 * kHourMs, "m1", 5, 5, 500)}));
  auto restored = Ledger::FromSnapshot(ledger.ToSnapshot(7), Options());
  ASSERT_TRUE(restored.ok()) << restored.status();
  for (bool d : {false, true}) {
    for (bool h : {false, true}) {
      for (bool k : {false, true}) {
        for (bool m : {false, true}) {
          auto a = ledger.Query(By(d, h, k, m));
          auto b = (*restored)->Query(By(d, h, k, m));
          ASSERT_EQ(a.size(), b.size());
          for (size_t i = 0; i < a.size(); ++i) {
            EXPECT_EQ(a[i].totals, b[i].totals);
            EXPECT_EQ(a[i].key_id, b[i].key_id);
            EXPECT_EQ(a[i].model, b[i].model);
            EXPECT_EQ(a[i].hour, b[i].hour);
          }
        }
      }
    }
  }
  EXPECT_TRUE((*restored)->Seen(DigestOf("2")));
  EXPECT_TRUE((*restored)->LegacyImported("key_old"));
  EXPECT_EQ((*restored)->ListEvents("", 0, 10).size(), 3u);
  EXPECT_EQ((*restored)->Apply(Record({Event("2", "key_b", kMar1Utc)})), 0);
}

// A ledger holding an old-proxy import and 300 detail events, the i-th with a request id of
// `request_id_bytes` + i bytes.
std::unique_ptr<Ledger> LedgerWithDetail(int request_id_bytes) {
  auto ledger = std::make_unique<Ledger>(Options());
  ledger->Apply(Import("key_old", kLegacy));
  spb::JournalRecord record;
  for (int i = 0; i < 300; ++i) {
    auto* e = record.add_events();
    *e = Event("e" + std::to_string(i), i % 2 ? "key_a" : "key_b", kMar1Utc + i * 1000, "m1", i, 2 * i);
    e->set_request_id(std::string(request_id_bytes + i, 'r'));
  }
  ledger->Apply(record);
  return ledger;
}

// The snapshot file as usagesvc writes and loads it: detail events are appended as the bytes they are
// kept in and loaded as views, never all parsed at once. A file written the earlier way (every detail
// event a parsed message, serialized by protobuf) loads the same; a payload whose fields do not parse
// is refused, CRC or not.
TEST(LedgerTest, SnapshotFileKeepsDetailAsBytesAndLoadsFilesWrittenTheEarlierWay) {
  auto held = LedgerWithDetail(200);  // lengths over 127: two-byte varints
  Ledger& ledger = *held;

  std::string written = SnapshotFileStart();
  auto counts = ledger.AppendSnapshot(9, &written);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->detail_events, 300u);
  EXPECT_EQ(counts->event_ids, 300u);
  SealSnapshotFile(&written);
  auto earlier = EncodeSnapshotFile(ledger.ToSnapshot(9));  // detail parsed, then serialized by protobuf
  ASSERT_TRUE(earlier.ok());
  EXPECT_EQ(ledger.ToSnapshot(9).detail_size(), 300);

  for (const std::string* file : {&written, &*earlier}) {
    auto parts = DecodeSnapshotFileParts(*file);
    ASSERT_TRUE(parts.ok()) << parts.status();
    EXPECT_EQ(parts->snapshot.detail_size(), 0);
    ASSERT_EQ(parts->detail.size(), 300u);
    EXPECT_EQ(parts->snapshot.next_generation(), 9);
    auto restored = Ledger::FromSnapshot(parts->snapshot, Options(), parts->detail);
    ASSERT_TRUE(restored.ok()) << restored.status();
    auto listed = (*restored)->ListEvents("", 0, 1000);
    auto original = ledger.ListEvents("", 0, 1000);
    ASSERT_EQ(listed.size(), original.size());
    for (size_t i = 0; i < listed.size(); ++i) EXPECT_EQ(listed[i].SerializeAsString(), original[i].SerializeAsString());
    EXPECT_EQ((*restored)->ListEvents("key_a", 0, 1000).size(), 150u);
    auto a = ledger.Query(By(true, true, true, true));
    auto b = (*restored)->Query(By(true, true, true, true));
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].totals, b[i].totals);
    EXPECT_TRUE((*restored)->LegacyImported("key_old"));
    EXPECT_EQ((*restored)->Apply(Record({Event("e7", "key_a", kMar1Utc)})), 0);
  }

  // The last detail event cut short, with a CRC that matches: the walk finds it runs past the end.
  std::string cut = written.substr(0, written.size() - 1);
  SealSnapshotFile(&cut);
  auto damaged = DecodeSnapshotFileParts(cut);
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(damaged.status().message(), "the payload does not parse");
  // And a detail record whose bytes are no UsageEvent is refused at load.
  spb::Snapshot holder;
  std::string junk = SnapshotFileStart();
  holder.set_version(1);
  holder.AppendToString(&junk);
  junk += std::string("\x92\x01\x02\xff\xff", 5);
  SealSnapshotFile(&junk);
  auto junk_parts = DecodeSnapshotFileParts(junk);
  ASSERT_TRUE(junk_parts.ok()) << junk_parts.status();
  EXPECT_FALSE(Ledger::FromSnapshot(junk_parts->snapshot, Options(), junk_parts->detail).ok());
}

// usagesvc writes a snapshot to its file as it is captured, a piece at a time (never the whole file in
// memory): the file is byte for byte the one built in memory, however small the pieces. A piece the
// file refuses stops the snapshot with that error, and the snapshot the file replaced is still there,
// with no temporary file left beside it.
TEST(LedgerTest, SnapshotWrittenInPiecesIsTheSameFileAndAFailedOneLeavesTheLastOne) {
  auto held = LedgerWithDetail(0);
  Ledger& ledger = *held;
  std::string whole = SnapshotFileStart();
  ASSERT_TRUE(ledger.AppendSnapshot(4, &whole).ok());
  SealSnapshotFile(&whole);

  testing::TempDir dir;
  const std::string path = dir.File("snapshot.bin");
  auto file = SnapshotFileWriter::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  int pieces = 0;
  auto counts = ledger.WriteSnapshot(
      4,
      [&](std::string_view piece) {
        ++pieces;
        return (*file)->Append(piece);
      },
      1000);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->detail_events, 300u);
  EXPECT_GT(pieces, 30);
  EXPECT_FALSE(std::filesystem::exists(path)) << "visible before Commit";
  ASSERT_TRUE((*file)->Commit().ok());
  EXPECT_EQ((*file)->file_bytes(), whole.size());
  EXPECT_EQ(testing::ReadBytes(path), whole);

  ledger.Apply(Record({Event("later", "key_a", kMar1Utc)}));
  auto failing = SnapshotFileWriter::Open(path);
  ASSERT_TRUE(failing.ok()) << failing.status();
  pieces = 0;
  auto refused = ledger.WriteSnapshot(
      5,
      [&](std::string_view piece) {
        if (++pieces == 3) return absl::ResourceExhaustedError("disk full (test)");
        return (*failing)->Append(piece);
      },
      1000);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(), "disk full (test)");
  EXPECT_EQ(pieces, 3) << "the snapshot went on after its file refused a piece";
  failing->reset();
  EXPECT_EQ(testing::ReadBytes(path), whole);
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"snapshot.bin"});
}

TEST(LedgerTest, ChangingTheZoneReBucketsWholeHoursAndRefusesFractionalShifts) {
  // A snapshot counted in UTC loads into a +08:00 ledger with its hours moved; +05:30 cannot be re-bucketed.
  Ledger ledger(Options());
  ledger.Apply(Record({Event("1", "key_a", kMar1Utc - 8 * kHourMs)}));  // 2026-02-28 16:00Z
  auto east = Ledger::FromSnapshot(ledger.ToSnapshot(1), Options(kEast8));
  ASSERT_TRUE(east.ok());
  auto rows = (*east)->Query(By(false, true, false, false));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(FormatHour(*rows[0].hour), "2026-03-01 00:00");
  auto india = Ledger::FromSnapshot(ledger.ToSnapshot(1), Options(LedgerZone{5 * 3600 + 1800, "+05:30"}));
  ASSERT_FALSE(india.ok());
  EXPECT_EQ(india.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(india.status().message()).find("USAGE_TIMEZONE"), std::string::npos);
}

}  // namespace
}  // namespace luna::usagesvc
