#include "gateway/convert/sse_parser.h"

#include <gtest/gtest.h>

#include "stream_support.h"

namespace luna::gateway {
namespace {

std::vector<SseEvent> FeedSplit(std::string_view bytes, const std::vector<size_t>& cuts) {
  SseParser parser;
  std::vector<SseEvent> events;
  size_t prev = 0;
  for (size_t c : cuts) {
    parser.Feed(bytes.substr(prev, c - prev), &events);
    prev = c;
  }
  parser.Feed(bytes.substr(prev), &events);
  return events;
}

bool Same(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].event != b[i].event || a[i].data != b[i].data) return false;
  }
  return true;
}

// Events, multi-line data, comments and every line-end style parse the same for any split.
TEST(SseParserTest, AnySplitGivesTheSameEvents) {
  std::string bytes =
      ": comment\n\nevent: message_start\ndata: {\"a\":1}\n\r\n"
      "data: line1\r\ndata: line2\r\rid: 7\nretry: 10\nevent: x\ndata:no-space\n\n"
      "data\n\nevent: only-name\n\n: tail comment\r\n\r\ndata: {\"b\":\"\xc3\xa9\"}\n\n";
  auto whole = FeedSplit(bytes, {});
  ASSERT_EQ(whole.size(), 6u);
  EXPECT_EQ(whole[0].event, "message_start");
  EXPECT_EQ(whole[0].data, "{\"a\":1}");
  EXPECT_EQ(whole[1].data, "line1\nline2");
  EXPECT_EQ(whole[1].event, "");
  EXPECT_EQ(whole[2].event, "x");
  EXPECT_EQ(whole[2].data, "no-space");
  EXPECT_EQ(whole[3].data, "");
  EXPECT_EQ(whole[4].event, "only-name");
  EXPECT_EQ(whole[5].data, "{\"b\":\"\xc3\xa9\"}");
  std::vector<size_t> all;
  for (size_t i = 1; i < bytes.size(); ++i) all.push_back(i);
  EXPECT_TRUE(Same(whole, FeedSplit(bytes, all))) << "byte by byte";
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    EXPECT_TRUE(Same(whole, FeedSplit(bytes, testing::RandomCuts(bytes.size(), seed)))) << "seed " << seed;
  }
}

// An unfinished event is reported as partial and not emitted.
TEST(SseParserTest, PartialEventIsHeldBack) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.Feed("data: {\"a\"", &events);
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(parser.HasPartial());
  parser.Feed(":1}\n", &events);
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(parser.HasPartial());
  parser.Feed("\n", &events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(parser.HasPartial());
}

}  // namespace
}  // namespace luna::gateway
