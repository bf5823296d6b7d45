// What the three gRPC services share for their metrics: the families every one of them shows
// (<prefix>_serving, <prefix>_start_time_seconds, <prefix>_grpc_calls_total), and the metrics HTTP
// endpoint configured by one environment variable (<SERVICE>_METRICS_LISTEN, "off" = none) with its
// `--metrics-port-file`.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/grpc_call_metrics.h"
#include "common/metrics_http.h"
#include "common/prometheus_text.h"

namespace luna {

class ServiceMetrics {
 public:
  // `prefix`: "luna_authsvc"; `grpc_services`: the service's generated gRPC services (full names).
  // Remembers now as the start time.
  ServiceMetrics(std::string prefix, const std::vector<std::string>& grpc_services);

  GrpcCallMetrics& calls() { return calls_; }
  const GrpcCallMetrics& calls() const { return calls_; }
  const std::string& prefix() const { return prefix_; }
  // prefix + "_" + suffix.
  std::string Name(std::string_view suffix) const;

  // <prefix>_serving, <prefix>_start_time_seconds, <prefix>_grpc_calls_total.
  void WriteCommon(prom::TextWriter* out, bool serving) const;

 private:
  const std::string prefix_;
  const double start_time_seconds_;
  GrpcCallMetrics calls_;
};

// The metrics endpoint's address from `variable` (unset or empty: `default_listen`): nullopt for
// "off" (any case), InvalidArgument naming the variable for a malformed address.
absl::StatusOr<std::optional<std::string>> MetricsListenFromEnv(const char* variable, const char* default_listen);

// Starts `server` on `listen` and writes the bound port to `port_file` (atomically; "" = no file);
// with `listen` nullopt ("off") only logs that the endpoint is off. Errors name `variable`. The server
// keeps running on failure to write the file; the caller stops it.
absl::Status StartMetricsEndpoint(MetricsHttpServer* server, const std::optional<std::string>& listen,
                                  const char* variable, const std::string& port_file);

}  // namespace luna
