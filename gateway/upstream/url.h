#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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

// True if the path of a request target (query ignored) has a "." or ".." segment, also when its
// dots or slashes are percent-encoded or its separator is a backslash. Such a path is never relayed:
// an upstream (or a proxy before it) that resolves it would be asked for a path outside /v1 with
// the gateway's own upstream credential.
bool HasDotSegment(std::string_view target);

}  // namespace luna::gateway
