#include "fallbacksvc/fallback_counters.h"

namespace luna::fallbacksvc {
namespace {

constexpr OutcomeKind kAllKinds[] = {OutcomeKind::kOk,          OutcomeKind::kRateLimited,   OutcomeKind::kOverloaded,
                                     OutcomeKind::kQuotaExhausted, OutcomeKind::kBadCredential, OutcomeKind::kTimeout,
                                     OutcomeKind::kConnectFailed,  OutcomeKind::kServerError};

std::string Name(std::string_view prefix, std::string_view suffix) {
  std::string n(prefix);
  n += '_';
  n += suffix;
  return n;
}

}  // namespace

void FallbackCounters::OutcomeReported(OutcomeKind kind) {
  auto i = static_cast<size_t>(kind);
  if (i < kKinds) outcomes_[i].fetch_add(1, std::memory_order_relaxed);
}

uint64_t FallbackCounters::outcomes(OutcomeKind kind) const {
  auto i = static_cast<size_t>(kind);
  return i < kKinds ? outcomes_[i].load(std::memory_order_relaxed) : 0;
}

void FallbackCounters::CooldownEntered(std::string_view tier, std::string_view reason) {
  std::lock_guard lock(mu_);
  ++cooldowns_[{std::string(tier), std::string(reason)}];
}

void FallbackCounters::QuotaPolled(std::string_view provider, std::string_view result) {
  std::lock_guard lock(mu_);
  ++polls_[{std::string(provider), std::string(result)}];
}

void FallbackCounters::ConfigReloaded(bool ok) {
  std::lock_guard lock(mu_);
  ++reloads_[ok ? "ok" : "error"];
}

void FallbackCounters::StateFileWritten(bool ok) {
  std::lock_guard lock(mu_);
  ++state_writes_[ok ? "ok" : "error"];
}

void FallbackCounters::Write(prom::TextWriter* out, std::string_view prefix) const {
  std::string outcomes = Name(prefix, "outcomes_reported_total");
  out->Family(outcomes, "counter", "Attempt outcomes gateways reported, by kind.");
  for (OutcomeKind k : kAllKinds) out->Sample(outcomes, {{"kind", OutcomeKindName(k)}}, this->outcomes(k));
  out->Counter(Name(prefix, "route_table_changes_total"), "New route tables made current since start.",
               route_tables_.load(std::memory_order_relaxed));

  std::lock_guard lock(mu_);
  std::string cooldowns = Name(prefix, "cooldowns_entered_total");
  out->Family(cooldowns, "counter", "Cooldowns started, by tier and by the outcome kind that started them.");
  for (const auto& [key, n] : cooldowns_) out->Sample(cooldowns, {{"tier", key.first}, {"reason", key.second}}, n);
  std::string polls = Name(prefix, "quota_polls_total");
  out->Family(polls, "counter",
              "Quota polls, by provider and result (ok, unreachable, http_error, bad_document).");
  for (const auto& [key, n] : polls_) out->Sample(polls, {{"provider", key.first}, {"result", key.second}}, n);
  std::string reloads = Name(prefix, "config_reloads_total");
  out->Family(reloads, "counter", "Reloads of FALLBACK_CONFIG (SIGHUP or ReloadConfig), by result.");
  for (const char* r : {"ok", "error"}) {
    auto it = reloads_.find(r);
    out->Sample(reloads, {{"result", r}}, it == reloads_.end() ? uint64_t{0} : it->second);
  }
  std::string writes = Name(prefix, "state_file_writes_total");
  out->Family(writes, "counter", "Writes of FALLBACK_STATE_FILE, by result.");
  for (const char* r : {"ok", "error"}) {
    auto it = state_writes_.find(r);
    out->Sample(writes, {{"result", r}}, it == state_writes_.end() ? uint64_t{0} : it->second);
  }
}

}  // namespace luna::fallbacksvc
