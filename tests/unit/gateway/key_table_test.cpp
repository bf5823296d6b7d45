#include "gateway/clients/key_table.h"

#include <gtest/gtest.h>

namespace luna::gateway {
namespace {

Sha256Digest D(std::string_view key) { return Sha256(key); }

// A snapshot replaces the table; upserts and erases change single keys.
TEST(KeyTableTest, SnapshotThenChanges) {
  KeyTable t;
  t.ReplaceAll({{D("h1"), {"key_1", "one", true}}, {D("h2"), {"key_2", "two", false}}});
  EXPECT_EQ(t.size(), 2u);
  EXPECT_TRUE(t.Find(D("h1"))->enabled);
  EXPECT_FALSE(t.Find(D("h2"))->enabled);
  t.Upsert(D("h2"), {"key_2", "two", true});
  EXPECT_TRUE(t.Find(D("h2"))->enabled);
  t.Erase(D("h1"));
  EXPECT_FALSE(t.Find(D("h1")));
  t.ReplaceAll({{D("h3"), {"key_3", "three", true}}});
  EXPECT_FALSE(t.Find(D("h2")));
  EXPECT_EQ(t.Find(D("h3"))->id, "key_3");
}

// Negative answers expire, and a key that appears is no longer negative.
TEST(KeyTableTest, NegativeCacheExpiresAndIsClearedByUpsert) {
  KeyTable t;
  auto now = KeyTable::Clock::now();
  t.AddNegative(D("hx"), now + std::chrono::seconds(2));
  EXPECT_TRUE(t.IsNegative(D("hx"), now));
  EXPECT_FALSE(t.IsNegative(D("hx"), now + std::chrono::seconds(3)));
  t.Upsert(D("hx"), {"key_x", "x", true});
  EXPECT_FALSE(t.IsNegative(D("hx"), now));
}

// A flood of unknown keys cannot grow the negative cache without bound.
TEST(KeyTableTest, NegativeCacheIsBounded) {
  KeyTable t;
  auto later = KeyTable::Clock::now() + std::chrono::hours(1);
  for (int i = 0; i < 250000; ++i) t.AddNegative(D("h" + std::to_string(i)), later);
  EXPECT_TRUE(t.IsNegative(D("h249999"), KeyTable::Clock::now()));
  EXPECT_FALSE(t.IsNegative(D("h0"), KeyTable::Clock::now())) << "old entries were dropped";
}

// An update publishes a new entry: a reader holding the old one keeps it whole.
TEST(KeyTableTest, ReadersKeepTheEntryTheyFound) {
  KeyTable t;
  t.Upsert(D("k"), {"key_k", "before", true});
  auto held = t.Find(D("k"));
  t.Upsert(D("k"), {"key_k", "after", false});
  t.ReplaceAll({});
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->name, "before");
  EXPECT_TRUE(held->enabled);
  EXPECT_EQ(t.Find(D("k")), nullptr);
}

// A limiter's state survives a snapshot and an update of the same key, and a key whose policy has
// no limits has no limiter.
TEST(KeyTableTest, LimiterSurvivesSnapshotAndUpdate) {
  KeyTable t;
  KeyPolicy rpm;
  rpm.requests_per_minute = 5;
  auto policy = std::make_shared<const KeyPolicy>(rpm);
  t.Upsert(D("k"), {"key_k", "k", true, policy, nullptr});
  auto limiter = t.Find(D("k"))->limiter;
  ASSERT_NE(limiter, nullptr);
  t.ReplaceAll({{D("k"), {"key_k", "k", true, policy, nullptr}}, {D("free"), {"key_f", "f", true}}});
  EXPECT_EQ(t.Find(D("k"))->limiter, limiter);
  t.Upsert(D("k"), {"key_k", "renamed", true, policy, nullptr});
  EXPECT_EQ(t.Find(D("k"))->limiter, limiter);
  EXPECT_EQ(t.Find(D("free"))->limiter, nullptr);
}

// Many keys: every one is found, and keys that differ only after the first 8 bytes of their digest
// (the part the table hashes) are told apart.
TEST(KeyTableTest, ManyKeysAndDigestsSharingAPrefix) {
  KeyTable t;
  KeyTable::Snapshot all;
  for (int i = 0; i < 20000; ++i) {
    all.emplace_back(D("key-" + std::to_string(i)), KeyEntry{"key_" + std::to_string(i), "n", true});
  }
  Sha256Digest a{}, b{};
  b[31] = 1;
  all.emplace_back(a, KeyEntry{"key_a", "a", true});
  all.emplace_back(b, KeyEntry{"key_b", "b", true});
  t.ReplaceAll(std::move(all));
  EXPECT_EQ(t.size(), 20002u);
  for (int i = 0; i < 20000; i += 97) EXPECT_EQ(t.Find(D("key-" + std::to_string(i)))->id, "key_" + std::to_string(i));
  EXPECT_EQ(t.Find(a)->id, "key_a");
  EXPECT_EQ(t.Find(b)->id, "key_b");
  t.Erase(a);
  EXPECT_EQ(t.Find(a), nullptr);
  EXPECT_EQ(t.Find(b)->id, "key_b");
  EXPECT_EQ(t.Find(D("unknown")), nullptr);
}

}  // namespace
}  // namespace luna::gateway
