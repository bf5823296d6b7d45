// The counters fallbacksvc keeps for GET /metrics. Thread-safe, and never under the RouteKeeper's
// lock's influence: outcome counts (every ReportOutcomes) are atomics; the labelled counters that
// move only on rare events (a cooldown starting, a quota poll, a reload, a state file write) share a
// small mutex of their own.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "common/prometheus_text.h"
#include "fallbacksvc/route_engine.h"

namespace luna::fallbacksvc {

class FallbackCounters {
 public:
  void OutcomeReported(OutcomeKind kind);
  // A cooldown started on `tier`; `reason` is the outcome kind's name (rate_limited, ...).
  void CooldownEntered(std::string_view tier, std::string_view reason);
  // A quota poll of `provider` ended: ok, unreachable, http_error or bad_document.
  void QuotaPolled(std::string_view provider, std::string_view result);
  void ConfigReloaded(bool ok);
  void StateFileWritten(bool ok);
  // A new route table was made current (its version is new).
  void RouteTableChanged() { route_tables_.fetch_add(1, std::memory_order_relaxed); }

  uint64_t outcomes(OutcomeKind kind) const;

  // The families, each named `prefix` + "_" + its suffix.
  void Write(prom::TextWriter* out, std::string_view prefix) const;

 private:
  using Pair = std::pair<std::string, std::string>;
  static constexpr size_t kKinds = 9;  // OutcomeKind 1..8; 0 unused

  std::array<std::atomic<uint64_t>, kKinds> outcomes_{};
  std::atomic<uint64_t> route_tables_{0};
  mutable std::mutex mu_;
  std::map<Pair, uint64_t> cooldowns_;     // (tier, reason)
  std::map<Pair, uint64_t> polls_;         // (provider, result)
  std::map<std::string, uint64_t> reloads_;      // result
  std::map<std::string, uint64_t> state_writes_;  // result
};

}  // namespace luna::fallbacksvc
