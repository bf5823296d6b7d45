// Absolute http:// and https:// URLs, as the config's base_url and quota_url and the poller need them.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace luna::fallbacksvc {

struct HttpUrl {
  bool tls = false;
  std::string host;    // without brackets for IPv6
  uint16_t port = 0;   // explicit or the scheme's default
  std::string target;  // path + query, at least "/"
  // "host" or "host:port" when the port is not the scheme's default: the Host header.
  std::string HostHeader() const;
};

// InvalidArgument with a short reason ("not http:// or https://", "empty host", "bad port").
absl::StatusOr<HttpUrl> ParseHttpUrl(const std::string& text);

}  // namespace luna::fallbacksvc
