// Disk full and write errors (issue #9), on the real binaries: a failing-disk shim
// (tests/support/fail_writes_shim.cpp, LD_PRELOAD) makes the services' real write, fsync, rename and
// open-for-writing calls fail with ENOSPC or EIO while a control file exists, in their state directory
// only. What must hold: no state file is ever corrupted or half-written, callers get a clear error
// (gRPC status with the reason; through the gateway a client request is still answered and its usage
// waits in the spool), health says what is wrong, and once the fault clears everything acknowledged
// is there and the service recovers by itself.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "auth.grpc.pb.h"
#include "fallback.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "usage.grpc.pb.h"

namespace luna::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace apb = luna::auth::v1;
namespace upb = luna::usage::v1;
namespace fpb = luna::fallback::v1;
using Env = std::map<std::string, std::string>;

// The environment that loads the shim into a service: faults only at or below `dir`, switched on
// while `control` exists (its content says which). A sanitizer runtime must accept a library
// preloaded before it.
Env ShimEnv(const std::string& dir, const std::string& control) {
  Env env{
      {"LD_PRELOAD", LUNA_FAIL_WRITES_SHIM}, {"LUNA_FAIL_WRITES_CONTROL", control}, {"LUNA_FAIL_WRITES_UNDER", dir}};
  const char* asan = std::getenv("ASAN_OPTIONS");
  env["ASAN_OPTIONS"] =
      std::string(asan != nullptr && *asan != '\0' ? std::string(asan) + ":" : "") + "verify_asan_link_order=0";
  return env;
}

Env Merge(Env a, const Env& b) {
  for (const auto& [k, v] : b) a[k] = v;
  return a;
}

std::shared_ptr<grpc::Channel> Channel(int port) {
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
}

template <class Ctx>
void Deadline(Ctx* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + 10s);
}

// Every file below `dir` with its content.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out[e.path().lexically_relative(dir).string()] = ReadAll(e.path().string());
  }
  return out;
}

std::vector<std::string> Names(const std::map<std::string, std::string>& files) {
  std::vector<std::string> names;
  for (const auto& [name, content] : files) names.push_back(name);
  return names;
}

// GET /health of a service's metrics endpoint, parsed (status code in "code").
json ServiceHealth(int metrics_port) {
  HttpResponse r = Fetch(metrics_port, "GET", "/health", {}, "", 10s);
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object()) j = json::object();
  j["code"] = r.status;
  return j;
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// One way the disk can fail, as the shim's spec, and the errno text callers must be told.
struct Fault {
  std::string name;  // for the test name
  std::string spec;
  std::string error;
};

std::string FaultName(const ::testing::TestParamInfo<Fault>& info) { return info.param.name; }
// How a Fault shows in test listings (ctest's names): its spec, not its bytes.
void PrintTo(const Fault& fault, std::ostream* os) { *os << '"' << fault.spec << '"'; }

// ---------------------------------------------------------------------------------------------
// authsvc

class AuthsvcDiskFaultTest : public ::testing::TestWithParam<Fault> {
 protected:
  AuthsvcDiskFaultTest()
      : state_dir_(c_.dir().File("state")),
        keys_file_(state_dir_ + "/keys.json"),
        control_(c_.dir().File("fail-writes")) {
    for (const auto& [k, v] : Merge(ShimEnv(state_dir_, control_), {{"KEYS_FILE", keys_file_}})) c_.SetAuthEnv(k, v);
  }

  void StartAuth() {
    c_.StartAuth();
    stub_ = apb::AuthService::NewStub(Channel(c_.auth_port()));
  }

  grpc::Status Admin(const std::function<grpc::Status(grpc::ClientContext*)>& call) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata("x-api-key", c_.admin_key());
    return call(&ctx);
  }
  grpc::Status CreateKey(const std::string& name, apb::CreateKeyResponse* res) {
    return Admin([&](grpc::ClientContext* ctx) {
      apb::CreateKeyRequest req;
      req.set_name(name);
      return stub_->CreateKey(ctx, req, res);
    });
  }
  std::vector<apb::KeyInfo> ListKeys() {
    apb::ListKeysResponse res;
    grpc::Status st = Admin([&](grpc::ClientContext* ctx) { return stub_->ListKeys(ctx, {}, &res); });
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {res.keys().begin(), res.keys().end()};
  }
  HttpResponse Ask(const std::string& key) {
    return c_.Gateway("POST", "/v1/messages", {{"x-api-key", key}},
                      R"({"model":"claude-disk","max_tokens":9,"messages":[{"role":"user","content":"hi"}]})");
  }

  Cluster c_;
  std::string state_dir_, keys_file_, control_;
  std::unique_ptr<apb::AuthService::Stub> stub_;
};

// While the keys file cannot be written: every change is refused with UNAVAILABLE naming the file
// and the errno (through the gateway's admin API: 503 with that message), the keys file stays
// byte for byte what it was and no temporary file is left, the existing keys keep working, and
// authsvc's /health says "degraded" and why. Once the disk works again health is "ok" by itself,
// changes are accepted, and a restart (kill -9) finds exactly the acknowledged keys.
TEST_P(AuthsvcDiskFaultTest, KeyChangesAreRefusedCleanlyAndOldKeysKeepWorking) {
  const Fault& fault = GetParam();
  std::filesystem::create_directories(state_dir_);
  c_.StartUpstream();
  StartAuth();
  c_.StartGateway();
  std::string old_key = c_.CreateKey("before the fault");
  ASSERT_EQ(Ask(old_key).status, 200);
  const auto before = Snapshot(state_dir_);
  ASSERT_EQ(Names(before), std::vector<std::string>{"keys.json"});
  const std::string old_id = ListKeys().at(0).id();

  WriteAll(control_, fault.spec);
  apb::CreateKeyResponse created;
  grpc::Status st = CreateKey("during the fault", &created);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_TRUE(Contains(st.error_message(), "cannot write keys file")) << st.error_message();
  EXPECT_TRUE(Contains(st.error_message(), fault.error)) << st.error_message();
  HttpResponse admin = c_.Gateway("POST", "/admin/keys", {{"x-api-key", c_.admin_key()}}, R"({"name":"via http"})");
  EXPECT_EQ(admin.status, 503) << admin.body;
  EXPECT_TRUE(Contains(admin.body, "Key service unavailable: cannot write keys file")) << admin.body;
  EXPECT_TRUE(Contains(admin.body, fault.error)) << admin.body;
  apb::KeyRef ref;
  ref.set_key(old_id);
  apb::KeyInfo info;
  st = Admin([&](grpc::ClientContext* ctx) { return stub_->DisableKey(ctx, ref, &info); });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  apb::DeleteKeyResponse deleted;
  st = Admin([&](grpc::ClientContext* ctx) { return stub_->DeleteKey(ctx, ref, &deleted); });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();

  // The file: exactly as before (after a failed directory fsync the rename has happened, and the
  // retry brings the file back to the live table within a second).
  EXPECT_TRUE(Eventually([&] { return Snapshot(state_dir_) == before; }, 5s))
      << "files now: " << ::testing::PrintToString(Names(Snapshot(state_dir_)));
  // Validation goes on: the old key works, through the gateway and over gRPC.
  EXPECT_EQ(Ask(old_key).status, 200);
  EXPECT_EQ(ListKeys().size(), 1u);
  json health = ServiceHealth(c_.auth_metrics_port());
  EXPECT_EQ(health["code"], 200) << health.dump();
  EXPECT_EQ(health["status"], "degraded") << health.dump();
  EXPECT_TRUE(Contains(health.value("problem", ""), "keys file not writable")) << health.dump();
  EXPECT_TRUE(Contains(health.value("problem", ""), fault.error)) << health.dump();
  std::string metrics = Fetch(c_.auth_metrics_port(), "GET", "/metrics").body;
  EXPECT_TRUE(Contains(metrics, "luna_authsvc_keys_file_writable 0\n")) << metrics;
  EXPECT_TRUE(Contains(metrics, "luna_authsvc_keys_file_write_failures_total 4\n")) << metrics;
  EXPECT_EQ(c_.Gateway("GET", "/health").status, 200) << "the gateway is not affected";

  std::remove(control_.c_str());
  EXPECT_TRUE(Eventually([&] { return ServiceHealth(c_.auth_metrics_port())["status"] == "ok"; }, 5s))
      << ServiceHealth(c_.auth_metrics_port()).dump();
  ASSERT_TRUE(CreateKey("after the fault", &created).ok());
  st = Admin([&](grpc::ClientContext* ctx) { return stub_->DisableKey(ctx, ref, &info); });
  ASSERT_TRUE(st.ok()) << st.error_message();
  c_.auth()->Stop(SIGKILL);
  StartAuth();
  std::vector<apb::KeyInfo> keys = ListKeys();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].id(), old_id);
  EXPECT_FALSE(keys[0].enabled());
  EXPECT_EQ(keys[1].name(), "after the fault");
  EXPECT_EQ(Names(Snapshot(state_dir_)), std::vector<std::string>{"keys.json"});
}

INSTANTIATE_TEST_SUITE_P(Faults, AuthsvcDiskFaultTest,
                         ::testing::Values(Fault{"DiskFull", "ENOSPC", "No space left on device"},
                                           Fault{"WriteFails", "ENOSPC write", "No space left on device"},
                                           Fault{"PartialWrite", "ENOSPC partial write", "No space left on device"},
                                           Fault{"FsyncEIO", "EIO fsync", "Input/output error"},
                                           Fault{"RenameEIO", "EIO rename", "Input/output error"},
                                           Fault{"DirectoryFsyncEIO", "EIO dirfsync", "Input/output error"},
                                           Fault{"QuotaOnOpen", "EDQUOT open", "Disk quota exceeded"}),
                         FaultName);

// ---------------------------------------------------------------------------------------------
// usagesvc

upb::UsageEvent Event(const std::string& id, int64_t input) {
  upb::UsageEvent e;
  e.set_event_id(id);
  e.set_key_id("key_disk");
  e.set_time_unix_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  e.set_requested_model("claude-disk");
  e.set_served_model("claude-disk");
  e.set_input_tokens(input);
  e.set_output_tokens(1);
  e.set_status(200);
  return e;
}

class UsagesvcDiskFaultTest : public ::testing::TestWithParam<Fault> {
 protected:
  UsagesvcDiskFaultTest() : data_dir_(c_.dir().File("usage-data")), control_(c_.dir().File("fail-writes")) {}

  // usagesvc with the shim on its data directory and a snapshot every 20 events.
  void StartUsage() {
    c_.StartUsage(Merge(ShimEnv(data_dir_, control_), {{"USAGE_SNAPSHOT_EVERY_EVENTS", "20"}, {"USAGE_SNAPSHOT_GROWTH_PERCENT", "0"}}));
    stub_ = upb::UsageService::NewStub(Channel(c_.usage_port()));
  }
  grpc::Status Record(const std::string& prefix, int from, int count, upb::RecordUsageResponse* res = nullptr) {
    upb::RecordUsageRequest req;
    for (int i = from; i < from + count; ++i) *req.add_events() = Event(prefix + std::to_string(i), i + 1);
    upb::RecordUsageResponse ignored;
    grpc::ClientContext ctx;
    Deadline(&ctx);
    return stub_->RecordUsage(&ctx, req, res != nullptr ? res : &ignored);
  }
  // The ledger's grand total: requests and input tokens.
  std::pair<int64_t, int64_t> Totals() {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata("x-api-key", c_.admin_key());
    upb::QueryUsageResponse res;
    grpc::Status st = stub_->QueryUsage(&ctx, {}, &res);
    EXPECT_TRUE(st.ok()) << st.error_message();
    if (res.rows_size() != 1) return {0, 0};
    return {res.rows(0).totals().requests(), res.rows(0).totals().input_tokens()};
  }
  // Sum of 1..n, the input tokens of events 0..n-1.
  static int64_t Inputs(int n) { return int64_t{n} * (n + 1) / 2; }

  Cluster c_;
  std::string data_dir_, control_;
  std::unique_ptr<upb::UsageService::Stub> stub_;
};

// While the journal cannot be written: RecordUsage answers UNAVAILABLE naming the journal and the
// errno, nothing of the refused batch is counted, queries still work, usagesvc reports NOT_SERVING
// (gRPC health and /health 503 with the reason). Once the disk works again it is serving by itself
// within seconds, the same batch is recorded (once), and after a kill -9 and a restart the ledger
// holds exactly the acknowledged events: no torn record, no duplicate.
TEST_P(UsagesvcDiskFaultTest, BatchesAreRefusedAndEverythingAcknowledgedSurvives) {
  const Fault& fault = GetParam();
  c_.StartAuth();
  StartUsage();
  ASSERT_TRUE(Record("e", 0, 30).ok());  // a snapshot (every 20 events) included
  ASSERT_TRUE(Eventually([&] { return Contains(c_.usage()->Log(), "snapshot written"); }));

  WriteAll(control_, fault.spec);
  grpc::Status st = Record("e", 30, 10);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_TRUE(Contains(st.error_message(), "journal")) << st.error_message();
  EXPECT_TRUE(Contains(st.error_message(), fault.error)) << st.error_message();
  EXPECT_EQ(Totals(), std::make_pair(int64_t{30}, Inputs(30)));
  json health = ServiceHealth(c_.usage_metrics_port());
  EXPECT_EQ(health["code"], 503) << health.dump();
  EXPECT_EQ(health["status"], "not_serving") << health.dump();
  EXPECT_TRUE(Contains(health.value("problem", ""), "usage journal not writable")) << health.dump();
  EXPECT_TRUE(Contains(health.value("problem", ""), fault.error)) << health.dump();
  // The probe of the binary (what compose and Kubernetes run) says so too.
  Process probe(LUNA_USAGESVC_BIN, {"--probe", "127.0.0.1:" + std::to_string(c_.usage_port())}, {},
                c_.dir().File("probe.log"));
  int probe_status = probe.Stop(0, 10s);
  EXPECT_TRUE(WIFEXITED(probe_status) && WEXITSTATUS(probe_status) == 1) << probe_status;
  // Retries keep failing while the fault lasts.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(ServiceHealth(c_.usage_metrics_port())["code"], 503);

  std::remove(control_.c_str());
  EXPECT_TRUE(Eventually([&] { return ServiceHealth(c_.usage_metrics_port())["status"] == "ok"; }, 10s))
      << ServiceHealth(c_.usage_metrics_port()).dump();
  upb::RecordUsageResponse res;
  ASSERT_TRUE(Record("e", 30, 10, &res).ok());
  EXPECT_EQ(res.recorded(), 10) << "the refused batch was not half recorded";
  ASSERT_TRUE(Record("e", 40, 10).ok());
  EXPECT_EQ(Totals(), std::make_pair(int64_t{50}, Inputs(50)));

  c_.usage()->Stop(SIGKILL);
  StartUsage();
  EXPECT_FALSE(Contains(c_.usage()->Log(), " bytes (of ")) << "a torn record was left in a journal";
  EXPECT_EQ(Totals(), std::make_pair(int64_t{50}, Inputs(50)));
  ASSERT_TRUE(Record("e", 0, 50, &res).ok());
  EXPECT_EQ(res.duplicates(), 50);
}

INSTANTIATE_TEST_SUITE_P(Faults, UsagesvcDiskFaultTest,
                         ::testing::Values(Fault{"DiskFull", "ENOSPC", "No space left on device"},
                                           Fault{"PartialWrite", "ENOSPC partial write", "No space left on device"},
                                           Fault{"FsyncEIO", "EIO fsync", "Input/output error"}),
                         FaultName);

// Snapshots that cannot be written (the rename of the new snapshot and of a new journal's header
// fails) do not stop recording: /health stays 200 but says "degraded" and why; the next snapshot after
// the fault clears works, and a restart loads everything exactly.
TEST_F(UsagesvcDiskFaultTest, FailedSnapshotsLeaveRecordingUntouched) {
  c_.StartAuth();
  StartUsage();
  WriteAll(control_, "ENOSPC rename");
  for (int b = 0; b < 5; ++b) ASSERT_TRUE(Record("s", b * 10, 10).ok());
  ASSERT_TRUE(Eventually([&] { return ServiceHealth(c_.usage_metrics_port())["status"] == "degraded"; }))
      << ServiceHealth(c_.usage_metrics_port()).dump();
  json health = ServiceHealth(c_.usage_metrics_port());
  EXPECT_EQ(health["code"], 200);
  EXPECT_TRUE(Contains(health.value("problem", ""), "snapshot not written")) << health.dump();
  EXPECT_TRUE(Contains(health.value("problem", ""), "No space left on device")) << health.dump();
  EXPECT_FALSE(std::filesystem::exists(data_dir_ + "/snapshot.bin"));

  std::remove(control_.c_str());
  for (int b = 5; b < 8; ++b) ASSERT_TRUE(Record("s", b * 10, 10).ok());
  EXPECT_TRUE(Eventually([&] { return ServiceHealth(c_.usage_metrics_port())["status"] == "ok"; }))
      << ServiceHealth(c_.usage_metrics_port()).dump();
  EXPECT_TRUE(std::filesystem::exists(data_dir_ + "/snapshot.bin"));
  c_.usage()->Stop(SIGKILL);
  StartUsage();
  EXPECT_EQ(Totals(), std::make_pair(int64_t{80}, Inputs(80)));
}

// Started while its data directory cannot be written, usagesvc refuses to start and says which file
// and why (exit 1, not a crash), changing nothing; started again once the disk works, it has every
// acknowledged event.
TEST_F(UsagesvcDiskFaultTest, AStartOnAFullDiskIsRefusedAndChangesNothing) {
  c_.StartAuth();
  StartUsage();
  ASSERT_TRUE(Record("r", 0, 25).ok());
  // Once the snapshot is done nothing is being written: the kill leaves no temporary file.
  ASSERT_TRUE(Eventually([&] { return Contains(c_.usage()->Log(), "snapshot written"); }));
  c_.usage()->Stop(SIGKILL);
  const auto before = Snapshot(data_dir_);
  WriteAll(control_, "ENOSPC");
  Process refused(
      LUNA_USAGESVC_BIN, {},
      Merge(ShimEnv(data_dir_, control_), {{"USAGE_DATA_DIR", data_dir_},
                                           {"USAGESVC_LISTEN", "127.0.0.1:0"},
                                           {"USAGESVC_METRICS_LISTEN", "off"},
                                           {"AUTHSVC_ADDR", "127.0.0.1:" + std::to_string(c_.auth_port())}}),
      c_.dir().File("refused.log"));
  int status = refused.Stop(0, 20s);  // only waits
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status << "\n" << refused.Log();
  EXPECT_TRUE(Contains(refused.Log(), "No space left on device")) << refused.Log();
  EXPECT_TRUE(Contains(refused.Log(), "refusing to start")) << refused.Log();
  EXPECT_EQ(Snapshot(data_dir_), before);
  std::remove(control_.c_str());
  StartUsage();
  EXPECT_EQ(Totals(), std::make_pair(int64_t{25}, Inputs(25)));
}

// ---------------------------------------------------------------------------------------------
// gateway

// usagesvc cannot write its journal: clients are still answered (200, whole answers), their usage
// waits in the gateway's spool (its /health shows usagesvc not connected and the events pending), and
// once usagesvc can write again the spool drains by itself and every request is counted exactly once.
TEST(GatewayDiskFaultTest, ClientsAreAnsweredWhileUsagesvcCannotWriteAndUsageArrivesLater) {
  Cluster c;
  std::string control = c.dir().File("fail-writes");
  c.StartUpstream();
  c.StartAuth();
  c.StartUsage(ShimEnv(c.dir().File("usage-data"), control));
  c.StartGateway();
  std::string key = c.CreateKey("agent");
  c.SetModel("claude-disk", R"({"usage": {"input_tokens": 11, "output_tokens": 5}})");
  auto gateway_health = [&] { return json::parse(c.Gateway("GET", "/health").body); };
  auto total_requests = [&]() -> int64_t {
    HttpResponse r = c.Gateway("GET", "/admin/usage", {{"x-api-key", c.admin_key()}});
    return r.status == 200 ? json::parse(r.body).value("total_requests", int64_t{-1}) : -1;
  };

  auto ask = [&](bool stream) {
    return c.Gateway("POST", "/v1/messages", {{"x-api-key", key}},
                     json{{"model", "claude-disk"},
                          {"max_tokens", 9},
                          {"stream", stream},
                          {"messages", {{{"role", "user"}, {"content", "hi"}}}}}
                         .dump());
  };
  auto usage_status = [&] { return gateway_health()["services"]["usagesvc"]; };
  ASSERT_EQ(ask(false).status, 200);
  ASSERT_TRUE(Eventually([&] { return total_requests() == 1 && usage_status()["connected"] == true; }, 15s))
      << usage_status().dump();

  WriteAll(control, "ENOSPC");
  for (int i = 0; i < 10; ++i) {
    bool stream = i % 2 == 1;
    HttpResponse r = ask(stream);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(r.complete);
    if (stream) {
      EXPECT_TRUE(Contains(r.body, "event: message_stop")) << r.body;
    }
  }
  // The gateway has tried, usagesvc has refused (and said why), the events wait in the spool.
  ASSERT_TRUE(Eventually(
      [&] {
        json u = usage_status();
        return u["events_pending"] == 10 && u["connected"] == false &&
               Contains(c.usage()->Log(), "No space left on device");
      },
      15s))
      << usage_status().dump() << "\n"
      << c.usage()->Log();
  EXPECT_EQ(c.Gateway("GET", "/health").status, 200) << "the gateway serves";
  EXPECT_EQ(total_requests(), 1) << "queries are still answered; nothing more was counted";

  std::remove(control.c_str());
  EXPECT_TRUE(Eventually([&] { return usage_status()["events_pending"] == 0; }, 20s)) << usage_status().dump();
  EXPECT_EQ(total_requests(), 11);
  c.usage()->Stop(SIGKILL);
  c.StartUsage();
  EXPECT_TRUE(Eventually([&] { return total_requests() == 11; }));
}

// The gateway's own spool cannot be written (its disk is full): clients are still answered, the events
// are held in memory, and once the spool can be written they are spooled and delivered, each once.
TEST(GatewayDiskFaultTest, ClientsAreAnsweredWhileTheSpoolCannotBeWritten) {
  Cluster c;
  std::string control = c.dir().File("fail-writes");
  std::string spool_dir = c.dir().File("spool");
  std::filesystem::create_directories(spool_dir);
  for (const auto& [k, v] : ShimEnv(spool_dir, control)) c.SetGatewayEnv(k, v);
  c.SetGatewayEnv("USAGE_SPOOL_FILE", spool_dir + "/usage-spool.log");
  c.StartUpstream();
  c.StartAuth();
  c.StartUsage();
  c.StartGateway();
  std::string key = c.CreateKey("agent");
  auto total_requests = [&]() -> int64_t {
    HttpResponse r = c.Gateway("GET", "/admin/usage", {{"x-api-key", c.admin_key()}});
    return r.status == 200 ? json::parse(r.body).value("total_requests", int64_t{-1}) : -1;
  };

  WriteAll(control, "EIO");
  for (int i = 0; i < 6; ++i) {
    HttpResponse r = c.Gateway("POST", "/v1/messages", {{"x-api-key", key}},
                               R"({"model":"claude-disk","max_tokens":9,"messages":[{"role":"user","content":"hi"}]})");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  ASSERT_TRUE(Eventually([&] { return Contains(c.gateway()->Log(), "usage events held in memory"); }))
      << c.gateway()->Log();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(total_requests(), 0) << "nothing is sent before it is in the spool";

  std::remove(control.c_str());
  EXPECT_TRUE(Eventually([&] { return total_requests() == 6; }, 20s)) << total_requests();
  c.StopGateway();
  c.StartGateway();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(total_requests(), 6) << "a restart sends nothing twice";
}

// The spool cannot be written and the gateway is killed: the answers it gave were staged in the
// spool's ring (a mapped file the shim's write calls never touch), so the next gateway on the same
// spool takes them in and delivers them, each once. With the ring off, every answer waits for the
// spool's failing write instead, and the waits are counted.
TEST(GatewayDiskFaultTest, AnswersGivenWhileTheSpoolCannotBeWrittenSurviveAKill9) {
  Cluster c;
  std::string control = c.dir().File("fail-writes");
  std::string spool_dir = c.dir().File("spool");
  std::filesystem::create_directories(spool_dir);
  for (const auto& [k, v] : ShimEnv(spool_dir, control)) c.SetGatewayEnv(k, v);
  c.SetGatewayEnv("USAGE_SPOOL_FILE", spool_dir + "/usage-spool.log");
  c.StartUpstream();
  c.StartAuth();
  c.StartUsage();
  c.StartGateway();
  std::string key = c.CreateKey("agent");
  auto total_requests = [&]() -> int64_t {
    HttpResponse r = c.Gateway("GET", "/admin/usage", {{"x-api-key", c.admin_key()}});
    return r.status == 200 ? json::parse(r.body).value("total_requests", int64_t{-1}) : -1;
  };
  auto waited = [&]() -> int64_t {
    HttpResponse r = c.Gateway("GET", "/health");
    return r.status == 200 ? json::parse(r.body)["services"]["usagesvc"].value("answers_waited_for_spool", -1) : -1;
  };
  const std::string body = R"({"model":"claude-disk","max_tokens":9,"messages":[{"role":"user","content":"hi"}]})";

  WriteAll(control, "EIO");
  for (int i = 0; i < 5; ++i) ASSERT_EQ(c.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, body).status, 200);
  ASSERT_TRUE(Eventually([&] { return Contains(c.gateway()->Log(), "usage events held in memory"); }))
      << c.gateway()->Log();
  EXPECT_EQ(waited(), 0) << "every answer was staged in the ring";
  EXPECT_EQ(total_requests(), 0) << "nothing is sent before it is in the spool";
  c.StopGateway(SIGKILL);

  std::remove(control.c_str());
  c.StartGateway();
  EXPECT_TRUE(Eventually([&] { return total_requests() == 5; }, 20s)) << total_requests();
  EXPECT_TRUE(Contains(c.gateway()->Log(), "5 events of answers given just before a crash taken in from its ring"))
      << c.gateway()->Log();
  c.StopGateway(SIGKILL);
  c.StartGateway();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(total_requests(), 5) << "a second restart sends nothing twice";

  c.SetGatewayEnv("USAGE_RING_SLOTS", "0");
  c.StopGateway();
  c.StartGateway();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(c.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, body).status, 200);
  EXPECT_EQ(waited(), 3);
  EXPECT_TRUE(Eventually([&] { return total_requests() == 8; }, 20s)) << total_requests();
  EXPECT_FALSE(std::filesystem::exists(spool_dir + "/usage-spool.log.ring"));
}

// ---------------------------------------------------------------------------------------------
// fallbacksvc

// fallbacksvc's state file cannot be written: cooldowns still take effect (routing goes on from
// memory), the file keeps its last whole content, /health says "degraded" and why, a SIGTERM still
// exits 0; once the disk works the file catches up by itself (retried every second).
TEST(FallbacksvcDiskFaultTest, RoutingGoesOnAndTheStateFileIsNeverTorn) {
  Cluster c;
  std::string control = c.dir().File("fail-writes");
  std::string state_dir = c.dir().File("fbstate");
  std::string state_file = state_dir + "/fallback-state.json";
  std::filesystem::create_directories(state_dir);
  c.StartUpstream();
  c.StartAuth();
  const std::string config = R"({"enabled": true, "health_poll_interval_seconds": 60, "tiers": [
      {"name": "opus", "model": "claude-opus", "type": "antigravity"},
      {"name": "sonnet", "model": "claude-sonnet", "type": "antigravity"}]})";
  Env env = Merge(ShimEnv(state_dir, control), {{"FALLBACK_STATE_FILE", state_file}});
  int port = 0, metrics_port = 0;
  auto fallback = StartFallbackService(c, config, &port, env, &metrics_port);
  auto stub = fpb::FallbackService::NewStub(Channel(port));
  auto report = [&](const std::string& tier) {
    fpb::ReportOutcomesRequest req;
    fpb::Outcome* o = req.add_outcomes();
    o->set_tier(tier);
    o->set_kind(fpb::RATE_LIMITED);
    o->set_status(429);
    o->set_retry_after_ms(600000);
    fpb::ReportOutcomesResponse res;
    grpc::ClientContext ctx;
    Deadline(&ctx);
    return stub->ReportOutcomes(&ctx, req, &res);
  };
  auto cooled = [&](const std::string& tier) {
    fpb::FallbackStatus status;
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata("x-api-key", c.admin_key());
    if (!stub->GetStatus(&ctx, {}, &status).ok()) return false;
    for (const auto& t : status.table().tiers()) {
      if (t.name() == tier) return !t.available();
    }
    return false;
  };
  ASSERT_TRUE(report("opus").ok());
  ASSERT_TRUE(Eventually([&] { return Contains(ReadAll(state_file), "claude-opus"); })) << ReadAll(state_file);
  const std::string before = ReadAll(state_file);

  WriteAll(control, "ENOSPC");
  ASSERT_TRUE(report("sonnet").ok());
  EXPECT_TRUE(Eventually([&] { return cooled("sonnet"); })) << "the cooldown takes effect from memory";
  ASSERT_TRUE(Eventually([&] { return ServiceHealth(metrics_port)["status"] == "degraded"; }))
      << ServiceHealth(metrics_port).dump();
  json health = ServiceHealth(metrics_port);
  EXPECT_EQ(health["code"], 200);
  EXPECT_TRUE(Contains(health.value("problem", ""), "state file not writable")) << health.dump();
  EXPECT_TRUE(Contains(health.value("problem", ""), "No space left on device")) << health.dump();
  std::this_thread::sleep_for(1500ms);  // a retry or two, failing
  EXPECT_TRUE(fallback->Running());
  EXPECT_EQ(ReadAll(state_file), before);
  EXPECT_EQ(Names(Snapshot(state_dir)), std::vector<std::string>{"fallback-state.json"});

  std::remove(control.c_str());
  EXPECT_TRUE(Eventually([&] { return Contains(ReadAll(state_file), "claude-sonnet"); }, 5s)) << ReadAll(state_file);
  EXPECT_TRUE(Eventually([&] { return ServiceHealth(metrics_port)["status"] == "ok"; }))
      << ServiceHealth(metrics_port).dump();

  // A stop while the disk fails: exit 0, the file still whole (the last state it could write).
  WriteAll(control, "EIO");
  ASSERT_TRUE(report("opus").ok());  // a repeat: the cooldown grows, the state changes
  const std::string last = ReadAll(state_file);
  int status = fallback->Stop(SIGTERM, 15s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << fallback->Log();
  EXPECT_TRUE(Contains(fallback->Log(), "cannot write the state file")) << fallback->Log();
  EXPECT_EQ(ReadAll(state_file), last);
  EXPECT_TRUE(json::accept(ReadAll(state_file)));
  std::remove(control.c_str());
  fallback = StartFallbackService(c, "", &port, env, &metrics_port);
  stub = fpb::FallbackService::NewStub(Channel(port));
  EXPECT_TRUE(Eventually([&] { return cooled("opus") && cooled("sonnet"); }));
}

}  // namespace
}  // namespace luna::testing
