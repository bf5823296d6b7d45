#include "usagesvc/ledger_time.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace luna::usagesvc {
namespace {

constexpr int32_t kMaxOffsetSeconds = 14 * 3600;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at `*pos`.
std::optional<int> Digits(std::string_view s, size_t* pos, size_t n) {
  if (*pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (!IsDigit(c)) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  return v;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// "YYYY-MM-DD" at *pos -> day index.
std::optional<int64_t> ReadDate(std::string_view s, size_t* pos) {
  auto y = Digits(s, pos, 4);
  if (!y || !Expect(s, pos, '-')) return std::nullopt;
  auto m = Digits(s, pos, 2);
  if (!m || !Expect(s, pos, '-')) return std::nullopt;
  auto d = Digits(s, pos, 2);
  if (!d || *m < 1 || *m > 12 || *d < 1 || static_cast<unsigned>(*d) > DaysInMonth(*y, static_cast<unsigned>(*m))) {
    return std::nullopt;
  }
  return DaysFromCivil(*y, static_cast<unsigned>(*m), static_cast<unsigned>(*d));
}

// "+HH:MM", "+HHMM", "+H", "+HH" (sign required) -> seconds east of UTC.
std::optional<int32_t> ReadOffset(std::string_view s) {
  if (s.empty() || (s[0] != '+' && s[0] != '-')) return std::nullopt;
  int sign = s[0] == '-' ? -1 : 1;
  std::string_view rest = s.substr(1);
  int hours = 0, minutes = 0;
  size_t pos = 0;
  if (rest.size() == 1 || rest.size() == 2) {
    auto h = Digits(rest, &pos, rest.size());
    if (!h) return std::nullopt;
    hours = *h;
  } else if (rest.size() == 4 || rest.size() == 5) {
    auto h = Digits(rest, &pos, 2);
    if (!h) return std::nullopt;
    if (rest.size() == 5 && !Expect(rest, &pos, ':')) return std::nullopt;
    auto m = Digits(rest, &pos, 2);
    if (!m) return std::nullopt;
    hours = *h;
    minutes = *m;
  } else {
    return std::nullopt;
  }
  if (minutes >= 60) return std::nullopt;
  int32_t seconds = sign * (hours * 3600 + minutes * 60);
  if (seconds > kMaxOffsetSeconds || seconds < -kMaxOffsetSeconds) return std::nullopt;
  return seconds;
}

std::string OffsetName(int32_t offset_seconds) {
  if (offset_seconds == 0) return "UTC";
  char buf[16];
  int32_t a = offset_seconds < 0 ? -offset_seconds : offset_seconds;
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", offset_seconds < 0 ? '-' : '+', a / 3600, (a % 3600) / 60);
  return buf;
}

}  // namespace

absl::StatusOr<LedgerZone> LedgerZone::Parse(std::string_view text, std::string_view what) {
  std::string_view s = text;
  for (std::string_view prefix : {"UTC", "GMT"}) {
    if (s.substr(0, 3) == prefix) {
      s.remove_prefix(3);
      break;
    }
  }
  if (s.empty() || s == "Z") return LedgerZone{};
  if (text == "Z") return LedgerZone{};
  auto offset = ReadOffset(s);
  if (!offset) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), ": unsupported time zone \"", std::string(text),
                     "\" (expected UTC or a fixed offset such as +08:00, -05:30, UTC+8; at most 14 hours from UTC)"));
  }
  LedgerZone zone;
  zone.offset_seconds = *offset;
  zone.name = OffsetName(*offset);
  return zone;
}

int64_t LedgerZone::HourIndex(int64_t unix_ms) const {
  return FloorDiv(FloorDiv(unix_ms, 1000) + offset_seconds, 3600);
}

int64_t LedgerZone::HourStartUnixSeconds(int64_t hour_index) const { return hour_index * 3600 - offset_seconds; }

// Howard Hinnant's days_from_civil / civil_from_days.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* year, unsigned* month, unsigned* day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = y + (*month <= 2);
}

std::string FormatDay(int64_t day_index) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(day_index, &y, &m, &d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

std::string FormatHour(int64_t hour_index) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s %02lld:00", FormatDay(DayOfHour(hour_index)).c_str(),
                static_cast<long long>(hour_index - DayOfHour(hour_index) * 24));
  return buf;
}

std::optional<int64_t> ParseDay(std::string_view text) {
  size_t pos = 0;
  auto day = ReadDate(text, &pos);
  if (!day || pos != text.size()) return std::nullopt;
  return day;
}

std::optional<int64_t> ParseHour(std::string_view text) {
  size_t pos = 0;
  auto day = ReadDate(text, &pos);
  if (!day || !Expect(text, &pos, ' ')) return std::nullopt;
  auto h = Digits(text, &pos, 2);
  if (!h || *h > 23 || !Expect(text, &pos, ':')) return std::nullopt;
  auto mm = Digits(text, &pos, 2);
  if (!mm || *mm != 0 || pos != text.size()) return std::nullopt;
  return *day * 24 + *h;
}

std::optional<int64_t> ParseIsoTimeMs(std::string_view text, const LedgerZone& zone_if_none) {
  size_t pos = 0;
  auto day = ReadDate(text, &pos);
  if (!day) return std::nullopt;
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != ' ')) return std::nullopt;
  ++pos;
  auto h = Digits(text, &pos, 2);
  if (!h || !Expect(text, &pos, ':')) return std::nullopt;
  auto mi = Digits(text, &pos, 2);
  if (!mi) return std::nullopt;
  int sec = 0;
  int64_t ms = 0;
  if (pos < text.size() && text[pos] == ':') {
    ++pos;
    auto s = Digits(text, &pos, 2);
    if (!s) return std::nullopt;
    sec = *s;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      int64_t scale = 100;
      size_t start = pos;
      while (pos < text.size() && IsDigit(text[pos])) {
        ms += (text[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == start) return std::nullopt;
    }
  }
  if (*h > 23 || *mi > 59 || sec > 60) return std::nullopt;
  int32_t offset = zone_if_none.offset_seconds;
  std::string_view rest = text.substr(pos);
  if (rest == "Z") {
    offset = 0;
  } else if (!rest.empty()) {
    auto o = ReadOffset(rest);
    if (!o) return std::nullopt;
    offset = *o;
  }
  int64_t local_seconds = *day * 86400 + *h * 3600 + *mi * 60 + sec;
  return (local_seconds - offset) * 1000 + ms;
}

}  // namespace luna::usagesvc
