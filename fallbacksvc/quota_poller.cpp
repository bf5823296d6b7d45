#include "fallbacksvc/quota_poller.h"

#include "fallbacksvc/quota_document.h"

namespace luna::fallbacksvc {

QuotaPoller::QuotaPoller(RouteKeeper* keeper, Options options) : keeper_(keeper), options_(std::move(options)) {
  thread_ = std::thread([this] { Loop(); });
}

QuotaPoller::~QuotaPoller() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void QuotaPoller::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

std::vector<std::pair<std::string, std::string>> QuotaPoller::HeadersFor(const ProviderConfig& provider,
                                                                         const std::string& upstream_api_key) {
  std::string key = provider.api_key;
  if (key.empty() && provider.IsDefaultUpstream()) key = upstream_api_key;
  if (key.empty()) return {};
  std::string style = provider.auth_style;
  if (style.empty()) style = provider.format == "openai" ? "bearer" : "x-api-key";
  if (style == "bearer") return {{"authorization", "Bearer " + key}};
  return {{"x-api-key", key}};
}

void QuotaPoller::PollOnce(const FallbackConfig& config) {
  for (const ProviderConfig& p : config.providers) {
    if (p.quota_url.empty()) continue;
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    auto answer = options_.fetch(p.quota_url, HeadersFor(p, options_.upstream_api_key), options_.timeout);
    absl::StatusOr<QuotaDocument> document;
    const char* result = "ok";
    if (!answer.ok()) {
      document = answer.status();
      result = "unreachable";
    } else if (answer->status < 200 || answer->status > 299) {
      document = absl::UnavailableError("GET " + p.quota_url + ": HTTP " + std::to_string(answer->status));
      result = "http_error";
    } else {
      document = ParseQuotaDocument(answer->body);
      if (!document.ok()) result = "bad_document";
    }
    if (options_.counters != nullptr) options_.counters->QuotaPolled(p.name, result);
    keeper_->RecordPoll(p.name, document);
  }
}

void QuotaPoller::Loop() {
  while (true) {
    std::shared_ptr<const FallbackConfig> config = keeper_->config();
    // Disabled: nothing routes by quota, so nothing is polled (the old proxy did the same).
    if (config->enabled) PollOnce(*config);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(config->health_poll_interval_seconds), [this] { return stop_ || wake_; });
    if (stop_) return;
    wake_ = false;
  }
}

}  // namespace luna::fallbacksvc
