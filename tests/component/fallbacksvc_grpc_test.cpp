// fallbacksvc through its gRPC API: the real FallbackService (in process on port 0, or the real binary),
// a real AuthService for the admin checks, and the real fake_upstream binary serving quota documents.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "authsvc/auth_grpc_service.h"
#include "authsvc/key_manager.h"
#include "common/atomic_file.h"
#include "common/grpc_admin_check.h"
#include "common/grpc_server.h"
#include "common/health_probe.h"
#include "fallback.grpc.pb.h"
#include "fallbacksvc/fallback_grpc_service.h"
#include "fallbacksvc/http_get.h"
#include "fallbacksvc/quota_poller.h"
#include "fallbacksvc/route_keeper.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace luna::fallbacksvc {
namespace {

namespace pb = luna::fallback::v1;
using namespace std::chrono_literals;
using ::luna::testing::Eventually;
using ::luna::testing::Process;
using ::luna::testing::TempDir;

constexpr char kAdminKey[] = "sk-admin-fallback-component-test-000000000";

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& header = "", const std::string& value = "") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + 10s);
  if (!header.empty()) ctx->AddMetadata(header, value);
  return ctx;
}

std::unique_ptr<grpc::ClientContext> Admin() { return Ctx("x-api-key", kAdminKey); }

// Extended format: three tiers, short cooldown steps so expiry is observable, 1 s quota polls of the
// default upstream (UPSTREAM_URL = the fake upstream).
std::string Config(const std::string& extra_tier = "") {
  return R"({
    "enabled": true,
    "health_poll_interval_seconds": 1,
    "min_remaining_fraction": 0.1,
    "cooldown_steps_seconds": [0.3, 0.6],
    "providers": [
      {"name": "deepseek", "base_url": "http://127.0.0.1:1/v1", "format": "openai", "api_key": "sk-secret-deepseek"}
    ],
    "tiers": [
      {"name": "opus", "model": "claude-opus", "capabilities": {"context_window": 200000, "thinking": true}},
      {"name": "sonnet", "model": "claude-sonnet"},
      {"name": "deepseek", "model": "deepseek-chat", "provider": "deepseek", "max_tokens_limit": 8192,
       "capabilities": {"images": false}})" +
         extra_tier + R"(
    ]
  })";
}

pb::ReportOutcomesRequest OneOutcome(const std::string& tier, pb::OutcomeKind kind, int status,
                                     int64_t retry_after_ms = 0) {
  pb::ReportOutcomesRequest r;
  pb::Outcome* o = r.add_outcomes();
  o->set_tier(tier);
  o->set_kind(kind);
  o->set_status(status);
  o->set_retry_after_ms(retry_after_ms);
  o->set_message("rate limited by the test");
  o->set_gateway_id("gw-test");
  return r;
}

// Reads a WatchRoutes stream on its own thread and keeps every table received.
class Watcher {
 public:
  Watcher(pb::FallbackService::Stub* stub, const std::string& id) {
    pb::WatchRoutesRequest req;
    req.set_gateway_id(id);
    reader_ = stub->WatchRoutes(&ctx_, req);
    thread_ = std::thread([this] {
      pb::RouteTable t;
      while (reader_->Read(&t)) {
        std::lock_guard lock(mu_);
        tables_.push_back(t);
        cv_.notify_all();
      }
      std::lock_guard lock(mu_);
      ended_ = true;
      status_ = reader_->Finish();
      cv_.notify_all();
    });
  }
  ~Watcher() {
    ctx_.TryCancel();
    thread_.join();
  }

  // The first table received after `after` tables for which `pred` holds, within `timeout`.
  std::optional<pb::RouteTable> WaitFor(const std::function<bool(const pb::RouteTable&)>& pred,
                                        std::chrono::milliseconds timeout = 10s, size_t after = 0) {
    std::unique_lock lock(mu_);
    std::optional<pb::RouteTable> found;
    cv_.wait_for(lock, timeout, [&] {
      for (size_t i = after; i < tables_.size(); ++i) {
        if (pred(tables_[i])) {
          found = tables_[i];
          return true;
        }
      }
      return ended_;
    });
    return found;
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return tables_.size();
  }
  bool WaitEnded(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ended_; });
  }
  std::vector<pb::RouteTable> tables() {
    std::lock_guard lock(mu_);
    return tables_;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<pb::RouteTable>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<pb::RouteTable> tables_;
  bool ended_ = false;
  grpc::Status status_;
};

std::vector<int> PlanOf(const pb::RouteTable& t, const std::string& model) {
  auto it = t.plans().find(model);
  if (it == t.plans().end()) return {};
  return {it->second.tiers().begin(), it->second.tiers().end()};
}

// The fake upstream binary on a free port.
class FakeUpstream {
 public:
  explicit FakeUpstream(const TempDir& dir) {
    std::string pf = dir.File("upstream.port");
    process_ = std::make_unique<Process>(LUNA_FAKE_UPSTREAM_BIN,
                                         std::vector<std::string>{"--listen", "127.0.0.1:0", "--port-file", pf},
                                         std::map<std::string, std::string>{}, dir.File("upstream.log"));
    port_ = luna::testing::WaitForPortFile(pf);
  }
  ~FakeUpstream() { process_->Stop(SIGTERM, 5s); }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Sets the accounts its /health serves.
  void SetQuota(double opus, double sonnet) {
    nlohmann::json body = {
        {"accounts",
         {{{"email", "a@test"},
           {"models",
            {{"claude-opus", {{"remainingFraction", opus}}}, {"claude-sonnet", {{"remainingFraction", 0.01}}}}}},
          {{"email", "b@test"}, {"models", {{"claude-sonnet", {{"remainingFraction", sonnet}}}}}}}}};
    auto r =
        luna::testing::Fetch(port_, "POST", "/_control/quota", {{"content-type", "application/json"}}, body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }

 private:
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

// The parts every test shares: a real authsvc in process and the fake upstream.
class FallbacksvcTestBase : public ::testing::Test {
 protected:
  void SetUp() override {
    authsvc::KeyManagerOptions ko;
    ko.keys_file = dir_.File("keys.json");
    ko.admin_key = kAdminKey;
    auto manager = authsvc::KeyManager::Create(ko);
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = std::move(*manager);
    auto alice = manager_->CreateKey("alice");
    ASSERT_TRUE(alice.ok()) << alice.status();
    client_key_ = alice->api_key;
    auth_service_ = std::make_unique<authsvc::AuthGrpcService>(manager_.get());
    auto auth_server = GrpcServer::Start("127.0.0.1:0", {auth_service_.get()}, authsvc::AuthGrpcService::kHealthName);
    ASSERT_TRUE(auth_server.ok()) << auth_server.status();
    auth_server_ = std::move(*auth_server);
    auth_server_->SetServing(true);
    upstream_ = std::make_unique<FakeUpstream>(dir_);
    ASSERT_NE(upstream_->port(), 0);
  }

  void TearDown() override {
    if (auth_server_) {
      auth_service_->BeginShutdown();
      auth_server_->Shutdown(1000);
    }
  }

  std::string auth_addr() const { return "127.0.0.1:" + std::to_string(auth_server_->port()); }
  std::string config_file() const { return dir_.File("fallback.json"); }
  std::string state_file() const { return dir_.File("fallback-state.json"); }

  TempDir dir_;
  std::string client_key_;
  std::unique_ptr<authsvc::KeyManager> manager_;
  std::unique_ptr<authsvc::AuthGrpcService> auth_service_;
  std::unique_ptr<GrpcServer> auth_server_;
  std::unique_ptr<FakeUpstream> upstream_;
};

// fallbacksvc in process, wired as main.cpp wires it.
class FallbacksvcGrpcTest : public FallbacksvcTestBase {
 protected:
  void SetUp() override {
    FallbacksvcTestBase::SetUp();
    if (HasFatalFailure()) return;
    luna::testing::WriteAll(config_file(), Config());
    StartFallback();
  }

  void StartFallback() {
    admin_ = std::make_unique<GrpcAdminChecker>(grpc::CreateChannel(auth_addr(), grpc::InsecureChannelCredentials()));
    ConfigContext context{config_file(), upstream_->url(), ProcessEnv};
    RouteKeeper::Options options;
    options.state_file = state_file();
    options.load_config = [context] { return LoadFallbackConfig(context); };
    options.min_save_interval_ms = 50;
    auto keeper = RouteKeeper::Create(options);
    ASSERT_TRUE(keeper.ok()) << keeper.status();
    keeper_ = std::move(*keeper);
    QuotaPoller::Options po;
    po.timeout = 2000ms;
    poller_ = std::make_unique<QuotaPoller>(keeper_.get(), po);
    keeper_->SetConfigListener([p = poller_.get()] { p->Wake(); });
    service_ = std::make_unique<FallbackGrpcService>(keeper_.get(), admin_.get(), config_file());
    auto server = GrpcServer::Start("127.0.0.1:0", {service_.get()}, FallbackGrpcService::kHealthName);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    server_->SetServing(true);
    stub_ = pb::FallbackService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }

  void StopFallback() {
    if (!server_) return;
    service_->BeginShutdown();
    server_->Shutdown(1000);
    server_.reset();
    poller_.reset();
    keeper_->Stop();
  }

  void TearDown() override {
    StopFallback();
    FallbacksvcTestBase::TearDown();
  }

  pb::FallbackStatus StatusAsAdmin() {
    pb::FallbackStatus s;
    auto st = stub_->GetStatus(Admin().get(), pb::GetStatusRequest(), &s);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return s;
  }

  std::unique_ptr<GrpcAdminChecker> admin_;
  std::unique_ptr<RouteKeeper> keeper_;
  std::unique_ptr<QuotaPoller> poller_;
  std::unique_ptr<FallbackGrpcService> service_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<pb::FallbackService::Stub> stub_;
};

TEST_F(FallbacksvcGrpcTest, WatchGetsTheSnapshotThenATableAfterARateLimit) {
  // The first message is the table in force; a 429 with retry-after pushes a new version without opus,
  // and ReportOutcomes answers that version.
  Watcher w(stub_.get(), "gw-1");
  auto first = w.WaitFor([](const pb::RouteTable&) { return true; });
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->enabled());
  ASSERT_EQ(first->tiers_size(), 3);
  EXPECT_EQ(PlanOf(*first, "claude-opus"), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(first->tiers(0).capabilities().context_window(), 200000);
  EXPECT_FALSE(first->tiers(0).capabilities().has_tools());
  EXPECT_EQ(first->tiers(2).max_tokens_limit(), 8192);
  ASSERT_EQ(first->providers_size(), 2);
  EXPECT_EQ(first->providers(0).name(), "upstream");
  EXPECT_EQ(first->providers(0).base_url(), "");
  EXPECT_EQ(first->providers(1).base_url(), "http://127.0.0.1:1");
  EXPECT_EQ(first->providers(1).api_key(), "sk-secret-deepseek");  // the gateway needs it

  pb::ReportOutcomesResponse resp;
  auto st = stub_->ReportOutcomes(Ctx().get(), OneOutcome("opus", pb::RATE_LIMITED, 429, 5000), &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_GT(resp.table_version(), first->version());
  auto cooled = w.WaitFor([](const pb::RouteTable& t) { return !t.tiers(0).available(); });
  ASSERT_TRUE(cooled.has_value());
  EXPECT_EQ(cooled->version(), resp.table_version());
  EXPECT_EQ(PlanOf(*cooled, "claude-opus"), (std::vector<int>{1, 2}));
  EXPECT_EQ(cooled->tiers(0).cooldown_reason(),
            "429 rate_limited: cooling 5s, retry-after 5s: rate limited by the test");
  EXPECT_NEAR(static_cast<double>(cooled->tiers(0).cooldown_until_unix_ms() - cooled->generated_unix_ms()), 5000, 100);
  EXPECT_EQ(cooled->plans().at("claude-opus").reason(),
            "tier opus is cooling down (429 rate_limited: cooling 5s, retry-after 5s: rate limited by the test): "
            "starting at tier sonnet");
  // Versions only increase.
  auto tables = w.tables();
  for (size_t i = 1; i < tables.size(); ++i) EXPECT_GT(tables[i].version(), tables[i - 1].version());
}

TEST_F(FallbacksvcGrpcTest, CooldownExpiryPushesANewTableByItself) {
  // A 0.3 s cooldown ends without any further event: a new table with the tier back arrives on time.
  Watcher w(stub_.get(), "gw-1");
  ASSERT_TRUE(w.WaitFor([](const pb::RouteTable&) { return true; }).has_value());
  pb::ReportOutcomesResponse resp;
  auto reported = std::chrono::steady_clock::now();
  ASSERT_TRUE(stub_->ReportOutcomes(Ctx().get(), OneOutcome("sonnet", pb::OVERLOADED, 529), &resp).ok());
  auto cooled = w.WaitFor([&](const pb::RouteTable& t) { return t.version() == resp.table_version(); });
  ASSERT_TRUE(cooled.has_value());
  EXPECT_FALSE(cooled->tiers(1).available());
  size_t seen = w.count();
  auto back = w.WaitFor([](const pb::RouteTable& t) { return t.tiers(1).available(); }, 5s, seen);
  ASSERT_TRUE(back.has_value());
  auto took = std::chrono::steady_clock::now() - reported;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(back->tiers(1).consecutive_failures(), 1);
  EXPECT_EQ(PlanOf(*back, "claude-sonnet"), (std::vector<int>{1, 0, 2}));

  // The retry fails again: the second step (0.6 s).
  ASSERT_TRUE(stub_->ReportOutcomes(Ctx().get(), OneOutcome("sonnet", pb::OVERLOADED, 529), &resp).ok());
  auto again = w.WaitFor([&](const pb::RouteTable& t) { return t.version() == resp.table_version(); });
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->tiers(1).consecutive_failures(), 2);
  EXPECT_NEAR(static_cast<double>(again->tiers(1).cooldown_until_unix_ms() - again->generated_unix_ms()), 600, 50);
  // Success clears the count at once.
  ASSERT_TRUE(stub_->ReportOutcomes(Ctx().get(), OneOutcome("sonnet", pb::OK, 200), &resp).ok());
  auto ok = w.WaitFor([&](const pb::RouteTable& t) { return t.version() == resp.table_version(); });
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(ok->tiers(1).available());
  EXPECT_EQ(ok->tiers(1).consecutive_failures(), 0);
}

TEST_F(FallbacksvcGrpcTest, EveryWatcherGetsEveryChange) {
  // Several gateways watch at once; each gets the snapshot and the change.
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < 5; ++i) watchers.push_back(std::make_unique<Watcher>(stub_.get(), "gw-" + std::to_string(i)));
  for (auto& w : watchers) ASSERT_TRUE(w->WaitFor([](const pb::RouteTable&) { return true; }).has_value());
  pb::ReportOutcomesResponse resp;
  ASSERT_TRUE(stub_->ReportOutcomes(Ctx().get(), OneOutcome("deepseek", pb::BAD_CREDENTIAL, 401), &resp).ok());
  for (auto& w : watchers) {
    auto t = w->WaitFor([&](const pb::RouteTable& t) { return t.version() == resp.table_version(); });
    ASSERT_TRUE(t.has_value());
    EXPECT_FALSE(t->tiers(2).available());
    EXPECT_NE(t->tiers(2).cooldown_reason().find("until the config is reloaded"), std::string::npos);
  }
}

TEST_F(FallbacksvcGrpcTest, MalformedOutcomeBatchIsRefusedNamingTheOutcome) {
  // INVALID_ARGUMENT names the first bad outcome and field; nothing of the batch is applied.
  pb::ReportOutcomesRequest req = OneOutcome("opus", pb::RATE_LIMITED, 429);
  req.add_outcomes()->set_tier("sonnet");  // kind unset
  pb::ReportOutcomesResponse resp;
  auto st = stub_->ReportOutcomes(Ctx().get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "outcomes[1].kind: must be one of OK .. SERVER_ERROR, got 0");
  EXPECT_TRUE(keeper_->Current()->tiers[0].available);
  // An outcome for a model outside the chain is fine and changes nothing.
  pb::ReportOutcomesRequest outside;
  auto* o = outside.add_outcomes();
  o->set_model("gpt-4o");
  o->set_kind(pb::RATE_LIMITED);
  uint64_t before = keeper_->Current()->version;
  ASSERT_TRUE(stub_->ReportOutcomes(Ctx().get(), outside, &resp).ok());
  EXPECT_EQ(resp.table_version(), before);
}

TEST_F(FallbacksvcGrpcTest, GetStatusNeedsTheAdminKeyAndRedactsCredentials) {
  // No key: UNAUTHENTICATED; a client key: PERMISSION_DENIED; the admin key (x-api-key or Bearer): the
  // status, with no credential in it.
  pb::FallbackStatus s;
  EXPECT_EQ(stub_->GetStatus(Ctx().get(), pb::GetStatusRequest(), &s).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub_->GetStatus(Ctx("x-api-key", "sk-nobody").get(), pb::GetStatusRequest(), &s).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub_->GetStatus(Ctx("x-api-key", client_key_).get(), pb::GetStatusRequest(), &s).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  auto st =
      stub_->GetStatus(Ctx("authorization", std::string("Bearer ") + kAdminKey).get(), pb::GetStatusRequest(), &s);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(s.config_path(), config_file());
  EXPECT_EQ(s.state_file(), state_file());
  EXPECT_DOUBLE_EQ(s.min_remaining_fraction(), 0.1);
  EXPECT_EQ(s.health_poll_interval_seconds(), 1);
  EXPECT_EQ(s.last_reload_error(), "");
  EXPECT_GT(s.config_loaded_unix_ms(), 0);
  ASSERT_EQ(s.providers_size(), 2);
  EXPECT_EQ(s.providers(0).quota_url(), upstream_->url() + "/health");
  EXPECT_EQ(s.providers(1).quota_url(), "");
  EXPECT_EQ(s.table().tiers_size(), 3);
  EXPECT_EQ(s.table().providers(1).api_key(), "");
  EXPECT_EQ(s.DebugString().find("sk-secret"), std::string::npos);
  // Reload needs the admin key too.
  pb::ReloadConfigResponse r;
  EXPECT_EQ(stub_->ReloadConfig(Ctx("x-api-key", client_key_).get(), pb::ReloadConfigRequest(), &r).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(FallbacksvcGrpcTest, ReloadWithABadFileKeepsTheConfigInForce) {
  // A config that does not validate is refused naming file and field; the old table stays and the error
  // shows in the status; a good file then goes into force and reaches watchers.
  Watcher w(stub_.get(), "gw-1");
  auto first = w.WaitFor([](const pb::RouteTable&) { return true; });
  ASSERT_TRUE(first.has_value());
  luna::testing::WriteAll(config_file(), R"({"providers": [], "tiers": [{"name": "x", "model": ""}]})");
  pb::ReloadConfigResponse r;
  auto st = stub_->ReloadConfig(Admin().get(), pb::ReloadConfigRequest(), &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "fallback config " + config_file() + ": tiers[0].model: must be a non-empty string");
  pb::FallbackStatus s = StatusAsAdmin();
  EXPECT_EQ(s.last_reload_error(), st.error_message());
  EXPECT_EQ(s.table().version(), first->version());
  EXPECT_EQ(s.table().tiers_size(), 3);

  luna::testing::WriteAll(config_file(), Config(R"(, {"name": "haiku", "model": "claude-haiku"})"));
  st = stub_->ReloadConfig(Admin().get(), pb::ReloadConfigRequest(), &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r.tiers(), 4);
  auto reloaded = w.WaitFor([](const pb::RouteTable& t) { return t.tiers_size() == 4; });
  ASSERT_TRUE(reloaded.has_value());
  EXPECT_EQ(reloaded->version(), r.table_version());
  EXPECT_EQ(PlanOf(*reloaded, "claude-haiku"), (std::vector<int>{3, 0, 1, 2}));
  EXPECT_EQ(StatusAsAdmin().last_reload_error(), "");
}

TEST_F(FallbacksvcGrpcTest, QuotaPollingMovesATierToQuotaLowAndBack) {
  // The fake upstream's /health says opus has 3% left: opus goes low and its plan starts at sonnet (best
  // account 0.6); at 50% it comes back.
  Watcher w(stub_.get(), "gw-1");
  upstream_->SetQuota(0.03, 0.6);
  auto low = w.WaitFor([](const pb::RouteTable& t) { return t.tiers(0).quota_low(); });
  ASSERT_TRUE(low.has_value());
  EXPECT_NEAR(low->tiers(0).remaining_fraction(), 0.03, 1e-9);
  EXPECT_NEAR(low->tiers(1).remaining_fraction(), 0.6, 1e-9);
  EXPECT_TRUE(low->tiers(0).quota_polled());
  EXPECT_FALSE(low->tiers(2).quota_polled());
  EXPECT_EQ(PlanOf(*low, "claude-opus"), (std::vector<int>{1, 2, 0}));
  EXPECT_EQ(low->plans().at("claude-opus").reason(), "claude-opus quota 3% < 10%: starting at tier sonnet");

  upstream_->SetQuota(0.5, 0.6);
  auto back = w.WaitFor([](const pb::RouteTable& t) { return !t.tiers(0).quota_low(); }, 10s, w.count());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(PlanOf(*back, "claude-opus"), (std::vector<int>{0, 1, 2}));
  pb::FallbackStatus s = StatusAsAdmin();
  EXPECT_GT(s.providers(0).last_poll_unix_ms(), 0);
  EXPECT_EQ(s.providers(0).last_poll_error(), "");
}

TEST_F(FallbacksvcGrpcTest, PollFailureIsRecordedAndTheLastQuotaStays) {
  // The upstream goes away: the poll error shows in the status and the last known quota is kept.
  Watcher w(stub_.get(), "gw-1");
  upstream_->SetQuota(0.03, 0.6);
  ASSERT_TRUE(w.WaitFor([](const pb::RouteTable& t) { return t.tiers(0).quota_low(); }).has_value());
  upstream_.reset();
  ASSERT_TRUE(Eventually([&] { return !StatusAsAdmin().providers(0).last_poll_error().empty(); }, 10s));
  pb::FallbackStatus s = StatusAsAdmin();
  EXPECT_NE(s.providers(0).last_poll_error().find("/health"), std::string::npos) << s.providers(0).last_poll_error();
  EXPECT_TRUE(s.table().tiers(0).quota_low());
  EXPECT_NEAR(s.table().tiers(0).remaining_fraction(), 0.03, 1e-9);
}

TEST_F(FallbacksvcGrpcTest, ShutdownEndsOpenWatchesPromptly) {
  // BeginShutdown ends every stream with OK, so the server's Shutdown does not wait for them.
  Watcher w(stub_.get(), "gw-1");
  ASSERT_TRUE(w.WaitFor([](const pb::RouteTable&) { return true; }).has_value());
  auto start = std::chrono::steady_clock::now();
  StopFallback();
  EXPECT_TRUE(w.WaitEnded(2s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 900ms);
}

TEST_F(FallbacksvcGrpcTest, RestartInProcessKeepsCooldownsAndVersionsIncrease) {
  // Cooldowns and quotas are in the state file when the keeper stops; a new keeper starts with them and
  // with a higher table version.
  pb::ReportOutcomesResponse resp;
  ASSERT_TRUE(stub_->ReportOutcomes(Ctx().get(), OneOutcome("opus", pb::RATE_LIMITED, 429, 60000), &resp).ok());
  auto before = keeper_->Current();
  StopFallback();
  StartFallback();
  auto after = keeper_->Current();
  EXPECT_GT(after->version, before->version);
  EXPECT_FALSE(after->tiers[0].available);
  EXPECT_EQ(after->tiers[0].cooldown_until_unix_ms, before->tiers[0].cooldown_until_unix_ms);
  EXPECT_EQ(after->tiers[0].cooldown_reason, before->tiers[0].cooldown_reason);
}

// The real binary, for what only a process shows: signals, the state file across a real restart, the
// refusal to start, the probe.
class FallbacksvcBinaryTest : public FallbacksvcTestBase {
 protected:
  void StartBinary(int port = 0) {
    std::string pf = dir_.File("fallbacksvc.port");
    std::remove(pf.c_str());
    std::map<std::string, std::string> env{
        {"FALLBACK_CONFIG", config_file()},
        {"FALLBACK_STATE_FILE", state_file()},
        {"FALLBACKSVC_LISTEN", "127.0.0.1:" + std::to_string(port)},
        {"UPSTREAM_URL", upstream_->url()},
        {"AUTHSVC_ADDR", auth_addr()},
        {"FALLBACK_HEALTH_TIMEOUT_MS", "2000"},
        {"UPSTREAM_API_KEY", "sk-upstream-for-health"},
        {"FALLBACKSVC_METRICS_LISTEN", "127.0.0.1:0"},
    };
    process_ = std::make_unique<Process>(LUNA_FALLBACKSVC_BIN, std::vector<std::string>{"--port-file", pf}, env,
                                         dir_.File("fallbacksvc.log"));
    port_ = luna::testing::WaitForPortFile(pf);
    ASSERT_NE(port_, 0) << process_->Log();
    stub_ = pb::FallbackService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (process_) process_->Stop(SIGTERM, 10s);
    FallbacksvcTestBase::TearDown();
  }

  std::unique_ptr<Process> process_;
  int port_ = 0;
  std::unique_ptr<pb::FallbackService::Stub> stub_;
};

TEST_F(FallbacksvcBinaryTest, RestartKeepsCooldownsFromTheStateFile) {
  // SIGTERM exits 0 after writing the state file; the next start has the same cooldown.
  luna::testing::WriteAll(config_file(), Config());
  ASSERT_NO_FATAL_FAILURE(StartBinary());
  EXPECT_EQ(ProbeGrpcHealth("127.0.0.1:" + std::to_string(port_), FallbackGrpcService::kHealthName, 2000), true);
  pb::ReportOutcomesResponse resp;
  ASSERT_TRUE(stub_->ReportOutcomes(Ctx().get(), OneOutcome("opus", pb::QUOTA_EXHAUSTED, 402, 120000), &resp).ok());
  int status = process_->Stop(SIGTERM, 10s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << process_->Log();
  auto saved = nlohmann::json::parse(luna::testing::ReadAll(state_file()));
  ASSERT_EQ(saved["cooldowns"].size(), 1u) << saved.dump();
  EXPECT_EQ(saved["cooldowns"][0]["model"], "claude-opus");
  int64_t until = saved["cooldowns"][0]["until_unix_ms"];

  ASSERT_NO_FATAL_FAILURE(StartBinary());
  Watcher w(stub_.get(), "gw-1");
  auto t = w.WaitFor([](const pb::RouteTable&) { return true; });
  ASSERT_TRUE(t.has_value());
  EXPECT_GT(t->version(), resp.table_version());
  EXPECT_FALSE(t->tiers(0).available());
  EXPECT_EQ(t->tiers(0).cooldown_until_unix_ms(), until);
  EXPECT_EQ(PlanOf(*t, "claude-opus"), (std::vector<int>{1, 2}));
}

TEST_F(FallbacksvcBinaryTest, QuotaPollSendsTheUpstreamKeyAndMovesTheTier) {
  // The binary polls UPSTREAM_URL/health with UPSTREAM_API_KEY as x-api-key, and the quota reaches the table.
  luna::testing::WriteAll(config_file(), Config());
  upstream_->SetQuota(0.02, 0.6);
  ASSERT_NO_FATAL_FAILURE(StartBinary());
  Watcher w(stub_.get(), "gw-1");
  ASSERT_TRUE(w.WaitFor([](const pb::RouteTable& t) { return t.tiers(0).quota_low(); }).has_value());
  auto r = luna::testing::Fetch(upstream_->port(), "GET", "/_control/requests?path=/health");
  ASSERT_EQ(r.status, 200);
  auto requests = nlohmann::json::parse(r.body)["requests"];
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0]["headers"]["x-api-key"], "sk-upstream-for-health") << requests[0].dump();
}

TEST_F(FallbacksvcBinaryTest, SighupReloadsAndABadConfigKeepsTheOldOne) {
  // SIGHUP with a broken file: still serving the old table, error in the status; SIGHUP with a good
  // file: the new table reaches the watcher.
  luna::testing::WriteAll(config_file(), Config());
  ASSERT_NO_FATAL_FAILURE(StartBinary());
  Watcher w(stub_.get(), "gw-1");
  ASSERT_TRUE(w.WaitFor([](const pb::RouteTable&) { return true; }).has_value());

  luna::testing::WriteAll(config_file(), "{ not json");
  ASSERT_EQ(kill(process_->pid(), SIGHUP), 0);
  pb::FallbackStatus s;
  ASSERT_TRUE(Eventually([&] {
    s.Clear();
    return stub_->GetStatus(Admin().get(), pb::GetStatusRequest(), &s).ok() && !s.last_reload_error().empty();
  }));
  EXPECT_NE(s.last_reload_error().find("not valid JSON"), std::string::npos) << s.last_reload_error();
  EXPECT_EQ(s.table().tiers_size(), 3);
  EXPECT_TRUE(process_->Running());

  luna::testing::WriteAll(config_file(), Config(R"(, {"name": "haiku", "model": "claude-haiku"})"));
  ASSERT_EQ(kill(process_->pid(), SIGHUP), 0);
  auto t = w.WaitFor([](const pb::RouteTable& t) { return t.tiers_size() == 4; });
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->tiers(3).name(), "haiku");
}

TEST_F(FallbacksvcBinaryTest, CorruptStateFileRefusesToStartAndIsLeftAlone) {
  // A state file that does not parse: exit 1 naming the file; the file is not overwritten.
  luna::testing::WriteAll(config_file(), Config());
  luna::testing::WriteAll(state_file(), "{\"format\": 1, \"quot");
  Process p(LUNA_FALLBACKSVC_BIN, {},
            {{"FALLBACK_CONFIG", config_file()},
             {"FALLBACK_STATE_FILE", state_file()},
             {"FALLBACKSVC_LISTEN", "127.0.0.1:0"},
             {"FALLBACKSVC_METRICS_LISTEN", "off"},
             {"AUTHSVC_ADDR", auth_addr()}},
            dir_.File("refused.log"));
  ASSERT_TRUE(Eventually([&] { return !p.Running(); }, 10s));
  int status = p.Stop(SIGTERM, 1s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_NE(p.Log().find("state file " + state_file()), std::string::npos) << p.Log();
  EXPECT_EQ(luna::testing::ReadAll(state_file()), "{\"format\": 1, \"quot");
}

TEST_F(FallbacksvcBinaryTest, BadConfigAtStartRefusesToStart) {
  // A config that does not validate at start: exit 1 naming the file and the field.
  luna::testing::WriteAll(config_file(), R"({"tiers": [{"name": "a", "model": "m", "type": "openai"}]})");
  Process p(LUNA_FALLBACKSVC_BIN, {},
            {{"FALLBACK_CONFIG", config_file()},
             {"FALLBACK_STATE_FILE", state_file()},
             {"FALLBACKSVC_LISTEN", "127.0.0.1:0"},
             {"FALLBACKSVC_METRICS_LISTEN", "off"},
             {"AUTHSVC_ADDR", auth_addr()}},
            dir_.File("refused.log"));
  ASSERT_TRUE(Eventually([&] { return !p.Running(); }, 10s));
  int status = p.Stop(SIGTERM, 1s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_NE(p.Log().find("tiers[0].base_url"), std::string::npos) << p.Log();
  EXPECT_FALSE(FileExists(state_file()));
}

// A TCP listener on 127.0.0.1 that accepts connections and then answers nothing (or closes them).
class SilentServer {
 public:
  explicit SilentServer(bool close_at_once) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (close_at_once) {
      thread_ = std::thread([this] {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c >= 0) ::close(c);
      });
    }
  }
  ~SilentServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(HttpGetTest, ASilentServerTimesOutAtTheDeadline) {
  // Connected but never answered: DeadlineExceeded after the timeout, not later.
  SilentServer server(/*close_at_once=*/false);
  auto start = std::chrono::steady_clock::now();
  auto r = HttpGet("http://127.0.0.1:" + std::to_string(server.port()) + "/health", {}, 300ms);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 2s);
}

TEST(HttpGetTest, TlsToAServerThatHangsUpIsUnavailable) {
  // An https:// URL whose server closes during the handshake: Unavailable naming the URL.
  SilentServer server(/*close_at_once=*/true);
  std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/health";
  auto r = HttpGet(url, {}, 2000ms);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_NE(r.status().message().find(url), std::string::npos) << r.status();
}

TEST(HttpGetTest, BadUrlIsInvalidArgument) {
  // Only http:// and https:// are fetched.
  EXPECT_EQ(HttpGet("ftp://127.0.0.1/x", {}, 100ms).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace luna::fallbacksvc
