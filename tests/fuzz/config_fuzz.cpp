// libFuzzer target for the configuration parsers: the gateway's, usagesvc's and fallbacksvc's
// environment (LoadGatewayConfigFromEnv, UsageConfig::FromEnv, FallbackEnv::FromEnv), fallbacksvc's
// config file (ParseFallbackConfig, both formats), and the value parsers under them (host:port, URLs,
// time zones, ledger dates). The first byte picks the parser; for the environment ones the rest is
// NAME=VALUE lines (only the parsers' own variables are set).
//
// Checked, beyond "no crash": an accepted configuration holds only values in the documented ranges;
// a refused one names what is wrong; the fallback config's tiers and providers are consistent (names
// unique, every tier's provider declared, no provider without a tier) and parsing is deterministic;
// an accepted time zone or date reads back the same from its canonical form.
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/env_config.h"
#include "fallbacksvc/fallback_config.h"
#include "fallbacksvc/fallback_env.h"
#include "gateway/config/gateway_config.h"
#include "gateway/upstream/url.h"
#include "tests/fuzz/fuzz_check.h"
#include "usagesvc/ledger_time.h"
#include "usagesvc/usage_config.h"

namespace {

using luna::fuzz::Fail;

const std::vector<std::string>& Variables() {
  static const std::vector<std::string> v = {
      "GATEWAY_LISTEN", "GATEWAY_THREADS", "UPSTREAM_URL", "UPSTREAM_API_KEY", "UPSTREAM_AUTH_STYLE",
      "UPSTREAM_FORMAT", "MODELS", "UPSTREAM_TLS_VERIFY", "UPSTREAM_CA_FILE", "UPSTREAM_CONNECT_TIMEOUT_MS",
      "UPSTREAM_TIMEOUT_SECONDS", "UPSTREAM_MAX_IDLE_PER_HOST", "AUTHSVC_ADDR", "USAGESVC_ADDR",
      "FALLBACKSVC_ADDR", "UPSTREAM_ATTEMPT_TIMEOUT_SECONDS", "USAGE_SPOOL_FILE", "USAGE_BATCH_SIZE",
      "USAGE_RING_SLOTS",
      "AUTH_OUTAGE_POLICY", "AUTH_NEGATIVE_CACHE_MS", "MAX_BODY_BYTES", "MAX_HEADER_BYTES", "MAX_CONNECTIONS",
      "REQUEST_TIMEOUT_SECONDS", "IDLE_TIMEOUT_SECONDS", "SHUTDOWN_GRACE_SECONDS", "ACCESS_LOG",
      "USAGE_DATA_DIR", "USAGESVC_LISTEN", "USAGESVC_METRICS_LISTEN", "USAGE_TIMEZONE", "USAGE_LEGACY_TIMEZONE",
      "USAGE_DETAIL_RETENTION_DAYS", "USAGE_SNAPSHOT_EVERY_EVENTS", "USAGE_SNAPSHOT_INTERVAL_SECONDS",
      "USAGE_SNAPSHOT_GROWTH_PERCENT",
      "USAGE_TEST_FAIL_WRITES_IF_EXISTS", "FALLBACK_CONFIG", "FALLBACK_STATE_FILE", "FALLBACKSVC_LISTEN",
      "FALLBACKSVC_METRICS_LISTEN", "FALLBACK_HEALTH_TIMEOUT_MS"};
  return v;
}

// Sets the known variables named in `text` ("NAME=VALUE" lines) and clears every other one.
void SetEnvironment(std::string_view text) {
  for (const auto& name : Variables()) unsetenv(name.c_str());
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(line.substr(0, eq));
    std::string value(line.substr(eq + 1));
    if (value.find('\0') != std::string::npos) continue;  // an environment cannot hold it
    for (const auto& known : Variables()) {
      if (known == name) setenv(name.c_str(), value.c_str(), 1);
    }
  }
}

// A refusal must say which variable is wrong.
void MustNameAVariable(const absl::Status& st) {
  for (const auto& name : Variables()) {
    if (st.message().find(name) != std::string_view::npos) return;
  }
  Fail("error names no variable", std::string(st.message()));
}

void CheckGateway() {
  auto c = luna::gateway::LoadGatewayConfigFromEnv();
  if (!c.ok()) return MustNameAVariable(c.status());
  const auto& g = **c;
  auto in = [](int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  if (!in(g.threads, 1, 64) || !in(g.upstream_connect_timeout_ms, 1, 600000) ||
      !in(g.upstream_timeout_s, 1, 86400) || !in(g.upstream_max_idle_per_host, 0, 100000) ||
      !in(g.attempt_timeout_s, 1, 86400) || !in(g.usage_batch_size, 1, 10000) ||
      !in(g.usage_ring_slots, 0, 65536) ||
      !in(g.negative_cache_ms, 0, 3600000) || !in(g.max_body_bytes, 1024, int64_t{1} << 32) ||
      !in(g.max_header_bytes, 1024, 1 << 20) || !in(g.max_connections, 1, 1000000) ||
      !in(g.request_timeout_s, 1, 3600) || !in(g.idle_timeout_s, 1, 86400) || !in(g.shutdown_grace_s, 0, 3600)) {
    Fail("gateway setting out of range", g.listen);
  }
  if (!luna::ParseHostPort(g.listen, "x").ok()) Fail("listen address accepted but unusable", g.listen);
  if (!luna::gateway::ParseUrl(g.upstream_url).ok()) Fail("upstream URL accepted but unusable", g.upstream_url);
  for (const auto& m : g.models) {
    if (m.empty() || m.front() == ' ' || m.back() == ' ' || m.find(',') != std::string::npos) {
      Fail("MODELS entry not split or trimmed", m);
    }
  }
  if (g.usage_spool_file.find("{hostname}") != std::string::npos) Fail("spool file pattern left", g.usage_spool_file);
}

void CheckUsage() {
  auto c = luna::usagesvc::UsageConfig::FromEnv();
  if (!c.ok()) return MustNameAVariable(c.status());
  if (c->detail_retention_days < 0 || c->detail_retention_days > 36500 || c->snapshot_every_events < 0 ||
      c->snapshot_every_events > 1000000000 || c->snapshot_interval_seconds < 0 ||
      c->snapshot_interval_seconds > 1000000 || c->snapshot_growth_percent < 0 || c->snapshot_growth_percent > 1000) {
    Fail("usagesvc setting out of range", c->listen);
  }
  for (const auto* z : {&c->zone, &c->legacy_zone}) {
    if (z->offset_seconds < -14 * 3600 || z->offset_seconds > 14 * 3600) Fail("zone out of range", z->name);
  }
}

void CheckFallbackEnv() {
  auto e = luna::fallbacksvc::FallbackEnv::FromEnv();
  if (!e.ok()) return MustNameAVariable(e.status());
  if (e->health_timeout_ms < 100 || e->health_timeout_ms > 120000) Fail("health timeout out of range", e->listen);
}

void CheckFallbackConfig(std::string_view text) {
  luna::fallbacksvc::ConfigContext ctx;
  ctx.path = "fuzz.json";
  ctx.upstream_url = "http://127.0.0.1:9";
  // Variables named KEY_* exist (api_key_env), others do not.
  ctx.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name.rfind("KEY_", 0) == 0) return "sk-from-" + name;
    return std::nullopt;
  };
  auto c = luna::fallbacksvc::ParseFallbackConfig(text, ctx);
  auto again = luna::fallbacksvc::ParseFallbackConfig(text, ctx);
  if (c.ok() != again.ok() || (!c.ok() && c.status() != again.status())) Fail("parse not deterministic", text);
  if (!c.ok()) {
    if (c.status().message().rfind("fallback config fuzz.json: ", 0) != 0) Fail("error names no file", std::string(c.status().message()));
    return;
  }
  if (c->health_poll_interval_seconds < 1 || c->health_poll_interval_seconds > 86400 ||
      !(c->min_remaining_fraction >= 0 && c->min_remaining_fraction <= 1) ||
      !(c->quota_recovery_margin >= 0 && c->quota_recovery_margin <= 1) || c->cooldown_steps_ms.empty() ||
      c->bad_credential_cooldown_ms < 1) {
    Fail("fallback setting out of range", text);
  }
  for (int64_t ms : c->cooldown_steps_ms) {
    if (ms < 1 || ms > 86400 * 1000) Fail("cooldown step out of range", text);
  }
  std::set<std::string> providers, used, tiers;
  for (const auto& p : c->providers) {
    if (!providers.insert(p.name).second) Fail("provider twice", p.name);
    if (p.format != "anthropic" && p.format != "openai") Fail("provider format", p.format);
    if (!p.base_url.empty() && p.base_url.rfind("http://", 0) != 0 && p.base_url.rfind("https://", 0) != 0) {
      Fail("provider base_url not http(s)", p.base_url);
    }
  }
  for (const auto& t : c->tiers) {
    if (t.name.empty() || t.model.empty()) Fail("tier without name or model", text);
    if (!tiers.insert(t.name).second) Fail("tier name twice", t.name);
    if (t.health_key.empty()) Fail("tier without health key", t.name);
    if (t.max_tokens_limit < 0) Fail("negative max_tokens_limit", t.name);
    if (providers.count(t.provider) == 0 && t.provider != luna::fallbacksvc::kDefaultProvider) {
      Fail("tier's provider not declared", t.provider);
    }
    used.insert(t.provider);
    if (c->FindTier(t.name) != &t) Fail("FindTier", t.name);
  }
  for (const auto& p : providers) {
    if (used.count(p) == 0) Fail("provider without a tier", p);
  }
}

void CheckValues(std::string_view text) {
  std::string s(text);
  if (auto hp = luna::ParseHostPort(s, "x"); hp.ok() && hp->host.empty()) Fail("host:port without host", s);
  if (auto u = luna::gateway::ParseUrl(s); u.ok()) {
    if (u->host.empty() || u->port == 0 || (!u->base_path.empty() && u->base_path.back() == '/')) {
      Fail("URL parts", s);
    }
    auto again = luna::gateway::ParseUrl((u->tls ? "https://" : "http://") + u->HostHeader() + u->base_path);
    if (!again.ok() || again->host != u->host || again->port != u->port || again->base_path != u->base_path) {
      Fail("URL does not read back", s);
    }
  }
  if (auto z = luna::usagesvc::LedgerZone::Parse(text, "X"); z.ok()) {
    auto again = luna::usagesvc::LedgerZone::Parse(z->name, "X");
    if (!again.ok() || again->offset_seconds != z->offset_seconds || again->name != z->name) {
      Fail("zone does not read back", s);
    }
    luna::usagesvc::ParseIsoTimeMs(text, *z);
  }
  if (auto d = luna::usagesvc::ParseDay(text)) {
    if (luna::usagesvc::FormatDay(*d) != text) Fail("day does not read back", s);
  }
  if (auto h = luna::usagesvc::ParseHour(text)) {
    if (luna::usagesvc::FormatHour(*h) != text) Fail("hour does not read back", s);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      SetEnvironment(rest);
      CheckGateway();
      break;
    case 1:
      SetEnvironment(rest);
      CheckUsage();
      break;
    case 2:
      SetEnvironment(rest);
      CheckFallbackEnv();
      break;
    case 3:
      CheckFallbackConfig(rest);
      break;
    case 4:
      CheckValues(rest);
      break;
  }
  return 0;
}
