// The fallback chain (FALLBACK_CONFIG), parsed and validated into a typed, immutable config.
//
// Two formats are read (fallbacksvc/README.md has examples):
//   - the old proxy's: `enabled`, `health_poll_interval_seconds`, `min_remaining_fraction`,
//     `tiers[{name, model, type, health_key, base_url, api_key, max_tokens_limit}]`. Unknown fields are
//     warnings (the file must load as the old proxy wrote it).
//   - the extended one, chosen by a top-level `providers` array: providers are declared once and tiers
//     reference them by name, with per-tier `capabilities`. Unknown fields are errors.
// Both accept the tuning fields `quota_recovery_margin`, `cooldown_steps_seconds` and
// `bad_credential_cooldown_seconds`.
//
// Pure: no file or environment access except through ConfigContext.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace luna::fallbacksvc {

// The provider name of the default upstream (the gateway's UPSTREAM_URL).
inline constexpr const char* kDefaultProvider = "upstream";

struct ProviderConfig {
  std::string name;
  std::string base_url;     // "" = the default upstream; otherwise absolute http(s), without "/v1"
  std::string format;       // "anthropic" | "openai"
  std::string api_key;      // resolved credential; "" = none (default upstream: the gateway's own)
  std::string api_key_env;  // where it came from, for status ("" = inline or none)
  std::string auth_style;   // "" (by format) | "x-api-key" | "bearer"
  std::string quota_url;    // "" = no quota endpoint
  bool IsDefaultUpstream() const { return base_url.empty(); }
  bool operator==(const ProviderConfig&) const = default;
};

// What a tier's model can take; absent = yes / no limit.
struct Capabilities {
  std::optional<int64_t> context_window;
  std::optional<bool> tools;
  std::optional<bool> images;
  std::optional<bool> thinking;
  bool operator==(const Capabilities&) const = default;
};

struct TierConfig {
  std::string name;
  std::string model;
  std::string provider;          // ProviderConfig::name
  std::string health_key;        // the model's name in the provider's quota document (default: model)
  int64_t max_tokens_limit = 0;  // 0 = none
  Capabilities capabilities;
};

struct FallbackConfig {
  bool enabled = true;
  int health_poll_interval_seconds = 30;  // 1..86400
  double min_remaining_fraction = 0.1;    // 0..1: below it a tier's quota is low
  // A low tier counts as recovered at min_remaining_fraction + this (capped at 1): hysteresis, so a
  // quota hovering at the threshold does not flip routes at every poll.
  double quota_recovery_margin = 0.05;
  // Cooldown after the 1st, 2nd, ... consecutive failure of a (provider, model); the last repeats.
  std::vector<int64_t> cooldown_steps_ms = {30000, 60000, 300000};
  // A rejected provider credential cools all of the provider's tiers until the config is reloaded,
  // or at most this long.
  int64_t bad_credential_cooldown_ms = 3600 * 1000;
  std::vector<ProviderConfig> providers;  // only those some tier uses, in order of first use
  std::vector<TierConfig> tiers;          // chain order
  bool extended = false;                  // read in the extended format
  std::vector<std::string> warnings;      // non-fatal findings, each naming the field

  const ProviderConfig* FindProvider(std::string_view name) const;
  const TierConfig* FindTier(std::string_view name) const;
};

// What parsing needs from outside.
struct ConfigContext {
  std::string path;          // for messages
  std::string upstream_url;  // UPSTREAM_URL: the default upstream's quota endpoint is this + "/health"
  // Reads an environment variable (api_key_env); nullopt when unset.
  std::function<std::optional<std::string>(const std::string&)> getenv;
};

// Parses and validates `text`. InvalidArgument "fallback config <path>: <field>: <problem>; ..." listing
// every problem found.
absl::StatusOr<FallbackConfig> ParseFallbackConfig(std::string_view text, const ConfigContext& context);

// Reads context.path and parses it. A missing file is not an error: fallback is then disabled (with a
// warning saying so), since the old proxy also ran without one.
absl::StatusOr<FallbackConfig> LoadFallbackConfig(const ConfigContext& context);

// ConfigContext::getenv reading the process environment.
std::optional<std::string> ProcessEnv(const std::string& name);

}  // namespace luna::fallbacksvc
