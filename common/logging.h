#pragma once

#include <string>

namespace luna {

// Sets up spdlog for a binary: one line per record to stderr, "[time] [service] [level] message", or
// with LOG_FORMAT=json one JSON object per line ({"time","service","level","msg"}); level from
// LOG_LEVEL (trace, debug, info, warn, error; default info).
void SetupLogging(const std::string& service);

}  // namespace luna
