// authsvc: the API key service. Wiring only: configuration, the gRPC server, the keys file, signals.
//
//   KEYS_FILE        the keys file (default ./keys.json; a missing file means no keys yet)
//   AUTHSVC_LISTEN   host:port to serve gRPC on (default 0.0.0.0:8181; port 0 picks a free one)
//   ADMIN_KEY        the admin key (optional; takes precedence over the one in the keys file)
//   AUTHSVC_METRICS_LISTEN  host:port of GET /metrics and GET /health (default 0.0.0.0:8191; off = none)
//   GRPC_TLS_*, INTERNAL_TOKEN[_FILE]  TLS and the internal token on the gRPC port (common/grpc_security.h)
//
//   --port-file PATH       after binding, write the bound port there (decimal text, atomically)
//   --metrics-port-file PATH  after binding the metrics port, write it there (not written when off)
//   --probe [host:port]    check the health of a running authsvc (default 127.0.0.1:8181); exit 0/1
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "authsvc/auth_grpc_service.h"
#include "authsvc/auth_metrics.h"
#include "authsvc/key_manager.h"
#include "common/runtime.h"
#include "common/atomic_file.h"
#include "common/env_config.h"
#include "common/grpc_security.h"
#include "common/grpc_server.h"
#include "common/health_probe.h"
#include "common/logging.h"
#include "common/service_flags.h"
#include "common/service_metrics.h"
#include "common/signals.h"

namespace {

constexpr int kProbeTimeoutMs = 2000;
constexpr int kShutdownGraceMs = 5000;

void PrintUsage() {
  std::fprintf(stderr,
               "usage: authsvc [--port-file PATH] [--metrics-port-file PATH] | --probe [HOST:PORT]\n"
               "environment: KEYS_FILE (./keys.json), AUTHSVC_LISTEN (0.0.0.0:8181), ADMIN_KEY (optional),\n"
               "  AUTHSVC_METRICS_LISTEN (0.0.0.0:8191; off),\n"
               "  GRPC_TLS_CA, GRPC_TLS_CERT, GRPC_TLS_KEY, GRPC_TLS_CLIENT_AUTH (require),\n"
               "  GRPC_TLS_SERVER_NAME, INTERNAL_TOKEN[_FILE]\n");
}

}  // namespace

int main(int argc, char** argv) {
  luna::BlockStopSignals();

  luna::ServiceFlags flags;
  if (!luna::ParseServiceFlags(argc, argv, "authsvc", "127.0.0.1:8181", &flags, true) || flags.help) {
    PrintUsage();
    return flags.help ? 0 : 2;
  }
  if (flags.probe_target) {
    return luna::RunGrpcProbe(*flags.probe_target, luna::authsvc::AuthGrpcService::kHealthName, kProbeTimeoutMs);
  }

  luna::SetupLogging("authsvc");
  luna::SetUpRuntime();
  spdlog::info("memory allocator: {}", luna::AllocatorName());
  luna::authsvc::KeyManagerOptions options;
  options.keys_file = luna::EnvString("KEYS_FILE", "./keys.json");
  if (const char* admin = std::getenv("ADMIN_KEY"); admin != nullptr && *admin != '\0') options.admin_key = admin;
  std::string listen = luna::EnvString("AUTHSVC_LISTEN", "0.0.0.0:8181");
  if (auto hp = luna::ParseHostPort(listen, "AUTHSVC_LISTEN"); !hp.ok()) {
    spdlog::error("{}", std::string(hp.status().message()));
    return 2;
  }
  auto metrics_listen = luna::MetricsListenFromEnv("AUTHSVC_METRICS_LISTEN", "0.0.0.0:8191");
  if (!metrics_listen.ok()) {
    spdlog::error("{}", std::string(metrics_listen.status().message()));
    return 2;
  }
  auto security = luna::GrpcSecurity::FromEnv(true);
  if (!security.ok()) {
    spdlog::error("{}", std::string(security.status().message()));
    return 2;
  }
  spdlog::info("{}", (*security)->Describe());

  // Declared in this order so that they are destroyed in reverse: metrics endpoint, gRPC server, call
  // counters, service, manager.
  std::unique_ptr<luna::authsvc::KeyManager> manager;
  luna::authsvc::AuthGrpcService service;
  luna::ServiceMetrics metrics("luna_authsvc", {luna::authsvc::kAuthServiceName});
  auto server = luna::GrpcServer::Start(listen, {&service}, luna::authsvc::AuthGrpcService::kHealthName,
                                        &metrics.calls(), **security);
  if (!server.ok()) {
    spdlog::error("{}", std::string(server.status().message()));
    return 1;
  }
  spdlog::info("gRPC listening on {} (port {}); not serving until the keys file is loaded", listen,
               (*server)->port());
  luna::GrpcServer* grpc_server = server->get();
  luna::MetricsHttpServer metrics_server({
      .metrics = [&] { return luna::authsvc::RenderAuthMetrics(metrics, service, grpc_server->serving()); },
      .serving = [grpc_server] { return grpc_server->serving(); },
      // Key validation goes on when the keys file cannot be written; only changes are refused.
      .problem = [&service] {
        const luna::authsvc::KeyManager* m = service.manager();
        std::string problem = m != nullptr ? m->write_problem() : std::string();
        return problem.empty() ? problem : "keys file not writable (key changes are refused): " + problem;
      },
  });
  if (auto st = luna::StartMetricsEndpoint(&metrics_server, *metrics_listen, "AUTHSVC_METRICS_LISTEN",
                                           flags.metrics_port_file);
      !st.ok()) {
    spdlog::error("{}", std::string(st.message()));
    metrics_server.Stop();
    (*server)->Shutdown(0);
    return 1;
  }

  spdlog::info("loading keys file {}", options.keys_file);
  auto created = luna::authsvc::KeyManager::Create(options);
  if (!created.ok()) {
    spdlog::error("{}", std::string(created.status().message()));
    spdlog::error("refusing to start; the keys file was not changed");
    metrics_server.Stop();
    (*server)->Shutdown(0);
    return 1;
  }
  manager = std::move(*created);
  if (auto key = manager->TakeGeneratedAdminKey()) {
    std::fprintf(stderr, "authsvc: generated admin key: %s (shown once; store it now)\n", key->c_str());
    std::fflush(stderr);
  }
  spdlog::info("keys file {}: format {}, {} keys, {} legacy usage records; admin credential from {}",
               manager->keys_file(), luna::authsvc::KeysFileFormatName(manager->format_found()), manager->key_count(),
               manager->legacy_usage().size(), luna::authsvc::AdminKeySourceName(manager->admin_key_source()));

  service.AttachManager(manager.get());
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
  spdlog::info("serving on port {}", (*server)->port());

  int sig = luna::WaitForStopSignal();
  spdlog::info("stopping on signal {}", sig);
  metrics_server.Stop();
  service.BeginShutdown();
  (*server)->Shutdown(kShutdownGraceMs);
  spdlog::info("stopped");
  return 0;
}
