// gateway: the edge HTTP server on :8180. Wiring only: configuration, clients, server, signals.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cstring>
#include <iostream>

#include "common/runtime.h"
#include "common/atomic_file.h"
#include "common/crypto.h"
#include "common/env_config.h"
#include "common/grpc_security.h"
#include "common/health_probe.h"
#include "common/logging.h"
#include "common/service_flags.h"
#include "common/signals.h"
#include "gateway/clients/grpc_auth_client.h"
#include "gateway/clients/grpc_usage_client.h"
#include "gateway/clients/key_table.h"
#include "gateway/config/gateway_config.h"
#include "gateway/http/server.h"
#include "gateway/upstream/upstream_client.h"

namespace {

int Probe(const std::string& target) {
  auto hp = luna::ParseHostPort(target, "--probe");
  if (!hp.ok()) {
    std::cerr << hp.status().message() << "\n";
    return 1;
  }
  bool ok = luna::ProbeHttp(hp->host, hp->port, "/health", 2000);
  std::cout << (ok ? "healthy" : "unhealthy") << "\n";
  return ok ? 0 : 1;
}

// Every client connection is a file descriptor: take the hard limit, so MAX_CONNECTIONS (not a
// default soft limit of 1,024) is what bounds them.
void RaiseFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  rlim_t was = lim.rlim_cur;
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &lim) == 0) {
    spdlog::info("open file limit raised from {} to {}", static_cast<uint64_t>(was), static_cast<uint64_t>(lim.rlim_cur));
  }
}

void Usage() {
  std::cout << "usage: gateway [--port-file PATH]\n"
               "       gateway --probe [HOST:PORT]   check a running gateway's /health; exit 0 if healthy\n"
               "Configuration comes from the environment; see README.md.\n";
}

}  // namespace

int main(int argc, char** argv) {
  luna::ServiceFlags flags;
  if (!luna::ParseServiceFlags(argc, argv, "gateway", "127.0.0.1:8180", &flags) || flags.help) {
    Usage();
    return flags.help ? 0 : 2;
  }
  if (flags.probe_target) return Probe(*flags.probe_target);
  const std::string& port_file = flags.port_file;
  luna::BlockStopSignals();
  luna::SetupLogging("gateway");
  luna::SetUpRuntime();
  spdlog::info("memory allocator: {}", luna::AllocatorName());
  RaiseFileLimit();
  auto config = luna::gateway::LoadGatewayConfigFromEnv();
  if (!config.ok()) {
    spdlog::critical("bad configuration: {}", std::string(config.status().message()));
    return 2;
  }
  const auto& cfg = **config;
  // The gateway serves no gRPC: its certificate, if any, is the client certificate for mutual TLS.
  auto security = luna::GrpcSecurity::FromEnv(false);
  if (!security.ok()) {
    spdlog::critical("bad configuration: {}", std::string(security.status().message()));
    return 2;
  }
  spdlog::info("{}", (*security)->Describe());
  auto url = luna::gateway::ParseUrl(cfg.upstream_url);

  luna::gateway::KeyTable keys;
  auto auth = std::make_unique<luna::gateway::GrpcAuthClient>(cfg.authsvc_addr, **security, &keys);
  auto upstream = std::make_unique<luna::gateway::UpstreamClient>(*config);
  std::unique_ptr<luna::gateway::UsageShipper> usage;
  if (cfg.usagesvc_addr != "off") {
    usage = std::make_unique<luna::gateway::UsageShipper>(cfg.usagesvc_addr, **security, cfg.usage_spool_file,
                                                          cfg.usage_batch_size, cfg.usage_spool_pattern,
                                                          static_cast<uint32_t>(cfg.usage_ring_slots));
    auto st = usage->Start();
    if (!st.ok()) {
      spdlog::critical("usage spool: {}", std::string(st.message()));
      return 1;
    }
  }
  // The keys' spend for their budgets, streamed by usagesvc.
  luna::gateway::SpendBook spend;
  std::unique_ptr<luna::gateway::GrpcSpendWatch> spend_watch;
  if (usage && !cfg.usagesvc_addr.empty()) {
    spend_watch =
        std::make_unique<luna::gateway::GrpcSpendWatch>(cfg.usagesvc_addr, **security, usage->id_prefix(), &spend);
  }
  std::unique_ptr<luna::gateway::GrpcFallbackClient> fallback;
  if (cfg.fallbacksvc_addr != "off") {
    luna::gateway::UpstreamTarget default_target;
    default_target.url = *url;
    default_target.format = cfg.upstream_format;
    default_target.api_key = cfg.upstream_api_key;
    default_target.auth_style = cfg.upstream_auth_style;
    std::string gateway_id = usage ? usage->id_prefix() : "gw-" + luna::RandomHex(4);
    fallback = std::make_unique<luna::gateway::GrpcFallbackClient>(cfg.fallbacksvc_addr, **security, default_target,
                                                                   gateway_id);
  }
  luna::gateway::ServerStats stats;
  luna::gateway::RouterDeps deps{*config, *url, &keys, auth.get(), upstream.get(), &stats, usage.get(),
                                 fallback.get(), spend_watch ? &spend : nullptr};
  auto server = luna::gateway::HttpServer::Create(deps);
  if (!server.ok()) {
    spdlog::critical("{}", std::string(server.status().message()));
    return 1;
  }
  auth->Start();
  if (fallback) fallback->Start();
  if (spend_watch) spend_watch->Start();
  (*server)->Start();
  spdlog::info("gateway listening on {} (port {}), upstream {}, authsvc {}, {} I/O thread(s)", cfg.listen,
               (*server)->port(), cfg.upstream_url, cfg.authsvc_addr, cfg.threads);
  if (!port_file.empty()) {
    auto st = luna::WriteFileAtomically(port_file, std::to_string((*server)->port()), 0644);
    if (!st.ok()) spdlog::error("cannot write port file: {}", std::string(st.message()));
  }
  int sig = luna::WaitForStopSignal();
  spdlog::info("signal {} received: stopping (grace {} s)", sig, cfg.shutdown_grace_s);
  (*server)->Shutdown();
  // In-flight requests have finished: their usage events are queued. Spool them all, then try
  // briefly to deliver; what is left is replayed at the next start.
  if (usage) usage->Stop(2000);
  auth->Stop();
  if (fallback) fallback->Stop();
  if (spend_watch) spend_watch->Stop();
  upstream->CloseIdle();
  // The server (and its I/O context) goes last: late gRPC completions may still post into it.
  auth.reset();
  fallback.reset();
  spend_watch.reset();
  upstream.reset();
  usage.reset();
  server->reset();
  spdlog::info("stopped");
  return 0;
}
