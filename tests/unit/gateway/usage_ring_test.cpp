#include "gateway/usage/usage_ring.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "gateway/usage/usage_spool.h"
#include "tests/support/process.h"
#include "usage.pb.h"

namespace luna::gateway {
namespace {

namespace fs = std::filesystem;

class UsageRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool_path_ = dir_.File("spool.log");
    ring_path_ = RingPathFor(spool_path_);
  }
  static luna::usage::v1::UsageEvent Ev(const std::string& id, int64_t out) {
    luna::usage::v1::UsageEvent e;
    e.set_event_id(id);
    e.set_key_id("key_1");
    e.set_time_unix_ms(1700000000000);
    e.set_output_tokens(out);
    e.set_status(200);
    return e;
  }
  static std::string Payload(const std::string& id, int64_t out = 1) { return Ev(id, out).SerializeAsString(); }
  std::vector<std::string> Unconsumed() {
    auto r = UsageRing::ReadUnconsumed(ring_path_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::vector<std::string>{};
  }
  luna::testing::TempDir dir_;
  std::string spool_path_;
  std::string ring_path_;
};

// What was staged and not consumed is read back in order after the ring is gone (a crash), and the
// file is allocated in full at creation.
TEST_F(UsageRingTest, StagedEventsSurviveTheProcessUntilConsumed) {
  {
    auto ring = UsageRing::Create(ring_path_, 8);
    ASSERT_TRUE(ring.ok()) << ring.status();
    EXPECT_EQ(fs::file_size(ring_path_), UsageRing::kHeaderBytes + 8 * UsageRing::kSlotBytes);
    EXPECT_EQ((*ring)->Stage(Payload("a")), 1u);
    EXPECT_EQ((*ring)->Stage(Payload("b")), 2u);
    EXPECT_EQ((*ring)->Stage(Payload("c")), 3u);
    (*ring)->MarkConsumed(1);
    // The writer reads what is staged in place.
    EXPECT_EQ((*ring)->Staged(2), Payload("b"));
    EXPECT_EQ((*ring)->Staged(3), Payload("c"));
  }
  EXPECT_EQ(Unconsumed(), (std::vector<std::string>{Payload("b"), Payload("c")}));
}

TEST_F(UsageRingTest, NoFileOrAFileWithoutAWholeHeaderHoldsNothing) {
  EXPECT_TRUE(Unconsumed().empty());
  std::ofstream(ring_path_) << "LUNARN";  // a crash while it was being created
  EXPECT_TRUE(Unconsumed().empty());
}

// A slot is taken again only once its event is consumed: a full ring refuses (the caller waits for
// the spool instead), and wraps around once the writer has caught up; read back in sequence order.
TEST_F(UsageRingTest, AFullRingRefusesUntilTheWriterCatchesUp) {
  auto ring = UsageRing::Create(ring_path_, 4);
  ASSERT_TRUE(ring.ok());
  UsageRing& r = **ring;
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(r.Stage(Payload("e" + std::to_string(i))), uint64_t(i));
  EXPECT_EQ(r.Stage(Payload("e5")), 0u) << "slot of e1 still holds an event not in the spool";
  r.MarkConsumed(2);
  EXPECT_EQ(r.Stage(Payload("e5")), 5u);
  EXPECT_EQ(r.Stage(Payload("e6")), 6u);
  EXPECT_EQ(r.Stage(Payload("e7")), 0u);
  EXPECT_EQ(Unconsumed(),
            (std::vector<std::string>{Payload("e3"), Payload("e4"), Payload("e5"), Payload("e6")}));
  r.MarkConsumed(6);
  EXPECT_TRUE(Unconsumed().empty());
  r.MarkConsumed(99);  // never past what was staged
  EXPECT_EQ(r.consumed(), 6u);
}

TEST_F(UsageRingTest, AnEventLargerThanASlotIsRefused) {
  auto ring = UsageRing::Create(ring_path_, 4);
  ASSERT_TRUE(ring.ok());
  EXPECT_EQ((*ring)->Stage(std::string(UsageRing::kMaxPayload + 1, 'x')), 0u);
  EXPECT_EQ((*ring)->Stage(std::string(UsageRing::kMaxPayload, 'x')), 1u);
}

// A slot torn by a crash mid-copy fails its checksum and is skipped; the others are read.
TEST_F(UsageRingTest, ATornSlotIsSkipped) {
  {
    auto ring = UsageRing::Create(ring_path_, 4);
    ASSERT_TRUE(ring.ok());
    (*ring)->Stage(Payload("a"));
    (*ring)->Stage(Payload("b"));
  }
  {
    std::fstream f(ring_path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(UsageRing::kHeaderBytes + 1 * UsageRing::kSlotBytes + 16 + 3);  // inside a's payload
    f.put('\x7f');
  }
  EXPECT_EQ(Unconsumed(), (std::vector<std::string>{Payload("b")}));
}

// A new ring over an old file starts empty: the old slots belong to another epoch.
TEST_F(UsageRingTest, ANewRingForgetsTheOldOne) {
  {
    auto ring = UsageRing::Create(ring_path_, 4);
    ASSERT_TRUE(ring.ok());
    (*ring)->Stage(Payload("old"));
  }
  auto ring = UsageRing::Create(ring_path_, 4);
  ASSERT_TRUE(ring.ok());
  EXPECT_TRUE(Unconsumed().empty());
  EXPECT_EQ((*ring)->Stage(Payload("new")), 1u);
  EXPECT_EQ(Unconsumed(), (std::vector<std::string>{Payload("new")}));
}

// Opening a spool takes in what its ring holds unconsumed (the answers given just before a crash),
// skips what the spool already has or had acknowledged, and removes the ring file.
TEST_F(UsageRingTest, OpeningTheSpoolTakesInTheRingOnce) {
  {
    auto spool = UsageSpool::Open(spool_path_);
    ASSERT_TRUE(spool.ok());
    const std::string in_spool = Payload("in-spool", 1), acked = Payload("acked", 2);
    std::vector<std::string_view> events = {in_spool, acked};
    ASSERT_TRUE((*spool)->Append(events).ok());
    std::vector<std::string_view> ack = {"acked"};
    ASSERT_TRUE((*spool)->Ack({ack.data(), ack.size()}).ok());
    auto ring = UsageRing::Create(ring_path_, 8);
    ASSERT_TRUE(ring.ok());
    for (const auto* id : {"in-spool", "acked", "only-in-ring-1", "only-in-ring-2"}) {
      ASSERT_GT((*ring)->Stage(Payload(id, 7)), 0u);
    }
  }  // a crash: the ring's last two events never reached the spool
  {
    auto spool = UsageSpool::Open(spool_path_);
    ASSERT_TRUE(spool.ok()) << spool.status();
    EXPECT_EQ((*spool)->recovered_from_ring(), 2);
    std::vector<std::string> ids;
    for (const auto& e : (*spool)->pending()) ids.emplace_back(e.event_id());
    EXPECT_EQ(ids, (std::vector<std::string>{"in-spool", "only-in-ring-1", "only-in-ring-2"}));
    EXPECT_FALSE(fs::exists(ring_path_));
  }
  auto spool = UsageSpool::Open(spool_path_);  // and the spool file itself kept them
  ASSERT_TRUE(spool.ok());
  EXPECT_EQ((*spool)->recovered_from_ring(), 0);
  EXPECT_EQ((*spool)->pending().size(), 3u);
}

}  // namespace
}  // namespace luna::gateway
