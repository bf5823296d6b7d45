// Reading configuration from environment variables: typed, validated, with messages naming the variable.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace luna {

// The variable's value, or `def` when it is unset or empty.
std::string EnvString(const char* name, const std::string& def);

// An integer in [min, max]; InvalidArgument naming the variable otherwise.
absl::StatusOr<int64_t> EnvInt(const char* name, int64_t def, int64_t min, int64_t max);

// true/false/1/0/yes/no/on/off (any case); InvalidArgument otherwise.
absl::StatusOr<bool> EnvBool(const char* name, bool def);

// Splits "host:port" (or "[v6]:port", or ":port" meaning all interfaces). InvalidArgument otherwise.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
absl::StatusOr<HostPort> ParseHostPort(const std::string& value, const std::string& what);

}  // namespace luna
