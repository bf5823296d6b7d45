// Polls each provider's quota endpoint every health_poll_interval_seconds on its own thread and hands
// the results to the RouteKeeper. A failed poll is recorded and the last known quota stays.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fallbacksvc/http_get.h"
#include "fallbacksvc/route_keeper.h"

namespace luna::fallbacksvc {

class QuotaPoller {
 public:
  using Fetch = std::function<absl::StatusOr<HttpGetResult>(
      const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
      std::chrono::milliseconds timeout)>;

  struct Options {
    std::chrono::milliseconds timeout{5000};  // per request
    std::string upstream_api_key;             // sent as x-api-key to the default upstream, if set
    Fetch fetch = HttpGet;
    FallbackCounters* counters = nullptr;  // counts polls by provider and result (optional)
  };

  // Starts polling at once. `keeper` must outlive the poller.
  QuotaPoller(RouteKeeper* keeper, Options options);
  // Stops; waits at most for the request in flight (bounded by the timeout).
  ~QuotaPoller();
  QuotaPoller(const QuotaPoller&) = delete;
  QuotaPoller& operator=(const QuotaPoller&) = delete;

  // Polls now instead of at the end of the interval (after a reload).
  void Wake();

  // The credential headers for a provider's quota endpoint (exposed for tests).
  static std::vector<std::pair<std::string, std::string>> HeadersFor(const ProviderConfig& provider,
                                                                     const std::string& upstream_api_key);

 private:
  void Loop();
  void PollOnce(const FallbackConfig& config);

  RouteKeeper* const keeper_;
  const Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool wake_ = false;
  std::thread thread_;
};

}  // namespace luna::fallbacksvc
