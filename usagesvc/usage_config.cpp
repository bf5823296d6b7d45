#include "usagesvc/usage_config.h"

#include "common/env_config.h"
#include "common/service_metrics.h"

namespace luna::usagesvc {

absl::StatusOr<UsageConfig> UsageConfig::FromEnv() {
  UsageConfig c;
  c.data_dir = EnvString("USAGE_DATA_DIR", c.data_dir);
  c.listen = EnvString("USAGESVC_LISTEN", c.listen);
  if (auto hp = ParseHostPort(c.listen, "USAGESVC_LISTEN"); !hp.ok()) return hp.status();
  c.authsvc_addr = EnvString("AUTHSVC_ADDR", c.authsvc_addr);
  if (auto hp = ParseHostPort(c.authsvc_addr, "AUTHSVC_ADDR"); !hp.ok()) return hp.status();
  auto metrics = MetricsListenFromEnv("USAGESVC_METRICS_LISTEN", "0.0.0.0:8192");
  if (!metrics.ok()) return metrics.status();
  c.metrics_listen = *metrics;
  auto zone = LedgerZone::Parse(EnvString("USAGE_TIMEZONE", "UTC"), "USAGE_TIMEZONE");
  if (!zone.ok()) return zone.status();
  c.zone = *zone;
  auto legacy = LedgerZone::Parse(EnvString("USAGE_LEGACY_TIMEZONE", "+08:00"), "USAGE_LEGACY_TIMEZONE");
  if (!legacy.ok()) return legacy.status();
  c.legacy_zone = *legacy;
  auto retention = EnvInt("USAGE_DETAIL_RETENTION_DAYS", c.detail_retention_days, 0, 36500);
  if (!retention.ok()) return retention.status();
  c.detail_retention_days = *retention;
  auto every = EnvInt("USAGE_SNAPSHOT_EVERY_EVENTS", c.snapshot_every_events, 0, 1000000000);
  if (!every.ok()) return every.status();
  c.snapshot_every_events = *every;
  auto interval = EnvInt("USAGE_SNAPSHOT_INTERVAL_SECONDS", c.snapshot_interval_seconds, 0, 1000000);
  if (!interval.ok()) return interval.status();
  c.snapshot_interval_seconds = *interval;
  auto growth = EnvInt("USAGE_SNAPSHOT_GROWTH_PERCENT", c.snapshot_growth_percent, 0, 1000);
  if (!growth.ok()) return growth.status();
  c.snapshot_growth_percent = *growth;
  c.fail_writes_if_exists = EnvString("USAGE_TEST_FAIL_WRITES_IF_EXISTS", "");
  return c;
}

}  // namespace luna::usagesvc
