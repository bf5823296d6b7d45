#include "usagesvc/spend_tracker.h"

#include <charconv>
#include <chrono>

namespace luna::usagesvc {

namespace pb = luna::usage::v1;

SpendWindows WindowsAt(const LedgerZone& zone, int64_t unix_ms) {
  const int64_t day = DayOfHour(zone.HourIndex(unix_ms));
  int64_t year = 0;
  unsigned month = 0, mday = 0;
  CivilFromDays(day, &year, &month, &mday);
  const int64_t month_first = DaysFromCivil(year, month, 1);
  const int64_t next_month_first = month == 12 ? DaysFromCivil(year + 1, 1, 1) : DaysFromCivil(year, month + 1, 1);
  auto start_ms = [&](int64_t d) { return zone.HourStartUnixSeconds(d * 24) * 1000; };
  return SpendWindows{start_ms(day), start_ms(day + 1), start_ms(month_first), start_ms(next_month_first)};
}

int64_t EventSequence(std::string_view event_id, std::string_view gateway_id) {
  if (gateway_id.empty() || event_id.size() <= gateway_id.size() + 1 ||
      event_id.substr(0, gateway_id.size()) != gateway_id || event_id[gateway_id.size()] != '-') {
    return 0;
  }
  std::string_view digits = event_id.substr(gateway_id.size() + 1);
  int64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size() || n < 0) return 0;
  return n;
}

SpendTracker::SpendTracker(Ledger* ledger, std::function<int64_t()> now_ms)
    : ledger_(ledger), now_ms_(std::move(now_ms)) {
  if (!now_ms_) {
    now_ms_ = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  std::lock_guard lock(mu_);
  ReloadLocked(now_ms_());
}

void SpendTracker::ReloadLocked(int64_t now) {
  const LedgerZone& zone = ledger_->options().zone;
  windows_ = WindowsAt(zone, now);
  spend_.clear();
  changed_.clear();
  const int64_t today = DayOfHour(zone.HourIndex(now));
  const int64_t month_first = DayOfHour(zone.HourIndex(windows_.month_start_ms));
  auto sum = [&](int64_t from, int64_t to, auto&& add) {
    UsageQuery q;
    q.from_day = from;
    q.to_day = to;
    q.by_key = true;
    for (const UsageRow& row : ledger_->Query(q)) {
      add(spend_[row.key_id], row.totals.input + row.totals.output + row.totals.total_only,
          row.totals.cache_read + row.totals.cache_write);
    }
  };
  sum(month_first, today, [](Spend& s, int64_t tokens, int64_t cache) {
    s.month += tokens;
    s.month_cache += cache;
  });
  sum(today, today, [](Spend& s, int64_t tokens, int64_t cache) {
    s.day += tokens;
    s.day_cache += cache;
  });
}

int64_t SpendTracker::Apply(const storage::v1::JournalRecord& record, std::vector<std::string>* legacy_errors,
                            std::string_view record_bytes) {
  std::lock_guard lock(mu_);
  std::vector<int> applied;
  int64_t n = ledger_->Apply(record, legacy_errors, &applied, record_bytes);
  for (int i : applied) {
    const pb::UsageEvent& e = record.events(i);
    if (!e.gateway_id().empty()) {
      int64_t seq = EventSequence(e.event_id(), e.gateway_id());
      int64_t& mark = watermarks_[e.gateway_id()];
      mark = std::max(mark, seq);
    }
    const int64_t t = e.time_unix_ms();
    if (t < windows_.month_start_ms || t >= windows_.month_end_ms) continue;
    const int64_t tokens = e.input_tokens() + e.output_tokens();
    const int64_t cache = e.cache_read_tokens() + e.cache_write_tokens();
    if (tokens == 0 && cache == 0) continue;
    Spend& s = spend_[e.key_id()];
    s.month += tokens;
    s.month_cache += cache;
    if (t >= windows_.day_start_ms && t < windows_.day_end_ms) {
      s.day += tokens;
      s.day_cache += cache;
    }
    changed_.insert(e.key_id());
  }
  // Legacy imports change history, possibly this month's: recount.
  if (record.legacy_imports_size() > 0) {
    ReloadLocked(now_ms_());
    for (const auto& [key, s] : spend_) changed_.insert(key);
  }
  return n;
}

bool SpendTracker::RollIfDue() {
  std::lock_guard lock(mu_);
  int64_t now = now_ms_();
  if (now < windows_.day_end_ms && now >= windows_.day_start_ms) return false;
  ReloadLocked(now);
  return true;
}

void SpendTracker::FillWindows(pb::SpendUpdate* out) const {
  out->set_day_start_unix_ms(windows_.day_start_ms);
  out->set_day_end_unix_ms(windows_.day_end_ms);
  out->set_month_start_unix_ms(windows_.month_start_ms);
  out->set_month_end_unix_ms(windows_.month_end_ms);
}

void SpendTracker::FillKey(const std::string& key_id, const Spend& s, pb::SpendUpdate* out) const {
  pb::KeySpend* k = out->add_keys();
  k->set_key_id(key_id);
  k->set_day_tokens(s.day);
  k->set_day_cache_tokens(s.day_cache);
  k->set_month_tokens(s.month);
  k->set_month_cache_tokens(s.month_cache);
}

void SpendTracker::Snapshot(std::string_view gateway_id, pb::SpendUpdate* out) const {
  std::lock_guard lock(mu_);
  out->Clear();
  out->set_snapshot(true);
  FillWindows(out);
  out->mutable_keys()->Reserve(static_cast<int>(spend_.size()));
  for (const auto& [key, s] : spend_) FillKey(key, s, out);
  out->set_gateway_watermark(WatermarkLocked(gateway_id));
}

bool SpendTracker::TakeChanges(pb::SpendUpdate* out, const std::vector<std::string>& gateways,
                               std::vector<int64_t>* watermarks) {
  std::lock_guard lock(mu_);
  out->Clear();
  if (changed_.empty()) return false;
  FillWindows(out);
  for (const auto& key : changed_) FillKey(key, spend_[key], out);
  changed_.clear();
  watermarks->clear();
  for (const auto& g : gateways) watermarks->push_back(WatermarkLocked(g));
  return true;
}

int64_t SpendTracker::WatermarkLocked(std::string_view gateway_id) const {
  auto it = watermarks_.find(std::string(gateway_id));
  return it == watermarks_.end() ? 0 : it->second;
}

}  // namespace luna::usagesvc
