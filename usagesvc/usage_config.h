// usagesvc's configuration, read once from the environment.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "usagesvc/ledger_time.h"

namespace luna::usagesvc {

struct UsageConfig {
  std::string data_dir = "./usage-data";        // USAGE_DATA_DIR
  std::string listen = "0.0.0.0:8182";          // USAGESVC_LISTEN
  std::string authsvc_addr = "127.0.0.1:8181";  // AUTHSVC_ADDR
  std::optional<std::string> metrics_listen;    // USAGESVC_METRICS_LISTEN (0.0.0.0:8192; off = nullopt)
  LedgerZone zone;                              // USAGE_TIMEZONE (UTC)
  LedgerZone legacy_zone{8 * 3600, "+08:00"};   // USAGE_LEGACY_TIMEZONE (+08:00)
  int64_t detail_retention_days = 30;           // USAGE_DETAIL_RETENTION_DAYS, 0..36500
  int64_t snapshot_every_events = 100000;       // USAGE_SNAPSHOT_EVERY_EVENTS, 0 (off)..10^9
  int64_t snapshot_interval_seconds = 3600;     // USAGE_SNAPSHOT_INTERVAL_SECONDS, 0 (off)..10^6
  int64_t snapshot_growth_percent = 50;         // USAGE_SNAPSHOT_GROWTH_PERCENT, 0 (off)..1000
  std::string fail_writes_if_exists;            // USAGE_TEST_FAIL_WRITES_IF_EXISTS (tests only)

  // InvalidArgument naming the variable for a bad value.
  static absl::StatusOr<UsageConfig> FromEnv();
};

}  // namespace luna::usagesvc
