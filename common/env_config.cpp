#include "common/env_config.h"

#include <algorithm>
#include <cstdlib>
#include <string_view>

namespace luna {

std::string EnvString(const char* name, const std::string& def) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return def;
  return v;
}

absl::StatusOr<int64_t> EnvInt(const char* name, int64_t def, int64_t min, int64_t max) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return def;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0') {
    return absl::InvalidArgumentError(std::string(name) + ": not an integer: \"" + v + "\"");
  }
  if (n < min || n > max) {
    return absl::InvalidArgumentError(std::string(name) + ": " + v + " is out of range [" +
                                      std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return static_cast<int64_t>(n);
}

absl::StatusOr<bool> EnvBool(const char* name, bool def) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return def;
  std::string s(v);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  return absl::InvalidArgumentError(std::string(name) + ": expected true or false, got \"" + v + "\"");
}

absl::StatusOr<HostPort> ParseHostPort(const std::string& value, const std::string& what) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(what + ": expected host:port, got \"" + value + "\"");
  }
  HostPort hp;
  hp.host = value.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  if (hp.host.empty()) hp.host = "0.0.0.0";
  std::string port = value.substr(colon + 1);
  char* end = nullptr;
  long n = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || n < 0 || n > 65535) {
    return absl::InvalidArgumentError(what + ": bad port in \"" + value + "\"");
  }
  hp.port = static_cast<uint16_t>(n);
  return hp;
}

}  // namespace luna
