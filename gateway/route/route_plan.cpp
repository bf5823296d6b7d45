#include "gateway/route/route_plan.h"

#include <time.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <limits>

#include "gateway/convert/json_scan.h"

namespace luna::gateway {

namespace {

// `needle` as a whole JSON string (its quotes not escaped) somewhere in `body`.
bool HasJsonString(std::string_view body, std::string_view quoted_needle) {
  size_t pos = 0;
  while ((pos = body.find(quoted_needle, pos)) != std::string_view::npos) {
    if (pos == 0 || body[pos - 1] != '\\') return true;
    pos += quoted_needle.size();
  }
  return false;
}

bool NonEmptyArray(std::string_view body, std::string_view key) {
  auto span = FindTopLevelMember(body, key);
  if (!span) return false;
  std::string_view v = body.substr(span->begin, span->end - span->begin);
  if (v.empty() || v.front() != '[') return false;
  return v.find_first_not_of(" \t\r\n", 1) != std::string_view::npos && v[v.find_first_not_of(" \t\r\n", 1)] != ']';
}

bool Fits(const TierCaps& caps, const RequestNeeds& needs, std::string* why) {
  if (needs.tools && !caps.tools) {
    *why = "cannot take tools";
  } else if (needs.images && !caps.images) {
    *why = "cannot take images";
  } else if (needs.thinking && !caps.thinking) {
    *why = "cannot think";
  } else if (caps.context_window && needs.estimated_input_tokens > *caps.context_window) {
    *why = "context window " + std::to_string(*caps.context_window) + " tokens too small";
  } else {
    return true;
  }
  return false;
}

std::string Lower(std::string_view s) {
  std::string out(s.substr(0, 4096));
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool Mentions(const std::string& lower, std::initializer_list<std::string_view> words) {
  for (auto w : words) {
    if (lower.find(w) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

RequestNeeds ReadRequestNeeds(WireFormat api, std::string_view body) {
  RequestNeeds n;
  n.tools = NonEmptyArray(body, "tools");
  n.images = HasJsonString(body, "\"image\"") || HasJsonString(body, "\"image_url\"");
  if (api == WireFormat::kAnthropic) {
    auto span = FindTopLevelMember(body, "thinking");
    n.thinking = span && body.substr(span->begin, span->end - span->begin).find("disabled") == std::string_view::npos &&
                 body.substr(span->begin, span->end - span->begin) != "null";
  } else {
    auto effort = TopLevelString(body, "reasoning_effort");
    n.thinking = effort && *effort != "none";
  }
  n.estimated_input_tokens = static_cast<int64_t>(body.size() / 4);
  return n;
}

namespace {

std::string TargetKey(std::string_view provider, std::string_view model) {
  std::string k(provider);
  k.push_back('\0');
  k.append(model);
  return k;
}

}  // namespace

void FinishCompiling(CompiledRoutes* routes) {
  routes->target_id_of.clear();
  for (auto& tier : routes->tiers) {
    if (tier.target.model.empty()) {
      tier.target_id = -1;
      continue;
    }
    auto [it, fresh] = routes->target_id_of.emplace(TargetKey(tier.target.provider, tier.target.model),
                                                    static_cast<int>(routes->target_id_of.size()));
    tier.target_id = it->second;
  }
  routes->target_ids = static_cast<int>(routes->target_id_of.size());
  // Each model's plan, ready for the request path (see RoutePlanEntry::ready). PlanRoute with `now` 0
  // treats every cooldown as running, which is what it sees until the first of them ends.
  static const UpstreamTarget kUnused;  // a model with a plan of its own never goes to the default target
  std::vector<char> planned(routes->tiers.size());
  for (auto& [model, entry] : routes->plans) {
    std::fill(planned.begin(), planned.end(), 0);
    bool needs_matter = false;
    for (int index : entry.tiers) {
      if (index < 0 || static_cast<size_t>(index) >= routes->tiers.size()) continue;
      planned[static_cast<size_t>(index)] = 1;
      needs_matter = needs_matter || routes->tiers[static_cast<size_t>(index)].caps.Restricts();
    }
    int64_t until = std::numeric_limits<int64_t>::max();
    for (size_t i = 0; i < routes->tiers.size(); ++i) {
      const RouteTier& tier = routes->tiers[i];
      if (planned[i] || tier.available || tier.cooldown_until_unix_ms == 0) continue;
      // A tier PlanRoute may add from outside the plan: its cooldown's end changes the plan.
      until = std::min(until, tier.cooldown_until_unix_ms);
      needs_matter = needs_matter || tier.caps.Restricts();
    }
    entry.needs_matter = needs_matter;
    entry.ready_until_unix_ms = until;
    entry.ready = std::make_shared<const RoutePlan>(PlanRoute(routes, kUnused, model, nullptr, 0));
  }
}

const RoutePlan* ChooseRoute(const CompiledRoutes* routes, const UpstreamTarget& default_target, std::string_view model,
                             absl::FunctionRef<RequestNeeds()> needs, int64_t now_unix_ms, RoutePlan* scratch) {
  if (routes != nullptr && routes->enabled && !routes->tiers.empty()) {
    if (auto it = routes->plans.find(model); it != routes->plans.end()) {
      const RoutePlanEntry& e = it->second;
      if (e.ready && !e.needs_matter && now_unix_ms < e.ready_until_unix_ms) return e.ready.get();
    }
  }
  std::optional<RequestNeeds> read;
  if (routes != nullptr && routes->enabled && routes->any_caps) read = needs();
  *scratch = PlanRoute(routes, default_target, model, read ? &*read : nullptr, now_unix_ms);
  return scratch;
}

RoutePlan PlanRoute(const CompiledRoutes* routes, const UpstreamTarget& default_target, std::string_view model,
                    const RequestNeeds* needs, int64_t now_unix_ms) {
  RoutePlan plan;
  if (routes == nullptr || !routes->enabled || routes->tiers.empty()) {
    plan.targets.push_back(&default_target);
    return plan;
  }
  // Never the same provider+model twice. Tiers with a model of their own are told apart by the id
  // compiled for them (one pass, whatever the chain's length); a target that sends the model asked for
  // (the default upstream as asked, a tier without a model) is looked up once by name.
  std::vector<char> seen_id(static_cast<size_t>(routes->target_ids), 0);
  std::vector<std::string_view> seen_asked;  // providers that were sent the model asked for, by name
  auto add_with_id = [&](const UpstreamTarget* t, int id) {
    if (id >= 0) {
      if (seen_id[static_cast<size_t>(id)]) return;
      seen_id[static_cast<size_t>(id)] = 1;
    } else {
      for (auto p : seen_asked) {
        if (p == t->provider) return;
      }
      seen_asked.push_back(t->provider);
      // The same provider+model may also be a tier of the chain: mark it, so it is not tried again.
      if (auto it = routes->target_id_of.find(TargetKey(t->provider, model)); it != routes->target_id_of.end()) {
        if (seen_id[static_cast<size_t>(it->second)]) return;
        seen_id[static_cast<size_t>(it->second)] = 1;
      }
    }
    plan.targets.push_back(t);
  };
  auto add = [&](const UpstreamTarget* t) { add_with_id(t, -1); };
  std::vector<bool> planned(routes->tiers.size(), false);
  auto add_tier = [&](int index, bool own) {
    if (index < 0 || static_cast<size_t>(index) >= routes->tiers.size()) return;
    planned[static_cast<size_t>(index)] = true;
    const RouteTier& tier = routes->tiers[static_cast<size_t>(index)];
    std::string why;
    if (!own && needs != nullptr && !Fits(tier.caps, *needs, &why)) {
      plan.skipped.push_back(tier.target.tier + ": " + why);
      return;
    }
    // A tier whose model is the one asked for is also "the model asked for" at its provider.
    int id = tier.target_id;
    if (id >= 0 && tier.target.model == model) {
      for (auto p : seen_asked) {
        if (p == tier.target.provider) return;
      }
      seen_asked.push_back(tier.target.provider);
    }
    add_with_id(&tier.target, id);
  };

  const RoutePlanEntry* entry = nullptr;
  if (auto it = routes->plans.find(model); it != routes->plans.end()) {
    entry = &it->second;
    plan.reason = entry->reason;
    for (int index : entry->tiers) {
      if (index < 0 || static_cast<size_t>(index) >= routes->tiers.size()) continue;
      add_tier(index, routes->tiers[static_cast<size_t>(index)].target.model == model);
    }
  } else {
    add(&default_target);
    for (int index : routes->default_plan.tiers) add_tier(index, false);
  }
  // Tiers left out of the plan: cooling down (tried anyway if that is over by now), or not chosen.
  std::vector<size_t> cooling;
  for (size_t i = 0; i < routes->tiers.size(); ++i) {
    if (planned[i]) continue;
    const RouteTier& tier = routes->tiers[i];
    if (tier.available || tier.cooldown_until_unix_ms == 0) continue;
    if (tier.cooldown_until_unix_ms <= now_unix_ms) {
      add_tier(static_cast<int>(i), entry != nullptr && tier.target.model == model);
      continue;
    }
    cooling.push_back(i);
  }
  // Nothing else to try: tiers cooled by a connection failure, timeout or server error are tried
  // anyway, in chain order. Refusing would fail the request for sure, while the upstream may well be
  // back (a restart takes a second; the first cooldown step is 30 s), and a success ends the
  // cooldown. Rate limits, spent quota and rejected credentials are still honoured.
  const bool last_resort = plan.targets.empty();
  for (size_t i : cooling) {
    const RouteTier& tier = routes->tiers[i];
    if (last_resort && tier.cooldown_transient) {
      size_t before = plan.targets.size();
      add_tier(static_cast<int>(i), entry != nullptr && tier.target.model == model);
      if (plan.targets.size() > before) continue;
    }
    plan.skipped.push_back(tier.target.tier + ": cooling down (" + tier.cooldown_reason + ")");
    if (plan.earliest_back_unix_ms == 0 || tier.cooldown_until_unix_ms < plan.earliest_back_unix_ms) {
      plan.earliest_back_unix_ms = tier.cooldown_until_unix_ms;
    }
  }
  if (last_resort && !plan.targets.empty()) {
    plan.reason = "every tier is cooling down: trying those cooled by a connection failure, timeout or server error";
  }
  // A reason is only news when the plan does not start at the model asked for.
  if (!plan.targets.empty() && (plan.targets[0]->model.empty() || plan.targets[0]->model == model)) {
    plan.reason.clear();
  }
  return plan;
}

AttemptKind ClassifyAnswer(int status, std::string_view body) {
  if (status < 400) return AttemptKind::kOk;
  std::string lower = Lower(body);
  bool exhausted = Mentions(lower, {"quota", "credit", "balance", "billing", "exhausted", "capacity",
                                    "insufficient_funds", "payment"});
  bool rate = Mentions(lower, {"rate limit", "rate_limit", "ratelimit", "too many requests"});
  switch (status) {
    case 402:
      return AttemptKind::kQuotaExhausted;
    case 429:
      return exhausted ? AttemptKind::kQuotaExhausted : AttemptKind::kRateLimited;
    case 401:
      return AttemptKind::kBadCredential;
    case 403:
      if (exhausted) return AttemptKind::kQuotaExhausted;
      if (rate) return AttemptKind::kRateLimited;
      return AttemptKind::kBadCredential;
    case 400:
      if (exhausted) return AttemptKind::kQuotaExhausted;
      if (rate) return AttemptKind::kRateLimited;
      return AttemptKind::kOk;
    case 503:
    case 529:
      return AttemptKind::kOverloaded;
    default:
      return status >= 500 ? AttemptKind::kServerError : AttemptKind::kOk;
  }
}

bool ShouldFailOver(AttemptKind kind) { return kind != AttemptKind::kOk; }

std::string_view AttemptKindName(AttemptKind kind) {
  switch (kind) {
    case AttemptKind::kOk: return "ok";
    case AttemptKind::kRateLimited: return "rate_limited";
    case AttemptKind::kOverloaded: return "overloaded";
    case AttemptKind::kQuotaExhausted: return "quota_exhausted";
    case AttemptKind::kBadCredential: return "bad_credential";
    case AttemptKind::kTimeout: return "timeout";
    case AttemptKind::kConnectFailed: return "connect_failed";
    case AttemptKind::kServerError: return "server_error";
  }
  return "unknown";
}

int64_t RetryAfterMs(const HeaderList& headers, int64_t now_unix_ms) {
  auto number = [](std::string_view v, double* out) {
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
    return ec == std::errc() && end == v.data() + v.size() && *out >= 0;
  };
  for (const auto& [name, value] : headers) {
    double v = 0;
    if (name == "retry-after-ms" && number(value, &v)) return static_cast<int64_t>(v);
  }
  for (const auto& [name, value] : headers) {
    if (name != "retry-after") continue;
    double v = 0;
    if (number(value, &v)) return static_cast<int64_t>(v * 1000);
    struct tm tm {};
    if (strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) != nullptr) {
      int64_t at = static_cast<int64_t>(timegm(&tm)) * 1000;
      return at > now_unix_ms ? at - now_unix_ms : 0;
    }
  }
  return 0;
}

}  // namespace luna::gateway
