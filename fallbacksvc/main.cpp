// fallbacksvc: quota-aware model fallback. Wiring only: configuration, the route keeper (config, state
// file, timer), the quota poller, the gRPC server, signals.
//
//   FALLBACK_CONFIG             the fallback chain (default ./fallback.json; missing = fallback disabled)
//   FALLBACK_STATE_FILE         quotas and cooldowns across restarts (default ./fallback-state.json)
//   FALLBACKSVC_LISTEN          host:port to serve gRPC on (default 0.0.0.0:8183; port 0 picks one)
//   UPSTREAM_URL                the default upstream; its quota endpoint is UPSTREAM_URL/health
//                               (default http://127.0.0.1:8080)
//   UPSTREAM_API_KEY            sent as x-api-key to the default upstream's quota endpoint, if set
//   AUTHSVC_ADDR                authsvc, for the admin check of GetStatus/ReloadConfig (127.0.0.1:8181)
//   FALLBACK_HEALTH_TIMEOUT_MS  timeout of one quota poll (default 5000)
//   FALLBACKSVC_METRICS_LISTEN  host:port of GET /metrics and GET /health (default 0.0.0.0:8193; off)
//   GRPC_TLS_*, INTERNAL_TOKEN[_FILE]  TLS and the internal token on the gRPC port and the link to authsvc
//                               (common/grpc_security.h)
//
//   SIGHUP                 reload FALLBACK_CONFIG (a config that does not validate is refused, logged)
//   SIGTERM, SIGINT        stop: end the watch streams, write the state file, exit 0
//
//   --port-file PATH       after binding, write the bound port there (decimal text, atomically)
//   --metrics-port-file PATH  after binding the metrics port, write it there (not written when off)
//   --probe [host:port]    check the health of a running fallbacksvc (default 127.0.0.1:8183); exit 0/1
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>

#include "common/runtime.h"
#include "common/atomic_file.h"
#include "common/grpc_admin_check.h"
#include "common/grpc_security.h"
#include "common/grpc_server.h"
#include "common/health_probe.h"
#include "common/logging.h"
#include "common/service_flags.h"
#include "common/service_metrics.h"
#include "common/signals.h"
#include "fallbacksvc/fallback_env.h"
#include "fallbacksvc/fallback_grpc_service.h"
#include "fallbacksvc/fallback_metrics.h"
#include "fallbacksvc/quota_poller.h"
#include "fallbacksvc/route_keeper.h"

namespace {

constexpr int kProbeTimeoutMs = 2000;
constexpr int kShutdownGraceMs = 5000;

// For the SIGHUP handler, which runs on the main thread inside WaitForStopSignal.
luna::fallbacksvc::RouteKeeper* g_keeper = nullptr;

void ReloadOnHup() {
  spdlog::info("SIGHUP: reloading the fallback config");
  (void)g_keeper->Reload();  // logs either way; a refused config keeps the old one
}

void PrintUsage() {
  std::fprintf(stderr,
               "usage: fallbacksvc [--port-file PATH] [--metrics-port-file PATH] | --probe [HOST:PORT]\n"
               "environment: FALLBACK_CONFIG (./fallback.json), FALLBACK_STATE_FILE (./fallback-state.json),\n"
               "  FALLBACKSVC_LISTEN (0.0.0.0:8183), UPSTREAM_URL (http://127.0.0.1:8080), UPSTREAM_API_KEY,\n"
               "  AUTHSVC_ADDR (127.0.0.1:8181), FALLBACK_HEALTH_TIMEOUT_MS (5000),\n"
               "  FALLBACKSVC_METRICS_LISTEN (0.0.0.0:8193; off),\n"
               "  GRPC_TLS_CA, GRPC_TLS_CERT, GRPC_TLS_KEY, GRPC_TLS_CLIENT_AUTH (require), GRPC_TLS_SERVER_NAME,\n"
               "  INTERNAL_TOKEN[_FILE]\n"
               "SIGHUP reloads FALLBACK_CONFIG.\n");
}

}  // namespace

int main(int argc, char** argv) {
  luna::BlockStopSignals();

  luna::ServiceFlags flags;
  if (!luna::ParseServiceFlags(argc, argv, "fallbacksvc", "127.0.0.1:8183", &flags, true) || flags.help) {
    PrintUsage();
    return flags.help ? 0 : 2;
  }
  if (flags.probe_target) {
    return luna::RunGrpcProbe(*flags.probe_target, luna::fallbacksvc::FallbackGrpcService::kHealthName,
                              kProbeTimeoutMs);
  }

  luna::SetupLogging("fallbacksvc");
  luna::SetUpRuntime();
  spdlog::info("memory allocator: {}", luna::AllocatorName());
  auto env = luna::fallbacksvc::FallbackEnv::FromEnv();
  if (!env.ok()) {
    spdlog::error("{}", std::string(env.status().message()));
    return 2;
  }
  auto security = luna::GrpcSecurity::FromEnv(true);
  if (!security.ok()) {
    spdlog::error("{}", std::string(security.status().message()));
    return 2;
  }
  spdlog::info("{}", (*security)->Describe());

  luna::fallbacksvc::ConfigContext context{env->config_path, env->upstream_url, luna::fallbacksvc::ProcessEnv};
  // Outlives the keeper and the poller, which count into it.
  luna::fallbacksvc::FallbackCounters counters;
  luna::fallbacksvc::RouteKeeper::Options options;
  options.state_file = env->state_file;
  options.counters = &counters;
  options.load_config = [context] { return luna::fallbacksvc::LoadFallbackConfig(context); };
  spdlog::info("loading fallback config {} and state file {}", env->config_path, env->state_file);
  auto keeper = luna::fallbacksvc::RouteKeeper::Create(options);
  if (!keeper.ok()) {
    spdlog::error("{}", std::string(keeper.status().message()));
    spdlog::error("refusing to start; no file was changed");
    return 1;
  }
  {
    auto config = (*keeper)->config();
    auto table = (*keeper)->Current();
    spdlog::info("fallback {}: {} tiers, {} providers ({} format); table version {}",
                 config->enabled ? "enabled" : "disabled", config->tiers.size(), config->providers.size(),
                 config->extended ? "extended" : "old", table->version);
  }

  // Declared in this order so that they are destroyed in reverse: metrics endpoint, server, call
  // counters, service, poller, admin checker, keeper (which writes the state file last), counters.
  luna::GrpcAdminChecker admin((*security)->CreateChannel(env->authsvc_addr));
  luna::fallbacksvc::QuotaPoller::Options poll_options;
  poll_options.timeout = std::chrono::milliseconds(env->health_timeout_ms);
  poll_options.upstream_api_key = env->upstream_api_key;
  poll_options.counters = &counters;
  auto poller = std::make_unique<luna::fallbacksvc::QuotaPoller>(keeper->get(), poll_options);
  (*keeper)->SetConfigListener([p = poller.get()] { p->Wake(); });
  luna::fallbacksvc::FallbackGrpcService service(keeper->get(), &admin, env->config_path);
  luna::ServiceMetrics metrics("luna_fallbacksvc", {luna::fallbacksvc::kFallbackServiceName});
  auto server = luna::GrpcServer::Start(env->listen, {&service}, luna::fallbacksvc::FallbackGrpcService::kHealthName,
                                        &metrics.calls(), **security);
  if (!server.ok()) {
    spdlog::error("{}", std::string(server.status().message()));
    return 1;
  }
  luna::GrpcServer* grpc_server = server->get();
  luna::fallbacksvc::RouteKeeper* keeper_ptr = keeper->get();
  luna::MetricsHttpServer metrics_server({
      .metrics =
          [&] {
            return luna::fallbacksvc::RenderFallbackMetrics(metrics, counters, *keeper_ptr, service,
                                                            grpc_server->serving());
          },
      .serving = [grpc_server] { return grpc_server->serving(); },
      .problem =
          [keeper_ptr] {
            std::string problem = keeper_ptr->state_file_problem();
            return problem.empty() ? problem : "state file not writable (routing goes on from memory): " + problem;
          },
  });
  if (auto st = luna::StartMetricsEndpoint(&metrics_server, env->metrics_listen, "FALLBACKSVC_METRICS_LISTEN",
                                           flags.metrics_port_file);
      !st.ok()) {
    spdlog::error("{}", std::string(st.message()));
    metrics_server.Stop();
    service.BeginShutdown();
    (*server)->Shutdown(0);
    return 1;
  }
  (*server)->SetServing(true);
  if (!flags.port_file.empty()) {
    if (auto st = luna::WriteFileAtomically(flags.port_file, std::to_string((*server)->port()), 0644); !st.ok()) {
      spdlog::error("cannot write the port file: {}", std::string(st.message()));
      metrics_server.Stop();
      service.BeginShutdown();
      (*server)->Shutdown(0);
      return 1;
    }
  }
  spdlog::info("serving on {} (port {})", env->listen, (*server)->port());

  g_keeper = keeper->get();
  int sig = luna::WaitForStopSignal(ReloadOnHup);
  spdlog::info("stopping on signal {}", sig);
  metrics_server.Stop();
  service.BeginShutdown();
  (*server)->Shutdown(kShutdownGraceMs);
  (*keeper)->SetConfigListener(nullptr);
  poller.reset();
  (*keeper)->Stop();  // writes the state file if it changed
  spdlog::info("stopped");
  return 0;
}
