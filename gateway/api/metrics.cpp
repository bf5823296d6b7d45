#include "gateway/api/metrics.h"

#include <cstdio>

#include "common/prometheus_text.h"

namespace luna::gateway {

namespace {

// A label value as Prometheus' text format wants it (shared with the services' metrics).
std::string Label(std::string_view v) { return prom::EscapeLabelValue(v); }

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

}  // namespace

void GatewayMetrics::Histogram::Observe(double v) {
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (v <= kBuckets[i]) {
      ++counts[i];
      break;
    }
  }
  ++count;
  sum += v;
}

std::string_view GatewayMetrics::RouteLabel(std::string_view path) {
  if (path == "/v1/messages" || path == "/v1/chat/completions" || path == "/v1/models" || path == "/health" ||
      path == "/metrics") {
    return path;
  }
  if (path.rfind("/v1/", 0) == 0) return "/v1/*";
  if (path == "/admin" || path.rfind("/admin/", 0) == 0) return "/admin";
  return "other";
}

void GatewayMetrics::ObserveRequest(std::string_view route, int status, std::string_view model, std::string_view tier,
                                    double total_s, double upstream_s, double own_s) {
  std::lock_guard lock(mu_);
  SeriesKey key{std::string(route), status, std::string(model), std::string(tier)};
  auto it = requests_.find(key);
  if (it == requests_.end()) {
    if (requests_.size() >= kMaxSeries) std::get<2>(key) = "other";
    it = requests_.emplace(std::move(key), 0).first;
  }
  ++it->second;
  auto hist = [&](std::map<std::string, Histogram, std::less<>>& m) -> Histogram& {
    auto h = m.find(route);
    if (h == m.end()) h = m.emplace(std::string(route), Histogram{}).first;
    return h->second;
  };
  hist(total_by_route_).Observe(total_s);
  if (upstream_s >= 0) hist(upstream_by_route_).Observe(upstream_s);
  if (own_s >= 0) hist(own_by_route_).Observe(own_s);
}

void GatewayMetrics::UpstreamFailure(std::string_view kind) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(kind);
  if (it == failures_.end()) it = failures_.emplace(std::string(kind), 0).first;
  ++it->second;
}

void GatewayMetrics::FallbackTaken(std::string_view tier) {
  std::lock_guard lock(mu_);
  auto it = fallbacks_.find(tier);
  if (it == fallbacks_.end()) it = fallbacks_.emplace(std::string(tier), 0).first;
  ++it->second;
}

std::string GatewayMetrics::Render(const MetricsGauges& g) const {
  std::string out;
  auto head = [&](const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  };
  auto gauge = [&](const char* name, const char* help, double v) {
    head(name, "gauge", help);
    out += name;
    out += ' ';
    out += Number(v);
    out += '\n';
  };
  std::lock_guard lock(mu_);
  head("luna_gateway_requests_total", "counter", "Requests answered, by route, status, requested model and serving tier.");
  for (const auto& [key, n] : requests_) {
    const auto& [route, status, model, tier] = key;
    out += "luna_gateway_requests_total{route=\"" + Label(route) + "\",status=\"" + std::to_string(status) +
           "\",model=\"" + Label(model) + "\",tier=\"" + Label(tier) + "\"} " + std::to_string(n) + "\n";
  }
  auto histograms = [&](const char* name, const char* help, const std::map<std::string, Histogram, std::less<>>& m) {
    head(name, "histogram", help);
    for (const auto& [route, h] : m) {
      uint64_t cumulative = 0;
      std::string labels = "route=\"" + Label(route) + "\"";
      for (size_t i = 0; i < kBuckets.size(); ++i) {
        cumulative += h.counts[i];
        out += std::string(name) + "_bucket{" + labels + ",le=\"" + Number(kBuckets[i]) + "\"} " +
               std::to_string(cumulative) + "\n";
      }
      out += std::string(name) + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
      out += std::string(name) + "_sum{" + labels + "} " + Number(h.sum) + "\n";
      out += std::string(name) + "_count{" + labels + "} " + std::to_string(h.count) + "\n";
    }
  };
  histograms("luna_gateway_request_seconds", "Whole request time, from the request read to the answer's end.",
             total_by_route_);
  histograms("luna_gateway_upstream_first_byte_seconds", "Time from sending upstream to the upstream's first byte.",
             upstream_by_route_);
  histograms("luna_gateway_own_seconds",
             "The gateway's own time in a non-streaming request: whole time minus the upstream's.", own_by_route_);
  head("luna_gateway_upstream_failures_total", "counter", "Upstream attempts that failed, by kind.");
  for (const auto& [kind, n] : failures_) {
    out += "luna_gateway_upstream_failures_total{kind=\"" + Label(kind) + "\"} " + std::to_string(n) + "\n";
  }
  head("luna_gateway_fallbacks_total", "counter", "Requests answered by another target than their first, by tier.");
  for (const auto& [tier, n] : fallbacks_) {
    out += "luna_gateway_fallbacks_total{tier=\"" + Label(tier) + "\"} " + std::to_string(n) + "\n";
  }
  gauge("luna_gateway_open_connections", "Open client connections.", static_cast<double>(g.open_connections));
  gauge("luna_gateway_key_table_size", "Keys in the local key table.", static_cast<double>(g.key_table_size));
  gauge("luna_gateway_authsvc_synced", "1 while the key table follows authsvc's watch stream.", g.authsvc_synced);
  if (g.usage_enabled) {
    gauge("luna_gateway_usage_events_pending", "Usage events in the spool, not yet acknowledged by usagesvc.",
          static_cast<double>(g.usage_events_pending));
    head("luna_gateway_usage_events_acknowledged_total", "counter", "Usage events usagesvc acknowledged.");
    out += "luna_gateway_usage_events_acknowledged_total " + std::to_string(g.usage_events_acknowledged) + "\n";
    head("luna_gateway_usage_events_rejected_total", "counter", "Usage events usagesvc refused as malformed.");
    out += "luna_gateway_usage_events_rejected_total " + std::to_string(g.usage_events_rejected) + "\n";
    head("luna_gateway_usage_answers_waited_total", "counter",
         "Answers that waited for their usage event to be written to the spool: the ring was full or off, or "
         "the event larger than a slot.");
    out += "luna_gateway_usage_answers_waited_total " + std::to_string(g.usage_answers_waited) + "\n";
  }
  if (g.fallback_enabled) {
    gauge("luna_gateway_fallbacksvc_synced", "1 while the route table follows fallbacksvc's watch stream.",
          g.fallbacksvc_synced);
    gauge("luna_gateway_route_table_version", "Version of the route table in force.",
          static_cast<double>(g.route_table_version));
    head("luna_gateway_outcomes_reported_total", "counter", "Attempt outcomes sent to fallbacksvc.");
    out += "luna_gateway_outcomes_reported_total " + std::to_string(g.outcomes_reported) + "\n";
    head("luna_gateway_outcomes_dropped_total", "counter", "Attempt outcomes dropped (fallbacksvc unreachable).");
    out += "luna_gateway_outcomes_dropped_total " + std::to_string(g.outcomes_dropped) + "\n";
  }
  return out;
}

}  // namespace luna::gateway
