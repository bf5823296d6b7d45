#include "tests/integration/cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace luna::testing {

using json = nlohmann::json;

Cluster::Cluster(Options opts) : opts_(std::move(opts)) {
  admin_key_ = "sk-admin-test-" + std::to_string(getpid()) + "-" + std::to_string(rand());
  if (!opts_.keys_file_content.empty()) WriteAll(keys_file(), opts_.keys_file_content);
}

Cluster::~Cluster() {
  // Stop in reverse order, by PID (Process destructors SIGKILL whatever is left).
  if (gateway_) gateway_->Stop(15, std::chrono::seconds(10));
  if (usage_) usage_->Stop(15, std::chrono::seconds(10));
  if (auth_) auth_->Stop(15, std::chrono::seconds(10));
  if (upstream_) upstream_->Stop(15, std::chrono::seconds(10));
}

void Cluster::StartUpstream(bool same_port) {
  std::string pf = dir_.File("upstream.port");
  std::remove(pf.c_str());
  std::string listen = "127.0.0.1:" + std::to_string(same_port ? upstream_port_ : 0);
  upstream_ = std::make_unique<Process>(LUNA_FAKE_UPSTREAM_BIN,
                                        std::vector<std::string>{"--listen", listen, "--port-file", pf},
                                        std::map<std::string, std::string>{}, dir_.File("upstream.log"));
  upstream_port_ = WaitForPortFile(pf);
  if (upstream_port_ == 0) throw std::runtime_error("fake upstream did not start: " + upstream_->Log());
}

void Cluster::StartAuth() {
  std::string pf = dir_.File("auth.port");
  std::string mpf = dir_.File("auth.metrics.port");
  std::remove(pf.c_str());
  std::remove(mpf.c_str());
  std::map<std::string, std::string> env{{"KEYS_FILE", keys_file()},
                                         {"AUTHSVC_LISTEN", auth_port_ ? "127.0.0.1:" + std::to_string(auth_port_)
                                                                       : std::string("127.0.0.1:0")},
                                         {"AUTHSVC_METRICS_LISTEN", "127.0.0.1:0"}};
  if (opts_.admin_key_env) env["ADMIN_KEY"] = admin_key_;
  for (const auto& [k, v] : opts_.service_env) env[k] = v;
  for (const auto& [k, v] : opts_.auth_env) env[k] = v;
  auth_ = std::make_unique<Process>(LUNA_AUTHSVC_BIN,
                                    std::vector<std::string>{"--port-file", pf, "--metrics-port-file", mpf}, env,
                                    dir_.File("authsvc.log"));
  auth_port_ = WaitForPortFile(pf);
  if (auth_port_ == 0) throw std::runtime_error("authsvc did not start: " + auth_->Log());
  auth_metrics_port_ = ReadMetricsPortFile(mpf);
}

void Cluster::StartUsage(const std::map<std::string, std::string>& extra_env) {
#ifdef LUNA_USAGESVC_BIN
  std::string pf = dir_.File("usage.port");
  std::string mpf = dir_.File("usage.metrics.port");
  std::remove(pf.c_str());
  std::remove(mpf.c_str());
  if (usage_port_ == 0) usage_port_ = UnusedPort();
  std::map<std::string, std::string> env{{"USAGE_DATA_DIR", dir_.File("usage-data")},
                                         {"USAGESVC_LISTEN", "127.0.0.1:" + std::to_string(usage_port_)},
                                         {"AUTHSVC_ADDR", "127.0.0.1:" + std::to_string(auth_port_)},
                                         {"USAGESVC_METRICS_LISTEN", "127.0.0.1:0"}};
  for (const auto& [k, v] : opts_.service_env) env[k] = v;
  for (const auto& [k, v] : extra_env) env[k] = v;
  usage_ = std::make_unique<Process>(LUNA_USAGESVC_BIN,
                                     std::vector<std::string>{"--port-file", pf, "--metrics-port-file", mpf}, env,
                                     dir_.File("usagesvc.log"));
  if (WaitForPortFile(pf) == 0) throw std::runtime_error("usagesvc did not start: " + usage_->Log());
  usage_metrics_port_ = ReadMetricsPortFile(mpf);
#else
  (void)extra_env;
  throw std::runtime_error("usagesvc is not built");
#endif
}

std::map<std::string, std::string> Cluster::GatewayEnv() {
  std::map<std::string, std::string> env{
      {"GATEWAY_LISTEN", "127.0.0.1:0"},
      {"UPSTREAM_URL", "http://127.0.0.1:" + std::to_string(upstream_port_)},
      {"AUTHSVC_ADDR", "127.0.0.1:" + std::to_string(auth_port_)},
      {"SHUTDOWN_GRACE_SECONDS", "10"},
      {"USAGE_SPOOL_FILE", spool_file()},
      // No fallbacksvc unless a test starts one and names it in gateway_env.
      {"FALLBACKSVC_ADDR", "off"},
  };
  // usagesvc's port is fixed up front so a gateway started before it (or across its restarts)
  // finds it.
  if (usage_port_ == 0) usage_port_ = UnusedPort();
  env["USAGESVC_ADDR"] = "127.0.0.1:" + std::to_string(usage_port_);
  for (const auto& [k, v] : opts_.service_env) env[k] = v;
  for (const auto& [k, v] : opts_.gateway_env) env[k] = v;
  return env;
}

void Cluster::StartGateway(bool same_port) {
  std::string pf = dir_.File("gateway.port");
  std::remove(pf.c_str());
  auto env = GatewayEnv();
  if (same_port) env["GATEWAY_LISTEN"] = "127.0.0.1:" + std::to_string(gateway_port_);
  gateway_ = std::make_unique<Process>(LUNA_GATEWAY_BIN, std::vector<std::string>{"--port-file", pf}, env,
                                       dir_.File("gateway.log"));
  gateway_port_ = WaitForPortFile(pf);
  if (gateway_port_ == 0) throw std::runtime_error("gateway did not start: " + gateway_->Log());
  // Ready when its key table is synced (health 200), if authsvc runs.
  if (auth_) {
    bool ok = Eventually([&] { return Fetch(gateway_port_, "GET", "/health").status == 200; });
    if (!ok) throw std::runtime_error("gateway never became healthy: " + gateway_->Log());
  }
}

std::unique_ptr<Process> Cluster::StartExtraGateway(const std::string& name,
                                                    const std::map<std::string, std::string>& extra, int* port,
                                                    bool expect_port) {
  std::string pf = dir_.File(name + ".port");
  std::remove(pf.c_str());
  auto env = GatewayEnv();
  for (const auto& [k, v] : extra) env[k] = v;
  auto p = std::make_unique<Process>(LUNA_GATEWAY_BIN, std::vector<std::string>{"--port-file", pf}, env,
                                     dir_.File(name + ".log"));
  if (!expect_port) return p;
  *port = WaitForPortFile(pf);
  if (*port == 0) throw std::runtime_error(name + " did not start: " + p->Log());
  if (auth_) {
    bool ok = Eventually([&] { return Fetch(*port, "GET", "/health").status == 200; });
    if (!ok) throw std::runtime_error(name + " never became healthy: " + p->Log());
  }
  return p;
}

void Cluster::StopGateway(int sig) {
  if (gateway_) gateway_->Stop(sig, std::chrono::seconds(20));
}

std::string Cluster::CreateKey(const std::string& name) {
  auto r = Gateway("POST", "/admin/keys", {{"x-api-key", admin_key_}, {"content-type", "application/json"}},
                   json{{"name", name}}.dump());
  if (r.status != 200) throw std::runtime_error("create key failed: " + std::to_string(r.status) + " " + r.body);
  return json::parse(r.body).at("api_key").get<std::string>();
}

int Cluster::SetEnabled(const std::string& key, bool enabled) {
  return Gateway("POST", "/admin/keys/" + key + (enabled ? "/enable" : "/disable"), {{"x-api-key", admin_key_}})
      .status;
}

HttpResponse Cluster::Gateway(const std::string& method, const std::string& target, const Headers& headers,
                              const std::string& body) {
  return Fetch(gateway_port_, method, target, headers, body);
}

void Cluster::SetModel(const std::string& model, const std::string& body) {
  auto r = Fetch(upstream_port_, "POST", "/_control/models/" + model, {{"content-type", "application/json"}}, body);
  if (r.status != 200) throw std::runtime_error("fake upstream control failed: " + r.body);
}

std::string Cluster::UpstreamRequests() { return Fetch(upstream_port_, "GET", "/_control/requests").body; }

int ReadMetricsPortFile(const std::string& path) {
  // The metrics port is bound (and its file written) before the gRPC port file appears.
  std::string text = ReadAll(path);
  return text.empty() ? 0 : std::atoi(text.c_str());
}

int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::string OpenClawLikeBody(const std::string& model, size_t bytes, bool stream) {
  json tools = json::array();
  for (int i = 0; i < 12; ++i) {
    json t = {{"name", "tool_" + std::to_string(i)},
              {"description", "Does thing number " + std::to_string(i) + " for the agent, carefully."},
              {"input_schema",
               {{"type", "object"},
                {"properties", {{"path", {{"type", "string"}}}, {"limit", {{"type", "integer"}}}}},
                {"required", json::array({"path"})}}}};
    if (i == 11) t["cache_control"] = {{"type", "ephemeral"}};
    tools.push_back(t);
  }
  json body = {
      {"model", model},
      {"max_tokens", 8192},
      {"stream", stream},
      {"system",
       json::array({{{"type", "text"}, {"text", "You are a personal assistant running inside OpenClaw."}},
                    {{"type", "text"}, {"text", std::string("")}, {"cache_control", {{"type", "ephemeral"}}}}})},
      {"tools", tools},
      {"messages",
       json::array(
           {{{"role", "user"}, {"content", "List the files in my home directory, please. Ünïcödé ✓ \"quoted\""}},
            {{"role", "assistant"},
             {"content", json::array({{{"type", "tool_use"},
                                       {"id", "toolu_01"},
                                       {"name", "tool_0"},
                                       {"input", {{"path", "/home"}}}}})}},
            {{"role", "user"},
             {"content", json::array({{{"type", "tool_result"},
                                       {"tool_use_id", "toolu_01"},
                                       {"content", "a.txt\nb.txt"},
                                       {"cache_control", {{"type", "ephemeral"}}}}})}}})},
      {"metadata", {{"user_id", "agent-1"}}},
      {"an_unknown_field", {{"kept", true}}},
  };
  std::string s = body.dump();
  if (s.size() < bytes) {
    // Grow the big system block to reach the size asked for.
    std::string filler;
    size_t need = bytes - s.size();
    const std::string line = "Agent workspace rules: be careful, be brief, use tools well. ";
    while (filler.size() < need) filler += line;
    filler.resize(need);
    body["system"][1]["text"] = filler;
    s = body.dump();
  }
  return s;
}

std::unique_ptr<Process> StartFallbackService(const Cluster& cluster, const std::string& config_json, int* port,
                                              const std::map<std::string, std::string>& extra_env,
                                              int* metrics_port) {
#ifdef LUNA_FALLBACKSVC_BIN
  const TempDir& dir = cluster.dir();
  if (!config_json.empty()) WriteAll(dir.File("fallback.json"), config_json);
  if (*port == 0) *port = UnusedPort();
  std::string pf = dir.File("fallbacksvc.port");
  std::string mpf = dir.File("fallbacksvc.metrics.port");
  std::remove(pf.c_str());
  std::remove(mpf.c_str());
  std::map<std::string, std::string> env{
      {"FALLBACK_CONFIG", dir.File("fallback.json")},
      {"FALLBACK_STATE_FILE", dir.File("fallback-state.json")},
      {"FALLBACKSVC_LISTEN", "127.0.0.1:" + std::to_string(*port)},
      {"UPSTREAM_URL", "http://127.0.0.1:" + std::to_string(cluster.upstream_port())},
      {"AUTHSVC_ADDR", "127.0.0.1:" + std::to_string(cluster.auth_port())},
      {"FALLBACK_HEALTH_TIMEOUT_MS", "2000"},
      {"FALLBACKSVC_METRICS_LISTEN", "127.0.0.1:0"},
  };
  for (const auto& [k, v] : cluster.service_env()) env[k] = v;
  for (const auto& [k, v] : extra_env) env[k] = v;
  auto process = std::make_unique<Process>(LUNA_FALLBACKSVC_BIN,
                                           std::vector<std::string>{"--port-file", pf, "--metrics-port-file", mpf},
                                           env, dir.File("fallbacksvc.log"));
  if (WaitForPortFile(pf) == 0) throw std::runtime_error("fallbacksvc did not start: " + process->Log());
  if (metrics_port != nullptr) *metrics_port = ReadMetricsPortFile(mpf);
  return process;
#else
  (void)cluster;
  (void)config_json;
  (void)port;
  (void)extra_env;
  (void)metrics_port;
  throw std::runtime_error("fallbacksvc is not built");
#endif
}

}  // namespace luna::testing
