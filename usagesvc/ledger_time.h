// Time arithmetic of the ledger: fixed-offset time zones, hour and day buckets, and the date strings of
// the API ("YYYY-MM-DD", "YYYY-MM-DD HH:00"). Pure functions, no clock, no I/O.
//
// Buckets are counted as indexes in the zone: hour index = floor((unix seconds + offset) / 3600), day
// index = floor(hour index / 24) = days since 1970-01-01 in that zone. Only fixed offsets are
// supported (no daylight saving), so every bucket is exactly one hour or 24 hours long.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace luna::usagesvc {

struct LedgerZone {
  // Seconds east of UTC, in [-14 h, +14 h].
  int32_t offset_seconds = 0;
  // Canonical display name: "UTC" or "+08:00" / "-05:30".
  std::string name = "UTC";

  // Accepts "UTC", "Z", "GMT", "+08:00", "+0800", "+8", "-05:30", "UTC+8", "UTC+08:00", "GMT-3".
  // `what` names the setting in the error.
  static absl::StatusOr<LedgerZone> Parse(std::string_view text, std::string_view what);

  int64_t HourIndex(int64_t unix_ms) const;
  // The Unix time (seconds) at which local hour `hour_index` starts.
  int64_t HourStartUnixSeconds(int64_t hour_index) const;
};

inline int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
inline int64_t DayOfHour(int64_t hour_index) { return FloorDiv(hour_index, 24); }

// Days since 1970-01-01 <-> civil date (proleptic Gregorian).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);
void CivilFromDays(int64_t days, int64_t* year, unsigned* month, unsigned* day);

// "YYYY-MM-DD" for a day index; "YYYY-MM-DD HH:00" for an hour index.
std::string FormatDay(int64_t day_index);
std::string FormatHour(int64_t hour_index);

// Strict parsers of the same forms; nullopt for anything else (including impossible dates).
std::optional<int64_t> ParseDay(std::string_view text);
std::optional<int64_t> ParseHour(std::string_view text);

// An ISO 8601 / Python isoformat() time ("2026-02-10T14:23:11.123456+08:00", "...Z", or without an
// offset, which is then read in `zone_if_none`), as Unix milliseconds; nullopt if it does not parse.
std::optional<int64_t> ParseIsoTimeMs(std::string_view text, const LedgerZone& zone_if_none);

}  // namespace luna::usagesvc
