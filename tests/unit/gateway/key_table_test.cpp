#include "gateway/clients/key_table.h"

#include <gtest/gtest.h>

namespace luna::gateway {
namespace {

// A snapshot replaces the table; upserts and erases change single keys.
TEST(KeyTableTest, SnapshotThenChanges) {
  KeyTable t;
  t.ReplaceAll({{"h1", {"key_1", "one", true}}, {"h2", {"key_2", "two", false}}});
  EXPECT_EQ(t.size(), 2u);
  EXPECT_TRUE(t.Find("h1")->enabled);
  EXPECT_FALSE(t.Find("h2")->enabled);
  t.Upsert("h2", {"key_2", "two", true});
  EXPECT_TRUE(t.Find("h2")->enabled);
  t.Erase("h1");
  EXPECT_FALSE(t.Find("h1"));
  t.ReplaceAll({{"h3", {"key_3", "three", true}}});
  EXPECT_FALSE(t.Find("h2"));
  EXPECT_EQ(t.Find("h3")->id, "key_3");
}

// Negative answers expire, and a key that appears is no longer negative.
TEST(KeyTableTest, NegativeCacheExpiresAndIsClearedByUpsert) {
  KeyTable t;
  auto now = KeyTable::Clock::now();
  t.AddNegative("hx", now + std::chrono::seconds(2));
  EXPECT_TRUE(t.IsNegative("hx", now));
  EXPECT_FALSE(t.IsNegative("hx", now + std::chrono::seconds(3)));
  t.Upsert("hx", {"key_x", "x", true});
  EXPECT_FALSE(t.IsNegative("hx", now));
}

// A flood of unknown keys cannot grow the negative cache without bound.
TEST(KeyTableTest, NegativeCacheIsBounded) {
  KeyTable t;
  auto later = KeyTable::Clock::now() + std::chrono::hours(1);
  for (int i = 0; i < 250000; ++i) t.AddNegative("h" + std::to_string(i), later);
  EXPECT_TRUE(t.IsNegative("h249999", KeyTable::Clock::now()));
  EXPECT_FALSE(t.IsNegative("h0", KeyTable::Clock::now())) << "old entries were dropped";
}

}  // namespace
}  // namespace luna::gateway
