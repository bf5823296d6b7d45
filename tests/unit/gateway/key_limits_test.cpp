// The gateway's enforcement of key policies: the per-minute buckets at their edges, budgets from
// usagesvc's totals plus the gateway's own pending spend, the watermark, and the period boundaries.
#include "gateway/limits/key_limits.h"

#include <gtest/gtest.h>

namespace luna::gateway {
namespace {

using Kind = LimitDecision::Kind;

// 2026-03-15T12:00:00Z
constexpr int64_t kNow = 1773576000000;
constexpr int64_t kDayMs = 86'400'000;

KeyPolicy Rpm(int64_t n) {
  KeyPolicy p;
  p.requests_per_minute = n;
  return p;
}

TEST(KeyLimiter, RequestBucketAllowsAFullMinuteThenRefills) {
  KeyLimiter l("key_1");
  KeyPolicy p = Rpm(3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(l.TakeRequest(p, 1000).ok()) << i;
  LimitDecision d = l.TakeRequest(p, 1000);
  ASSERT_EQ(d.kind, Kind::kRequestsPerMinute);
  EXPECT_EQ(d.limit, 3);
  EXPECT_EQ(d.retry_after_ms, 20000);  // one request every 20 s
  EXPECT_FALSE(l.TakeRequest(p, 1000 + 19999).ok());
  EXPECT_TRUE(l.TakeRequest(p, 1000 + 20000).ok());
  EXPECT_FALSE(l.TakeRequest(p, 1000 + 20000).ok());
  // Never more than the bucket's size, however long the pause.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(l.TakeRequest(p, 10'000'000).ok());
  EXPECT_FALSE(l.TakeRequest(p, 10'000'000).ok());
}

TEST(KeyLimiter, NoLimitsAdmitEverything) {
  KeyLimiter l("key_1");
  KeyPolicy p;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(l.TakeRequest(p, 0).ok());
  l.Charge(p, 1'000'000, 0, 1, kNow, 0);
  EXPECT_TRUE(l.CheckTokens(p, nullptr, kNow, 0).ok());
}

TEST(KeyLimiter, RaisingTheLimitTakesEffectAtOnce) {
  KeyLimiter l("key_1");
  EXPECT_TRUE(l.TakeRequest(Rpm(1), 0).ok());
  EXPECT_FALSE(l.TakeRequest(Rpm(1), 0).ok());
  // A policy change keeps the bucket's level (here 0), refilling at the new rate.
  EXPECT_FALSE(l.TakeRequest(Rpm(600), 0).ok());
  EXPECT_TRUE(l.TakeRequest(Rpm(600), 100).ok());  // 10 per second
  EXPECT_FALSE(l.TakeRequest(Rpm(600), 100).ok());
  // Lowering it caps what is left at the new size.
  EXPECT_TRUE(l.TakeRequest(Rpm(600), 60'100).ok());
  EXPECT_TRUE(l.TakeRequest(Rpm(1), 60'100).ok());
  EXPECT_FALSE(l.TakeRequest(Rpm(1), 60'100).ok());
}

TEST(KeyLimiter, TokenBucketAdmitsWhileAnyIsLeftAndKeepsTheDebt) {
  KeyLimiter l("key_1");
  KeyPolicy p;
  p.tokens_per_minute = 600;  // 10 per second
  EXPECT_TRUE(l.CheckTokens(p, nullptr, kNow, 0).ok());
  l.Charge(p, 599, 1000, 1, kNow, 0);  // cache tokens do not count unless asked
  EXPECT_TRUE(l.CheckTokens(p, nullptr, kNow, 0).ok());
  l.Charge(p, 601, 0, 2, kNow, 0);  // 600 over: one request may overshoot
  LimitDecision d = l.CheckTokens(p, nullptr, kNow, 0);
  ASSERT_EQ(d.kind, Kind::kTokensPerMinute);
  EXPECT_EQ(d.retry_after_ms, 60'100);  // back above zero after 601 tokens at 10/s
  EXPECT_FALSE(l.CheckTokens(p, nullptr, kNow, 60'000).ok());
  EXPECT_TRUE(l.CheckTokens(p, nullptr, kNow, 60'100).ok());
  KeyPolicy with_cache = p;
  with_cache.count_cache_tokens = true;
  KeyLimiter c("key_2");
  c.Charge(with_cache, 100, 600, 1, kNow, 0);
  EXPECT_FALSE(c.CheckTokens(with_cache, nullptr, kNow, 0).ok());
}

luna::usage::v1::SpendUpdate Update(bool snapshot, int64_t day, int64_t month, int64_t watermark,
                                    const std::string& key = "key_1") {
  luna::usage::v1::SpendUpdate u;
  u.set_snapshot(snapshot);
  SpendWindows w = UtcWindowsAt(kNow);
  u.set_day_start_unix_ms(w.day_start_ms);
  u.set_day_end_unix_ms(w.day_end_ms);
  u.set_month_start_unix_ms(w.month_start_ms);
  u.set_month_end_unix_ms(w.month_end_ms);
  auto* k = u.add_keys();
  k->set_key_id(key);
  k->set_day_tokens(day);
  k->set_month_tokens(month);
  k->set_day_cache_tokens(7);
  k->set_month_cache_tokens(9);
  u.set_gateway_watermark(watermark);
  return u;
}

TEST(KeyLimiter, DayBudgetCountsUsagesvcTotalsPlusOwnPendingSpend) {
  SpendBook book;
  book.Apply(Update(true, 900, 900, 0));
  KeyPolicy p;
  p.tokens_per_day = 1000;
  KeyLimiter l("key_1");
  EXPECT_TRUE(l.CheckTokens(p, &book, kNow, 0).ok());
  l.Charge(p, 60, 0, 1, kNow, 0);
  l.Charge(p, 40, 0, 2, kNow, 0);
  LimitDecision d = l.CheckTokens(p, &book, kNow, 0);
  ASSERT_EQ(d.kind, Kind::kDayBudget);
  EXPECT_EQ(d.used, 1000);
  EXPECT_EQ(d.resets_at_ms, UtcWindowsAt(kNow).day_end_ms);
  EXPECT_EQ(d.retry_after_ms, UtcWindowsAt(kNow).day_end_ms - kNow);
  EXPECT_NE(LimitMessage(d).find("Daily token budget"), std::string::npos);
  EXPECT_NE(LimitMessage(d).find("1000 of 1000"), std::string::npos);
  EXPECT_NE(LimitMessage(d).find("2026-03-16T00:00:00Z"), std::string::npos) << LimitMessage(d);

  // usagesvc now includes event 1 (watermark 1): its 60 tokens are not counted twice.
  book.Apply(Update(false, 960, 960, 1));
  auto [day, month] = l.Budgets(p, &book, kNow);
  EXPECT_EQ(day.used, 1000);
  EXPECT_EQ(month.limit, 0);
  // Then event 2 as well.
  book.Apply(Update(false, 1000, 1000, 2));
  EXPECT_EQ(l.Budgets(p, &book, kNow).first.used, 1000);
  // The next day starts from zero, before usagesvc's new snapshot arrives.
  EXPECT_TRUE(l.CheckTokens(p, &book, kNow + kDayMs, 0).ok());
  EXPECT_EQ(l.Budgets(p, &book, kNow + kDayMs).first.used, 0);
}

TEST(KeyLimiter, PendingEventsOutOfOrderAreCountedOnce) {
  SpendBook book;
  book.Apply(Update(true, 0, 0, 0));
  KeyPolicy p;
  p.tokens_per_month = 1'000'000;
  KeyLimiter l("key_1");
  l.Charge(p, 10, 0, 5, kNow, 0);
  l.Charge(p, 20, 0, 4, kNow, 0);  // a later Charge with an earlier id
  l.Charge(p, 30, 0, 6, kNow, 0);
  EXPECT_EQ(l.Budgets(p, &book, kNow).second.used, 60);
  book.Apply(Update(false, 20, 20, 4));  // event 4 alone is in
  EXPECT_EQ(l.Budgets(p, &book, kNow).second.used, 60);
  book.Apply(Update(false, 60, 60, 6));
  EXPECT_EQ(l.Budgets(p, &book, kNow).second.used, 60);
}

TEST(KeyLimiter, MonthBudgetIsReportedFirstAndCacheCountsWhenAsked) {
  SpendBook book;
  book.Apply(Update(true, 500, 5000, 0));
  KeyPolicy p;
  p.tokens_per_day = 500;
  p.tokens_per_month = 5000;
  KeyLimiter l("key_1");
  LimitDecision d = l.CheckTokens(p, &book, kNow, 0);
  ASSERT_EQ(d.kind, Kind::kMonthBudget);
  EXPECT_EQ(d.resets_at_ms, UtcWindowsAt(kNow).month_end_ms);
  EXPECT_NE(LimitMessage(d).find("Monthly"), std::string::npos);

  KeyPolicy c;
  c.tokens_per_day = 505;
  c.count_cache_tokens = true;
  EXPECT_EQ(l.Budgets(c, &book, kNow).first.used, 507);  // 500 + 7 cache
  EXPECT_EQ(l.CheckTokens(c, &book, kNow, 0).kind, Kind::kDayBudget);
}

TEST(KeyLimiter, WithoutUsagesvcOnlyOwnSpendCounts) {
  KeyPolicy p;
  p.tokens_per_day = 100;
  KeyLimiter l("key_1");
  l.Charge(p, 99, 0, 1, kNow, 0);
  EXPECT_TRUE(l.CheckTokens(p, nullptr, kNow, 0).ok());
  l.Charge(p, 1, 0, 2, kNow, 0);
  EXPECT_EQ(l.CheckTokens(p, nullptr, kNow, 0).kind, Kind::kDayBudget);
  SpendBook empty;  // never synced: UTC periods
  EXPECT_EQ(l.CheckTokens(p, &empty, kNow, 0).kind, Kind::kDayBudget);
}

TEST(SpendBook, SnapshotReplacesAndPeriodsRoll) {
  SpendBook book;
  book.Apply(Update(true, 10, 20, 3, "key_a"));
  book.Apply(Update(false, 11, 21, 3, "key_b"));
  EXPECT_EQ(book.keys(), 2u);
  EXPECT_EQ(book.Get("key_a", kNow).spend.month, 20);
  book.Apply(Update(true, 1, 2, 0, "key_c"));
  EXPECT_EQ(book.keys(), 1u);
  EXPECT_EQ(book.Get("key_a", kNow).spend.month, 0);
  EXPECT_EQ(book.Get("key_c", kNow).watermark, 0);
  // Past the month's end the old month no longer counts, and the next month's window is used.
  SpendWindows w = UtcWindowsAt(kNow);
  SpendBook::View next = book.Get("key_c", w.month_end_ms + 1000);
  EXPECT_EQ(next.spend.month, 0);
  EXPECT_EQ(next.windows.month_start_ms, w.month_end_ms);
  EXPECT_EQ(next.windows.month_end_ms, UtcWindowsAt(w.month_end_ms).month_end_ms);
}

TEST(SpendWindows, UtcMonthsAndDays) {
  SpendWindows w = UtcWindowsAt(kNow);
  EXPECT_EQ(w.day_start_ms, 1773532800000);     // 2026-03-15
  EXPECT_EQ(w.day_end_ms, 1773532800000 + kDayMs);
  EXPECT_EQ(w.month_start_ms, 1772323200000);   // 2026-03-01
  EXPECT_EQ(w.month_end_ms, 1775001600000);     // 2026-04-01
}

}  // namespace
}  // namespace luna::gateway
