#include "gateway/usage/usage_observer.h"

namespace luna::gateway {

void UsageObserver::OnResponseHead(int status, std::string_view content_type) {
  status_ = status;
  bool sse = content_type.find("text/event-stream") != std::string_view::npos;
  meter_ = std::make_unique<UsageMeter>(format_, sse);
  if (sse && hide_usage_chunk_ && format_ == WireFormat::kOpenAI) filter_.emplace();
}

std::string_view UsageObserver::OnBody(std::string_view piece) {
  if (meter_) meter_->Feed(piece);
  if (!filter_) return piece;
  out_ = filter_->Feed(piece);
  return out_;
}

std::string_view UsageObserver::OnEnd(bool complete) {
  ended_ = true;
  complete_ = complete;
  if (meter_) meter_->Finish();
  return {};
}

}  // namespace luna::gateway
