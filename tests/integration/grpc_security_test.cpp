// Integration: the internal gRPC links under TLS, mutual TLS and the internal token (GRPC_TLS_*,
// INTERNAL_TOKEN; common/grpc_security.h), on the real binaries, with certificates the test makes with
// the openssl command line. The clients that probe the servers here are plain grpc++ ones, not
// common/grpc_security, so the servers are checked against an independent client.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "auth.grpc.pb.h"
#include "fallback.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/support/test_certs.h"
#include "usage.grpc.pb.h"

namespace luna::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using Env = std::map<std::string, std::string>;
namespace hpb = grpc::health::v1;
namespace apb = luna::auth::v1;
namespace upb = luna::usage::v1;
namespace fpb = luna::fallback::v1;

constexpr const char* kToken = "luna-test-internal-token-5f0c2e9a77d1";
constexpr const char* kTokenHeader = "x-luna-internal-token";

std::string Address(int port) { return "127.0.0.1:" + std::to_string(port); }

std::shared_ptr<grpc::ChannelCredentials> Plaintext() { return grpc::InsecureChannelCredentials(); }

// TLS trusting `ca`, presenting `cert`/`key` if given.
std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& ca, const std::string& cert = "",
                                              const std::string& key = "") {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadAll(ca);
  if (!cert.empty()) {
    options.pem_cert_chain = ReadAll(cert);
    options.pem_private_key = ReadAll(key);
  }
  return grpc::SslCredentials(options);
}

std::shared_ptr<grpc::Channel> Channel(int port, std::shared_ptr<grpc::ChannelCredentials> creds,
                                       const std::string& server_name = "") {
  grpc::ChannelArguments args;
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  return grpc::CreateCustomChannel(Address(port), std::move(creds), args);
}

void Prepare(grpc::ClientContext* ctx, const std::string& token) {
  ctx->set_deadline(std::chrono::system_clock::now() + 10s);
  if (!token.empty()) ctx->AddMetadata(kTokenHeader, token);
}

// grpc.health.v1 Check of the server as a whole; OK only when it answers SERVING.
grpc::Status HealthCheck(const std::shared_ptr<grpc::Channel>& channel, const std::string& token = "") {
  grpc::ClientContext ctx;
  Prepare(&ctx, token);
  hpb::HealthCheckResponse res;
  grpc::Status st = hpb::Health::NewStub(channel)->Check(&ctx, hpb::HealthCheckRequest(), &res);
  if (st.ok() && res.status() != hpb::HealthCheckResponse::SERVING) {
    return grpc::Status(grpc::StatusCode::UNKNOWN, "answered, but not SERVING");
  }
  return st;
}

// One ordinary call of each service — one a gateway makes, which needs no admin credential.
grpc::Status AuthCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& token) {
  grpc::ClientContext ctx;
  Prepare(&ctx, token);
  apb::ValidateKeyRequest req;
  req.set_key("sk-no-such-key-0000000000");
  apb::ValidateKeyResponse res;
  return apb::AuthService::NewStub(channel)->ValidateKey(&ctx, req, &res);
}
grpc::Status UsageCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& token) {
  grpc::ClientContext ctx;
  Prepare(&ctx, token);
  upb::RecordUsageResponse res;
  return upb::UsageService::NewStub(channel)->RecordUsage(&ctx, upb::RecordUsageRequest(), &res);
}
grpc::Status FallbackCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& token) {
  grpc::ClientContext ctx;
  Prepare(&ctx, token);
  fpb::ReportOutcomesResponse res;
  return fpb::FallbackService::NewStub(channel)->ReportOutcomes(&ctx, fpb::ReportOutcomesRequest(), &res);
}
// A WatchKeys stream: the status it ends with, or OK once its first event (the snapshot) arrived.
grpc::Status WatchKeysCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& token) {
  grpc::ClientContext ctx;
  Prepare(&ctx, token);
  auto reader = apb::AuthService::NewStub(channel)->WatchKeys(&ctx, apb::WatchKeysRequest());
  apb::KeyEvent event;
  if (reader->Read(&event)) {
    ctx.TryCancel();
    reader->Finish();
    return grpc::Status::OK;
  }
  return reader->Finish();
}

// Runs `binary --probe 127.0.0.1:port` with `env` (as compose's health check does) and returns its
// exit code (-1: it did not exit normally within 20 s).
int RunProbe(const std::string& binary, int port, const Env& env, const std::string& log) {
  Process probe(binary, {"--probe", Address(port)}, env, log);
  int status = probe.Stop(0, 20s);
  return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Every log the cluster's processes wrote (the *.log files of its directory).
std::vector<std::string> Logs(const Cluster& c) {
  std::vector<std::string> out;
  for (const char* name : {"authsvc.log", "usagesvc.log", "fallbacksvc.log", "gateway.log", "upstream.log"}) {
    out.push_back(ReadAll(c.dir().File(name)));
  }
  return out;
}

class GrpcSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_dir_ = new TempDir();
    certs_ = new TestCerts(TestCerts::Make(certs_dir_->path()));
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete certs_dir_;
  }

  // The services' settings for mutual TLS (the services' certificate serves as their client
  // certificate too), with the token if asked.
  static Env MutualTls(bool token) {
    Env env{{"GRPC_TLS_CA", certs_->ca}, {"GRPC_TLS_CERT", certs_->server_cert}, {"GRPC_TLS_KEY", certs_->server_key}};
    if (token) env["INTERNAL_TOKEN"] = kToken;
    return env;
  }
  // The gateway's: a client certificate of its own.
  static Env GatewayMutualTls(int fallback_port) {
    return {{"GRPC_TLS_CERT", certs_->client_cert},
            {"GRPC_TLS_KEY", certs_->client_key},
            {"FALLBACKSVC_ADDR", Address(fallback_port)}};
  }

  static std::string FallbackConfig() {
    json cfg = {{"enabled", true},
                {"health_poll_interval_seconds", 1},
                {"tiers", {{{"name", "main"}, {"model", "claude-sec"}, {"type", "antigravity"}}}}};
    return cfg.dump();
  }

  // Starts everything: fake upstream, authsvc, usagesvc, fallbacksvc, gateway (which is healthy only
  // once its key table came over the authsvc link).
  static std::unique_ptr<Process> StartAll(Cluster& c, int* fallback_port) {
    c.StartUpstream();
    c.StartAuth();
    c.StartUsage();
    auto fallback = StartFallbackService(c, FallbackConfig(), fallback_port);
    c.StartGateway();
    return fallback;
  }

  // A real model request through the gateway, its usage in usagesvc (read back through the admin API,
  // which asks usagesvc, which asks authsvc), and every link of the gateway up.
  static void ExpectClusterServes(Cluster& c) {
    std::string key = c.CreateKey("secure-agent");  // gateway → authsvc, an admin call
    c.SetModel("claude-sec", R"({"events": 3, "usage": {"input_tokens": 5, "output_tokens": 7}})");
    Headers h = {{"x-api-key", key}, {"content-type", "application/json"}};
    auto r = c.Gateway("POST", "/v1/messages", h,
                       R"({"model":"claude-sec","max_tokens":9,"messages":[{"role":"user","content":"hi"}]})");
    ASSERT_EQ(r.status, 200) << r.body;
    auto s =
        c.Gateway("POST", "/v1/messages", h,
                  R"({"model":"claude-sec","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]})");
    ASSERT_EQ(s.status, 200) << s.body;
    Headers admin = {{"x-api-key", c.admin_key()}};
    json totals;
    ASSERT_TRUE(Eventually(
        [&] {
          auto t = c.Gateway("GET", "/admin/usage", admin);
          if (t.status != 200) return false;
          totals = json::parse(t.body);
          return totals["total_requests"] == 2;
        },
        20s))
        << totals.dump() << " " << c.Gateway("GET", "/health").body;
    EXPECT_EQ(totals["total_input_tokens"], 10);
    EXPECT_EQ(totals["total_output_tokens"], 14);
    EXPECT_EQ(c.Gateway("GET", "/admin/fallback", admin).status, 200);  // gateway → fallbacksvc → authsvc
    json health;
    EXPECT_TRUE(Eventually(
        [&] {
          health = json::parse(c.Gateway("GET", "/health").body);
          const json& svc = health["services"];
          return svc["authsvc"]["serving"] == true && svc["authsvc"]["watch"] == "synced" &&
                 svc["usagesvc"]["connected"] == true && svc["usagesvc"]["spend_stream"] == "synced" &&
                 svc["fallbacksvc"]["watch"] == "synced";
        },
        15s))
        << health.dump();
  }

  static void ExpectNoSecretInLogs(const Cluster& c) {
    // The second line of a PEM key is base64 of the key itself.
    std::string pem = ReadAll(certs_->server_key);
    std::string key_line = pem.substr(pem.find('\n') + 1, 40);
    for (const std::string& log : Logs(c)) {
      EXPECT_EQ(log.find(kToken), std::string::npos) << log;
      EXPECT_EQ(log.find(key_line), std::string::npos) << log;
    }
  }

  static TempDir* certs_dir_;
  static TestCerts* certs_;
};

TempDir* GrpcSecurityTest::certs_dir_ = nullptr;
TestCerts* GrpcSecurityTest::certs_ = nullptr;

// Every link under mutual TLS and the token: the whole cluster serves a model request, records its
// usage and creates keys; each service's --probe (compose's health check) passes with the services'
// environment; a client with the right certificate but no token is refused; nothing secret is logged.
TEST_F(GrpcSecurityTest, WholeClusterWorksOverMutualTlsWithToken) {
  int fallback_port = UnusedPort();
  Cluster c(Cluster::Options{.gateway_env = GatewayMutualTls(fallback_port), .service_env = MutualTls(true)});
  auto fallback = StartAll(c, &fallback_port);
  ExpectClusterServes(c);
  if (HasFatalFailure()) return;

  for (const char* name : {"authsvc.log", "usagesvc.log", "fallbacksvc.log"}) {
    EXPECT_NE(ReadAll(c.dir().File(name))
                  .find("gRPC links: TLS (CA " + certs_->ca + ", certificate " + certs_->server_cert +
                        ", client certificates required), internal token on"),
              std::string::npos)
        << name;
  }
  EXPECT_NE(ReadAll(c.dir().File("gateway.log")).find("certificate " + certs_->client_cert), std::string::npos);

  std::map<std::string, int> ports{
      {LUNA_AUTHSVC_BIN, c.auth_port()}, {LUNA_USAGESVC_BIN, c.usage_port()}, {LUNA_FALLBACKSVC_BIN, fallback_port}};
  Env no_token = MutualTls(false);
  for (const auto& [binary, port] : ports) {
    EXPECT_EQ(RunProbe(binary, port, MutualTls(true), c.dir().File("probe.log")), 0)
        << ReadAll(c.dir().File("probe.log"));
    EXPECT_EQ(RunProbe(binary, port, no_token, c.dir().File("probe.log")), 1) << binary << ": probe without the token";
    auto channel = Channel(port, Tls(certs_->ca, certs_->client_cert, certs_->client_key));
    EXPECT_EQ(HealthCheck(channel).error_code(), grpc::StatusCode::UNAUTHENTICATED) << binary;
    EXPECT_TRUE(HealthCheck(channel, kToken).ok()) << binary;
  }

  fallback->Stop(SIGTERM, 10s);
  ExpectNoSecretInLogs(c);
}

// The token without TLS: the cluster works, and every service refuses a call — health check, ordinary
// call or stream — without the token or with a wrong one (UNAUTHENTICATED), and takes it with the right
// one. The probes follow the environment.
TEST_F(GrpcSecurityTest, TokenWithoutTlsGuardsEveryService) {
  int fallback_port = UnusedPort();
  Cluster c(Cluster::Options{.gateway_env = {{"FALLBACKSVC_ADDR", Address(fallback_port)}},
                             .service_env = {{"INTERNAL_TOKEN", kToken}}});
  auto fallback = StartAll(c, &fallback_port);
  ExpectClusterServes(c);
  if (HasFatalFailure()) return;
  EXPECT_NE(ReadAll(c.dir().File("authsvc.log")).find("gRPC links: plaintext, internal token on"), std::string::npos);

  using Call = grpc::Status (*)(const std::shared_ptr<grpc::Channel>&, const std::string&);
  struct Case {
    const char* binary;
    int port;
    Call call;
  };
  const std::string wrong = std::string(kToken).substr(0, 20) + "0000000000000000000";
  for (const Case& k :
       {Case{LUNA_AUTHSVC_BIN, c.auth_port(), &AuthCall}, Case{LUNA_AUTHSVC_BIN, c.auth_port(), &WatchKeysCall},
        Case{LUNA_USAGESVC_BIN, c.usage_port(), &UsageCall},
        Case{LUNA_FALLBACKSVC_BIN, fallback_port, &FallbackCall}}) {
    auto channel = Channel(k.port, Plaintext());
    for (const std::string& bad : {std::string(), wrong, std::string(kToken) + "x", std::string(kToken).substr(1)}) {
      grpc::Status st = k.call(channel, bad);
      EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << k.binary << " token \"" << bad << "\"";
      EXPECT_EQ(st.error_message(), "missing or wrong internal token");
      EXPECT_EQ(HealthCheck(channel, bad).error_code(), grpc::StatusCode::UNAUTHENTICATED) << k.binary;
    }
    EXPECT_TRUE(k.call(channel, kToken).ok()) << k.binary << ": " << k.call(channel, kToken).error_message();
    EXPECT_TRUE(HealthCheck(channel, kToken).ok()) << k.binary;
    EXPECT_EQ(RunProbe(k.binary, k.port, {{"INTERNAL_TOKEN", kToken}}, c.dir().File("probe.log")), 0) << k.binary;
    EXPECT_EQ(RunProbe(k.binary, k.port, {{"INTERNAL_TOKEN", wrong}}, c.dir().File("probe.log")), 1) << k.binary;
  }
  // The refusals are logged (at most one line per 10 s), without the token offered.
  EXPECT_NE(ReadAll(c.dir().File("authsvc.log")).find("without the right internal token"), std::string::npos);

  fallback->Stop(SIGTERM, 10s);
  ExpectNoSecretInLogs(c);
  for (const std::string& log : Logs(c)) EXPECT_EQ(log.find(wrong), std::string::npos);
}

// A mutual-TLS server takes only TLS clients with a certificate from its CA; a client takes only a
// server whose certificate its CA signed and which names the host (or GRPC_TLS_SERVER_NAME).
TEST_F(GrpcSecurityTest, MutualTlsRefusesPlaintextAnonymousAndForeignPeers) {
  Cluster c(Cluster::Options{.service_env = MutualTls(false)});
  c.StartAuth();
  const int port = c.auth_port();
  EXPECT_TRUE(HealthCheck(Channel(port, Tls(certs_->ca, certs_->client_cert, certs_->client_key))).ok());
  EXPECT_TRUE(AuthCall(Channel(port, Tls(certs_->ca, certs_->client_cert, certs_->client_key)), "").ok());
  EXPECT_TRUE(HealthCheck(Channel(port, Tls(certs_->ca, certs_->client_cert, certs_->client_key), "localhost")).ok());

  EXPECT_EQ(HealthCheck(Channel(port, Plaintext())).error_code(), grpc::StatusCode::UNAVAILABLE) << "plaintext";
  EXPECT_EQ(HealthCheck(Channel(port, Tls(certs_->ca))).error_code(), grpc::StatusCode::UNAVAILABLE)
      << "no client certificate";
  EXPECT_EQ(
      HealthCheck(Channel(port, Tls(certs_->ca, certs_->other_client_cert, certs_->other_client_key))).error_code(),
      grpc::StatusCode::UNAVAILABLE)
      << "a client certificate from another CA";
  EXPECT_EQ(HealthCheck(Channel(port, Tls(certs_->other_ca, certs_->client_cert, certs_->client_key))).error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "a server certificate the client's CA did not sign";
  EXPECT_EQ(HealthCheck(Channel(port, Tls(certs_->ca, certs_->client_cert, certs_->client_key), "authsvc.invalid"))
                .error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "a server certificate for another name";

  // The probe, as configured: GRPC_TLS_SERVER_NAME is the name checked.
  Env env = MutualTls(false);
  EXPECT_EQ(RunProbe(LUNA_AUTHSVC_BIN, port, env, c.dir().File("probe.log")), 0);
  env["GRPC_TLS_SERVER_NAME"] = "localhost";
  EXPECT_EQ(RunProbe(LUNA_AUTHSVC_BIN, port, env, c.dir().File("probe.log")), 0);
  env["GRPC_TLS_SERVER_NAME"] = "authsvc.invalid";
  EXPECT_EQ(RunProbe(LUNA_AUTHSVC_BIN, port, env, c.dir().File("probe.log")), 1);
  EXPECT_EQ(RunProbe(LUNA_AUTHSVC_BIN, port, {}, c.dir().File("probe.log")), 1) << "a plaintext probe";
}

// GRPC_TLS_CLIENT_AUTH=none: TLS without client certificates (the token can authenticate clients
// instead) — a client with the CA alone is served, a plaintext one still is not.
TEST_F(GrpcSecurityTest, ServerAuthOnlyTlsServesClientsWithoutCertificates) {
  Env env = MutualTls(true);
  env["GRPC_TLS_CLIENT_AUTH"] = "none";
  int fallback_port = UnusedPort();
  // The gateway has the CA only.
  Cluster c(Cluster::Options{.gateway_env = {{"FALLBACKSVC_ADDR", Address(fallback_port)},
                                             {"GRPC_TLS_CERT", ""},
                                             {"GRPC_TLS_KEY", ""},
                                             {"GRPC_TLS_CLIENT_AUTH", ""}},
                             .service_env = env});
  auto fallback = StartAll(c, &fallback_port);
  ExpectClusterServes(c);
  if (HasFatalFailure()) return;
  EXPECT_NE(ReadAll(c.dir().File("gateway.log")).find("certificate none"), std::string::npos);
  EXPECT_TRUE(HealthCheck(Channel(c.auth_port(), Tls(certs_->ca)), kToken).ok());
  EXPECT_EQ(HealthCheck(Channel(c.auth_port(), Tls(certs_->ca))).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(HealthCheck(Channel(c.auth_port(), Plaintext()), kToken).error_code(), grpc::StatusCode::UNAVAILABLE);
  fallback->Stop(SIGTERM, 10s);
}

// A bad setting stops every binary at start, exit status 2, with a message naming the variable (and
// never the token).
TEST_F(GrpcSecurityTest, BrokenSettingsStopEveryBinaryAtStart) {
  TempDir dir;
  const std::string missing = dir.File("no-such.pem");
  WriteAll(dir.File("token"), "\n");
  struct Case {
    Env env;
    std::string message;
    bool servers_only = false;  // the gateway serves no gRPC: a CA without a certificate is fine there
  };
  const std::string ca = certs_->ca, cert = certs_->server_cert, key = certs_->server_key;
  const std::vector<Case> cases = {
      {{{"GRPC_TLS_CA", missing}, {"GRPC_TLS_CERT", cert}, {"GRPC_TLS_KEY", key}},
       "GRPC_TLS_CA: no such file: " + missing},
      {{{"GRPC_TLS_CA", key}, {"GRPC_TLS_CERT", cert}, {"GRPC_TLS_KEY", key}},
       "GRPC_TLS_CA: " + key + " holds no PEM certificate"},
      {{{"GRPC_TLS_CA", ca}, {"GRPC_TLS_CERT", cert}}, "GRPC_TLS_CERT is set without GRPC_TLS_KEY"},
      {{{"GRPC_TLS_CA", ca}, {"GRPC_TLS_KEY", key}}, "GRPC_TLS_KEY is set without GRPC_TLS_CERT"},
      {{{"GRPC_TLS_CA", ca}, {"GRPC_TLS_CERT", missing}, {"GRPC_TLS_KEY", key}}, "GRPC_TLS_CERT: no such file"},
      {{{"GRPC_TLS_CA", ca}, {"GRPC_TLS_CERT", cert}, {"GRPC_TLS_KEY", ca}},
       "GRPC_TLS_KEY: " + ca + " holds no PEM private key"},
      {{{"GRPC_TLS_CA", ca}, {"GRPC_TLS_CERT", certs_->client_cert}, {"GRPC_TLS_KEY", key}},
       "does not belong to the certificate"},
      {{{"GRPC_TLS_CA", ca}, {"GRPC_TLS_CERT", certs_->expired_cert}, {"GRPC_TLS_KEY", key}}, "has expired"},
      {{{"GRPC_TLS_CERT", cert}, {"GRPC_TLS_KEY", key}}, "GRPC_TLS_CERT is set but GRPC_TLS_CA is not"},
      {{{"GRPC_TLS_CA", ca}, {"GRPC_TLS_CERT", cert}, {"GRPC_TLS_KEY", key}, {"GRPC_TLS_CLIENT_AUTH", "optional"}},
       "GRPC_TLS_CLIENT_AUTH: expected require or none"},
      {{{"GRPC_TLS_CA", ca}}, "a gRPC server needs its own certificate", true},
      {{{"INTERNAL_TOKEN", "short-token"}}, "INTERNAL_TOKEN: the token must be 16 to 4096 printable ASCII"},
      {{{"INTERNAL_TOKEN", "a token with spaces in it"}}, "INTERNAL_TOKEN: the token must be"},
      {{{"INTERNAL_TOKEN_FILE", missing}}, "INTERNAL_TOKEN_FILE: no such file: " + missing},
      {{{"INTERNAL_TOKEN_FILE", dir.File("token")}}, "INTERNAL_TOKEN_FILE: " + dir.File("token") + " is empty"},
      {{{"INTERNAL_TOKEN", kToken}, {"INTERNAL_TOKEN_FILE", dir.File("token")}}, "both set"},
  };
  // Everything else valid and local, so that only the security setting can stop them.
  const Env base{{"AUTHSVC_LISTEN", "127.0.0.1:0"},        {"AUTHSVC_METRICS_LISTEN", "off"},
                 {"KEYS_FILE", dir.File("keys.json")},     {"USAGESVC_LISTEN", "127.0.0.1:0"},
                 {"USAGESVC_METRICS_LISTEN", "off"},       {"USAGE_DATA_DIR", dir.File("usage")},
                 {"FALLBACKSVC_LISTEN", "127.0.0.1:0"},    {"FALLBACKSVC_METRICS_LISTEN", "off"},
                 {"FALLBACK_CONFIG", dir.File("fb.json")}, {"FALLBACK_STATE_FILE", dir.File("fb-state.json")},
                 {"GATEWAY_LISTEN", "127.0.0.1:0"},        {"USAGE_SPOOL_FILE", dir.File("spool.log")}};
  for (const char* binary : {LUNA_AUTHSVC_BIN, LUNA_USAGESVC_BIN, LUNA_FALLBACKSVC_BIN, LUNA_GATEWAY_BIN}) {
    bool is_gateway = std::string(binary) == LUNA_GATEWAY_BIN;
    for (const Case& k : cases) {
      if (k.servers_only && is_gateway) continue;
      Env env = base;
      for (const auto& [name, value] : k.env) env[name] = value;
      std::string log = dir.File("start.log");
      std::remove(log.c_str());
      Process p(binary, {}, env, log);
      int status = p.Stop(0, 20s);
      EXPECT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 2)
          << binary << " with " << json(k.env).dump() << ": status " << status << "\n"
          << ReadAll(log);
      EXPECT_NE(ReadAll(log).find(k.message), std::string::npos)
          << binary << " with " << json(k.env).dump() << ": expected \"" << k.message << "\" in\n"
          << ReadAll(log);
      EXPECT_EQ(ReadAll(log).find("short-token"), std::string::npos);
      EXPECT_EQ(ReadAll(log).find(kToken), std::string::npos);
    }
  }
  // The probes say what is wrong too.
  Env env = {{"GRPC_TLS_CERT", cert}, {"GRPC_TLS_KEY", key}};
  EXPECT_EQ(RunProbe(LUNA_AUTHSVC_BIN, UnusedPort(), env, dir.File("probe.log")), 1);
  EXPECT_NE(ReadAll(dir.File("probe.log")).find("GRPC_TLS_CERT is set but GRPC_TLS_CA is not"), std::string::npos);
}

}  // namespace
}  // namespace luna::testing
