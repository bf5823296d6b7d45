// Decides the answer to one request: the LLM endpoints, the generic pass-through echo, /health and
// the /_control API. No sockets: takes a parsed request, returns a ResponsePlan.
#pragma once

#include <string_view>

#include "fake_response.h"
#include "fake_state.h"

namespace luna::fake {

struct IncomingRequest {
  std::string_view method;  // "POST", "GET", ...
  std::string_view target;  // path and query, as received
  HeaderList headers;       // as received (any case)
  std::string_view body;
};

// Percent-decodes a path segment ("%2F" -> "/"); malformed escapes are kept literally.
std::string UrlDecode(std::string_view s);

class FakeRouter {
 public:
  explicit FakeRouter(FakeState& state) : state_(state) {}

  // Thread-safe; the views in `request` need only live for the duration of the call.
  ResponsePlan Handle(const IncomingRequest& request);

  // The answer to a request that could not be read (malformed, too large): an error in the format
  // of the API `target` belongs to, sent with `connection: close`.
  ResponsePlan Reject(std::string_view target, int status, std::string_view message);

  // Called by the server once every byte of `plan` was written; counts its usage.
  void Completed(const ResponsePlan& plan);

 private:
  ResponsePlan HandleControl(const IncomingRequest& request, std::string_view path, uint64_t n);
  ResponsePlan HandleModelCall(const IncomingRequest& request, Api api, uint64_t n);

  FakeState& state_;
};

}  // namespace luna::fake
