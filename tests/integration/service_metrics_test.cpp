// The services' own metrics endpoints (AUTHSVC_/USAGESVC_/FALLBACKSVC_METRICS_LISTEN), on the real
// binaries: real work through gRPC (and through a gateway for usage), then GET /metrics over a socket,
// parsed strictly as Prometheus parses it, and the counters checked to have moved by exactly what was
// done. Also /health, wrong paths and methods, "off", a bad address and a port already taken.
#include <arpa/inet.h>
#include <dirent.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "auth.grpc.pb.h"
#include "fallback.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/support/prom_text.h"
#include "usage.grpc.pb.h"

namespace luna::testing {
namespace {

using namespace std::chrono_literals;
namespace apb = luna::auth::v1;
namespace upb = luna::usage::v1;
namespace fpb = luna::fallback::v1;
using Labels = std::map<std::string, std::string>;

// GET /metrics, checked and parsed. Every sample must belong to the service (`prefix`) and every
// family must have HELP and TYPE.
PromText Scrape(int port, const std::string& prefix) {
  PromText t;
  HttpResponse r = Fetch(port, "GET", "/metrics", {}, "", 10s);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  std::string error;
  EXPECT_TRUE(ParsePromText(r.body, &t, &error)) << error << "\n" << r.body;
  for (const PromSample& s : t.samples) EXPECT_EQ(s.name.rfind(prefix + "_", 0), 0u) << s.name;
  for (const auto& [family, type] : t.types) EXPECT_EQ(t.help.count(family), 1u) << family << " has no HELP";
  return t;
}

// /health answers 200 while serving; other paths 404, other methods 405, bodies 413.
void ExpectHealthAndRefusals(int port) {
  HttpResponse h = Fetch(port, "GET", "/health", {}, "", 10s);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, R"({"status":"ok"})");
  EXPECT_EQ(Fetch(port, "GET", "/", {}, "", 10s).status, 404);
  EXPECT_EQ(Fetch(port, "GET", "/v1/messages", {}, "", 10s).status, 404);
  HttpResponse post = Fetch(port, "POST", "/metrics", {}, "", 10s);
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.Header("allow"), "GET");
  EXPECT_EQ(Fetch(port, "PUT", "/health", {}, "x", 10s).status, 405);
  EXPECT_EQ(Fetch(port, "GET", "/metrics", {}, "a body", 10s).status, 413);
}

// The TCP ports process `pid` listens on (from /proc: its socket inodes in LISTEN state).
std::set<int> ListeningPorts(pid_t pid) {
  std::set<std::string> inodes;
  std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = opendir(fd_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      char target[256];
      ssize_t n = readlink((fd_dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      std::string link(target, static_cast<size_t>(n));
      if (link.rfind("socket:[", 0) == 0) inodes.insert(link.substr(8, link.size() - 9));
    }
    closedir(d);
  }
  std::set<int> ports;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string sl, local, remote, state, queues, timer, retrans, uid, timeout, inode;
      fields >> sl >> local >> remote >> state >> queues >> timer >> retrans >> uid >> timeout >> inode;
      if (state != "0A" || inodes.count(inode) == 0) continue;  // 0A = LISTEN
      ports.insert(std::stoi(local.substr(local.rfind(':') + 1), nullptr, 16));
    }
  }
  return ports;
}

std::shared_ptr<grpc::Channel> Channel(int port) {
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
}

// ---------------------------------------------------------------------------------------------
// authsvc

class AuthsvcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    c_.StartAuth();
    port_ = c_.auth_metrics_port();
    ASSERT_GT(port_, 0);
    stub_ = apb::AuthService::NewStub(Channel(c_.auth_port()));
  }
  grpc::Status CreateKey(const std::string& name, std::string* key = nullptr) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-api-key", c_.admin_key());
    apb::CreateKeyRequest req;
    req.set_name(name);
    apb::CreateKeyResponse res;
    grpc::Status st = stub_->CreateKey(&ctx, req, &res);
    if (key != nullptr) *key = res.api_key();
    return st;
  }
  double Calls(const PromText& t, const std::string& method, const std::string& code) {
    return t.Value("luna_authsvc_grpc_calls_total",
                   {{"service", "luna.auth.v1.AuthService"}, {"method", method}, {"code", code}});
  }

  Cluster c_;
  int port_ = 0;
  std::unique_ptr<apb::AuthService::Stub> stub_;
};

TEST_F(AuthsvcMetricsTest, CountsCallsKeysWatchStreamsAndKeysFileWrites) {
  ExpectHealthAndRefusals(port_);
  PromText before = Scrape(port_, "luna_authsvc");
  EXPECT_EQ(before.Value("luna_authsvc_serving", {}, -1), 1);
  EXPECT_GT(before.Value("luna_authsvc_start_time_seconds"), 1.7e9);
  EXPECT_EQ(before.Value("luna_authsvc_keys", {{"state", "enabled"}}, -1), 0);
  EXPECT_EQ(before.Value("luna_authsvc_keys", {{"state", "disabled"}}, -1), 0);
  EXPECT_EQ(before.Value("luna_authsvc_keys_file_writes_total", {}, -1), 0);
  EXPECT_EQ(before.Value("luna_authsvc_keys_file_write_failures_total", {}, -1), 0);
  EXPECT_EQ(before.Value("luna_authsvc_keys_file_writable", {}, -1), 1);
  EXPECT_EQ(before.Value("luna_authsvc_watch_streams", {}, -1), 0);
  // Every method of the service is listed from the start, at 0.
  for (const char* m : {"ValidateKey", "WatchKeys", "CreateKey", "ListKeys", "GetKey", "DisableKey", "EnableKey",
                        "DeleteKey", "CheckAdmin", "GetLegacyUsage"}) {
    EXPECT_TRUE(before.Find("luna_authsvc_grpc_calls_total",
                            {{"service", "luna.auth.v1.AuthService"}, {"method", m}, {"code", "OK"}})
                    .has_value())
        << m;
  }

  // Two keys created and one disabled (three writes of the keys file); one key found, one not; admin
  // calls without a credential, with a client key, and for a key that does not exist.
  std::string key_a, key_b;
  ASSERT_TRUE(CreateKey("metrics-a", &key_a).ok());
  ASSERT_TRUE(CreateKey("metrics-b", &key_b).ok());
  for (const std::string& k : {key_a, std::string("sk-not-a-key")}) {
    grpc::ClientContext ctx;
    apb::ValidateKeyRequest req;
    req.set_key(k);
    apb::ValidateKeyResponse res;
    ASSERT_TRUE(stub_->ValidateKey(&ctx, req, &res).ok());
  }
  {
    grpc::ClientContext ctx;
    apb::ListKeysResponse res;
    EXPECT_EQ(stub_->ListKeys(&ctx, {}, &res).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-api-key", key_a);
    apb::ListKeysResponse res;
    EXPECT_EQ(stub_->ListKeys(&ctx, {}, &res).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-api-key", c_.admin_key());
    apb::KeyRef ref;
    ref.set_key("key_0000000000000000");
    apb::KeyInfo res;
    EXPECT_EQ(stub_->GetKey(&ctx, ref, &res).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-api-key", c_.admin_key());
    apb::KeyRef ref;
    ref.set_key(key_b);
    apb::KeyInfo res;
    ASSERT_TRUE(stub_->DisableKey(&ctx, ref, &res).ok());
  }
  // A gateway-like watcher: the stream counts as open once its snapshot arrived.
  auto watch_ctx = std::make_unique<grpc::ClientContext>();
  apb::WatchKeysRequest watch_req;
  watch_req.set_watcher("metrics-test");
  auto reader = stub_->WatchKeys(watch_ctx.get(), watch_req);
  apb::KeyEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.type(), apb::KeyEvent::SNAPSHOT);

  PromText after = Scrape(port_, "luna_authsvc");
  EXPECT_EQ(Calls(after, "CreateKey", "OK") - Calls(before, "CreateKey", "OK"), 2);
  EXPECT_EQ(Calls(after, "ValidateKey", "OK") - Calls(before, "ValidateKey", "OK"), 2);
  EXPECT_EQ(Calls(after, "ListKeys", "UNAUTHENTICATED"), 1);
  EXPECT_EQ(Calls(after, "ListKeys", "PERMISSION_DENIED"), 1);
  EXPECT_EQ(Calls(after, "GetKey", "NOT_FOUND"), 1);
  EXPECT_EQ(Calls(after, "DisableKey", "OK") - Calls(before, "DisableKey", "OK"), 1);
  EXPECT_EQ(Calls(after, "EnableKey", "OK"), 0);
  EXPECT_EQ(after.Value("luna_authsvc_validations_total", {{"result", "found"}}) -
                before.Value("luna_authsvc_validations_total", {{"result", "found"}}),
            1);
  EXPECT_EQ(after.Value("luna_authsvc_validations_total", {{"result", "not_found"}}) -
                before.Value("luna_authsvc_validations_total", {{"result", "not_found"}}),
            1);
  EXPECT_EQ(after.Value("luna_authsvc_keys", {{"state", "enabled"}}, -1), 1);
  EXPECT_EQ(after.Value("luna_authsvc_keys", {{"state", "disabled"}}, -1), 1);
  EXPECT_EQ(after.Value("luna_authsvc_keys_file_writes_total", {}, -1), 3);
  EXPECT_EQ(after.Value("luna_authsvc_keys_file_write_failures_total", {}, -1), 0);
  EXPECT_EQ(after.Value("luna_authsvc_watch_streams", {}, -1), 1);

  // The watcher goes away: the stream is no longer open, and its call ended CANCELLED.
  watch_ctx->TryCancel();
  (void)reader->Finish();
  PromText closed;
  EXPECT_TRUE(Eventually([&] {
    closed = Scrape(port_, "luna_authsvc");
    return closed.Value("luna_authsvc_watch_streams", {}, -1) == 0 && Calls(closed, "WatchKeys", "CANCELLED") == 1;
  })) << "watch_streams " << closed.Value("luna_authsvc_watch_streams", {}, -1) << ", WatchKeys CANCELLED "
      << Calls(closed, "WatchKeys", "CANCELLED");

  // The keys file cannot be replaced (a directory stands in its way): the change is refused, the
  // failed write counted and the file reported not writable (retries, failing too, are not counted);
  // the table is unchanged.
  ASSERT_EQ(std::rename(c_.keys_file().c_str(), (c_.keys_file() + ".moved").c_str()), 0);
  ASSERT_EQ(mkdir(c_.keys_file().c_str(), 0700), 0);
  WriteAll(c_.keys_file() + "/in-the-way", "x");
  EXPECT_EQ(CreateKey("metrics-c").error_code(), grpc::StatusCode::UNAVAILABLE);
  PromText failed = Scrape(port_, "luna_authsvc");
  EXPECT_EQ(failed.Value("luna_authsvc_keys_file_write_failures_total", {}, -1), 1);
  EXPECT_EQ(failed.Value("luna_authsvc_keys_file_writable", {}, -1), 0);
  EXPECT_EQ(failed.Value("luna_authsvc_keys_file_writes_total", {}, -1), 3);
  EXPECT_EQ(Calls(failed, "CreateKey", "UNAVAILABLE"), 1);
  EXPECT_EQ(failed.Value("luna_authsvc_keys", {{"state", "enabled"}}, -1), 1);
}

TEST_F(AuthsvcMetricsTest, HealthChecksAndUnknownMethodsAreCountedToo) {
  // The binary's own --probe (what compose and systemd run) is a grpc.health.v1.Health/Check.
  PromText before = Scrape(port_, "luna_authsvc");
  Process probe(LUNA_AUTHSVC_BIN, {"--probe", "127.0.0.1:" + std::to_string(c_.auth_port())}, {},
                c_.dir().File("probe.log"));
  ASSERT_TRUE(Eventually([&] { return !probe.Running(); }, 10s));
  // A method the server does not know: UNIMPLEMENTED, under service and method "other".
  grpc::GenericStub generic(Channel(c_.auth_port()));
  grpc::ClientContext ctx;
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1), response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(&ctx, "/luna.auth.v1.AuthService/NoSuchMethod", grpc::StubOptions(), &request, &response,
                    [&](grpc::Status st) {
                      std::lock_guard lock(mu);
                      status = st;
                      done = true;
                      cv.notify_all();
                    });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return done; }));
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  PromText after = Scrape(port_, "luna_authsvc");
  const Labels check = {{"service", "grpc.health.v1.Health"}, {"method", "Check"}, {"code", "OK"}};
  EXPECT_EQ(after.Value("luna_authsvc_grpc_calls_total", check) - before.Value("luna_authsvc_grpc_calls_total", check),
            1);
  EXPECT_EQ(after.Value("luna_authsvc_grpc_calls_total",
                        {{"service", "other"}, {"method", "other"}, {"code", "UNIMPLEMENTED"}}, -1),
            1);
}

TEST_F(AuthsvcMetricsTest, ListensOnExactlyItsGrpcAndMetricsPorts) {
  EXPECT_EQ(ListeningPorts(c_.auth()->pid()), (std::set<int>{c_.auth_port(), port_}));
}

// ---------------------------------------------------------------------------------------------
// usagesvc

upb::UsageEvent Event(const std::string& id, int64_t input, int64_t output) {
  upb::UsageEvent e;
  e.set_event_id(id);
  e.set_key_id("key_metrics");
  e.set_time_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
  e.set_requested_model("claude-metrics");
  e.set_served_model("claude-metrics");
  e.set_input_tokens(input);
  e.set_output_tokens(output);
  e.set_status(200);
  return e;
}

TEST(UsagesvcMetricsTest, CountsEventsDuplicatesJournalWritesAndLedgerRows) {
  Cluster c;
  c.StartAuth();
  std::string fail_file = c.dir().File("journal-fails");
  c.StartUsage({{"USAGE_TEST_FAIL_WRITES_IF_EXISTS", fail_file}});
  int port = c.usage_metrics_port();
  ASSERT_GT(port, 0);
  // The legacy import (nothing to import here) has run, so nothing else writes the journal.
  ASSERT_TRUE(Eventually([&] { return c.usage()->Log().find("legacy usage:") != std::string::npos; }))
      << c.usage()->Log();
  ExpectHealthAndRefusals(port);
  auto stub = upb::UsageService::NewStub(Channel(c.usage_port()));
  auto record = [&](const std::vector<upb::UsageEvent>& events, upb::RecordUsageResponse* res) {
    grpc::ClientContext ctx;
    upb::RecordUsageRequest req;
    for (const auto& e : events) *req.add_events() = e;
    return stub->RecordUsage(&ctx, req, res);
  };
  auto calls = [](const PromText& t, const std::string& method, const std::string& code) {
    return t.Value("luna_usagesvc_grpc_calls_total",
                   {{"service", "luna.usage.v1.UsageService"}, {"method", method}, {"code", code}});
  };

  PromText before = Scrape(port, "luna_usagesvc");
  EXPECT_EQ(before.Value("luna_usagesvc_serving", {}, -1), 1);
  EXPECT_EQ(before.Value("luna_usagesvc_journal_writable", {}, -1), 1);
  EXPECT_EQ(before.Value("luna_usagesvc_events_recorded_total", {}, -1), 0);
  EXPECT_EQ(before.Value("luna_usagesvc_ledger_event_ids", {}, -1), 0);

  // Three new events; then a batch repeating two of them with one new: 4 recorded, 2 duplicates,
  // two journal records (one write + one fdatasync each).
  upb::RecordUsageResponse res;
  ASSERT_TRUE(record({Event("m-1", 10, 1), Event("m-2", 20, 2), Event("m-3", 30, 3)}, &res).ok());
  EXPECT_EQ(res.recorded(), 3);
  ASSERT_TRUE(record({Event("m-1", 10, 1), Event("m-2", 20, 2), Event("m-4", 40, 4)}, &res).ok());
  EXPECT_EQ(res.recorded(), 1);
  EXPECT_EQ(res.duplicates(), 2);
  // An admin query, and one without a credential.
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-api-key", c.admin_key());
    upb::QueryUsageRequest q;
    q.set_by_model(true);
    upb::QueryUsageResponse r;
    ASSERT_TRUE(stub->QueryUsage(&ctx, q, &r).ok());
    ASSERT_EQ(r.rows_size(), 1);
    EXPECT_EQ(r.rows(0).totals().requests(), 4);
  }
  {
    grpc::ClientContext ctx;
    upb::QueryUsageResponse r;
    EXPECT_EQ(stub->QueryUsage(&ctx, {}, &r).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }

  PromText after = Scrape(port, "luna_usagesvc");
  EXPECT_EQ(after.Value("luna_usagesvc_events_recorded_total", {}, -1), 4);
  EXPECT_EQ(after.Value("luna_usagesvc_events_duplicate_total", {}, -1), 2);
  EXPECT_EQ(after.Value("luna_usagesvc_journal_writes_total") - before.Value("luna_usagesvc_journal_writes_total"), 2);
  EXPECT_EQ(after.Value("luna_usagesvc_journal_write_failures_total", {}, -1), 0);
  EXPECT_EQ(after.Value("luna_usagesvc_events_queued", {}, -1), 0);
  EXPECT_EQ(after.Value("luna_usagesvc_ledger_event_ids", {}, -1), 4);
  EXPECT_EQ(after.Value("luna_usagesvc_ledger_keys", {}, -1), 1);
  EXPECT_EQ(after.Value("luna_usagesvc_ledger_models", {}, -1), 1);
  EXPECT_EQ(after.Value("luna_usagesvc_ledger_aggregate_rows", {}, -1), 1);  // one key, one hour, one model
  EXPECT_EQ(after.Value("luna_usagesvc_ledger_detail_events", {}, -1), 4);
  EXPECT_EQ(after.Value("luna_usagesvc_ledger_legacy_keys", {}, -1), 0);
  EXPECT_EQ(after.Value("luna_usagesvc_snapshots_total", {{"result", "ok"}}, -1), 0);
  EXPECT_EQ(calls(after, "RecordUsage", "OK") - calls(before, "RecordUsage", "OK"), 2);
  EXPECT_EQ(calls(after, "QueryUsage", "OK") - calls(before, "QueryUsage", "OK"), 1);
  EXPECT_EQ(calls(after, "QueryUsage", "UNAUTHENTICATED"), 1);

  // The journal stops taking writes: the batch is refused, the failure counted, the service says it
  // is not serving (gauge and /health 503) until a retry succeeds.
  WriteAll(fail_file, "");
  EXPECT_EQ(record({Event("m-5", 50, 5)}, &res).error_code(), grpc::StatusCode::UNAVAILABLE);
  PromText failing = Scrape(port, "luna_usagesvc");
  EXPECT_GE(failing.Value("luna_usagesvc_journal_write_failures_total"), 1);
  EXPECT_EQ(failing.Value("luna_usagesvc_journal_writable", {}, -1), 0);
  EXPECT_EQ(failing.Value("luna_usagesvc_serving", {}, -1), 0);
  EXPECT_EQ(failing.Value("luna_usagesvc_events_recorded_total", {}, -1), 4);
  EXPECT_EQ(calls(failing, "RecordUsage", "UNAVAILABLE"), 1);
  HttpResponse health = Fetch(port, "GET", "/health");
  EXPECT_EQ(health.status, 503);
  EXPECT_EQ(health.body.rfind(R"({"status":"not_serving","problem":"usage journal not writable (usage events are refused): )"
                              R"(cannot write journal )",
                              0),
            0u)
      << health.body;
  EXPECT_NE(health.body.find("No space left on device"), std::string::npos) << health.body;

  std::remove(fail_file.c_str());
  EXPECT_TRUE(Eventually([&] { return Fetch(port, "GET", "/health").status == 200; }, 15s));
  PromText recovered = Scrape(port, "luna_usagesvc");
  EXPECT_EQ(recovered.Value("luna_usagesvc_serving", {}, -1), 1);
  EXPECT_EQ(recovered.Value("luna_usagesvc_journal_writable", {}, -1), 1);
  // The recovery probe record is a journal write too.
  EXPECT_GE(recovered.Value("luna_usagesvc_journal_writes_total") - after.Value("luna_usagesvc_journal_writes_total"),
            1);
  ASSERT_TRUE(record({Event("m-5", 50, 5)}, &res).ok());
  EXPECT_EQ(Scrape(port, "luna_usagesvc").Value("luna_usagesvc_events_recorded_total", {}, -1), 5);
}

TEST(UsagesvcMetricsTest, RequestsThroughAGatewayAreRecordedOnce) {
  Cluster c;
  c.StartUpstream();
  c.StartAuth();
  c.StartUsage();
  c.StartGateway();
  int port = c.usage_metrics_port();
  ASSERT_GT(port, 0);
  std::string key = c.CreateKey("metrics-gateway");
  PromText before = Scrape(port, "luna_usagesvc");
  Headers h = {{"x-api-key", key}, {"content-type", "application/json"}};
  const std::string body = R"({"model":"claude-metrics","max_tokens":9,"messages":[{"role":"user","content":"hi"}]})";
  ASSERT_EQ(c.Gateway("POST", "/v1/messages", h, body).status, 200);
  ASSERT_EQ(c.Gateway("POST", "/v1/messages", h, body).status, 200);
  PromText after;
  EXPECT_TRUE(Eventually([&] {
    after = Scrape(port, "luna_usagesvc");
    return after.Value("luna_usagesvc_events_recorded_total") - before.Value("luna_usagesvc_events_recorded_total") ==
           2;
  })) << after.Value("luna_usagesvc_events_recorded_total");
  EXPECT_EQ(after.Value("luna_usagesvc_events_duplicate_total", {}, -1), 0);
  // A call is counted as its status goes out, just after its events are: wait for that too.
  EXPECT_TRUE(Eventually([&] {
    return Scrape(port, "luna_usagesvc")
               .Value("luna_usagesvc_grpc_calls_total",
                      {{"service", "luna.usage.v1.UsageService"}, {"method", "RecordUsage"}, {"code", "OK"}}) >= 1;
  }));
  // The gateway's key table follows authsvc's watch stream.
  EXPECT_EQ(Scrape(c.auth_metrics_port(), "luna_authsvc").Value("luna_authsvc_watch_streams", {}, -1), 1);
}

// Under a steady stream of requests the gateway sends usage in full batches (USAGE_BATCH_SIZE), plus
// at most one partial batch per tick of its sender (100 ms), not one call per round trip's worth of
// events: each call costs usagesvc a journal write and an fdatasync. Counted by usagesvc's own call
// counter; every event still arrives exactly once.
TEST(UsagesvcMetricsTest, GatewaySendsUsageInFullBatchesUnderLoad) {
  constexpr int kBatch = 25, kThreads = 4, kPerThread = 100, kEvents = kThreads * kPerThread;
  Cluster c(Cluster::Options{.gateway_env = {{"USAGE_BATCH_SIZE", std::to_string(kBatch)}}});
  c.StartUpstream();
  c.StartAuth();
  c.StartUsage();
  c.StartGateway();
  const int port = c.usage_metrics_port();
  ASSERT_GT(port, 0);
  const std::string key = c.CreateKey("batching");
  const Labels record_ok = {{"service", "luna.usage.v1.UsageService"}, {"method", "RecordUsage"}, {"code", "OK"}};
  PromText before = Scrape(port, "luna_usagesvc");
  const Headers h = {{"x-api-key", key}, {"content-type", "application/json"}};
  const std::string body = R"({"model":"claude-batch","max_tokens":9,"messages":[{"role":"user","content":"hi"}]})";
  std::atomic<int> ok{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) ok += c.Gateway("POST", "/v1/messages", h, body).status == 200;
    });
  }
  for (auto& t : clients) t.join();
  PromText after;
  ASSERT_TRUE(Eventually(
      [&] {
        after = Scrape(port, "luna_usagesvc");
        return after.Value("luna_usagesvc_events_recorded_total") - before.Value("luna_usagesvc_events_recorded_total") ==
               kEvents;
      },
      20s))
      << after.Value("luna_usagesvc_events_recorded_total");
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(ok.load(), kEvents);
  // The handler counts its events before the interceptor counts the call (as its status goes out),
  // so the last call may not show yet: wait for every full batch's call (at most 25 events a call).
  double calls = 0;
  EXPECT_TRUE(Eventually([&] {
    after = Scrape(port, "luna_usagesvc");
    calls = after.Value("luna_usagesvc_grpc_calls_total", record_ok) -
            before.Value("luna_usagesvc_grpc_calls_total", record_ok);
    return calls >= kEvents / kBatch;
  })) << kEvents << " events in only " << calls << " calls";
  // Full batches, plus one partial batch per tick of the sender while the requests ran and were
  // delivered, plus slack for a tick that lands between a full batch's signal and its send.
  const double bound = kEvents / kBatch + elapsed_ms / 100.0 + 4;
  EXPECT_LE(calls, bound) << kEvents << " events in " << calls << " calls over " << elapsed_ms << " ms";
  EXPECT_EQ(after.Value("luna_usagesvc_events_duplicate_total", {}, -1), 0);
}

// ---------------------------------------------------------------------------------------------
// fallbacksvc

class FallbacksvcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    c_.StartUpstream();
    c_.StartAuth();
    auto r = Fetch(c_.upstream_port(), "POST", "/_control/quota", {{"content-type", "application/json"}},
                   R"({"accounts":[{"email":"a@test","models":{"claude-opus":{"remainingFraction":0.8},
                       "claude-sonnet":{"remainingFraction":0.05}}}]})");
    ASSERT_EQ(r.status, 200) << r.body;
    process_ = StartFallbackService(c_, Config(), &grpc_port_, {}, &port_);
    ASSERT_GT(port_, 0);
    stub_ = fpb::FallbackService::NewStub(Channel(grpc_port_));
  }
  void TearDown() override {
    if (process_) process_->Stop(SIGTERM, 10s);
  }

  // Extended format: the default upstream (quota from the fake's /health) and three providers whose
  // quota endpoints fail three ways: not a quota document, HTTP 404, nothing listening.
  std::string Config() {
    std::string up = "http://127.0.0.1:" + std::to_string(c_.upstream_port());
    std::string dead = "http://127.0.0.1:" + std::to_string(dead_port_);
    return R"({"enabled": true, "health_poll_interval_seconds": 1, "min_remaining_fraction": 0.1,
      "providers": [
        {"name": "nodoc", "base_url": ")" + up + R"(", "format": "anthropic", "quota_url": ")" + up + R"(/v1/models"},
        {"name": "broken", "base_url": ")" + up + R"(", "format": "anthropic", "quota_url": ")" + up + R"(/_control/nope"},
        {"name": "gone", "base_url": ")" + dead + R"(", "format": "openai", "quota_url": ")" + dead + R"(/health"}],
      "tiers": [
        {"name": "opus", "model": "claude-opus"},
        {"name": "sonnet", "model": "claude-sonnet"},
        {"name": "t-nodoc", "model": "m-nodoc", "provider": "nodoc"},
        {"name": "t-broken", "model": "m-broken", "provider": "broken"},
        {"name": "t-gone", "model": "m-gone", "provider": "gone"}]})";
  }
  grpc::Status Report(const std::vector<fpb::Outcome>& outcomes, uint64_t* version = nullptr) {
    grpc::ClientContext ctx;
    fpb::ReportOutcomesRequest req;
    for (const auto& o : outcomes) *req.add_outcomes() = o;
    fpb::ReportOutcomesResponse res;
    grpc::Status st = stub_->ReportOutcomes(&ctx, req, &res);
    if (version != nullptr) *version = res.table_version();
    return st;
  }
  static fpb::Outcome Outcome(const std::string& tier, fpb::OutcomeKind kind, int status) {
    fpb::Outcome o;
    o.set_tier(tier);
    o.set_kind(kind);
    o.set_status(status);
    return o;
  }
  grpc::Status Reload() {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-api-key", c_.admin_key());
    fpb::ReloadConfigResponse res;
    return stub_->ReloadConfig(&ctx, {}, &res);
  }
  PromText Metrics() { return Scrape(port_, "luna_fallbacksvc"); }

  Cluster c_;
  int dead_port_ = UnusedPort();
  int grpc_port_ = 0;
  int port_ = 0;
  std::unique_ptr<Process> process_;
  std::unique_ptr<fpb::FallbackService::Stub> stub_;
};

TEST_F(FallbacksvcMetricsTest, ShowsTiersQuotaPollsCooldownsOutcomesAndReloads) {
  ExpectHealthAndRefusals(port_);
  const std::string calls = "luna_fallbacksvc_grpc_calls_total";
  const Labels report_ok = {{"service", "luna.fallback.v1.FallbackService"}, {"method", "ReportOutcomes"},
                            {"code", "OK"}};

  // Every provider polled at least once (every second): each of the four results shows, and the
  // upstream's quotas reach the tiers.
  PromText t;
  ASSERT_TRUE(Eventually(
      [&] {
        t = Metrics();
        return t.Value("luna_fallbacksvc_quota_polls_total", {{"provider", "upstream"}, {"result", "ok"}}) >= 1 &&
               t.Value("luna_fallbacksvc_quota_polls_total", {{"provider", "nodoc"}, {"result", "bad_document"}}) >=
                   1 &&
               t.Value("luna_fallbacksvc_quota_polls_total", {{"provider", "broken"}, {"result", "http_error"}}) >= 1 &&
               t.Value("luna_fallbacksvc_quota_polls_total", {{"provider", "gone"}, {"result", "unreachable"}}) >= 1 &&
               t.Find("luna_fallbacksvc_tier_quota_remaining_fraction", {{"tier", "opus"}}).has_value();
      },
      15s));
  EXPECT_EQ(t.Value("luna_fallbacksvc_serving", {}, -1), 1);
  EXPECT_EQ(t.Value("luna_fallbacksvc_enabled", {}, -1), 1);
  EXPECT_EQ(t.Value("luna_fallbacksvc_tiers", {}, -1), 5);
  EXPECT_EQ(t.Count("luna_fallbacksvc_tier_available"), 5u);
  EXPECT_EQ(t.Value("luna_fallbacksvc_tier_info", {{"tier", "t-gone"}, {"model", "m-gone"}, {"provider", "gone"}}, -1),
            1);
  EXPECT_EQ(t.Value("luna_fallbacksvc_tier_quota_remaining_fraction", {{"tier", "opus"}}, -1), 0.8);
  EXPECT_EQ(t.Value("luna_fallbacksvc_tier_quota_remaining_fraction", {{"tier", "sonnet"}}, -1), 0.05);
  EXPECT_FALSE(t.Find("luna_fallbacksvc_tier_quota_remaining_fraction", {{"tier", "t-nodoc"}}).has_value());
  EXPECT_EQ(t.Value("luna_fallbacksvc_tier_quota_low", {{"tier", "sonnet"}}, -1), 1);
  EXPECT_EQ(t.Value("luna_fallbacksvc_tier_quota_low", {{"tier", "opus"}}, -1), 0);
  for (const char* tier : {"opus", "sonnet", "t-nodoc", "t-broken", "t-gone"}) {
    EXPECT_EQ(t.Value("luna_fallbacksvc_tier_available", {{"tier", tier}}, -1), 1) << tier;
  }
  EXPECT_EQ(t.Sum("luna_fallbacksvc_cooldowns_entered_total"), 0);
  EXPECT_EQ(t.Sum("luna_fallbacksvc_outcomes_reported_total"), 0);
  EXPECT_EQ(t.Value("luna_fallbacksvc_watch_streams", {}, -1), 0);

  // opus is rate limited (a cooldown starts), sonnet answered; then opus again while it cools (no new
  // cooldown, one more outcome); then t-gone's credential is refused (its provider cools).
  uint64_t version = 0;
  ASSERT_TRUE(Report({Outcome("opus", fpb::RATE_LIMITED, 429), Outcome("sonnet", fpb::OK, 200)}, &version).ok());
  PromText cooled = Metrics();
  EXPECT_EQ(cooled.Value("luna_fallbacksvc_outcomes_reported_total", {{"kind", "rate_limited"}}, -1), 1);
  EXPECT_EQ(cooled.Value("luna_fallbacksvc_outcomes_reported_total", {{"kind", "ok"}}, -1), 1);
  EXPECT_EQ(cooled.Value("luna_fallbacksvc_cooldowns_entered_total", {{"tier", "opus"}, {"reason", "rate_limited"}}, -1),
            1);
  EXPECT_EQ(cooled.Value("luna_fallbacksvc_tier_available", {{"tier", "opus"}}, -1), 0);
  EXPECT_EQ(cooled.Value("luna_fallbacksvc_tier_consecutive_failures", {{"tier", "opus"}}, -1), 1);
  double left = cooled.Value("luna_fallbacksvc_tier_cooldown_remaining_seconds", {{"tier", "opus"}}, -1);
  EXPECT_GT(left, 20);  // the first step of the default backoff is 30 s
  EXPECT_LE(left, 30);
  EXPECT_EQ(cooled.Value("luna_fallbacksvc_tier_cooldown_remaining_seconds", {{"tier", "sonnet"}}, -1), 0);
  EXPECT_GE(cooled.Value("luna_fallbacksvc_route_table_version"), static_cast<double>(version));
  EXPECT_GE(cooled.Value("luna_fallbacksvc_route_table_changes_total"), 1);

  ASSERT_TRUE(Report({Outcome("opus", fpb::RATE_LIMITED, 429)}).ok());
  ASSERT_TRUE(Report({Outcome("t-gone", fpb::BAD_CREDENTIAL, 401)}).ok());
  PromText again = Metrics();
  EXPECT_EQ(again.Value("luna_fallbacksvc_outcomes_reported_total", {{"kind", "rate_limited"}}, -1), 2);
  EXPECT_EQ(again.Value("luna_fallbacksvc_outcomes_reported_total", {{"kind", "bad_credential"}}, -1), 1);
  EXPECT_EQ(again.Value("luna_fallbacksvc_cooldowns_entered_total", {{"tier", "opus"}, {"reason", "rate_limited"}}, -1),
            1);
  EXPECT_EQ(
      again.Value("luna_fallbacksvc_cooldowns_entered_total", {{"tier", "t-gone"}, {"reason", "bad_credential"}}, -1),
      1);
  EXPECT_EQ(again.Sum("luna_fallbacksvc_cooldowns_entered_total"), 2);
  EXPECT_EQ(again.Value("luna_fallbacksvc_tier_available", {{"tier", "t-gone"}}, -1), 0);
  EXPECT_EQ(again.Value(calls, report_ok), 3);
  // The cooldowns reach the state file (coalesced writes).
  EXPECT_TRUE(Eventually(
      [&] { return Metrics().Value("luna_fallbacksvc_state_file_writes_total", {{"result", "ok"}}) >= 1; }));

  // A gateway-like watcher.
  auto watch_ctx = std::make_unique<grpc::ClientContext>();
  fpb::WatchRoutesRequest watch_req;
  watch_req.set_gateway_id("metrics-test");
  auto reader = stub_->WatchRoutes(watch_ctx.get(), watch_req);
  fpb::RouteTable table;
  ASSERT_TRUE(reader->Read(&table));
  EXPECT_EQ(Metrics().Value("luna_fallbacksvc_watch_streams", {}, -1), 1);
  watch_ctx->TryCancel();
  (void)reader->Finish();
  EXPECT_TRUE(Eventually([&] { return Metrics().Value("luna_fallbacksvc_watch_streams", {}, -1) == 0; }));

  // Reloads: by ReloadConfig (ok, then a config that does not validate), then by SIGHUP.
  ASSERT_TRUE(Reload().ok());
  std::string config_file = c_.dir().File("fallback.json");
  WriteAll(config_file, R"({"tiers": [{"name": "no-model"}]})");
  EXPECT_EQ(Reload().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  PromText reloaded = Metrics();
  EXPECT_EQ(reloaded.Value("luna_fallbacksvc_config_reloads_total", {{"result", "ok"}}, -1), 1);
  EXPECT_EQ(reloaded.Value("luna_fallbacksvc_config_reloads_total", {{"result", "error"}}, -1), 1);
  EXPECT_EQ(reloaded.Value(calls, {{"service", "luna.fallback.v1.FallbackService"},
                                   {"method", "ReloadConfig"},
                                   {"code", "INVALID_ARGUMENT"}}),
            1);
  EXPECT_EQ(reloaded.Value("luna_fallbacksvc_tiers", {}, -1), 5);  // the refused config is not in force
  WriteAll(config_file, Config());
  ASSERT_EQ(kill(process_->pid(), SIGHUP), 0);
  EXPECT_TRUE(Eventually(
      [&] { return Metrics().Value("luna_fallbacksvc_config_reloads_total", {{"result", "ok"}}) == 2; }));
  EXPECT_EQ(ListeningPorts(process_->pid()), (std::set<int>{grpc_port_, port_}));
}

// ---------------------------------------------------------------------------------------------
// Settings: off, a bad address, a port already taken.

TEST(ServiceMetricsSettingsTest, OffMeansNoMetricsPortInAnyService) {
  Cluster::Options o;
  o.auth_env = {{"AUTHSVC_METRICS_LISTEN", "off"}};
  Cluster c(o);
  c.StartUpstream();
  c.StartAuth();
  c.StartUsage({{"USAGESVC_METRICS_LISTEN", "OFF"}});
  int fb_port = 0, fb_metrics_port = -1;
  auto fb = StartFallbackService(c, R"({"enabled": false, "tiers": []})", &fb_port,
                                 {{"FALLBACKSVC_METRICS_LISTEN", "off"}}, &fb_metrics_port);
  EXPECT_EQ(c.auth_metrics_port(), 0);
  EXPECT_EQ(c.usage_metrics_port(), 0);
  EXPECT_EQ(fb_metrics_port, 0);
  for (const char* f : {"auth.metrics.port", "usage.metrics.port", "fallbacksvc.metrics.port"}) {
    EXPECT_EQ(ReadAll(c.dir().File(f)), "") << f << " was written";
  }
  EXPECT_EQ(ListeningPorts(c.auth()->pid()), std::set<int>{c.auth_port()});
  EXPECT_EQ(ListeningPorts(c.usage()->pid()), std::set<int>{c.usage_port()});
  EXPECT_EQ(ListeningPorts(fb->pid()), std::set<int>{fb_port});
  EXPECT_NE(c.auth()->Log().find("metrics endpoint off (AUTHSVC_METRICS_LISTEN=off)"), std::string::npos);
  EXPECT_NE(c.usage()->Log().find("metrics endpoint off (USAGESVC_METRICS_LISTEN=off)"), std::string::npos);
  EXPECT_NE(fb->Log().find("metrics endpoint off (FALLBACKSVC_METRICS_LISTEN=off)"), std::string::npos);
  fb->Stop(SIGTERM, 10s);
}

// The exit status of a binary run until it exits by itself (-1 if it does not within 10 s).
int ExitStatus(Process& p) {
  if (!Eventually([&] { return !p.Running(); }, 10s)) return -1;
  int status = p.Stop(SIGTERM, 1s);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ServiceMetricsSettingsTest, ABadAddressStopsTheStartNamingTheVariable) {
  TempDir dir;
  struct Case {
    const char* binary;
    std::map<std::string, std::string> env;
    const char* variable;
  };
  const Case cases[] = {
      {LUNA_AUTHSVC_BIN,
       {{"KEYS_FILE", dir.File("keys.json")}, {"AUTHSVC_LISTEN", "127.0.0.1:0"}, {"ADMIN_KEY", "sk-admin-metrics"},
        {"AUTHSVC_METRICS_LISTEN", "no-port"}},
       "AUTHSVC_METRICS_LISTEN"},
      {LUNA_USAGESVC_BIN,
       {{"USAGE_DATA_DIR", dir.File("usage")}, {"USAGESVC_LISTEN", "127.0.0.1:0"},
        {"USAGESVC_METRICS_LISTEN", "127.0.0.1:99999"}},
       "USAGESVC_METRICS_LISTEN"},
      {LUNA_FALLBACKSVC_BIN,
       {{"FALLBACK_CONFIG", dir.File("none.json")}, {"FALLBACK_STATE_FILE", dir.File("state.json")},
        {"FALLBACKSVC_LISTEN", "127.0.0.1:0"}, {"FALLBACKSVC_METRICS_LISTEN", "localhost"}},
       "FALLBACKSVC_METRICS_LISTEN"},
  };
  for (const Case& c : cases) {
    Process p(c.binary, {}, c.env, dir.File(std::string(c.variable) + ".log"));
    EXPECT_EQ(ExitStatus(p), 2) << c.variable;
    EXPECT_NE(p.Log().find(c.variable), std::string::npos) << p.Log();
  }
}

TEST(ServiceMetricsSettingsTest, AMetricsPortAlreadyTakenStopsTheStart) {
  // A port this test holds (bound and listening), so the service cannot have it.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::string taken = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));

  TempDir dir;
  Process auth(LUNA_AUTHSVC_BIN, {"--port-file", dir.File("auth.port"), "--metrics-port-file", dir.File("m.port")},
               {{"KEYS_FILE", dir.File("keys.json")},
                {"AUTHSVC_LISTEN", "127.0.0.1:0"},
                {"ADMIN_KEY", "sk-admin-metrics"},
                {"AUTHSVC_METRICS_LISTEN", taken}},
               dir.File("authsvc.log"));
  EXPECT_EQ(ExitStatus(auth), 1);
  EXPECT_NE(auth.Log().find("AUTHSVC_METRICS_LISTEN: cannot listen on " + taken), std::string::npos) << auth.Log();
  EXPECT_EQ(ReadAll(dir.File("auth.port")), "");  // never reported as started
  EXPECT_EQ(ReadAll(dir.File("m.port")), "");
  close(fd);
}

}  // namespace
}  // namespace luna::testing
