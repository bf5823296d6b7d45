// fallbacksvc's process configuration, read once from the environment. (The fallback chain itself is
// the FALLBACK_CONFIG file: fallback_config.h.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace luna::fallbacksvc {

struct FallbackEnv {
  std::string config_path = "./fallback.json";         // FALLBACK_CONFIG
  std::string state_file = "./fallback-state.json";    // FALLBACK_STATE_FILE
  std::string listen = "0.0.0.0:8183";                 // FALLBACKSVC_LISTEN
  std::optional<std::string> metrics_listen;           // FALLBACKSVC_METRICS_LISTEN (0.0.0.0:8193; off = nullopt)
  std::string upstream_url = "http://127.0.0.1:8080";  // UPSTREAM_URL (the default upstream)
  std::string upstream_api_key;                        // UPSTREAM_API_KEY (x-api-key to its /health)
  std::string authsvc_addr = "127.0.0.1:8181";         // AUTHSVC_ADDR (admin checks)
  int64_t health_timeout_ms = 5000;                    // FALLBACK_HEALTH_TIMEOUT_MS, 100..120000

  // InvalidArgument naming the variable for a bad value.
  static absl::StatusOr<FallbackEnv> FromEnv();
};

}  // namespace luna::fallbacksvc
