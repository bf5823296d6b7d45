// authsvc's GET /metrics (luna_authsvc_*), read at scrape time from the service and its key manager.
#pragma once

#include <string>

#include "authsvc/auth_grpc_service.h"
#include "common/service_metrics.h"

namespace luna::authsvc {

// The gRPC services authsvc serves, for ServiceMetrics.
inline constexpr const char* kAuthServiceName = "luna.auth.v1.AuthService";

// Everything authsvc shows; the key figures only once the keys file is loaded. `service` must be
// the one the gRPC server runs (its manager may still be null).
std::string RenderAuthMetrics(const ServiceMetrics& metrics, AuthGrpcService& service, bool serving);

}  // namespace luna::authsvc
