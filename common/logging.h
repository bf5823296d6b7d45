#pragma once

#include <string>

namespace luna {

// Sets up spdlog for a binary: one line per record to stderr, "[time] [service] [level] message",
// level from LOG_LEVEL (trace, debug, info, warn, error; default info).
void SetupLogging(const std::string& service);

}  // namespace luna
