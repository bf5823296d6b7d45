#include "usagesvc/event_validation.h"

#include <gtest/gtest.h>

#include <limits>

#include "test_util.h"

namespace luna::usagesvc {
namespace {

namespace pb = luna::usage::v1;
using testing::Event;
using testing::kMar1Utc;

google::protobuf::RepeatedPtrField<pb::UsageEvent> Batch(std::initializer_list<pb::UsageEvent> events) {
  google::protobuf::RepeatedPtrField<pb::UsageEvent> out;
  for (const auto& e : events) *out.Add() = e;
  return out;
}

TEST(EventValidationTest, AWellFormedBatchWithARepeatedIdIsAccepted) {
  // Duplicate ids inside one batch are allowed (the ledger counts them once); so is an empty batch.
  EXPECT_TRUE(ValidateBatch(Batch({Event("a", "key_1", kMar1Utc), Event("a", "key_1", kMar1Utc)})).ok());
  EXPECT_TRUE(ValidateBatch(Batch({})).ok());
  auto e = Event("b", "key_1", kMar1Utc);
  e.clear_served_model();
  e.clear_requested_model();
  e.set_status(499);
  EXPECT_TRUE(ValidateBatch(Batch({e})).ok());
}

TEST(EventValidationTest, EachRuleNamesTheFirstBadEventAndField) {
  // Every malformed field is INVALID_ARGUMENT and the message names the event's index, id and the field.
  struct Case {
    std::function<void(pb::UsageEvent*)> spoil;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](pb::UsageEvent* e) { e->clear_event_id(); }, "event_id is required"},
      {[](pb::UsageEvent* e) { e->set_event_id(std::string(129, 'x')); }, "event_id is longer than 128"},
      {[](pb::UsageEvent* e) { e->clear_key_id(); }, "key_id is required"},
      {[](pb::UsageEvent* e) { e->set_time_unix_ms(0); }, "time_unix_ms must be > 0"},
      {[](pb::UsageEvent* e) { e->set_time_unix_ms(-5); }, "time_unix_ms must be > 0"},
      {[](pb::UsageEvent* e) { e->set_input_tokens(-1); }, "input_tokens must not be negative"},
      {[](pb::UsageEvent* e) { e->set_output_tokens(-1); }, "output_tokens must not be negative"},
      {[](pb::UsageEvent* e) { e->set_cache_read_tokens(-1); }, "cache_read_tokens must not be negative"},
      {[](pb::UsageEvent* e) { e->set_cache_write_tokens(-1); }, "cache_write_tokens must not be negative"},
      {[](pb::UsageEvent* e) { e->set_input_tokens(std::numeric_limits<int64_t>::max()); }, "input_tokens is larger than 10^12"},
      {[](pb::UsageEvent* e) { e->set_cache_read_tokens(1'000'000'000'001); }, "cache_read_tokens is larger than 10^12"},
      {[](pb::UsageEvent* e) { e->set_status(0); }, "status must be an HTTP status"},
      {[](pb::UsageEvent* e) { e->set_status(600); }, "status must be an HTTP status"},
  };
  for (const auto& c : cases) {
    auto bad = Event("bad-1", "key_1", kMar1Utc);
    c.spoil(&bad);
    auto st = ValidateBatch(Batch({Event("ok-0", "key_1", kMar1Utc), bad, Event("x", "", 0)}));
    ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.field;
    std::string msg(st.message());
    EXPECT_NE(msg.find("events[1]"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.field), std::string::npos) << msg;
  }
  auto st = ValidateBatch(Batch({Event("gw-7-42", "key_1", 0)}));
  EXPECT_NE(std::string(st.message()).find("\"gw-7-42\""), std::string::npos);
}

}  // namespace
}  // namespace luna::usagesvc
