// The real AuthService behind an in-process gRPC server on port 0, called through generated stubs.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "auth.grpc.pb.h"
#include "tests/support/process.h"
#include "authsvc/auth_grpc_service.h"
#include "authsvc/key_manager.h"
#include "common/crypto.h"
#include "common/grpc_server.h"
#include "common/health_probe.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace luna::authsvc {
namespace {

namespace pb = luna::auth::v1;
using namespace std::chrono_literals;

constexpr char kAdminKey[] = "sk-admin-component-test-000000000000000";
constexpr char kAliceKey[] = "sk-alice0123456789abcdefghijklmnopqrstuvwxyzAB";
constexpr char kBobKey[] = "sk-bob9876543210zyxwvutsrqponmlkjihgfedcbaZYX";

std::string LegacyKeysJson() {
  return std::string(R"({"admin_key": "sk-admin-legacy", "keys": {")") + kAliceKey +
         R"(": {"name": "alice", "enabled": true, "created": "2024-05-31T10:11:12", "usage": {"total_requests": 3}}, ")" +
         kBobKey + R"(": {"name": "bob", "enabled": true, "created": 1717171717}}})";
}

using ::luna::testing::TempDir;

std::unique_ptr<KeyManager> LoadManager(const std::string& path) {
  KeyManagerOptions options;
  options.keys_file = path;
  options.admin_key = kAdminKey;
  auto m = KeyManager::Create(options);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

// A client context with a deadline and, optionally, one metadata entry.
std::unique_ptr<grpc::ClientContext> Ctx(const std::string& header = "", const std::string& value = "") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + 10s);
  if (!header.empty()) ctx->AddMetadata(header, value);
  return ctx;
}

std::unique_ptr<grpc::ClientContext> Admin() { return Ctx("x-api-key", kAdminKey); }

class AuthsvcGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_file_ = dir_.File("keys.json");
    std::ofstream(keys_file_) << LegacyKeysJson();
    manager_ = LoadManager(keys_file_);
    ASSERT_NE(manager_, nullptr);
    service_ = std::make_unique<AuthGrpcService>(manager_.get());
    auto server = GrpcServer::Start("127.0.0.1:0", {service_.get()}, AuthGrpcService::kHealthName);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    server_->SetServing(true);
    target_ = "127.0.0.1:" + std::to_string(server_->port());
    stub_ = pb::AuthService::NewStub(grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_) {
      service_->BeginShutdown();
      server_->Shutdown(1000);
    }
  }

  std::string AliceId() const { return ImportedKeyId(Sha256Hex(kAliceKey)); }

  TempDir dir_;
  std::string keys_file_;
  // Declared so that they are destroyed server first, then service, then manager.
  std::unique_ptr<KeyManager> manager_;
  std::unique_ptr<AuthGrpcService> service_;
  std::unique_ptr<GrpcServer> server_;
  std::string target_;
  std::unique_ptr<pb::AuthService::Stub> stub_;
};

// Reads one event from a watch stream on another thread, so the test can bound how long it waits.
std::future<std::pair<bool, pb::KeyEvent>> ReadAsync(grpc::ClientReader<pb::KeyEvent>* reader) {
  return std::async(std::launch::async, [reader] {
    pb::KeyEvent event;
    bool ok = reader->Read(&event);
    return std::make_pair(ok, event);
  });
}

TEST_F(AuthsvcGrpcTest, ValidateKeyFindsAKnownKeyAndReportsAnUnknownOneAsNotFound) {
  // ValidateKey needs no admin credential; a known key comes back as its record, an unknown one as found=false.
  pb::ValidateKeyRequest req;
  req.set_key(kAliceKey);
  pb::ValidateKeyResponse resp;
  ASSERT_TRUE(stub_->ValidateKey(Ctx().get(), req, &resp).ok());
  EXPECT_TRUE(resp.found());
  EXPECT_EQ(resp.key().id(), AliceId());
  EXPECT_EQ(resp.key().hash(), Sha256Hex(kAliceKey));
  EXPECT_EQ(resp.key().name(), "alice");
  EXPECT_EQ(resp.key().prefix(), "sk-alice0");
  EXPECT_TRUE(resp.key().enabled());
  EXPECT_EQ(resp.key().created(), "2024-05-31T10:11:12");

  req.set_key("sk-not-a-key");
  resp.Clear();
  ASSERT_TRUE(stub_->ValidateKey(Ctx().get(), req, &resp).ok());
  EXPECT_FALSE(resp.found());
  EXPECT_FALSE(resp.has_key());
}

TEST_F(AuthsvcGrpcTest, AdminCallsWithoutCredentialAreUnauthenticated) {
  // No credential, or one that is no key at all, is UNAUTHENTICATED, for reads and writes alike.
  pb::ListKeysResponse list;
  auto st = stub_->ListKeys(Ctx().get(), pb::ListKeysRequest(), &list);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message(), "admin credential required");

  st = stub_->ListKeys(Ctx("x-api-key", "sk-nobody").get(), pb::ListKeysRequest(), &list);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message(), "invalid admin credential");

  pb::CreateKeyRequest create;
  create.set_name("x");
  pb::CreateKeyResponse created;
  EXPECT_EQ(stub_->CreateKey(Ctx().get(), create, &created).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(manager_->key_count(), 2u);
}

TEST_F(AuthsvcGrpcTest, AdminCallsWithAClientKeyArePermissionDenied) {
  // A valid client key, as x-api-key or Bearer, is PERMISSION_DENIED on admin calls.
  pb::ListKeysResponse list;
  auto st = stub_->ListKeys(Ctx("x-api-key", kAliceKey).get(), pb::ListKeysRequest(), &list);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(st.error_message(), "admin key required");
  pb::KeyRef ref;
  ref.set_key(kBobKey);
  pb::DeleteKeyResponse deleted;
  st = stub_->DeleteKey(Ctx("authorization", std::string("Bearer ") + kAliceKey).get(), ref, &deleted);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(manager_->key_count(), 2u);
}

TEST_F(AuthsvcGrpcTest, AdminKeyIsAcceptedAsXApiKeyAndAsBearer) {
  // The admin key works in either header; keys are listed in creation order with masked display values.
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"x-api-key", kAdminKey},
      {"authorization", std::string("Bearer ") + kAdminKey},
      {"authorization", std::string("bearer ") + kAdminKey}};
  for (const auto& [header, value] : headers) {
    pb::ListKeysResponse list;
    auto st = stub_->ListKeys(Ctx(header, value).get(), pb::ListKeysRequest(), &list);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(list.keys_size(), 2);
    EXPECT_EQ(list.keys(0).name(), "alice");
    EXPECT_EQ(list.keys(0).masked(), "sk-alice0...");
    EXPECT_TRUE(list.keys(0).imported());
    EXPECT_EQ(list.keys(1).name(), "bob");
    EXPECT_EQ(list.keys(1).created(), "1717171717");
  }
}

TEST_F(AuthsvcGrpcTest, KeyRefAddressesKeysByIdAndByFullKey) {
  // GetKey/DisableKey/EnableKey/DeleteKey take an id or a full key; an unknown reference is NOT_FOUND.
  pb::KeyRef by_id;
  by_id.set_key(AliceId());
  pb::KeyRef by_key;
  by_key.set_key(kAliceKey);
  pb::KeyInfo a, b;
  ASSERT_TRUE(stub_->GetKey(Admin().get(), by_id, &a).ok());
  ASSERT_TRUE(stub_->GetKey(Admin().get(), by_key, &b).ok());
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  EXPECT_EQ(a.id(), AliceId());

  pb::KeyInfo info;
  ASSERT_TRUE(stub_->DisableKey(Admin().get(), by_key, &info).ok());
  EXPECT_FALSE(info.enabled());
  ASSERT_TRUE(stub_->EnableKey(Admin().get(), by_id, &info).ok());
  EXPECT_TRUE(info.enabled());

  pb::DeleteKeyResponse deleted;
  ASSERT_TRUE(stub_->DeleteKey(Admin().get(), by_key, &deleted).ok());
  EXPECT_EQ(deleted.id(), AliceId());
  auto st = stub_->GetKey(Admin().get(), by_id, &info);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  st = stub_->DeleteKey(Admin().get(), by_key, &deleted);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message().find(kAliceKey), std::string::npos);
}

TEST_F(AuthsvcGrpcTest, CreatedKeyIsReturnedOnceAndValidates) {
  // CreateKey answers the full key; ValidateKey then finds it; a missing name is INVALID_ARGUMENT.
  pb::CreateKeyRequest req;
  req.set_name("gateway test");
  pb::CreateKeyResponse resp;
  ASSERT_TRUE(stub_->CreateKey(Admin().get(), req, &resp).ok());
  EXPECT_EQ(resp.api_key().rfind("sk-", 0), 0u);
  EXPECT_EQ(resp.key().masked(), resp.api_key().substr(0, 9) + "...");
  EXPECT_FALSE(resp.key().imported());

  pb::ValidateKeyRequest v;
  v.set_key(resp.api_key());
  pb::ValidateKeyResponse found;
  ASSERT_TRUE(stub_->ValidateKey(Ctx().get(), v, &found).ok());
  EXPECT_TRUE(found.found());
  EXPECT_EQ(found.key().id(), resp.key().id());

  req.set_name("");
  auto st = stub_->CreateKey(Admin().get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(AuthsvcGrpcTest, WatchKeysSendsASnapshotThenUpsertAndDeleteWithin1s) {
  // A watcher gets the whole table, then the change a DisableKey made and the DeleteKey, each within 1 s.
  auto ctx = Ctx();
  pb::WatchKeysRequest req;
  req.set_watcher("test-gateway");
  auto reader = stub_->WatchKeys(ctx.get(), req);

  auto snapshot = ReadAsync(reader.get());
  ASSERT_EQ(snapshot.wait_for(1s), std::future_status::ready);
  auto [ok, event] = snapshot.get();
  ASSERT_TRUE(ok);
  EXPECT_EQ(event.type(), pb::KeyEvent::SNAPSHOT);
  ASSERT_EQ(event.keys_size(), 2);
  EXPECT_EQ(event.keys(0).hash(), Sha256Hex(kAliceKey));

  auto upsert = ReadAsync(reader.get());
  pb::KeyRef ref;
  ref.set_key(AliceId());
  pb::KeyInfo info;
  ASSERT_TRUE(stub_->DisableKey(Admin().get(), ref, &info).ok());
  ASSERT_EQ(upsert.wait_for(1s), std::future_status::ready);
  std::tie(ok, event) = upsert.get();
  ASSERT_TRUE(ok);
  EXPECT_EQ(event.type(), pb::KeyEvent::UPSERT);
  ASSERT_EQ(event.keys_size(), 1);
  EXPECT_EQ(event.keys(0).id(), AliceId());
  EXPECT_FALSE(event.keys(0).enabled());

  auto deletion = ReadAsync(reader.get());
  pb::DeleteKeyResponse deleted;
  ASSERT_TRUE(stub_->DeleteKey(Admin().get(), ref, &deleted).ok());
  ASSERT_EQ(deletion.wait_for(1s), std::future_status::ready);
  std::tie(ok, event) = deletion.get();
  ASSERT_TRUE(ok);
  EXPECT_EQ(event.type(), pb::KeyEvent::DELETE);
  ASSERT_EQ(event.keys_size(), 1);
  EXPECT_EQ(event.keys(0).id(), AliceId());
  EXPECT_EQ(event.keys(0).hash(), Sha256Hex(kAliceKey));

  ctx->TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(AuthsvcGrpcTest, SetKeyPolicyIsAdminOnlyValidatedPersistedAndWatched) {
  auto ctx = Ctx();
  pb::WatchKeysRequest req;
  auto reader = stub_->WatchKeys(ctx.get(), req);
  auto snapshot = ReadAsync(reader.get());
  ASSERT_EQ(snapshot.wait_for(1s), std::future_status::ready);

  pb::SetKeyPolicyRequest set;
  set.mutable_key()->set_key(AliceId());
  set.mutable_policy()->add_models("claude-*");
  set.mutable_policy()->set_requests_per_minute(30);
  pb::KeyInfo info;
  EXPECT_EQ(stub_->SetKeyPolicy(Ctx("x-api-key", kAliceKey).get(), set, &info).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(stub_->SetKeyPolicy(Ctx().get(), set, &info).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  pb::SetKeyPolicyRequest bad = set;
  bad.mutable_policy()->set_tokens_per_day(-1);
  auto st = stub_->SetKeyPolicy(Admin().get(), bad, &info);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message().rfind("policy.tokens_per_day", 0), 0u) << st.error_message();
  pb::SetKeyPolicyRequest unknown = set;
  unknown.mutable_key()->set_key("key_0000000000000000");
  EXPECT_EQ(stub_->SetKeyPolicy(Admin().get(), unknown, &info).error_code(), grpc::StatusCode::NOT_FOUND);

  auto upsert = ReadAsync(reader.get());
  ASSERT_TRUE(stub_->SetKeyPolicy(Admin().get(), set, &info).ok());
  EXPECT_EQ(info.policy().requests_per_minute(), 30);
  ASSERT_EQ(upsert.wait_for(1s), std::future_status::ready);
  auto [ok, event] = upsert.get();
  ASSERT_TRUE(ok);
  EXPECT_EQ(event.type(), pb::KeyEvent::UPSERT);
  ASSERT_EQ(event.keys_size(), 1);
  EXPECT_EQ(event.keys(0).policy().models(0), "claude-*");
  EXPECT_EQ(event.keys(0).policy().requests_per_minute(), 30);
  // The refused calls wrote nothing; the accepted one is in the file.
  auto reloaded = KeyStore::Open(manager_->keys_file());
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ((*reloaded)->loaded_state().keys[0].policy.requests_per_minute, 30);
  EXPECT_EQ((*reloaded)->loaded_state().keys[0].policy.tokens_per_day, 0);

  pb::CreateKeyRequest create;
  create.set_name("with-policy");
  create.mutable_policy()->set_tokens_per_month(5000);
  pb::CreateKeyResponse created;
  ASSERT_TRUE(stub_->CreateKey(Admin().get(), create, &created).ok());
  EXPECT_EQ(created.key().policy().tokens_per_month(), 5000);
  create.mutable_policy()->add_models("bad*model");
  EXPECT_EQ(stub_->CreateKey(Admin().get(), create, &created).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  ctx->TryCancel();
  reader->Finish();
}

TEST_F(AuthsvcGrpcTest, ShutdownWithAnOpenWatchStreamEndsItWithOkPromptly) {
  // Stopping the service finishes open watch streams with OK, so the server's Shutdown does not wait out its grace.
  auto ctx = Ctx();
  auto reader = stub_->WatchKeys(ctx.get(), pb::WatchKeysRequest());
  pb::KeyEvent event;
  ASSERT_TRUE(reader->Read(&event));
  auto start = std::chrono::steady_clock::now();
  service_->BeginShutdown();
  server_->Shutdown(5000);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_TRUE(reader->Finish().ok());
  server_.reset();
}

TEST_F(AuthsvcGrpcTest, ServerShutdownCompletesEvenWithoutEndingWatchesFirst) {
  // If the grace period runs out with a watch open, the stream is cancelled and Shutdown still returns.
  auto ctx = Ctx();
  auto reader = stub_->WatchKeys(ctx.get(), pb::WatchKeysRequest());
  pb::KeyEvent event;
  ASSERT_TRUE(reader->Read(&event));
  auto start = std::chrono::steady_clock::now();
  server_->Shutdown(200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_FALSE(reader->Finish().ok());
  server_.reset();
}

TEST_F(AuthsvcGrpcTest, ConcurrentAdminWritesAreAllPersisted) {
  // Parallel CreateKey calls while watching and validating: every key is acknowledged, persisted and announced.
  auto ctx = Ctx();
  auto reader = stub_->WatchKeys(ctx.get(), pb::WatchKeysRequest());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        pb::CreateKeyRequest req;
        req.set_name("k" + std::to_string(t) + "-" + std::to_string(i));
        pb::CreateKeyResponse resp;
        EXPECT_TRUE(stub_->CreateKey(Admin().get(), req, &resp).ok());
        pb::ValidateKeyRequest v;
        v.set_key(resp.api_key());
        pb::ValidateKeyResponse found;
        EXPECT_TRUE(stub_->ValidateKey(Ctx().get(), v, &found).ok());
        EXPECT_TRUE(found.found());
      }
    });
  }
  for (auto& t : threads) t.join();
  size_t seen = 0;
  pb::KeyEvent event;
  ASSERT_TRUE(reader->Read(&event));
  seen += static_cast<size_t>(event.keys_size());  // the snapshot: 2 keys plus whatever was created before it
  while (seen < 2 + kThreads * kPerThread && reader->Read(&event)) {
    EXPECT_EQ(event.type(), pb::KeyEvent::UPSERT);
    ++seen;
  }
  EXPECT_EQ(seen, 2u + kThreads * kPerThread);
  ctx->TryCancel();
  reader->Finish();

  auto reloaded = LoadManager(keys_file_);
  ASSERT_NE(reloaded, nullptr);
  EXPECT_EQ(reloaded->key_count(), 2u + kThreads * kPerThread);
}

TEST_F(AuthsvcGrpcTest, CheckAdminAnswersLikeTheOtherAdminCalls) {
  // The admin key (either header) is OK; none or an unknown key is UNAUTHENTICATED; a client key PERMISSION_DENIED.
  pb::CheckAdminResponse resp;
  EXPECT_TRUE(stub_->CheckAdmin(Admin().get(), pb::CheckAdminRequest(), &resp).ok());
  EXPECT_TRUE(
      stub_->CheckAdmin(Ctx("authorization", std::string("Bearer ") + kAdminKey).get(), pb::CheckAdminRequest(), &resp)
          .ok());
  auto st = stub_->CheckAdmin(Ctx().get(), pb::CheckAdminRequest(), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message(), "admin credential required");
  st = stub_->CheckAdmin(Ctx("x-api-key", "sk-nobody").get(), pb::CheckAdminRequest(), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message(), "invalid admin credential");
  st = stub_->CheckAdmin(Ctx("x-api-key", kAliceKey).get(), pb::CheckAdminRequest(), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(st.error_message(), "admin key required");
}

TEST_F(AuthsvcGrpcTest, GetLegacyUsageHandsOutTheOldUsageObjectsWithoutCredential) {
  // Every key that had a "usage" object comes back with its id, name and the object as JSON; keys without
  // one (bob) are not listed; the history outlives the key's deletion (name then unknown).
  pb::GetLegacyUsageResponse resp;
  ASSERT_TRUE(stub_->GetLegacyUsage(Ctx().get(), pb::GetLegacyUsageRequest(), &resp).ok());
  ASSERT_EQ(resp.entries_size(), 1);
  EXPECT_EQ(resp.entries(0).key_id(), AliceId());
  EXPECT_EQ(resp.entries(0).name(), "alice");
  EXPECT_EQ(resp.entries(0).usage_json(), R"({"total_requests":3})");

  pb::KeyRef ref;
  ref.set_key(AliceId());
  pb::DeleteKeyResponse deleted;
  ASSERT_TRUE(stub_->DeleteKey(Admin().get(), ref, &deleted).ok());
  resp.Clear();
  ASSERT_TRUE(stub_->GetLegacyUsage(Ctx().get(), pb::GetLegacyUsageRequest(), &resp).ok());
  ASSERT_EQ(resp.entries_size(), 1);
  EXPECT_EQ(resp.entries(0).key_id(), AliceId());
  EXPECT_EQ(resp.entries(0).name(), "");
  EXPECT_EQ(resp.entries(0).usage_json(), R"({"total_requests":3})");
}

TEST(AuthsvcHealthTest, NotServingUntilTheKeysFileIsLoadedThenServing) {
  // Before a KeyManager is attached health is NOT_SERVING and calls are UNAVAILABLE; afterwards SERVING.
  TempDir dir;
  std::unique_ptr<KeyManager> manager;
  AuthGrpcService service;
  auto server = GrpcServer::Start("127.0.0.1:0", {&service}, AuthGrpcService::kHealthName);
  ASSERT_TRUE(server.ok()) << server.status();
  std::string target = "127.0.0.1:" + std::to_string((*server)->port());
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  auto stub = pb::AuthService::NewStub(channel);
  grpc::health::v1::HealthCheckRequest hreq;
  hreq.set_service(AuthGrpcService::kHealthName);
  grpc::health::v1::HealthCheckResponse hresp;

  ASSERT_TRUE(health->Check(Ctx().get(), hreq, &hresp).ok());
  EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(ProbeGrpcHealth(target, AuthGrpcService::kHealthName, 1000));
  pb::ValidateKeyRequest v;
  v.set_key(kAliceKey);
  pb::ValidateKeyResponse found;
  EXPECT_EQ(stub->ValidateKey(Ctx().get(), v, &found).error_code(), grpc::StatusCode::UNAVAILABLE);
  {
    auto ctx = Ctx();
    auto reader = stub->WatchKeys(ctx.get(), pb::WatchKeysRequest());
    pb::KeyEvent event;
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }

  std::ofstream(dir.File("keys.json")) << LegacyKeysJson();
  manager = LoadManager(dir.File("keys.json"));
  ASSERT_NE(manager, nullptr);
  service.AttachManager(manager.get());
  (*server)->SetServing(true);

  ASSERT_TRUE(health->Check(Ctx().get(), hreq, &hresp).ok());
  EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(ProbeGrpcHealth(target, AuthGrpcService::kHealthName, 1000));
  ASSERT_TRUE(stub->ValidateKey(Ctx().get(), v, &found).ok());
  EXPECT_TRUE(found.found());

  service.BeginShutdown();
  (*server)->Shutdown(1000);
}

}  // namespace
}  // namespace luna::authsvc
