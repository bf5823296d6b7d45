#include "gateway/limits/key_limits.h"

#include <algorithm>
#include <cmath>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace luna::gateway {

namespace {

constexpr int64_t kMinuteMs = 60'000;

int64_t CeilMs(double ms) { return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(ms))); }

}  // namespace

SpendWindows UtcWindowsAt(int64_t unix_ms) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilDay day = absl::ToCivilDay(absl::FromUnixMillis(unix_ms), utc);
  const absl::CivilMonth month(day);
  auto ms = [&](auto civil) { return absl::ToUnixMillis(absl::FromCivil(civil, utc)); };
  return SpendWindows{ms(day), ms(day + 1), ms(month), ms(month + 1)};
}

// ---- SpendBook ----

void SpendBook::Apply(const luna::usage::v1::SpendUpdate& u) {
  std::unique_lock lock(mu_);
  if (u.snapshot()) spend_.clear();
  windows_ = SpendWindows{u.day_start_unix_ms(), u.day_end_unix_ms(), u.month_start_unix_ms(), u.month_end_unix_ms()};
  for (const auto& k : u.keys()) {
    spend_[k.key_id()] = KeySpend{k.day_tokens(), k.day_cache_tokens(), k.month_tokens(), k.month_cache_tokens()};
  }
  // A fresh usagesvc may know less of this gateway than a previous one did: take its word.
  watermark_ = u.gateway_watermark();
  ever_synced_.store(true, std::memory_order_release);
}

size_t SpendBook::keys() const {
  std::shared_lock lock(mu_);
  return spend_.size();
}

SpendBook::View SpendBook::Get(const std::string& key_id, int64_t now_ms) const {
  View v;
  std::shared_lock lock(mu_);
  v.watermark = watermark_;
  if (windows_.day_end_ms == 0) {
    v.windows = UtcWindowsAt(now_ms);
    return v;
  }
  v.windows = windows_;
  KeySpend s;
  if (auto it = spend_.find(key_id); it != spend_.end()) s = it->second;
  lock.unlock();
  // Past the end of usagesvc's period (its new snapshot is on the way) the old totals no longer count.
  if (now_ms >= v.windows.day_end_ms) {
    int64_t days = (now_ms - v.windows.day_start_ms) / 86'400'000;
    v.windows.day_start_ms += days * 86'400'000;
    v.windows.day_end_ms = v.windows.day_start_ms + 86'400'000;
    s.day = s.day_cache = 0;
  }
  if (now_ms >= v.windows.month_end_ms) {
    // The zone's offset carried over to the UTC month boundaries.
    int64_t offset = windows_.month_start_ms - UtcWindowsAt(windows_.month_start_ms + 86'400'000 * 2).month_start_ms;
    SpendWindows utc = UtcWindowsAt(now_ms - offset);
    v.windows.month_start_ms = utc.month_start_ms + offset;
    v.windows.month_end_ms = utc.month_end_ms + offset;
    s.month = s.month_cache = 0;
  }
  v.spend = s;
  return v;
}

// ---- limits ----

std::string LimitMessage(const LimitDecision& d) {
  auto secs = [](int64_t ms) { return std::to_string(std::max<int64_t>(1, (ms + 999) / 1000)); };
  std::string m;
  switch (d.kind) {
    case LimitDecision::Kind::kOk:
      return "";
    case LimitDecision::Kind::kRequestsPerMinute:
      m = "Rate limit of this API key reached: ";
      m.append(std::to_string(d.limit)).append(" requests per minute; retry in ").append(secs(d.retry_after_ms));
      m.append(" s");
      return m;
    case LimitDecision::Kind::kTokensPerMinute:
      m = "Rate limit of this API key reached: ";
      m.append(std::to_string(d.limit)).append(" tokens per minute; retry in ").append(secs(d.retry_after_ms));
      m.append(" s");
      return m;
    case LimitDecision::Kind::kDayBudget:
    case LimitDecision::Kind::kMonthBudget:
      m = d.kind == LimitDecision::Kind::kDayBudget ? "Daily" : "Monthly";
      m.append(" token budget of this API key spent: ").append(std::to_string(d.used)).append(" of ");
      m.append(std::to_string(d.limit)).append(" tokens used; it resets at ").append(FormatRfc3339Ms(d.resets_at_ms));
      return m;
  }
  return m;
}

void KeyLimiter::Refill(const KeyPolicy& p, int64_t mono_ms) {
  const double dt = static_cast<double>(std::max<int64_t>(0, mono_ms - last_mono_ms_));
  last_mono_ms_ = std::max(last_mono_ms_, mono_ms);
  if (p.requests_per_minute > 0) {
    const double cap = static_cast<double>(p.requests_per_minute);
    requests_ = !requests_on_ ? cap : std::min(cap, requests_ + dt * cap / kMinuteMs);
    requests_on_ = true;
  } else {
    requests_on_ = false;
  }
  if (p.tokens_per_minute > 0) {
    const double cap = static_cast<double>(p.tokens_per_minute);
    // A bucket that was never charged starts full; one below zero keeps its debt.
    tokens_ = !tokens_on_ ? cap : std::min(cap, tokens_ + dt * cap / kMinuteMs);
    tokens_on_ = true;
  } else {
    tokens_on_ = false;
  }
}

LimitDecision KeyLimiter::TakeRequest(const KeyPolicy& p, int64_t mono_ms) {
  LimitDecision d;
  if (p.requests_per_minute <= 0) return d;
  std::lock_guard lock(mu_);
  Refill(p, mono_ms);
  if (requests_ >= 1.0) {
    requests_ -= 1.0;
    return d;
  }
  d.kind = LimitDecision::Kind::kRequestsPerMinute;
  d.limit = p.requests_per_minute;
  d.retry_after_ms = CeilMs((1.0 - requests_) * kMinuteMs / static_cast<double>(p.requests_per_minute));
  return d;
}

std::pair<BudgetState, BudgetState> KeyLimiter::BudgetsLocked(const KeyPolicy& p, const SpendBook* book,
                                                               int64_t now_ms) {
  SpendBook::View v = book != nullptr ? book->Get(key_id_, now_ms) : SpendBook::View{UtcWindowsAt(now_ms), {}, 0};
  while (!pending_.empty() && pending_.front().seq <= v.watermark) pending_.pop_front();
  BudgetState day{p.tokens_per_day, v.spend.day, v.windows.day_end_ms};
  BudgetState month{p.tokens_per_month, v.spend.month, v.windows.month_end_ms};
  if (p.count_cache_tokens) {
    day.used += v.spend.day_cache;
    month.used += v.spend.month_cache;
  }
  for (const Pending& e : pending_) {
    if (e.seq <= v.watermark) continue;  // out of order: already counted by usagesvc
    const int64_t t = e.tokens + (p.count_cache_tokens ? e.cache : 0);
    if (e.time_ms >= v.windows.day_start_ms && e.time_ms < v.windows.day_end_ms) day.used += t;
    if (e.time_ms >= v.windows.month_start_ms && e.time_ms < v.windows.month_end_ms) month.used += t;
  }
  return {day, month};
}

LimitDecision KeyLimiter::CheckTokens(const KeyPolicy& p, const SpendBook* book, int64_t now_ms, int64_t mono_ms) {
  LimitDecision d;
  if (p.tokens_per_minute <= 0 && !p.has_budget()) return d;
  std::lock_guard lock(mu_);
  if (p.tokens_per_minute > 0) {
    Refill(p, mono_ms);
    if (tokens_ <= 0) {
      d.kind = LimitDecision::Kind::kTokensPerMinute;
      d.limit = p.tokens_per_minute;
      d.retry_after_ms = CeilMs((1.0 - tokens_) * kMinuteMs / static_cast<double>(p.tokens_per_minute));
      return d;
    }
  }
  if (!p.has_budget()) return d;
  auto [day, month] = BudgetsLocked(p, book, now_ms);
  // The month first: when both are spent, waiting for the day to turn does not help.
  for (auto [kind, b] : {std::pair{LimitDecision::Kind::kMonthBudget, month}, std::pair{LimitDecision::Kind::kDayBudget, day}}) {
    if (b.limit > 0 && b.used >= b.limit) {
      d.kind = kind;
      d.limit = b.limit;
      d.used = b.used;
      d.resets_at_ms = b.resets_at_ms;
      d.retry_after_ms = std::max<int64_t>(1000, b.resets_at_ms - now_ms);
      return d;
    }
  }
  return d;
}

void KeyLimiter::Charge(const KeyPolicy& p, int64_t tokens, int64_t cache_tokens, int64_t seq, int64_t event_ms,
                        int64_t mono_ms) {
  if (tokens <= 0 && cache_tokens <= 0) return;
  std::lock_guard lock(mu_);
  if (p.tokens_per_minute > 0) {
    Refill(p, mono_ms);
    tokens_ -= static_cast<double>(tokens + (p.count_cache_tokens ? cache_tokens : 0));
  }
  if (p.has_budget()) {
    if (pending_.size() >= kMaxPending) pending_.pop_front();
    pending_.push_back(Pending{seq, event_ms, tokens, cache_tokens});
  }
}

std::pair<BudgetState, BudgetState> KeyLimiter::Budgets(const KeyPolicy& p, const SpendBook* book, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return BudgetsLocked(p, book, now_ms);
}

}  // namespace luna::gateway
