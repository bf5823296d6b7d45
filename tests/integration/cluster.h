// Test support: the real binaries (fake upstream, authsvc, gateway) started on free ports with their
// state in a temporary directory, stopped by PID when the test ends. Each service's metrics endpoint
// listens on a free loopback port too (its *_METRICS_LISTEN), found through --metrics-port-file.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace luna::testing {

class Cluster {
 public:
  struct Options {
    std::map<std::string, std::string> gateway_env;  // extra or overriding gateway variables
    std::string keys_file_content;                   // initial KEYS_FILE content ("" = none)
    bool admin_key_env = true;                       // pass ADMIN_KEY to authsvc
    std::map<std::string, std::string> auth_env;     // extra or overriding authsvc variables
    // Variables for every process the cluster starts (authsvc, usagesvc, gateways, and fallbacksvc
    // through StartFallbackService), e.g. the gRPC TLS settings; a service's own map overrides them.
    std::map<std::string, std::string> service_env;
  };

  Cluster() : Cluster(Options{}) {}
  explicit Cluster(Options opts);
  ~Cluster();

  // `same_port`: listen on the port of the previous start (a restart after a kill, as in production).
  void StartUpstream(bool same_port = false);
  void StartAuth();
  // usagesvc with its data in the temporary directory (same port again after a restart).
  void StartUsage(const std::map<std::string, std::string>& extra_env = {});
  void StartGateway(bool same_port = false);
  void StopGateway(int sig = 15);
  // Changes a gateway variable for the next StartGateway / StartExtraGateway.
  void SetGatewayEnv(const std::string& name, const std::string& value) { opts_.gateway_env[name] = value; }
  // The same for authsvc's next StartAuth.
  void SetAuthEnv(const std::string& name, const std::string& value) { opts_.auth_env[name] = value; }
  // Another gateway beside the cluster's own (same settings plus `env`), log in dir/`name`.log. Waits
  // for its port (stored in *port) unless `expect_port` is false (a gateway meant to refuse to start);
  // the caller stops it.
  std::unique_ptr<Process> StartExtraGateway(const std::string& name, const std::map<std::string, std::string>& env,
                                             int* port, bool expect_port = true);
  void KillAuth() { auth_.reset(); }

  int gateway_port() const { return gateway_port_; }
  int auth_port() const { return auth_port_; }
  int upstream_port() const { return upstream_port_; }
  const std::string& admin_key() const { return admin_key_; }
  const TempDir& dir() const { return dir_; }
  const std::map<std::string, std::string>& service_env() const { return opts_.service_env; }
  Process* gateway() { return gateway_.get(); }
  Process* auth() { return auth_.get(); }
  Process* upstream() { return upstream_.get(); }
  Process* usage() { return usage_.get(); }
  int usage_port() const { return usage_port_; }
  // The services' metrics ports (0: off, or not started).
  int auth_metrics_port() const { return auth_metrics_port_; }
  int usage_metrics_port() const { return usage_metrics_port_; }
  std::string spool_file() const { return dir_.File("usage-spool.log"); }
  std::string keys_file() const { return dir_.File("keys.json"); }

  // Creates a client key through the gateway's admin API; returns the full key.
  std::string CreateKey(const std::string& name);
  // Disables/enables a key through the admin API; returns the HTTP status.
  int SetEnabled(const std::string& key, bool enabled);

  // Requests through the gateway.
  HttpResponse Gateway(const std::string& method, const std::string& target, const Headers& headers = {},
                       const std::string& body = "");
  // Sets a model's behaviour on the fake upstream (JSON, see tests/fakes).
  void SetModel(const std::string& model, const std::string& json);
  // The fake upstream's record of received requests (JSON text).
  std::string UpstreamRequests();

 private:
  std::map<std::string, std::string> GatewayEnv();
  Options opts_;
  TempDir dir_;
  std::string admin_key_;
  std::unique_ptr<Process> upstream_, auth_, usage_, gateway_;
  int upstream_port_ = 0, auth_port_ = 0, usage_port_ = 0, gateway_port_ = 0;
  int auth_metrics_port_ = 0, usage_metrics_port_ = 0;
};

// The port a service wrote to its --metrics-port-file (0: none written, e.g. with metrics off).
int ReadMetricsPortFile(const std::string& path);

// A port nothing listens on (bound, then released).
int UnusedPort();

// An OpenClaw-like /v1/messages body of about `bytes` bytes: 2 system blocks with cache_control,
// 12 tools (the last with cache_control), a conversation with tool_use / tool_result.
std::string OpenClawLikeBody(const std::string& model, size_t bytes, bool stream);

// fallbacksvc (the real binary) beside a cluster: FALLBACK_CONFIG = dir/fallback.json (written from
// `config_json` unless it is empty, so a restart can keep the file), FALLBACK_STATE_FILE =
// dir/fallback-state.json, UPSTREAM_URL = the cluster's fake upstream, AUTHSVC_ADDR = its authsvc. Listens
// on 127.0.0.1:`*port`; 0 picks a free port first and stores it in `*port`, so a gateway can be given
// the address before, and a restart can reuse it. Its metrics listen on a free loopback port, stored in
// `*metrics_port` if given (0 when FALLBACKSVC_METRICS_LISTEN=off is passed in `extra_env`). Throws if
// it does not start; the caller stops it.
std::unique_ptr<Process> StartFallbackService(const Cluster& cluster, const std::string& config_json, int* port,
                                              const std::map<std::string, std::string>& extra_env = {},
                                              int* metrics_port = nullptr);

}  // namespace luna::testing
