// SpendTracker: the keys' day and month spend kept as events are applied, the watermark per gateway,
// the periods in the ledger's zone, and the recount when the day turns.
#include "usagesvc/spend_tracker.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace luna::usagesvc {
namespace {

namespace pb = luna::usage::v1;
namespace spb = luna::usage::storage::v1;
using testing::Event;
using testing::Record;
using testing::kHourMs;
using testing::kMar1Utc;

constexpr int64_t kDayMs = 24 * kHourMs;

std::map<std::string, pb::KeySpend> ByKey(const pb::SpendUpdate& u) {
  std::map<std::string, pb::KeySpend> out;
  for (const auto& k : u.keys()) out[k.key_id()] = k;
  return out;
}

TEST(SpendTracker, WindowsInTheLedgerZone) {
  // 2026-03-15 10:00 UTC is 18:00 on the 15th at +08:00; 2026-03-31 20:00 UTC is April 1st there.
  LedgerZone east8{8 * 3600, "+08:00"};
  SpendWindows w = WindowsAt(east8, kMar1Utc + 14 * kDayMs + 10 * kHourMs);
  EXPECT_EQ(w.day_start_ms, kMar1Utc + 14 * kDayMs - 8 * kHourMs);
  EXPECT_EQ(w.day_end_ms, kMar1Utc + 15 * kDayMs - 8 * kHourMs);
  EXPECT_EQ(w.month_start_ms, kMar1Utc - 8 * kHourMs);
  EXPECT_EQ(w.month_end_ms, kMar1Utc + 31 * kDayMs - 8 * kHourMs);
  SpendWindows april = WindowsAt(east8, kMar1Utc + 30 * kDayMs + 20 * kHourMs);
  EXPECT_EQ(april.month_start_ms, kMar1Utc + 31 * kDayMs - 8 * kHourMs);
  SpendWindows dec = WindowsAt(LedgerZone(), 1796083200000);  // 2026-12-01
  EXPECT_EQ(dec.month_end_ms, 1798761600000);                 // 2027-01-01
}

TEST(SpendTracker, EventSequence) {
  EXPECT_EQ(EventSequence("gw-abc-17", "gw-abc"), 17);
  EXPECT_EQ(EventSequence("gw-abc-17", "gw-ab"), 0);
  EXPECT_EQ(EventSequence("gw-abc-x", "gw-abc"), 0);
  EXPECT_EQ(EventSequence("gw-abc-", "gw-abc"), 0);
  EXPECT_EQ(EventSequence("gw-abc-17", ""), 0);
  EXPECT_EQ(EventSequence("other", "gw-abc"), 0);
}

TEST(SpendTracker, CountsNewEventsOnceAndTracksWatermarks) {
  int64_t now = kMar1Utc + 14 * kDayMs + 12 * kHourMs;
  LedgerOptions o;
  o.now_ms = [&now] { return now; };
  Ledger ledger(o);
  // History from before the tracker started: yesterday and today.
  ledger.Apply(Record({Event("old-1", "key_a", now - kDayMs, "m", 100, 10), Event("old-2", "key_a", now - kHourMs, "m", 5, 5)}));
  SpendTracker t(&ledger, [&now] { return now; });
  pb::SpendUpdate snap;
  t.Snapshot("gw-test", &snap);
  EXPECT_TRUE(snap.snapshot());
  ASSERT_EQ(snap.keys_size(), 1);
  EXPECT_EQ(snap.keys(0).day_tokens(), 10);
  EXPECT_EQ(snap.keys(0).month_tokens(), 120);
  EXPECT_EQ(snap.keys(0).month_cache_tokens(), 6);
  EXPECT_EQ(snap.gateway_watermark(), 0);

  auto e1 = Event("gw-test-7", "key_a", now, "m", 1, 2);
  auto e2 = Event("gw-test-3", "key_b", now, "m", 30, 40);
  auto other = Event("gw-other-99", "key_b", now, "m", 100, 0);
  other.set_gateway_id("gw-other");
  EXPECT_EQ(t.Apply(Record({e1, e2, other}), nullptr), 3);
  EXPECT_EQ(t.Apply(Record({e1}), nullptr), 0);  // a duplicate counts nothing
  pb::SpendUpdate changes;
  std::vector<int64_t> marks;
  ASSERT_TRUE(t.TakeChanges(&changes, {"gw-test", "gw-other", "gw-none"}, &marks));
  EXPECT_EQ(marks, (std::vector<int64_t>{7, 99, 0}));
  auto keys = ByKey(changes);
  EXPECT_EQ(keys["key_a"].day_tokens(), 13);
  EXPECT_EQ(keys["key_a"].month_tokens(), 123);
  EXPECT_EQ(keys["key_b"].day_tokens(), 170);
  EXPECT_EQ(keys["key_b"].day_cache_tokens(), 6);
  EXPECT_FALSE(t.TakeChanges(&changes, {"gw-test"}, &marks));

  // An event of last month counts in neither period.
  EXPECT_EQ(t.Apply(Record({Event("gw-test-8", "key_c", kMar1Utc - kHourMs)}), nullptr), 1);
  EXPECT_FALSE(t.TakeChanges(&changes, {"gw-test"}, &marks));
  pb::SpendUpdate snap2;
  t.Snapshot("gw-test", &snap2);
  EXPECT_EQ(snap2.gateway_watermark(), 8);
  EXPECT_EQ(ByKey(snap2).count("key_c"), 0u);
}

TEST(SpendTracker, TheDayTurningRecountsFromTheLedger) {
  int64_t now = kMar1Utc + 30 * kDayMs + 23 * kHourMs;  // 2026-03-31 23:00 UTC
  LedgerOptions o;
  o.now_ms = [&now] { return now; };
  Ledger ledger(o);
  SpendTracker t(&ledger, [&now] { return now; });
  t.Apply(Record({Event("gw-test-1", "key_a", now, "m", 50, 50)}), nullptr);
  EXPECT_FALSE(t.RollIfDue());
  now += 2 * kHourMs;  // April 1st
  t.Apply(Record({Event("gw-test-2", "key_a", now, "m", 1, 1)}), nullptr);
  ASSERT_TRUE(t.RollIfDue());
  EXPECT_FALSE(t.RollIfDue());
  pb::SpendUpdate snap;
  t.Snapshot("gw-test", &snap);
  auto keys = ByKey(snap);
  EXPECT_EQ(keys["key_a"].day_tokens(), 2);
  EXPECT_EQ(keys["key_a"].month_tokens(), 2);
  EXPECT_EQ(snap.day_start_unix_ms(), kMar1Utc + 31 * kDayMs);
  EXPECT_EQ(snap.gateway_watermark(), 2);
}

}  // namespace
}  // namespace luna::usagesvc
