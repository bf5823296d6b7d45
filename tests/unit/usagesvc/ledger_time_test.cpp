#include "usagesvc/ledger_time.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace luna::usagesvc {
namespace {

using testing::kHourMs;
using testing::kMar1Utc;

TEST(LedgerZoneTest, AcceptsUtcAndFixedOffsetsInTheirUsualSpellings) {
  // Every spelling the brief allows parses to the same canonical zone.
  for (const char* utc : {"UTC", "Z", "GMT", "UTC+0", "+00:00"}) {
    auto z = LedgerZone::Parse(utc, "USAGE_TIMEZONE");
    ASSERT_TRUE(z.ok()) << utc;
    EXPECT_EQ(z->offset_seconds, 0) << utc;
    EXPECT_EQ(z->name, "UTC") << utc;
  }
  for (const char* east8 : {"+08:00", "+0800", "+8", "UTC+8", "UTC+08:00", "GMT+8"}) {
    auto z = LedgerZone::Parse(east8, "USAGE_TIMEZONE");
    ASSERT_TRUE(z.ok()) << east8;
    EXPECT_EQ(z->offset_seconds, 8 * 3600) << east8;
    EXPECT_EQ(z->name, "+08:00") << east8;
  }
  auto india = LedgerZone::Parse("+05:30", "X");
  ASSERT_TRUE(india.ok());
  EXPECT_EQ(india->offset_seconds, 5 * 3600 + 1800);
  auto west = LedgerZone::Parse("UTC-5", "X");
  ASSERT_TRUE(west.ok());
  EXPECT_EQ(west->name, "-05:00");
}

TEST(LedgerZoneTest, RejectsNamedZonesAndImpossibleOffsetsNamingTheVariable) {
  // Zones with daylight saving (named zones) and offsets beyond 14 h are refused with the variable named.
  for (const char* bad : {"Asia/Shanghai", "+15:00", "+08:75", "8", "UTC+", "+8:00:00", ""}) {
    auto z = LedgerZone::Parse(bad, "USAGE_TIMEZONE");
    if (std::string(bad).empty()) {
      EXPECT_TRUE(z.ok());  // empty = unset = UTC
      continue;
    }
    ASSERT_FALSE(z.ok()) << bad;
    EXPECT_NE(std::string(z.status().message()).find("USAGE_TIMEZONE"), std::string::npos);
  }
}

TEST(LedgerZoneTest, PlusEightDayStartsAtSixteenHundredUtcTheDayBefore) {
  // In +08:00, 2026-02-28T15:59:59.999Z is still Feb 28 and 16:00:00Z is already Mar 1, 00:00.
  LedgerZone z = *LedgerZone::Parse("+08:00", "X");
  int64_t boundary = kMar1Utc - 8 * kHourMs;
  EXPECT_EQ(FormatHour(z.HourIndex(boundary - 1)), "2026-02-28 23:00");
  EXPECT_EQ(FormatHour(z.HourIndex(boundary)), "2026-03-01 00:00");
  EXPECT_EQ(FormatDay(DayOfHour(z.HourIndex(boundary))), "2026-03-01");
  LedgerZone utc;
  EXPECT_EQ(FormatHour(utc.HourIndex(boundary)), "2026-02-28 16:00");
  EXPECT_EQ(z.HourStartUnixSeconds(z.HourIndex(boundary)) * 1000, boundary);
}

TEST(LedgerTimeTest, DatesRoundTripAndImpossibleOnesAreRejected) {
  // Day and hour strings parse back to the indexes they were formatted from; Feb 30 and 24:00 do not parse.
  for (int64_t day : {-1, 0, 59, 20513, 2932896}) {
    EXPECT_EQ(ParseDay(FormatDay(day)), day);
    EXPECT_EQ(ParseHour(FormatHour(day * 24 + 13)), day * 24 + 13);
  }
  EXPECT_EQ(FormatDay(0), "1970-01-01");
  EXPECT_EQ(ParseDay("2024-02-29"), DaysFromCivil(2024, 2, 29));
  for (const char* bad : {"2025-02-29", "2026-02-30", "2026-13-01", "2026-1-01", "2026-01-01 ", "x"}) {
    EXPECT_FALSE(ParseDay(bad).has_value()) << bad;
  }
  for (const char* bad : {"2026-01-01 24:00", "2026-01-01 10:30", "2026-01-01T10:00", "2026-01-01"}) {
    EXPECT_FALSE(ParseHour(bad).has_value()) << bad;
  }
}

TEST(LedgerTimeTest, IsoTimesOfThePythonProxyParseWithTheirOffsetOrTheLegacyZone) {
  // isoformat() with an offset is exact; without one it is read in the given zone.
  LedgerZone east8 = *LedgerZone::Parse("+08:00", "X");
  EXPECT_EQ(ParseIsoTimeMs("2026-03-01T08:00:00+08:00", LedgerZone()), kMar1Utc);
  EXPECT_EQ(ParseIsoTimeMs("2026-03-01T08:00:00.250000+08:00", LedgerZone()), kMar1Utc + 250);
  EXPECT_EQ(ParseIsoTimeMs("2026-03-01T00:00:00Z", east8), kMar1Utc);
  EXPECT_EQ(ParseIsoTimeMs("2026-03-01T08:00:00", east8), kMar1Utc);
  EXPECT_FALSE(ParseIsoTimeMs("yesterday", east8).has_value());
}

}  // namespace
}  // namespace luna::usagesvc
