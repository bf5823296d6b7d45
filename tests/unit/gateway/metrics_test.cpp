// The /metrics renderer: Prometheus text format, cumulative histograms, bounded series.
#include "gateway/api/metrics.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

namespace luna::gateway {
namespace {

TEST(GatewayMetricsTest, RendersCountersHistogramsAndGauges) {
  GatewayMetrics m;
  m.ObserveRequest("/v1/messages", 200, "claude-\"x\"", "sonnet", 0.003, 0.002, 0.001);
  m.ObserveRequest("/v1/messages", 200, "claude-\"x\"", "sonnet", 2.0, 0.5, -1);
  m.ObserveRequest("/health", 200, "", "", 0.0001, -1, -1);
  m.UpstreamFailure("rate_limited");
  m.FallbackTaken("sonnet");
  MetricsGauges g;
  g.key_table_size = 12;
  g.usage_enabled = true;
  g.usage_events_acknowledged = 7;
  std::string text = m.Render(g);
  EXPECT_NE(text.find("luna_gateway_requests_total{route=\"/v1/messages\",status=\"200\",model=\"claude-\\\"x\\\"\","
                      "tier=\"sonnet\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("luna_gateway_request_seconds_bucket{route=\"/v1/messages\",le=\"0.005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("luna_gateway_request_seconds_bucket{route=\"/v1/messages\",le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("luna_gateway_request_seconds_count{route=\"/v1/messages\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("luna_gateway_upstream_first_byte_seconds_count{route=\"/v1/messages\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("luna_gateway_own_seconds_count{route=\"/v1/messages\"} 1\n"), std::string::npos);
  EXPECT_EQ(text.find("luna_gateway_upstream_first_byte_seconds_count{route=\"/health\"}"), std::string::npos);
  EXPECT_NE(text.find("luna_gateway_upstream_failures_total{kind=\"rate_limited\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("luna_gateway_fallbacks_total{tier=\"sonnet\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("luna_gateway_key_table_size 12\n"), std::string::npos);
  EXPECT_NE(text.find("luna_gateway_usage_events_acknowledged_total 7\n"), std::string::npos);
  EXPECT_EQ(text.find("fallbacksvc_synced"), std::string::npos) << "no fallback client: no fallback gauges";
  // Every line is a comment or `name{labels} value`.
  std::regex sample(R"(^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? [-+0-9.e]+(Inf)?$)");
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
  }
}

TEST(GatewayMetricsTest, ModelSeriesAreBounded) {
  GatewayMetrics m;
  for (size_t i = 0; i < GatewayMetrics::kMaxSeries + 50; ++i) {
    m.ObserveRequest("/v1/messages", 200, "model-" + std::to_string(i), "", 0.001, 0.001, 0);
  }
  std::string text = m.Render({});
  EXPECT_NE(text.find("model=\"other\",tier=\"\"} 50\n"), std::string::npos);
}

TEST(GatewayMetricsTest, RouteLabelsNeverCarryRawPaths) {
  EXPECT_EQ(GatewayMetrics::RouteLabel("/v1/messages"), "/v1/messages");
  EXPECT_EQ(GatewayMetrics::RouteLabel("/v1/messages/count_tokens"), "/v1/*");
  EXPECT_EQ(GatewayMetrics::RouteLabel("/admin/keys/sk-secret"), "/admin");
  EXPECT_EQ(GatewayMetrics::RouteLabel("/anything"), "other");
}

}  // namespace
}  // namespace luna::gateway
