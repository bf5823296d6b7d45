#include "common/service_metrics.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "absl/strings/ascii.h"
#include "common/atomic_file.h"
#include "common/env_config.h"

namespace luna {
namespace {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

ServiceMetrics::ServiceMetrics(std::string prefix, const std::vector<std::string>& grpc_services)
    : prefix_(std::move(prefix)), start_time_seconds_(NowSeconds()), calls_(grpc_services) {}

std::string ServiceMetrics::Name(std::string_view suffix) const {
  std::string name = prefix_;
  name += '_';
  name += suffix;
  return name;
}

void ServiceMetrics::WriteCommon(prom::TextWriter* out, bool serving) const {
  out->Gauge(Name("serving"), "1 while the service's gRPC health is SERVING, else 0.", serving);
  out->Gauge(Name("start_time_seconds"), "When the process started, in seconds since the Unix epoch.",
             start_time_seconds_);
  calls_.Write(out, Name("grpc_calls_total"));
}

absl::StatusOr<std::optional<std::string>> MetricsListenFromEnv(const char* variable, const char* default_listen) {
  std::string value = EnvString(variable, default_listen);
  if (absl::AsciiStrToLower(value) == "off") return std::optional<std::string>();
  if (auto hp = ParseHostPort(value, variable); !hp.ok()) {
    return absl::InvalidArgumentError(std::string(hp.status().message()) + " (or \"off\")");
  }
  return std::optional<std::string>(value);
}

absl::Status StartMetricsEndpoint(MetricsHttpServer* server, const std::optional<std::string>& listen,
                                  const char* variable, const std::string& port_file) {
  if (!listen) {
    spdlog::info("metrics endpoint off ({}=off)", variable);
    return absl::OkStatus();
  }
  auto port = server->Start(*listen, variable);
  if (!port.ok()) return port.status();
  spdlog::info("metrics on {} (port {}): GET /metrics, GET /health", *listen, *port);
  if (!port_file.empty()) {
    if (auto st = WriteFileAtomically(port_file, std::to_string(*port), 0644); !st.ok()) {
      return absl::Status(st.code(), "cannot write the metrics port file: " + std::string(st.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace luna
