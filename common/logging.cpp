#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "common/env_config.h"

namespace luna {

void SetupLogging(const std::string& service) {
  auto logger = spdlog::stderr_color_mt(service);
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [%n] [%l] %v");
  auto level = spdlog::level::from_str(EnvString("LOG_LEVEL", "info"));
  spdlog::set_level(level);
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace luna
