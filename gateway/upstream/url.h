#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace luna::gateway {

// An upstream base URL, e.g. "https://api.example.com:8443/prefix".
struct Url {
  bool tls = false;
  std::string host;
  uint16_t port = 0;
  std::string base_path;  // without a trailing slash; "" for none
  // "host" or "host:port" when the port is not the scheme's default: the Host header.
  std::string HostHeader() const;
};

absl::StatusOr<Url> ParseUrl(const std::string& text);

}  // namespace luna::gateway
