// Walking a serialized message's length-delimited fields without parsing it.
#include "common/proto_fields.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "usage.pb.h"

namespace luna {
namespace {

std::vector<std::pair<std::string, size_t>> All(std::string_view message, int number, bool* well_formed) {
  std::vector<std::pair<std::string, size_t>> out;
  *well_formed = ForEachLengthDelimited(message, number, [&](std::string_view v, size_t at) {
    out.emplace_back(std::string(v), at);
    return true;
  });
  return out;
}

TEST(ProtoFields, VisitsEachOccurrenceInOrderWithItsOffset) {
  luna::usage::v1::RecordUsageRequest req;
  req.add_events()->set_event_id("a");
  req.add_events()->set_event_id("bb");
  const std::string bytes = req.SerializeAsString();
  bool ok = false;
  auto events = All(bytes, luna::usage::v1::RecordUsageRequest::kEventsFieldNumber, &ok);
  EXPECT_TRUE(ok);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].first, req.events(0).SerializeAsString());
  EXPECT_EQ(events[1].first, req.events(1).SerializeAsString());
  for (const auto& [value, at] : events) EXPECT_EQ(bytes.substr(at, value.size()), value);
}

TEST(ProtoFields, SkipsOtherFieldsOfEveryWireType) {
  luna::usage::v1::UsageEvent e;
  e.set_time_unix_ms(1700000000000);  // varint, before the id once reordered below
  e.set_event_id("gw-1-7");
  e.set_key_id("key_1");  // another length-delimited field
  e.set_partial(true);
  // A fixed64 (field 30) and a fixed32 (field 31), unknown to UsageEvent, ahead of everything.
  const std::string bytes = std::string("\xf1\x01", 2) + std::string(8, '\x01') + std::string("\xfd\x01", 2) +
                            std::string(4, '\x02') + e.SerializeAsString();
  bool ok = false;
  auto ids = All(bytes, luna::usage::v1::UsageEvent::kEventIdFieldNumber, &ok);
  EXPECT_TRUE(ok);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0].first, "gw-1-7");
}

TEST(ProtoFields, StopsWhenTheVisitorSaysSoAndRefusesBrokenBytes) {
  luna::usage::v1::RecordUsageRequest req;
  for (int i = 0; i < 3; ++i) req.add_events()->set_event_id("e" + std::to_string(i));
  std::string bytes = req.SerializeAsString();
  int seen = 0;
  EXPECT_TRUE(ForEachLengthDelimited(bytes, 1, [&](std::string_view, size_t) { return ++seen < 2; }));
  EXPECT_EQ(seen, 2);
  // Cut inside the last field, or a field that claims more than there is: not well formed.
  bool ok = true;
  All(std::string_view(bytes).substr(0, bytes.size() - 1), 1, &ok);
  EXPECT_FALSE(ok);
  All(std::string("\x0a\x05" "ab", 4), 1, &ok);
  EXPECT_FALSE(ok);
  All(std::string("\x07", 1), 1, &ok);  // wire type 7 does not exist
  EXPECT_FALSE(ok);
  EXPECT_TRUE(All("", 1, &ok).empty());
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace luna
