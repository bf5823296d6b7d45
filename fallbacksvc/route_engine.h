// The routing rules of fallbacksvc: per-tier quota state (with hysteresis), cooldowns from reported
// outcomes (stepwise backoff, retry-after), and the route table built from them.
//
// Pure and single-threaded: no I/O, no clock (every call takes `now_ms`, unix milliseconds), no
// locking. RouteKeeper owns one engine behind its mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fallbacksvc/fallback_config.h"
#include "fallbacksvc/quota_document.h"

namespace luna::fallbacksvc {

// What happened to one upstream attempt (the proto's OutcomeKind, same numbers).
enum class OutcomeKind {
  kOk = 1,
  kRateLimited = 2,
  kOverloaded = 3,
  kQuotaExhausted = 4,
  kBadCredential = 5,
  kTimeout = 6,
  kConnectFailed = 7,
  kServerError = 8,
};
// "ok", "rate_limited", ... as shown in cooldown reasons.
const char* OutcomeKindName(OutcomeKind kind);

struct Outcome {
  std::string tier;      // resolves provider and model when it names a tier of the chain
  std::string provider;  // "" = the default upstream
  std::string model;
  int status = 0;  // HTTP status; 0 = no answer
  OutcomeKind kind = OutcomeKind::kOk;
  int64_t retry_after_ms = 0;
  std::string message;
};

// The state that survives a restart (the state file holds exactly this).
struct QuotaRecord {
  std::string provider;
  std::string key;                 // the tier's health_key
  double remaining_fraction = -1;  // -1 = unknown
  bool quota_low = false;
  int64_t updated_unix_ms = 0;
  bool operator==(const QuotaRecord&) const = default;
};
struct CooldownRecord {
  std::string provider;
  std::string model;          // "" = every model of the provider (a rejected credential)
  int64_t until_unix_ms = 0;  // past = not cooling, but the failure count still backs off the next one
  int32_t failures = 0;       // consecutive, since the last success
  std::string reason;
  // The failure says nothing about quota or limits (a connection failure, a timeout, a server error or
  // a cut answer): when every tier is cooling down the gateway still tries such a tier rather than
  // refusing, and its first success ends the cooldown.
  bool transient = false;
  bool operator==(const CooldownRecord&) const = default;
};
struct EngineState {
  std::vector<QuotaRecord> quotas;
  std::vector<CooldownRecord> cooldowns;
  bool operator==(const EngineState&) const = default;
};

// The route table in domain terms; the gRPC service turns it into luna.fallback.v1.RouteTable.
struct TierView {
  std::string name;
  std::string model;
  std::string provider;
  int64_t max_tokens_limit = 0;
  Capabilities capabilities;
  bool available = true;
  double remaining_fraction = -1;
  bool quota_low = false;
  bool quota_polled = false;  // the provider has a quota endpoint
  int64_t cooldown_until_unix_ms = 0;
  std::string cooldown_reason;
  bool cooldown_transient = false;  // see CooldownRecord::transient
  int32_t consecutive_failures = 0;
  bool operator==(const TierView&) const = default;
};
struct PlanView {
  std::vector<int32_t> tiers;  // indexes into RouteTableData::tiers
  std::string reason;
  bool operator==(const PlanView&) const = default;
};
struct RouteTableData {
  uint64_t version = 0;
  bool enabled = false;
  std::vector<ProviderConfig> providers;
  std::vector<TierView> tiers;
  std::map<std::string, PlanView> plans;  // requested model -> plan
  PlanView default_plan;
  int64_t generated_unix_ms = 0;
  // Equal in everything a gateway routes by (all but version and time).
  bool SameRoutes(const RouteTableData& other) const;
};

class RouteEngine {
 public:
  // A failure more than this long after the previous cooldown ended starts the backoff over.
  static constexpr int64_t kForgetFailuresAfterMs = 15 * 60 * 1000;

  explicit RouteEngine(std::shared_ptr<const FallbackConfig> config);

  const std::shared_ptr<const FallbackConfig>& config() const { return config_; }

  // Puts a new config in force. State no tier uses any more (and quotas of providers no longer polled)
  // is dropped; bad-credential cooldowns are
  // lifted (the reload may carry a new credential); quota_low is re-evaluated against the new threshold.
  void SetConfig(std::shared_ptr<const FallbackConfig> config);

  // Applies one outcome. Returns true if the durable state changed. Outcomes for a (provider, model)
  // no tier uses are ignored.
  //   OK: ends the cooldown and resets the failure count.
  //   BAD_CREDENTIAL: cools every tier of the provider until reload or bad_credential_cooldown_ms.
  //   any other failure: starts a cooldown of cooldown_steps_ms[failures - 1] (the last step repeats),
  //     or retry_after_ms if that is longer. A failure while already cooling (requests that were in
  //     flight) is not a repeat: it only extends the cooldown to its retry-after.
  // `cooled_tiers` (optional) receives the names of the tiers a cooldown newly started on (nothing when
  // a running cooldown was only extended).
  bool ApplyOutcome(const Outcome& outcome, int64_t now_ms, std::vector<std::string>* cooled_tiers = nullptr);

  // Applies a provider's polled quota document to every tier of the provider. A tier whose health_key
  // is absent becomes "unknown" (not low). Returns true if a fraction or a quota_low flag changed.
  // Hysteresis: a tier goes low below min_remaining_fraction and recovers at
  // min(min_remaining_fraction + quota_recovery_margin, 1).
  bool ApplyQuotas(const std::string& provider, const QuotaDocument& document, int64_t now_ms);

  // The earliest cooldown end after `now_ms` (when the table changes by itself), if any.
  std::optional<int64_t> NextExpiry(int64_t now_ms) const;

  // The route table at `now_ms` (version 0: the caller numbers it). O(tiers^2).
  RouteTableData Build(int64_t now_ms) const;

  EngineState Export() const;
  // Replaces the state with `state`, minus what no tier of the config uses.
  void Import(const EngineState& state);

 private:
  static std::string Key(const std::string& provider, const std::string& second) { return provider + '\n' + second; }
  bool QuotaLowAfter(bool was_low, double fraction) const;
  void Prune();

  std::shared_ptr<const FallbackConfig> config_;
  std::map<std::string, QuotaRecord> quotas_;        // Key(provider, health_key)
  std::map<std::string, CooldownRecord> cooldowns_;  // Key(provider, model or "")
};

// "500ms", "30s", "1m", "1m30s", "2h".
std::string FormatDuration(int64_t ms);

// At most `max_bytes` of `s`, never ending inside a UTF-8 character (proto strings must stay valid).
std::string TruncateUtf8(std::string_view s, size_t max_bytes);

}  // namespace luna::fallbacksvc
