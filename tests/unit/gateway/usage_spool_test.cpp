#include "gateway/usage/usage_spool.h"

#include "tests/support/process.h"
#include "usage.pb.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace luna::gateway {
namespace {

namespace fs = std::filesystem;

class UsageSpoolTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File("spool.log"); }
  static luna::usage::v1::UsageEvent Ev(const std::string& id, int64_t out) {
    luna::usage::v1::UsageEvent e;
    e.set_event_id(id);
    e.set_key_id("key_1");
    e.set_time_unix_ms(1700000000000);
    e.set_output_tokens(out);
    e.set_status(200);
    return e;
  }
  // The spool takes events serialized, as the shipper hands them over.
  static absl::Status Append(UsageSpool& spool, const std::vector<luna::usage::v1::UsageEvent>& events) {
    std::vector<std::string> bytes;
    for (const auto& e : events) bytes.push_back(e.SerializeAsString());
    std::vector<std::string_view> views(bytes.begin(), bytes.end());
    return spool.Append(views);
  }
  static luna::usage::v1::UsageEvent Parsed(const SpooledEvent& e) {
    luna::usage::v1::UsageEvent ev;
    EXPECT_TRUE(ev.ParseFromString(e.payload()));
    EXPECT_EQ(ev.event_id(), e.event_id());
    return ev;
  }
  luna::testing::TempDir dir_;
  std::string path_;
};

// Events not acknowledged survive a reopen (a crash); acknowledged ones do not come back.
TEST_F(UsageSpoolTest, UnacknowledgedEventsSurviveReopen) {
  {
    auto s = UsageSpool::Open(path_);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(Append(**s, {Ev("a", 1), Ev("b", 2), Ev("c", 3)}).ok());
    ASSERT_TRUE((*s)->Ack({"b"}).ok());
    EXPECT_EQ((*s)->pending().size(), 2u);
  }
  auto s = UsageSpool::Open(path_);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ((*s)->pending().size(), 2u);
  EXPECT_EQ((*s)->pending()[0].event_id(), "a");
  EXPECT_EQ((*s)->pending()[1].event_id(), "c");
  EXPECT_EQ(Parsed((*s)->pending()[1]).output_tokens(), 3);
  // Acknowledging everything empties the file.
  ASSERT_TRUE((*s)->Ack({"a", "c"}).ok());
  EXPECT_EQ(fs::file_size(path_), 0u);
}

// A record torn at any byte (a crash mid-write) is cut off; every whole record before it loads.
TEST_F(UsageSpoolTest, TornTailIsCutAtEveryOffset) {
  {
    auto s = UsageSpool::Open(path_);
    ASSERT_TRUE(Append(**s, {Ev("a", 1)}).ok());
  }
  auto whole_one = fs::file_size(path_);
  {
    auto s = UsageSpool::Open(path_);
    ASSERT_TRUE(Append(**s, {Ev("b", 2)}).ok());
  }
  auto whole_two = fs::file_size(path_);
  std::string full;
  {
    std::ifstream in(path_, std::ios::binary);
    full.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (auto cut = whole_one; cut < whole_two; ++cut) {
    {
      std::ofstream out(path_, std::ios::binary | std::ios::trunc);
      out.write(full.data(), static_cast<std::streamsize>(cut));
    }
    auto s = UsageSpool::Open(path_);
    ASSERT_TRUE(s.ok());
    ASSERT_EQ((*s)->pending().size(), 1u) << "cut at " << cut;
    EXPECT_EQ((*s)->dropped_tail_bytes(), static_cast<int64_t>(cut - whole_one));
    // Appending after the cut yields a readable file again.
    ASSERT_TRUE(Append(**s, {Ev("c", 3)}).ok());
    s->reset();
    auto again = UsageSpool::Open(path_);
    ASSERT_EQ((*again)->pending().size(), 2u);
    EXPECT_EQ((*again)->dropped_tail_bytes(), 0);
  }
}

// A flipped byte in a record stops the load there (its checksum fails) instead of loading garbage.
TEST_F(UsageSpoolTest, CorruptRecordIsNotLoaded) {
  {
    auto s = UsageSpool::Open(path_);
    ASSERT_TRUE(Append(**s, {Ev("a", 1), Ev("b", 2)}).ok());
  }
  std::string full;
  {
    std::ifstream in(path_, std::ios::binary);
    full.assign(std::istreambuf_iterator<char>(in), {});
  }
  full[full.size() - 3] ^= 0x5a;
  {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << full;
  }
  auto s = UsageSpool::Open(path_);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ((*s)->pending().size(), 1u);
  EXPECT_EQ((*s)->pending()[0].event_id(), "a");
  EXPECT_GT((*s)->dropped_tail_bytes(), 0);
}

// What the shipper does: acknowledge the oldest events in order, with ids that point into pending()
// itself; then an out-of-order acknowledgement, also with ids from pending(). Both survive a reopen.
TEST_F(UsageSpoolTest, AcknowledgesWithIdsPointingIntoPending) {
  {
    auto s = UsageSpool::Open(path_);
    ASSERT_TRUE(s.ok());
    std::vector<luna::usage::v1::UsageEvent> events;
    for (int i = 0; i < 6; ++i) events.push_back(Ev("gw-0123456789ab-" + std::to_string(i), i));
    ASSERT_TRUE(Append(**s, events).ok());
    ASSERT_EQ((*s)->pending().size(), 6u);
    const auto& p = (*s)->pending();
    std::vector<std::string_view> oldest = {p[0].event_id(), p[1].event_id()};
    ASSERT_TRUE((*s)->Ack(oldest).ok());
    ASSERT_EQ(p.size(), 4u);
    EXPECT_EQ(p[0].event_id(), "gw-0123456789ab-2");
    // Out of order: the 2nd and 4th of what is left.
    std::vector<std::string_view> some = {p[1].event_id(), p[3].event_id()};
    ASSERT_TRUE((*s)->Ack(some).ok());
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(p[0].event_id(), "gw-0123456789ab-2");
    EXPECT_EQ(p[1].event_id(), "gw-0123456789ab-4");
  }
  auto s = UsageSpool::Open(path_);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ((*s)->pending().size(), 2u);
  EXPECT_EQ((*s)->pending()[0].event_id(), "gw-0123456789ab-2");
  EXPECT_EQ((*s)->pending()[1].event_id(), "gw-0123456789ab-4");
  EXPECT_EQ(Parsed((*s)->pending()[1]).output_tokens(), 4);
}

// The spool keeps an event as the bytes it was given, and finds its id wherever the encoder put it;
// bytes without an id are refused, not written (they could never be acknowledged).
TEST_F(UsageSpoolTest, KeepsTheBytesAndFindsTheIdOrRefusesThem) {
  const std::string plain = Ev("gw-1-1", 5).SerializeAsString();
  // Field 7 (input_tokens) written before field 1: a valid encoding protobuf itself would not make.
  std::string reordered = std::string("\x38\x09", 2) + Ev("gw-1-2", 6).SerializeAsString();
  const std::string no_id = Ev("", 1).SerializeAsString();
  std::vector<std::string_view> views = {plain, std::string_view("\x0a\x05" "ab"), no_id, reordered};
  int64_t refused = 0;
  {
    auto s = UsageSpool::Open(path_);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Append(views, &refused).ok());
    EXPECT_EQ(refused, 2) << "a truncated id and a missing one";
    ASSERT_EQ((*s)->pending().size(), 2u);
    EXPECT_EQ((*s)->pending()[0].payload(), plain);
    EXPECT_EQ((*s)->pending()[0].event_id(), "gw-1-1");
    EXPECT_EQ((*s)->pending()[1].payload(), reordered);
    EXPECT_EQ((*s)->pending()[1].event_id(), "gw-1-2");
  }
  auto s = UsageSpool::Open(path_);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ((*s)->pending().size(), 2u);
  EXPECT_EQ((*s)->pending()[1].payload(), reordered);
  EXPECT_EQ(Parsed((*s)->pending()[1]).input_tokens(), 9);
  EXPECT_EQ(Parsed((*s)->pending()[1]).output_tokens(), 6);
}

}  // namespace
}  // namespace luna::gateway
