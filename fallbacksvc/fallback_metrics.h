// fallbacksvc's GET /metrics (luna_fallbacksvc_*): the counters, and the route table in force read at
// scrape time.
#pragma once

#include <cstdint>
#include <string>

#include "common/service_metrics.h"
#include "fallbacksvc/fallback_counters.h"
#include "fallbacksvc/fallback_grpc_service.h"
#include "fallbacksvc/route_keeper.h"

namespace luna::fallbacksvc {

// The gRPC service fallbacksvc serves, for ServiceMetrics.
inline constexpr const char* kFallbackServiceName = "luna.fallback.v1.FallbackService";

std::string RenderFallbackMetrics(const ServiceMetrics& metrics, const FallbackCounters& counters,
                                  const RouteKeeper& keeper, FallbackGrpcService& service, bool serving);

}  // namespace luna::fallbacksvc
