#include "fallbacksvc/fallback_env.h"

#include "common/env_config.h"
#include "common/service_metrics.h"
#include "fallbacksvc/http_url.h"

namespace luna::fallbacksvc {

absl::StatusOr<FallbackEnv> FallbackEnv::FromEnv() {
  FallbackEnv e;
  e.config_path = EnvString("FALLBACK_CONFIG", e.config_path);
  e.state_file = EnvString("FALLBACK_STATE_FILE", e.state_file);
  e.listen = EnvString("FALLBACKSVC_LISTEN", e.listen);
  if (auto hp = ParseHostPort(e.listen, "FALLBACKSVC_LISTEN"); !hp.ok()) return hp.status();
  auto metrics = MetricsListenFromEnv("FALLBACKSVC_METRICS_LISTEN", "0.0.0.0:8193");
  if (!metrics.ok()) return metrics.status();
  e.metrics_listen = *metrics;
  e.upstream_url = EnvString("UPSTREAM_URL", e.upstream_url);
  if (auto url = ParseHttpUrl(e.upstream_url); !url.ok()) {
    return absl::InvalidArgumentError("UPSTREAM_URL: " + std::string(url.status().message()));
  }
  e.upstream_api_key = EnvString("UPSTREAM_API_KEY", "");
  e.authsvc_addr = EnvString("AUTHSVC_ADDR", e.authsvc_addr);
  if (auto hp = ParseHostPort(e.authsvc_addr, "AUTHSVC_ADDR"); !hp.ok()) return hp.status();
  auto timeout = EnvInt("FALLBACK_HEALTH_TIMEOUT_MS", e.health_timeout_ms, 100, 120000);
  if (!timeout.ok()) return timeout.status();
  e.health_timeout_ms = *timeout;
  return e;
}

}  // namespace luna::fallbacksvc
