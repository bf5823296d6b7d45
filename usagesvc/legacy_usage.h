// The old Python proxy's per-key usage object, parsed. Pure: no I/O, no ledger.
//
// The old object (keys.json, keys[...].usage) as its record_usage() wrote it over its versions:
//   {"total_input", "total_output", "total_requests", "last_used": isoformat or null,
//    "daily":  {"YYYY-MM-DD": {"input", "output", "requests", "by_model": {model: figures}}},
//    "hourly": {"YYYY-MM-DD HH:00": {"by_model": {model: figures}}},
//    "total_by_model": {model: figures}, "by_session": {...}}
// where figures are {"total", "requests"} (newer) or {"input", "output", "requests"} (older), or both
// after the old proxy's in-place migration ("total" then already includes input + output). Dates and
// hours are in the old proxy's zone (USAGE_LEGACY_TIMEZONE, +08:00). Sections were added over time, so
// totals >= sum of daily >= sum of hourly in general; each is kept as it is, never derived from another.
// Unknown fields (by_session, ...) are ignored.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "usagesvc/ledger_time.h"

namespace luna::usagesvc {

// Per-model figures in the ledger's terms. The old per-model "total" = input + output + total_only.
struct LegacyModelFigures {
  int64_t input = 0;
  int64_t output = 0;
  int64_t total_only = 0;  // tokens known only as a sum
  int64_t requests = 0;
};

struct LegacyDay {
  int64_t input = 0;
  int64_t output = 0;
  int64_t requests = 0;
  std::map<std::string, LegacyModelFigures> by_model;
};

struct LegacyKeyUsage {
  int64_t total_input = 0;
  int64_t total_output = 0;
  int64_t total_requests = 0;
  int64_t last_used_unix_ms = 0;  // 0: never used, or unparseable (then see last_used_text)
  std::string last_used_text;
  std::map<std::string, LegacyModelFigures> total_by_model;
  std::map<int64_t, LegacyDay> daily;                                   // by day index of the old date
  std::map<int64_t, std::map<std::string, LegacyModelFigures>> hourly;  // by hour index in the legacy zone
};

// Parses one usage object. `legacy_zone` reads a last_used without an offset. Errors name the JSON path
// ("daily[\"2026-02-30\"]: not a date") and the reason. Negative numbers are errors; floats are
// truncated; null and missing mean 0.
absl::StatusOr<LegacyKeyUsage> ParseLegacyUsage(std::string_view json_text, const LedgerZone& legacy_zone);

}  // namespace luna::usagesvc
