#include "fallbacksvc/route_engine.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace luna::fallbacksvc {
namespace {

constexpr size_t kMaxReasonMessage = 160;

std::string Ordinal(int n) {
  int mod100 = n % 100;
  const char* suffix = "th";
  if (mod100 < 11 || mod100 > 13) {
    if (n % 10 == 1) suffix = "st";
    if (n % 10 == 2) suffix = "nd";
    if (n % 10 == 3) suffix = "rd";
  }
  return std::to_string(n) + suffix;
}

std::string Percent(double fraction) {
  double pct = fraction * 100;
  char buf[32];
  if (pct > 0 && pct < 1) {
    std::snprintf(buf, sizeof buf, "%.1f%%", pct);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f%%", pct);
  }
  return buf;
}

// The upstream's message, shortened and made printable for a one-line reason.
std::string ShortMessage(const std::string& message) {
  std::string out = TruncateUtf8(message, kMaxReasonMessage);
  for (char& c : out) {
    if ((c >= 0 && c < 0x20) || c == 0x7f) c = ' ';
  }
  if (out.size() < message.size()) out += "...";
  return out;
}

std::string CooldownReason(const Outcome& o, int64_t duration_ms, int failures) {
  std::string r;
  if (o.status != 0) r = std::to_string(o.status) + " ";
  r += OutcomeKindName(o.kind);
  r += ": cooling " + FormatDuration(duration_ms);
  if (o.retry_after_ms > 0) r += ", retry-after " + FormatDuration(o.retry_after_ms);
  if (failures > 1) r += " (" + Ordinal(failures) + " in a row)";
  if (!o.message.empty()) r += ": " + ShortMessage(o.message);
  return r;
}

}  // namespace

const char* OutcomeKindName(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::kOk:
      return "ok";
    case OutcomeKind::kRateLimited:
      return "rate_limited";
    case OutcomeKind::kOverloaded:
      return "overloaded";
    case OutcomeKind::kQuotaExhausted:
      return "quota_exhausted";
    case OutcomeKind::kBadCredential:
      return "bad_credential";
    case OutcomeKind::kTimeout:
      return "timeout";
    case OutcomeKind::kConnectFailed:
      return "connect_failed";
    case OutcomeKind::kServerError:
      return "server_error";
  }
  return "unknown";
}

std::string TruncateUtf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  size_t end = max_bytes;
  // Back off continuation bytes (10xxxxxx) so no character is cut in half.
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end));
}

std::string FormatDuration(int64_t ms) {
  if (ms < 1000) return std::to_string(ms) + "ms";
  int64_t s = (ms + 500) / 1000;
  if (s < 60) return std::to_string(s) + "s";
  int64_t h = s / 3600, m = (s % 3600) / 60;
  s %= 60;
  std::string out;
  if (h > 0) out += std::to_string(h) + "h";
  if (m > 0) out += std::to_string(m) + "m";
  if (s > 0) out += std::to_string(s) + "s";
  return out;
}

bool RouteTableData::SameRoutes(const RouteTableData& o) const {
  return enabled == o.enabled && providers == o.providers && tiers == o.tiers && plans == o.plans &&
         default_plan == o.default_plan;
}

RouteEngine::RouteEngine(std::shared_ptr<const FallbackConfig> config) : config_(std::move(config)) {}

void RouteEngine::SetConfig(std::shared_ptr<const FallbackConfig> config) {
  config_ = std::move(config);
  for (auto it = cooldowns_.begin(); it != cooldowns_.end();) {
    it = it->second.model.empty() ? cooldowns_.erase(it) : std::next(it);
  }
  for (auto& [key, q] : quotas_) {
    if (q.remaining_fraction >= 0) q.quota_low = QuotaLowAfter(q.quota_low, q.remaining_fraction);
  }
  Prune();
}

bool RouteEngine::QuotaLowAfter(bool was_low, double fraction) const {
  if (fraction < 0) return false;  // unknown is not low: nothing says the quota is gone
  double min = config_->min_remaining_fraction;
  if (!was_low) return fraction < min;
  // The epsilon keeps 0.1 + 0.05 from landing above a polled 0.15.
  return fraction < std::min(min + config_->quota_recovery_margin, 1.0) - 1e-9;
}

void RouteEngine::Prune() {
  std::set<std::string> quota_keys, cooldown_keys;
  for (const TierConfig& t : config_->tiers) {
    // A quota nobody polls any more would never change again: forget it rather than keep it low forever.
    const ProviderConfig* p = config_->FindProvider(t.provider);
    if (p != nullptr && !p->quota_url.empty()) quota_keys.insert(Key(t.provider, t.health_key));
    cooldown_keys.insert(Key(t.provider, t.model));
    cooldown_keys.insert(Key(t.provider, ""));
  }
  std::erase_if(quotas_, [&](const auto& kv) { return quota_keys.count(kv.first) == 0; });
  std::erase_if(cooldowns_, [&](const auto& kv) { return cooldown_keys.count(kv.first) == 0; });
}

bool RouteEngine::ApplyOutcome(const Outcome& o, int64_t now_ms, std::vector<std::string>* cooled_tiers) {
  std::string provider, model;
  if (const TierConfig* t = o.tier.empty() ? nullptr : config_->FindTier(o.tier)) {
    provider = t->provider;
    model = t->model;
  } else {
    provider = o.provider.empty() ? kDefaultProvider : o.provider;
    model = o.model;
  }
  bool known = false;
  for (const TierConfig& t : config_->tiers) {
    if (t.provider == provider && (t.model == model || o.kind == OutcomeKind::kBadCredential)) known = true;
  }
  if (!known) return false;
  // The tiers a new cooldown of (provider, model), or of the whole provider, covers.
  auto cooled = [&](bool whole_provider) {
    if (cooled_tiers == nullptr) return;
    for (const TierConfig& t : config_->tiers) {
      if (t.provider == provider && (whole_provider || t.model == model)) cooled_tiers->push_back(t.name);
    }
  };

  if (o.kind == OutcomeKind::kOk) {
    size_t erased = cooldowns_.erase(Key(provider, model));
    erased += cooldowns_.erase(Key(provider, ""));
    return erased > 0;
  }
  if (o.kind == OutcomeKind::kBadCredential) {
    CooldownRecord& c = cooldowns_[Key(provider, "")];
    c.provider = provider;
    c.model.clear();
    int64_t until = now_ms + config_->bad_credential_cooldown_ms;
    if (c.until_unix_ms > now_ms && c.until_unix_ms >= until) return false;
    if (c.until_unix_ms <= now_ms) cooled(true);
    c.failures = c.until_unix_ms > now_ms ? c.failures : c.failures + 1;
    c.until_unix_ms = until;
    c.reason = CooldownReason(o, config_->bad_credential_cooldown_ms, c.failures) + " (until the config is reloaded)";
    return true;
  }

  CooldownRecord& c = cooldowns_[Key(provider, model)];
  c.provider = provider;
  c.model = model;
  const bool transient = o.kind == OutcomeKind::kConnectFailed || o.kind == OutcomeKind::kTimeout ||
                         o.kind == OutcomeKind::kServerError;
  if (c.until_unix_ms > now_ms) {
    // Already cooling: another request that was in flight. Honour its retry-after, do not escalate.
    int64_t until = now_ms + o.retry_after_ms;
    if (until <= c.until_unix_ms) return false;
    c.until_unix_ms = until;
    c.reason = CooldownReason(o, o.retry_after_ms, c.failures);
    c.transient = transient;
    return true;
  }
  if (c.failures > 0 && now_ms - c.until_unix_ms > kForgetFailuresAfterMs) c.failures = 0;
  cooled(false);
  c.failures += 1;
  const auto& steps = config_->cooldown_steps_ms;
  int64_t step = steps[std::min(static_cast<size_t>(c.failures - 1), steps.size() - 1)];
  int64_t duration = std::max(step, o.retry_after_ms);
  c.until_unix_ms = now_ms + duration;
  c.reason = CooldownReason(o, duration, c.failures);
  c.transient = transient;
  return true;
}

bool RouteEngine::ApplyQuotas(const std::string& provider, const QuotaDocument& document, int64_t now_ms) {
  bool changed = false;
  for (const TierConfig& t : config_->tiers) {
    if (t.provider != provider) continue;
    auto found = document.find(t.health_key);
    double fraction = found == document.end() ? -1 : found->second;
    QuotaRecord& q = quotas_[Key(provider, t.health_key)];
    q.provider = provider;
    q.key = t.health_key;
    bool low = QuotaLowAfter(q.quota_low, fraction);
    if (q.remaining_fraction != fraction || q.quota_low != low) changed = true;
    q.remaining_fraction = fraction;
    q.quota_low = low;
    q.updated_unix_ms = now_ms;
  }
  return changed;
}

std::optional<int64_t> RouteEngine::NextExpiry(int64_t now_ms) const {
  std::optional<int64_t> next;
  for (const auto& [key, c] : cooldowns_) {
    if (c.until_unix_ms > now_ms && (!next || c.until_unix_ms < *next)) next = c.until_unix_ms;
  }
  return next;
}

RouteTableData RouteEngine::Build(int64_t now_ms) const {
  const FallbackConfig& cfg = *config_;
  RouteTableData d;
  d.enabled = cfg.enabled;
  d.providers = cfg.providers;
  d.generated_unix_ms = now_ms;
  d.tiers.reserve(cfg.tiers.size());
  for (const TierConfig& t : cfg.tiers) {
    TierView v;
    v.name = t.name;
    v.model = t.model;
    v.provider = t.provider;
    v.max_tokens_limit = t.max_tokens_limit;
    v.capabilities = t.capabilities;
    const ProviderConfig* p = cfg.FindProvider(t.provider);
    v.quota_polled = p != nullptr && !p->quota_url.empty();
    if (auto q = quotas_.find(Key(t.provider, t.health_key)); q != quotas_.end()) {
      v.remaining_fraction = q->second.remaining_fraction;
      v.quota_low = q->second.quota_low;
    }
    // The model's own cooldown and the provider's (credential) one: the later end wins.
    for (const std::string& second : {t.model, std::string()}) {
      auto c = cooldowns_.find(Key(t.provider, second));
      if (c == cooldowns_.end()) continue;
      if (!second.empty()) v.consecutive_failures = c->second.failures;
      if (c->second.until_unix_ms > now_ms && c->second.until_unix_ms > v.cooldown_until_unix_ms) {
        v.cooldown_until_unix_ms = c->second.until_unix_ms;
        v.cooldown_reason = c->second.reason;
        v.cooldown_transient = c->second.transient;
        v.consecutive_failures = std::max(v.consecutive_failures, c->second.failures);
      }
    }
    v.available = v.cooldown_until_unix_ms == 0;
    d.tiers.push_back(std::move(v));
  }
  if (!cfg.enabled) return d;

  const auto n = static_cast<int32_t>(d.tiers.size());
  // Available tiers with quota first, then those low on quota, each group in the given order.
  auto order = [&](int32_t first) {
    std::vector<int32_t> with, low;
    auto add = [&](int32_t j) {
      if (d.tiers[j].available) (d.tiers[j].quota_low ? low : with).push_back(j);
    };
    if (first >= 0) add(first);
    for (int32_t j = 0; j < n; ++j) {
      if (j != first) add(j);
    }
    with.insert(with.end(), low.begin(), low.end());
    return with;
  };
  std::string min_pct = Percent(cfg.min_remaining_fraction);
  std::string recover_pct = Percent(std::min(cfg.min_remaining_fraction + cfg.quota_recovery_margin, 1.0));

  for (int32_t i = 0; i < n; ++i) {
    const TierView& own = d.tiers[i];
    if (d.plans.count(own.model) != 0) continue;  // the first tier naming a model is its own
    PlanView plan;
    plan.tiers = order(i);
    std::string why;
    if (!own.available) {
      why = "tier " + own.name + " is cooling down (" + own.cooldown_reason + ")";
    } else if (own.quota_low) {
      why = own.remaining_fraction >= cfg.min_remaining_fraction
                ? own.model + " quota " + Percent(own.remaining_fraction) + " has not recovered to " + recover_pct
                : own.model + " quota " + Percent(own.remaining_fraction) + " < " + min_pct;
    }
    if (plan.tiers.empty()) {
      plan.reason = (why.empty() ? "" : why + ": ") + "no tier available, every tier is cooling down";
    } else if (plan.tiers[0] == i) {
      if (own.quota_low) {
        plan.reason = why + "; every available tier is low on quota: starting at tier " + own.name;
      } else if (own.remaining_fraction >= 0) {
        plan.reason = "tier " + own.name + " has quota (" + Percent(own.remaining_fraction) + ")";
      } else {
        plan.reason = "tier " + own.name + (own.quota_polled ? " (quota unknown)" : " (no quota endpoint)");
      }
    } else {
      const TierView& first = d.tiers[plan.tiers[0]];
      plan.reason = why + ": starting at tier " + first.name;
      if (first.quota_low) plan.reason += " (every available tier is low on quota)";
    }
    d.plans.emplace(own.model, std::move(plan));
  }
  d.default_plan.tiers = order(-1);
  d.default_plan.reason = d.default_plan.tiers.empty()
                              ? "models outside the chain: the default upstream only, every tier is cooling down"
                              : "models outside the chain: the default upstream as asked, then the chain";
  return d;
}

EngineState RouteEngine::Export() const {
  EngineState s;
  for (const auto& [key, q] : quotas_) s.quotas.push_back(q);
  for (const auto& [key, c] : cooldowns_) s.cooldowns.push_back(c);
  return s;
}

void RouteEngine::Import(const EngineState& state) {
  quotas_.clear();
  cooldowns_.clear();
  for (const QuotaRecord& q : state.quotas) quotas_[Key(q.provider, q.key)] = q;
  for (const CooldownRecord& c : state.cooldowns) cooldowns_[Key(c.provider, c.model)] = c;
  Prune();
}

}  // namespace luna::fallbacksvc
