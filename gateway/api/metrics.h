// The gateway's counters for GET /metrics, in Prometheus' text format. Pure and thread-safe: the
// router records one observation per request; a scrape renders them.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace luna::gateway {

// Values read at scrape time from the other parts of the gateway.
struct MetricsGauges {
  int64_t open_connections = 0;
  int64_t key_table_size = 0;
  bool authsvc_synced = false;
  bool usage_enabled = false;
  int64_t usage_events_pending = 0;
  int64_t usage_events_acknowledged = 0;
  int64_t usage_events_rejected = 0;
  int64_t usage_answers_waited = 0;
  bool fallback_enabled = false;
  bool fallbacksvc_synced = false;
  uint64_t route_table_version = 0;
  int64_t outcomes_reported = 0;
  int64_t outcomes_dropped = 0;
};

class GatewayMetrics {
 public:
  // Distinct (route, status, model, tier) series kept; beyond it a new model is counted as "other"
  // (a client can send any model name: the series count must stay bounded).
  static constexpr size_t kMaxSeries = 2000;

  // One finished request. `upstream_s`: time to the upstream's first byte (< 0: none answered or none
  // was asked); `own_s`: the gateway's own share of a non-streaming request, total minus upstream
  // (< 0: not measured, e.g. a stream, whose total is the stream's length).
  void ObserveRequest(std::string_view route, int status, std::string_view model, std::string_view tier,
                      double total_s, double upstream_s, double own_s);
  // An upstream attempt that failed, by kind (rate_limited, overloaded, timeout, …).
  void UpstreamFailure(std::string_view kind);
  // A request answered by another target than its first.
  void FallbackTaken(std::string_view tier);

  std::string Render(const MetricsGauges& gauges) const;

  // The route label for a request path: the API paths as they are, any other /v1/* as "/v1/*",
  // /admin/* as "/admin", and so on — never the raw path.
  static std::string_view RouteLabel(std::string_view path);

 private:
  // From 50 µs: the gateway's own time (luna_gateway_own_seconds) is meant to be tens of microseconds,
  // and buckets starting at 500 µs put every request in the first one.
  static constexpr std::array<double, 21> kBuckets = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1,
                                                      2.5,     5,      10,      30,     60,    120,   300};
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};  // per bucket (not cumulative)
    uint64_t count = 0;
    double sum = 0;
    void Observe(double v);
  };
  using SeriesKey = std::tuple<std::string, int, std::string, std::string>;  // route, status, model, tier

  mutable std::mutex mu_;
  std::map<SeriesKey, uint64_t> requests_;
  std::map<std::string, Histogram, std::less<>> total_by_route_;
  std::map<std::string, Histogram, std::less<>> upstream_by_route_;
  std::map<std::string, Histogram, std::less<>> own_by_route_;
  std::map<std::string, uint64_t, std::less<>> failures_;
  std::map<std::string, uint64_t, std::less<>> fallbacks_;
};

}  // namespace luna::gateway
