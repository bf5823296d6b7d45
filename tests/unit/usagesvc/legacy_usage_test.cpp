#include "usagesvc/legacy_usage.h"

#include <gtest/gtest.h>

namespace luna::usagesvc {
namespace {

const LedgerZone kEast8{8 * 3600, "+08:00"};

// The shapes the old proxy wrote over its versions, in one object.
constexpr char kOldUsage[] = R"({
  "total_input": 5000, "total_output": 700, "total_requests": 42,
  "last_used": "2026-02-10T14:23:11.123456+08:00",
  "daily": {
    "2026-02-09": {"input": 1000, "output": 100, "requests": 5,
                   "by_model": {"claude-opus-4": {"input": 600, "output": 60, "requests": 3},
                                "gpt-4.1": {"total": 440, "requests": 2}}},
    "2026-02-10": {"input": 2000, "output": 200, "requests": 8,
                   "by_model": {"claude-opus-4": {"input": 10, "output": 5, "total": 2215, "requests": 8}}}
  },
  "hourly": {"2026-02-10 14:00": {"by_model": {"claude-opus-4": {"total": 2200, "requests": 7}}}},
  "total_by_model": {"claude-opus-4": {"total": 2875, "requests": 11}},
  "by_session": {"s1": {"input": 1, "output": 1, "requests": 1}}
})";

TEST(LegacyUsageTest, ReadsEveryVersionOfTheOldFiguresSoThatTheOldTotalIsKept) {
  // {input,output} keep their split; {total} goes to total_only; a migrated {input,output,total} keeps the
  // split and puts the rest in total_only, so input+output+total_only is always the old admin's "total".
  auto u = ParseLegacyUsage(kOldUsage, kEast8);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->total_input, 5000);
  EXPECT_EQ(u->total_output, 700);
  EXPECT_EQ(u->total_requests, 42);
  EXPECT_EQ(u->last_used_unix_ms, 1770704591123);  // 2026-02-10T06:23:11.123Z
  ASSERT_EQ(u->daily.size(), 2u);
  const LegacyDay& d9 = u->daily.at(*ParseDay("2026-02-09"));
  EXPECT_EQ(d9.input, 1000);
  EXPECT_EQ(d9.requests, 5);
  const auto& opus9 = d9.by_model.at("claude-opus-4");
  EXPECT_EQ(opus9.input + opus9.output + opus9.total_only, 660);
  EXPECT_EQ(opus9.input, 600);
  const auto& gpt9 = d9.by_model.at("gpt-4.1");
  EXPECT_EQ(gpt9.total_only, 440);
  EXPECT_EQ(gpt9.input, 0);
  const auto& opus10 = u->daily.at(*ParseDay("2026-02-10")).by_model.at("claude-opus-4");
  EXPECT_EQ(opus10.input, 10);
  EXPECT_EQ(opus10.output, 5);
  EXPECT_EQ(opus10.total_only, 2200);
  const auto& hour = u->hourly.at(*ParseHour("2026-02-10 14:00"));
  EXPECT_EQ(hour.at("claude-opus-4").total_only, 2200);
  EXPECT_EQ(hour.at("claude-opus-4").requests, 7);
  EXPECT_EQ(u->total_by_model.at("claude-opus-4").total_only, 2875);
}

TEST(LegacyUsageTest, AFreshKeyOfTheOldProxyHasOnlyZeros) {
  // create_api_key wrote zeros, last_used null and an empty daily: all of it reads as nothing.
  auto u = ParseLegacyUsage(R"({"total_input": 0, "total_output": 0, "total_requests": 0, "last_used": null,
                               "daily": {}})",
                            kEast8);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->total_requests, 0);
  EXPECT_EQ(u->last_used_unix_ms, 0);
  EXPECT_TRUE(u->daily.empty());
}

TEST(LegacyUsageTest, MalformedHistoryIsRejectedNamingThePlace) {
  // A wrong type, a negative count or an impossible date is an error that says where.
  struct Case {
    const char* json;
    const char* where;
  };
  for (const Case& c : {Case{R"({"total_input": "lots"})", "usage.total_input"},
                        Case{R"({"total_requests": -1})", "usage.total_requests"},
                        Case{R"({"daily": {"2026-02-30": {}}})", "daily[\"2026-02-30\"]"},
                        Case{R"({"daily": {"2026-02-01": {"by_model": {"m": 3}}}})", "by_model[\"m\"]"},
                        Case{R"({"hourly": {"2026-02-01 7:00": {}}})", "hourly[\"2026-02-01 7:00\"]"},
                        Case{R"([1, 2])", "usage"}, Case{R"({"daily": )", "not JSON"}}) {
    auto u = ParseLegacyUsage(c.json, kEast8);
    ASSERT_FALSE(u.ok()) << c.json;
    EXPECT_NE(std::string(u.status().message()).find(c.where), std::string::npos) << u.status();
  }
  // A NUL byte ends nlohmann's input: the bytes after it (here invalid UTF-8) would be kept unchecked,
  // and a snapshot holding them would not load. Found by legacy_import_fuzz.
  auto nul = ParseLegacyUsage(std::string_view("{\"total_input\": 1}\0\xff", 20), kEast8);
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.status().message(), "not JSON: a NUL byte");
}

}  // namespace
}  // namespace luna::usagesvc
