// The hook through which other layers watch (and may rewrite) an upstream answer as it is relayed.
// Kept free of Beast/Asio so pure code can implement it.
#pragma once

#include <string_view>

namespace luna::gateway {

// Sees — and may rewrite — an upstream answer while it is relayed. Called on the relaying coroutine.
class RelayObserver {
 public:
  virtual ~RelayObserver() = default;
  // The upstream's status and Content-Type, before anything goes to the client.
  virtual void OnResponseHead(int status, std::string_view content_type) = 0;
  // True if OnBody may return other bytes than it was given (the answer is then sent chunked).
  virtual bool RewritesBody() const = 0;
  // Each piece of the body as it arrives; returns the bytes to send to the client instead.
  virtual std::string_view OnBody(std::string_view piece) = 0;
  // The body ended: `complete` is false when the upstream broke off or the client went away. Returns
  // bytes to send to the client after the rest (a converted stream's last events, or the error event
  // that ends a cut one); they stay valid until the observer is destroyed.
  virtual std::string_view OnEnd(bool complete) = 0;
};

}  // namespace luna::gateway
