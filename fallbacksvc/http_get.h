// A blocking HTTP(S) GET with an overall deadline, for the quota poller. The only file of fallbacksvc
// that includes Boost.Beast (its headers are slow to compile).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace luna::fallbacksvc {

struct HttpGetResult {
  int status = 0;
  std::string body;
};

// GETs `url` (http:// or https://; TLS peers are verified against the system's CA store and the host
// name). Fails with DeadlineExceeded after `timeout` in all (resolve, connect, TLS, send, receive),
// Unavailable for network errors, InvalidArgument for a bad URL. Bodies over 4 MB are refused.
absl::StatusOr<HttpGetResult> HttpGet(const std::string& url,
                                      const std::vector<std::pair<std::string, std::string>>& headers,
                                      std::chrono::milliseconds timeout);

}  // namespace luna::fallbacksvc
