#include "fallbacksvc/fallback_metrics.h"

#include <functional>

namespace luna::fallbacksvc {

std::string RenderFallbackMetrics(const ServiceMetrics& metrics, const FallbackCounters& counters,
                                  const RouteKeeper& keeper, FallbackGrpcService& service, bool serving) {
  const int64_t now_ms = keeper.now_ms();
  prom::TextWriter out;
  metrics.WriteCommon(&out, serving);
  out.Gauge(metrics.Name("watch_streams"), "Open WatchRoutes streams (gateways following the route table).",
            service.active_watches());

  std::shared_ptr<const RouteTableData> table = keeper.Current();
  out.Gauge(metrics.Name("enabled"), "1 when the fallback chain is enabled (FALLBACK_CONFIG), else 0.", table->enabled);
  out.Gauge(metrics.Name("route_table_version"), "Version of the route table in force.", table->version);
  out.Gauge(metrics.Name("tiers"), "Tiers in the fallback chain.", table->tiers.size());

  // One gauge family per tier property, a series per tier in chain order.
  auto per_tier = [&](std::string_view suffix, const char* help, const std::function<void(const std::string&,
                                                                                            const TierView&)>& sample) {
    std::string name = metrics.Name(suffix);
    out.Family(name, "gauge", help);
    for (const TierView& t : table->tiers) sample(name, t);
  };
  per_tier("tier_info", "A tier of the chain (value 1), with its model and provider.",
           [&](const std::string& name, const TierView& t) {
             out.Sample(name, {{"tier", t.name}, {"model", t.model}, {"provider", t.provider}}, 1);
           });
  per_tier("tier_available", "1 while the tier is not cooling down, else 0.",
           [&](const std::string& name, const TierView& t) { out.Sample(name, {{"tier", t.name}}, t.available); });
  per_tier("tier_quota_low", "1 while the tier's polled quota is low (below min_remaining_fraction, with hysteresis).",
           [&](const std::string& name, const TierView& t) { out.Sample(name, {{"tier", t.name}}, t.quota_low); });
  per_tier("tier_quota_remaining_fraction", "The tier's last polled remaining quota (0..1); absent while unknown.",
           [&](const std::string& name, const TierView& t) {
             if (t.remaining_fraction >= 0) out.Sample(name, {{"tier", t.name}}, t.remaining_fraction);
           });
  per_tier("tier_cooldown_remaining_seconds", "Seconds until the tier's cooldown ends (0: not cooling).",
           [&](const std::string& name, const TierView& t) {
             int64_t left_ms = t.cooldown_until_unix_ms > now_ms ? t.cooldown_until_unix_ms - now_ms : 0;
             out.Sample(name, {{"tier", t.name}}, static_cast<double>(left_ms) / 1000.0);
           });
  per_tier("tier_consecutive_failures", "The tier's failures in a row since its last success.",
           [&](const std::string& name, const TierView& t) {
             out.Sample(name, {{"tier", t.name}}, t.consecutive_failures);
           });
  counters.Write(&out, metrics.prefix());
  return out.Take();
}

}  // namespace luna::fallbacksvc
