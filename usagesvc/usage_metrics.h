// usagesvc's GET /metrics (luna_usagesvc_*), read at scrape time from the store and its ledger.
#pragma once

#include <string>

#include "common/service_metrics.h"
#include "usagesvc/usage_store.h"

namespace luna::usagesvc {

// The gRPC service usagesvc serves, for ServiceMetrics.
inline constexpr const char* kUsageServiceName = "luna.usage.v1.UsageService";

// Everything usagesvc shows; the store's figures only once the ledger is loaded (`store` not null).
std::string RenderUsageMetrics(const ServiceMetrics& metrics, const UsageStore* store, bool serving);

}  // namespace luna::usagesvc
