// Shared between the router's translation units; not part of the gateway's interface.
#pragma once

#include <string>
#include <string_view>

#include "gateway/api/errors.h"
#include "gateway/api/router.h"

namespace luna::gateway {

// What one request did, for its log line.
struct Router::Outcome {
  ApiFlavor flavor = ApiFlavor::kGeneric;
  int status = 0;
  std::string key_id;
  std::string model;
  int64_t upstream_us = -1;
  std::string note;
  std::string request_id;  // x-request-id: the client's, or made here
  std::string tier;        // the fallback tier that answered ("" = the default upstream)
  bool stream = false;     // a streaming model call
  // The key's policy and limiter (see KeyEntry), when it has any.
  std::shared_ptr<const KeyPolicy> policy;
  std::shared_ptr<KeyLimiter> limiter;
};

// What ExtractCredential gives for a credential that cannot be a key (bytes outside printable
// ASCII): a string no key equals, so it is refused as an unknown key (401).
inline constexpr std::string_view kUnusableCredential = "unusable-credential";

// The credential a request carries: x-api-key, else Authorization: Bearer. Empty if none.
std::string ExtractCredential(const Request& req);

// Writes an error in the caller's format and records the status in `out`.
Awaitable<bool> WriteError(beast::tcp_stream& stream, const Request& req, Router::Outcome& out, int status,
                           std::string_view message, bool keep_alive = true,
                           HeaderList extra_headers = {});

// A 429 for a key's rate limit or budget, with retry-after.
Awaitable<bool> WriteLimitError(beast::tcp_stream& stream, const Request& req, Router::Outcome& out,
                                const LimitDecision& decision, bool keep_alive = true);

}  // namespace luna::gateway
