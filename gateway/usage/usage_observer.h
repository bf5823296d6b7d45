// Watches one /v1/messages or /v1/chat/completions answer on its way to the client and works out the
// usage event for it (tokens, served model, whether it finished); for OpenAI streams where the
// gateway added include_usage on its own, it also hides the usage chunk from the client.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "gateway/upstream/relay_observer.h"
#include "gateway/usage/stream_usage.h"
#include "gateway/usage/usage_meter.h"

namespace luna::gateway {

class UsageObserver : public RelayObserver {
 public:
  // `format`: the upstream answer's format. `hide_usage_chunk`: the client did not ask for
  // include_usage but the gateway did.
  UsageObserver(WireFormat format, bool hide_usage_chunk) : format_(format), hide_usage_chunk_(hide_usage_chunk) {}

  void OnResponseHead(int status, std::string_view content_type) override;
  bool RewritesBody() const override { return filter_.has_value(); }
  std::string_view OnBody(std::string_view piece) override;
  std::string_view OnEnd(bool complete) override;

  int status() const { return status_; }
  bool ended() const { return ended_; }
  bool complete() const { return complete_; }
  // Null before the head arrived.
  const UsageMeter* meter() const { return meter_.get(); }

 protected:
  std::string out_;

 private:
  WireFormat format_;
  bool hide_usage_chunk_;
  int status_ = 0;
  bool ended_ = false;
  bool complete_ = false;
  std::unique_ptr<UsageMeter> meter_;
  std::optional<UsageChunkFilter> filter_;
};

}  // namespace luna::gateway
