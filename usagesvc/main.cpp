// usagesvc: the usage ledger service. Wiring only: configuration, the gRPC server, the ledger's store,
// the authsvc client, the legacy import, signals.
//
//   USAGE_DATA_DIR                  journal + snapshot directory (default ./usage-data)
//   USAGESVC_LISTEN                 host:port to serve gRPC on (default 0.0.0.0:8182; port 0 picks one)
//   AUTHSVC_ADDR                    authsvc, for admin checks and the legacy import (127.0.0.1:8181)
//   USAGE_TIMEZONE                  day/hour buckets: UTC (default) or a fixed offset (+08:00, UTC+8)
//   USAGE_LEGACY_TIMEZONE           the zone of the old proxy's dates (default +08:00)
//   USAGE_DETAIL_RETENTION_DAYS     per-request detail kept this long (default 30)
//   USAGE_SNAPSHOT_EVERY_EVENTS     snapshot after this many events (default 100000; 0 = off)
//   USAGE_SNAPSHOT_INTERVAL_SECONDS ... or this long after the last one (default 3600; 0 = off)
//   USAGE_TEST_FAIL_WRITES_IF_EXISTS  tests only: journal writes fail while this file exists
//   USAGESVC_METRICS_LISTEN         host:port of GET /metrics and GET /health (default 0.0.0.0:8192; off)
//   GRPC_TLS_*, INTERNAL_TOKEN[_FILE]  TLS and the internal token on the gRPC port and the link to authsvc
//                                   (common/grpc_security.h)
//
//   --port-file PATH       after binding, write the bound port there (decimal text, atomically)
//   --metrics-port-file PATH  after binding the metrics port, write it there (not written when off)
//   --probe [host:port]    check the health of a running usagesvc (default 127.0.0.1:8182); exit 0/1
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "common/runtime.h"
#include "common/atomic_file.h"
#include "common/grpc_security.h"
#include "common/grpc_server.h"
#include "common/health_probe.h"
#include "common/logging.h"
#include "common/service_flags.h"
#include "common/service_metrics.h"
#include "common/signals.h"
#include "usagesvc/grpc_auth_client.h"
#include "usagesvc/legacy_importer.h"
#include "usagesvc/usage_config.h"
#include "usagesvc/usage_grpc_service.h"
#include "usagesvc/usage_metrics.h"
#include "usagesvc/usage_store.h"

namespace {

constexpr int kProbeTimeoutMs = 2000;
constexpr int kShutdownGraceMs = 5000;

void PrintUsage() {
  std::fprintf(stderr,
               "usage: usagesvc [--port-file PATH] [--metrics-port-file PATH] | --probe [HOST:PORT]\n"
               "environment: USAGE_DATA_DIR (./usage-data), USAGESVC_LISTEN (0.0.0.0:8182), AUTHSVC_ADDR "
               "(127.0.0.1:8181),\n  USAGE_TIMEZONE (UTC), USAGE_LEGACY_TIMEZONE (+08:00), "
               "USAGE_DETAIL_RETENTION_DAYS (30),\n  USAGE_SNAPSHOT_EVERY_EVENTS (100000), "
               "USAGE_SNAPSHOT_INTERVAL_SECONDS (3600),\n  USAGESVC_METRICS_LISTEN (0.0.0.0:8192; off),\n"
               "  GRPC_TLS_CA, GRPC_TLS_CERT, GRPC_TLS_KEY, GRPC_TLS_CLIENT_AUTH (require), GRPC_TLS_SERVER_NAME,\n"
               "  INTERNAL_TOKEN[_FILE]\n");
}

}  // namespace

int main(int argc, char** argv) {
  luna::BlockStopSignals();

  luna::ServiceFlags flags;
  if (!luna::ParseServiceFlags(argc, argv, "usagesvc", "127.0.0.1:8182", &flags, true) || flags.help) {
    PrintUsage();
    return flags.help ? 0 : 2;
  }
  if (flags.probe_target) {
    return luna::RunGrpcProbe(*flags.probe_target, luna::usagesvc::UsageGrpcService::kHealthName, kProbeTimeoutMs);
  }

  luna::SetupLogging("usagesvc");
  luna::SetUpRuntime();
  spdlog::info("memory allocator: {}", luna::AllocatorName());
  auto config = luna::usagesvc::UsageConfig::FromEnv();
  if (!config.ok()) {
    spdlog::error("{}", std::string(config.status().message()));
    return 2;
  }
  auto security = luna::GrpcSecurity::FromEnv(true);
  if (!security.ok()) {
    spdlog::error("{}", std::string(security.status().message()));
    return 2;
  }
  spdlog::info("{}", (*security)->Describe());

  // Declared in this order so that they are destroyed in reverse: importer, metrics endpoint, gRPC
  // server, call counters, service, store, auth client.
  luna::usagesvc::GrpcAuthClient auth((*security)->CreateChannel(config->authsvc_addr));
  std::unique_ptr<luna::usagesvc::UsageStore> store;
  std::unique_ptr<luna::usagesvc::SpendWatchHub> spend_watch;
  luna::usagesvc::UsageGrpcService service(&auth);
  luna::ServiceMetrics metrics("luna_usagesvc", {luna::usagesvc::kUsageServiceName});
  auto server = luna::GrpcServer::Start(config->listen, {&service}, luna::usagesvc::UsageGrpcService::kHealthName,
                                        &metrics.calls(), **security);
  if (!server.ok()) {
    spdlog::error("{}", std::string(server.status().message()));
    return 1;
  }
  spdlog::info("gRPC listening on {} (port {}); not serving until the ledger is loaded", config->listen,
               (*server)->port());
  luna::GrpcServer* grpc_server = server->get();
  luna::MetricsHttpServer metrics_server({
      .metrics = [&] { return luna::usagesvc::RenderUsageMetrics(metrics, service.store(), grpc_server->serving()); },
      .serving = [grpc_server] { return grpc_server->serving(); },
      .problem = [&service] {
        const luna::usagesvc::UsageStore* store = service.store();
        return store != nullptr ? store->problem() : std::string();
      },
  });
  if (auto st = luna::StartMetricsEndpoint(&metrics_server, config->metrics_listen, "USAGESVC_METRICS_LISTEN",
                                           flags.metrics_port_file);
      !st.ok()) {
    spdlog::error("{}", std::string(st.message()));
    metrics_server.Stop();
    (*server)->Shutdown(0);
    return 1;
  }

  luna::usagesvc::UsageStoreOptions options;
  options.data_dir = config->data_dir;
  options.ledger.zone = config->zone;
  options.ledger.legacy_zone = config->legacy_zone;
  options.ledger.detail_retention_ms = config->detail_retention_days * 86400 * 1000;
  options.snapshot_every_events = config->snapshot_every_events;
  options.snapshot_interval_ms = config->snapshot_interval_seconds * 1000;
  options.snapshot_growth_percent = config->snapshot_growth_percent;
  options.fail_writes_if_exists = config->fail_writes_if_exists;
  spdlog::info("loading the usage ledger from {} (time zone {}, legacy dates in {})", options.data_dir,
               config->zone.name, config->legacy_zone.name);
  auto opened = luna::usagesvc::UsageStore::Open(options);
  if (!opened.ok()) {
    spdlog::error("{}", std::string(opened.status().message()));
    spdlog::error("refusing to start");
    metrics_server.Stop();
    (*server)->Shutdown(0);
    return 1;
  }
  store = std::move(*opened);
  const auto& report = store->load_report();
  for (const auto& problem : report.problems) spdlog::warn("load: {}", problem);
  auto stats = store->ledger().Stats();
  spdlog::info(
      "ledger loaded: snapshot {}, {} journals, {} records, {} events replayed, {} bytes cut off; {} keys, {} "
      "aggregate rows, {} event ids, {} legacy keys",
      report.snapshot_found ? "found" : "none", report.journals_replayed, report.records_replayed,
      report.events_replayed, report.bytes_dropped, stats.keys, stats.aggregate_rows, stats.event_ids,
      stats.legacy_keys);

  spend_watch = std::make_unique<luna::usagesvc::SpendWatchHub>(store->StartSpendTracking());
  service.AttachSpendWatch(spend_watch.get());
  service.AttachStore(store.get());
  store->SetHealthListener([grpc_server](bool healthy) { grpc_server->SetServing(healthy); });
  if (!flags.port_file.empty()) {
    if (auto st = luna::WriteFileAtomically(flags.port_file, std::to_string((*server)->port()), 0644); !st.ok()) {
      spdlog::error("cannot write the port file: {}", std::string(st.message()));
      metrics_server.Stop();
      store->SetHealthListener(nullptr);
      (*server)->Shutdown(0);
      return 1;
    }
  }
  auto importer = std::make_unique<luna::usagesvc::LegacyImporter>(&auth, store.get());
  spdlog::info("serving on port {}", (*server)->port());

  int sig = luna::WaitForStopSignal();
  spdlog::info("stopping on signal {}", sig);
  importer.reset();
  metrics_server.Stop();
  store->SetHealthListener(nullptr);
  spend_watch->Shutdown();  // ends the gateways' streams, so the server need not wait for them
  (*server)->Shutdown(kShutdownGraceMs);
  spdlog::info("stopped");
  return 0;
}
