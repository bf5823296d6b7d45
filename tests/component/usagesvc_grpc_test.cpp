// The real UsageService and a real AuthService, each behind an in-process gRPC server on port 0, called
// through generated stubs.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "auth.grpc.pb.h"
#include "tests/support/process.h"
#include "authsvc/auth_grpc_service.h"
#include "authsvc/key_manager.h"
#include "common/crypto.h"
#include "common/grpc_server.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "usage.grpc.pb.h"
#include "usagesvc/grpc_auth_client.h"
#include "usagesvc/legacy_importer.h"
#include "usagesvc/usage_grpc_service.h"
#include "usagesvc/usage_store.h"

namespace luna::usagesvc {
namespace {

namespace pb = luna::usage::v1;
using namespace std::chrono_literals;
using HealthResponse = grpc::health::v1::HealthCheckResponse;

constexpr char kAdminKey[] = "sk-admin-usage-component-test-0000000000";
constexpr char kAliceKey[] = "sk-alice0123456789abcdefghijklmnopqrstuvwxyzAB";
constexpr int64_t kMar1Utc = 1772323200000;  // 2026-03-01T00:00:00Z

std::string KeysJson() {
  return std::string(R"({"admin_key": "sk-admin-legacy", "keys": {")") + kAliceKey +
         R"(": {"name": "alice", "enabled": true, "created": "2026-01-05T10:00:00+08:00", "usage": {
              "total_input": 900, "total_output": 90, "total_requests": 9, "last_used": "2026-02-10T14:23:11+08:00",
              "daily": {"2026-02-10": {"input": 900, "output": 90, "requests": 9,
                                       "by_model": {"claude-opus-4": {"total": 990, "requests": 9}}}},
              "hourly": {"2026-02-10 14:00": {"by_model": {"claude-opus-4": {"total": 990, "requests": 9}}}}}}}})";
}

using ::luna::testing::TempDir;

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& header = "", const std::string& value = "") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + 10s);
  if (!header.empty()) ctx->AddMetadata(header, value);
  return ctx;
}

std::unique_ptr<grpc::ClientContext> Admin() { return Ctx("x-api-key", kAdminKey); }

pb::UsageEvent Event(const std::string& id, int64_t time_ms = kMar1Utc, const std::string& key = "key_a") {
  pb::UsageEvent e;
  e.set_event_id(id);
  e.set_key_id(key);
  e.set_time_unix_ms(time_ms);
  e.set_requested_model("claude-sonnet-4-5");
  e.set_served_model("claude-sonnet-4-5");
  e.set_input_tokens(1000);
  e.set_output_tokens(50);
  e.set_cache_read_tokens(300);
  e.set_status(200);
  return e;
}

pb::RecordUsageRequest Batch(std::initializer_list<pb::UsageEvent> events) {
  pb::RecordUsageRequest r;
  for (const auto& e : events) *r.add_events() = e;
  return r;
}

// An AuthClient whose GetLegacyUsage fails the first `failures` times (authsvc "down"), then asks the real one.
class FlakyAuthClient final : public AuthClient {
 public:
  FlakyAuthClient(AuthClient* real, int failures) : real_(real), failures_(failures) {}
  void CheckAdmin(const std::string& credential, std::function<void(absl::Status)> done) override {
    real_->CheckAdmin(credential, std::move(done));
  }
  absl::StatusOr<std::vector<LegacyUsageEntry>> GetLegacyUsage() override {
    ++calls;
    if (failures_-- > 0) return absl::UnavailableError("authsvc is down (test)");
    return real_->GetLegacyUsage();
  }
  std::atomic<int> calls{0};

 private:
  AuthClient* real_;
  std::atomic<int> failures_;
};

class UsagesvcGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.File("keys.json")) << KeysJson();
    authsvc::KeyManagerOptions ko;
    ko.keys_file = dir_.File("keys.json");
    ko.admin_key = kAdminKey;
    auto manager = authsvc::KeyManager::Create(ko);
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = std::move(*manager);
    auth_service_ = std::make_unique<authsvc::AuthGrpcService>(manager_.get());
    auto auth_server = GrpcServer::Start("127.0.0.1:0", {auth_service_.get()}, authsvc::AuthGrpcService::kHealthName);
    ASSERT_TRUE(auth_server.ok()) << auth_server.status();
    auth_server_ = std::move(*auth_server);
    auth_server_->SetServing(true);
    auth_client_ = std::make_unique<GrpcAuthClient>(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(auth_server_->port()), grpc::InsecureChannelCredentials()));

    UsageStoreOptions so;
    so.data_dir = dir_.File("usage-data");
    so.ledger.legacy_zone = LedgerZone{8 * 3600, "+08:00"};
    so.ledger.now_ms = [] { return kMar1Utc + 3600 * 1000; };
    so.retry_interval_ms = 100;
    auto store = UsageStore::Open(so);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    service_ = std::make_unique<UsageGrpcService>(auth_client_.get(), store_.get());
    auto server = GrpcServer::Start("127.0.0.1:0", {service_.get()}, UsageGrpcService::kHealthName);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    GrpcServer* raw = server_.get();
    store_->SetHealthListener([raw](bool healthy) { raw->SetServing(healthy); });
    auto channel =
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
    stub_ = pb::UsageService::NewStub(channel);
    health_ = grpc::health::v1::Health::NewStub(channel);
  }

  void TearDown() override {
    if (store_) store_->SetHealthListener(nullptr);
    if (server_) server_->Shutdown(1000);
    if (auth_server_) {
      auth_service_->BeginShutdown();
      auth_server_->Shutdown(1000);
    }
  }

  HealthResponse::ServingStatus Health() {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(UsageGrpcService::kHealthName);
    HealthResponse resp;
    EXPECT_TRUE(health_->Check(Ctx().get(), req, &resp).ok());
    return resp.status();
  }

  pb::QueryUsageResponse QueryAsAdmin(const pb::QueryUsageRequest& req) {
    pb::QueryUsageResponse resp;
    auto st = stub_->QueryUsage(Admin().get(), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  std::string AliceId() const { return authsvc::ImportedKeyId(Sha256Hex(kAliceKey)); }

  TempDir dir_;
  // Declared so that servers go first, then services, then what they use.
  std::unique_ptr<authsvc::KeyManager> manager_;
  std::unique_ptr<authsvc::AuthGrpcService> auth_service_;
  std::unique_ptr<GrpcServer> auth_server_;
  std::unique_ptr<GrpcAuthClient> auth_client_;
  std::unique_ptr<UsageStore> store_;
  std::unique_ptr<UsageGrpcService> service_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<pb::UsageService::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(UsagesvcGrpcTest, RecordUsageCountsNewEventsOnceAndReportsDuplicates) {
  // A batch with a repeated id records it once; sending the batch again reports every event as a duplicate.
  auto req = Batch({Event("gw1-1"), Event("gw1-2"), Event("gw1-1")});
  pb::RecordUsageResponse resp;
  ASSERT_TRUE(stub_->RecordUsage(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.recorded(), 2);
  EXPECT_EQ(resp.duplicates(), 1);
  ASSERT_TRUE(stub_->RecordUsage(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.recorded(), 0);
  EXPECT_EQ(resp.duplicates(), 3);

  pb::QueryUsageRequest q;
  q.set_key_id("key_a");
  auto totals = QueryAsAdmin(q);
  ASSERT_EQ(totals.rows_size(), 1);
  EXPECT_EQ(totals.rows(0).totals().requests(), 2);
  EXPECT_EQ(totals.rows(0).totals().input_tokens(), 2000);
  EXPECT_EQ(totals.rows(0).totals().cache_read_tokens(), 600);
  EXPECT_EQ(totals.time_zone(), "UTC");
}

TEST_F(UsagesvcGrpcTest, AMalformedEventRejectsTheWholeBatchNamingIt) {
  // INVALID_ARGUMENT names the first bad event and field, and none of the batch is recorded.
  auto bad = Event("gw1-bad");
  bad.set_output_tokens(-3);
  pb::RecordUsageResponse resp;
  auto st = stub_->RecordUsage(Ctx().get(), Batch({Event("gw1-good"), bad}), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("events[1]"), std::string::npos) << st.error_message();
  EXPECT_NE(st.error_message().find("gw1-bad"), std::string::npos);
  EXPECT_NE(st.error_message().find("output_tokens"), std::string::npos);
  EXPECT_EQ(QueryAsAdmin(pb::QueryUsageRequest()).rows_size(), 0);
  st = stub_->RecordUsage(Ctx().get(), Batch({Event("")}), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(UsagesvcGrpcTest, QueriesNeedTheAdminCredentialCheckedByAuthsvc) {
  // No credential or an unknown key is UNAUTHENTICATED, a client key PERMISSION_DENIED, the admin key (either
  // header) OK, for QueryUsage and ListEvents alike.
  pb::RecordUsageResponse recorded;
  ASSERT_TRUE(stub_->RecordUsage(Ctx().get(), Batch({Event("q-1")}), &recorded).ok());
  pb::QueryUsageRequest q;
  pb::QueryUsageResponse resp;
  auto st = stub_->QueryUsage(Ctx().get(), q, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  st = stub_->QueryUsage(Ctx("x-api-key", "sk-nobody").get(), q, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  st = stub_->QueryUsage(Ctx("x-api-key", kAliceKey).get(), q, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(st.error_message(), "admin key required");
  st = stub_->QueryUsage(Ctx("authorization", std::string("Bearer ") + kAdminKey).get(), q, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.rows_size(), 1);

  pb::ListEventsResponse events;
  st = stub_->ListEvents(Ctx("x-api-key", kAliceKey).get(), pb::ListEventsRequest(), &events);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(stub_->ListEvents(Admin().get(), pb::ListEventsRequest(), &events).ok());
  ASSERT_EQ(events.events_size(), 1);
  EXPECT_EQ(events.events(0).event_id(), "q-1");

  q.set_from_date("2026-02-31");
  st = stub_->QueryUsage(Admin().get(), q, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(UsagesvcGrpcTest, AuthsvcUnreachableMakesUncachedAdminChecksUnavailable) {
  // With authsvc gone, a credential not checked before gets UNAVAILABLE; one checked OK within 30 s still works.
  pb::QueryUsageResponse resp;
  ASSERT_TRUE(stub_->QueryUsage(Admin().get(), pb::QueryUsageRequest(), &resp).ok());
  auth_service_->BeginShutdown();
  auth_server_->Shutdown(0);
  auth_server_.reset();
  auto st = stub_->QueryUsage(Ctx("x-api-key", "sk-admin-other").get(), pb::QueryUsageRequest(), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_TRUE(stub_->QueryUsage(Admin().get(), pb::QueryUsageRequest(), &resp).ok());
}

TEST_F(UsagesvcGrpcTest, QueryUsageGroupsByDayHourKeyAndModel) {
  // Grouped rows carry exactly the asked dimensions, in day/hour, key, model order.
  pb::RecordUsageResponse r;
  auto other = Event("g-3", kMar1Utc + 3600 * 1000, "key_b");
  other.set_served_model("gpt-4.1");
  other.set_status(529);
  ASSERT_TRUE(stub_->RecordUsage(Ctx().get(), Batch({Event("g-1"), Event("g-2", kMar1Utc - 1), other}), &r).ok());
  pb::QueryUsageRequest q;
  q.set_by_hour(true);
  q.set_by_key(true);
  q.set_by_model(true);
  auto resp = QueryAsAdmin(q);
  ASSERT_EQ(resp.rows_size(), 3);
  EXPECT_EQ(resp.rows(0).hour(), "2026-02-28 23:00");
  EXPECT_EQ(resp.rows(0).day(), "2026-02-28");
  EXPECT_EQ(resp.rows(1).hour(), "2026-03-01 00:00");
  EXPECT_EQ(resp.rows(1).key_id(), "key_a");
  EXPECT_EQ(resp.rows(2).key_id(), "key_b");
  EXPECT_EQ(resp.rows(2).model(), "gpt-4.1");
  EXPECT_EQ(resp.rows(2).totals().errors(), 1);

  pb::QueryUsageRequest days;
  days.set_by_day(true);
  days.set_from_date("2026-03-01");
  days.set_to_date("2026-03-01");
  resp = QueryAsAdmin(days);
  ASSERT_EQ(resp.rows_size(), 1);
  EXPECT_EQ(resp.rows(0).day(), "2026-03-01");
  EXPECT_TRUE(resp.rows(0).hour().empty());
  EXPECT_TRUE(resp.rows(0).key_id().empty());
  EXPECT_EQ(resp.rows(0).totals().requests(), 2);
}

TEST_F(UsagesvcGrpcTest, HealthIsNotServingWhileWritesFailAndServingOnceTheyWork) {
  // An injected write failure answers UNAVAILABLE and flips health to NOT_SERVING; when the disk works again
  // health returns to SERVING by itself and the same batch is then accepted.
  EXPECT_EQ(Health(), HealthResponse::SERVING);
  store_->InjectFaultForTesting(JournalFault::kPartialWrite);
  pb::RecordUsageResponse resp;
  auto st = stub_->RecordUsage(Ctx().get(), Batch({Event("h-1"), Event("h-2")}), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Health(), HealthResponse::NOT_SERVING);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Health(), HealthResponse::NOT_SERVING);

  store_->InjectFaultForTesting(JournalFault::kNone);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (Health() != HealthResponse::SERVING && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(Health(), HealthResponse::SERVING);
  ASSERT_TRUE(stub_->RecordUsage(Ctx().get(), Batch({Event("h-1"), Event("h-2")}), &resp).ok());
  EXPECT_EQ(resp.recorded(), 2);
}

TEST_F(UsagesvcGrpcTest, LegacyHistoryIsImportedOnceEvenWhenAuthsvcWasDownAtFirst) {
  // The importer retries until authsvc answers, the old figures then show in the queries, and a second
  // importer (a restart) adds nothing.
  LegacyImporter::Options fast;
  fast.first_retry = 20ms;
  fast.max_retry = 50ms;
  FlakyAuthClient flaky(auth_client_.get(), 3);
  {
    LegacyImporter importer(&flaky, store_.get(), fast);
    ASSERT_TRUE(importer.WaitDone(10s));
  }
  EXPECT_EQ(flaky.calls.load(), 4);
  {
    LegacyImporter again(auth_client_.get(), store_.get(), fast);
    ASSERT_TRUE(again.WaitDone(10s));
  }
  pb::QueryUsageRequest by_key;
  by_key.set_by_key(true);
  auto resp = QueryAsAdmin(by_key);
  ASSERT_EQ(resp.rows_size(), 1);
  EXPECT_EQ(resp.rows(0).key_id(), AliceId());
  EXPECT_EQ(resp.rows(0).totals().requests(), 9);
  EXPECT_EQ(resp.rows(0).totals().input_tokens(), 900);
  EXPECT_EQ(resp.rows(0).totals().last_used_unix_ms(), 1770704591000);

  pb::QueryUsageRequest hourly;
  hourly.set_by_hour(true);
  hourly.set_by_model(true);
  resp = QueryAsAdmin(hourly);
  ASSERT_EQ(resp.rows_size(), 1);
  EXPECT_EQ(resp.rows(0).hour(), "2026-02-10 06:00");  // 14:00 +08:00 in the ledger's UTC
  EXPECT_EQ(resp.rows(0).model(), "claude-opus-4");
  EXPECT_EQ(resp.rows(0).totals().total_tokens_only(), 990);
}

}  // namespace
}  // namespace luna::usagesvc
