// Helpers shared by the usagesvc unit tests: a temporary directory, event builders, file utilities.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/process.h"
#include "usage.pb.h"
#include "usage_storage.pb.h"

namespace luna::usagesvc::testing {

using ::luna::testing::TempDir;

inline void WriteBytes(const std::string& path, const std::string& bytes) { ::luna::testing::WriteAll(path, bytes); }
inline std::string ReadBytes(const std::string& path) { return ::luna::testing::ReadAll(path); }

// 2026-03-01T00:00:00Z in Unix milliseconds.
constexpr int64_t kMar1Utc = 1772323200000;
constexpr int64_t kHourMs = 3600 * 1000;

inline luna::usage::v1::UsageEvent Event(const std::string& id, const std::string& key, int64_t time_ms,
                                         const std::string& model = "claude-sonnet-4-5", int64_t input = 100,
                                         int64_t output = 10, int status = 200) {
  luna::usage::v1::UsageEvent e;
  e.set_event_id(id);
  e.set_key_id(key);
  e.set_time_unix_ms(time_ms);
  e.set_requested_model(model);
  e.set_served_model(model);
  e.set_input_tokens(input);
  e.set_output_tokens(output);
  e.set_cache_read_tokens(1);
  e.set_cache_write_tokens(2);
  e.set_status(status);
  e.set_api("anthropic");
  e.set_gateway_id("gw-test");
  return e;
}

// A journal record holding `events`, in order.
inline luna::usage::storage::v1::JournalRecord Record(std::initializer_list<luna::usage::v1::UsageEvent> events) {
  luna::usage::storage::v1::JournalRecord r;
  for (const auto& e : events) *r.add_events() = e;
  return r;
}

}  // namespace luna::usagesvc::testing
