// Integration: usage accounting end to end — the real gateway, authsvc, usagesvc and fake upstream.
// Every token the fake upstream reports must be in the ledger exactly once, whatever crashes.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/cluster.h"

namespace luna::testing {
namespace {

using json = nlohmann::json;

struct Expected {
  int64_t requests = 0, input = 0, output = 0, cache_read = 0, cache_write = 0;
};

class UsageTest : public ::testing::Test {
 protected:
  UsageTest() = default;
  explicit UsageTest(Cluster::Options options) : c_(std::move(options)) {}

  void SetUp() override {
    c_.StartUpstream();
    c_.StartAuth();
    c_.StartUsage();
    c_.StartGateway();
    key_a_ = c_.CreateKey("agent-a");
    key_b_ = c_.CreateKey("agent-b");
    c_.SetModel("claude-acct", R"({"events": 4, "usage": {"input_tokens": 11, "output_tokens": 22,
        "cache_read_input_tokens": 3, "cache_creation_input_tokens": 4}})");
    c_.SetModel("gpt-acct", R"({"events": 4, "usage": {"input_tokens": 7, "output_tokens": 9,
        "cache_read_input_tokens": 5, "cache_creation_input_tokens": 0}})");
  }

  // One request of each kind: Anthropic JSON and SSE, OpenAI JSON and SSE (with and without
  // include_usage). Returns how many answered 200.
  int SendMix(const std::string& key, Expected* e) {
    int ok = 0;
    auto count_a = [&](const HttpResponse& r) {
      if (r.status != 200 || !r.complete) return;
      ++ok;
      e->requests++;
      e->input += 11;
      e->output += 22;
      e->cache_read += 3;
      // An OpenAI-format upstream does not report cache writes (nor does the fake in that format).
      e->cache_write += openai_upstream_ ? 0 : 4;
    };
    auto count_o = [&](const HttpResponse& r) {
      if (r.status != 200 || !r.complete) return;
      ++ok;
      e->requests++;
      e->input += 7;
      e->output += 9;
      e->cache_read += 5;
    };
    Headers h = {{"x-api-key", key}, {"content-type", "application/json"}};
    count_a(c_.Gateway("POST", "/v1/messages", h, R"({"model":"claude-acct","max_tokens":9,"messages":[{"role":"user","content":"hi"}]})"));
    count_a(c_.Gateway("POST", "/v1/messages", h,
                       R"({"model":"claude-acct","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]})"));
    count_o(c_.Gateway("POST", "/v1/chat/completions", h, R"({"model":"gpt-acct","messages":[{"role":"user","content":"hi"}]})"));
    auto s1 = c_.Gateway("POST", "/v1/chat/completions", h, R"({"model":"gpt-acct","stream":true,"messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(s1.body.find("\"prompt_tokens\""), std::string::npos)
        << "a client that did not ask for include_usage must not get the usage chunk";
    count_o(s1);
    auto s2 = c_.Gateway("POST", "/v1/chat/completions", h,
                         R"({"model":"gpt-acct","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]})");
    EXPECT_NE(s2.body.find("\"prompt_tokens\""), std::string::npos) << "a client that asked gets the usage chunk";
    count_o(s2);
    return ok;
  }

  json Health() { return json::parse(c_.Gateway("GET", "/health").body); }
  bool SpoolDrained() {
    auto h = Health();
    return h["services"]["usagesvc"]["events_pending"] == 0;
  }
  json Totals() {
    auto r = c_.Gateway("GET", "/admin/usage", {{"x-api-key", c_.admin_key()}});
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body);
  }
  void ExpectTotals(const Expected& e) {
    ASSERT_TRUE(Eventually([&] { return SpoolDrained() && Totals()["total_requests"] == e.requests; },
                           std::chrono::seconds(20)))
        << Health().dump() << " " << Totals().dump();
    auto t = Totals();
    EXPECT_EQ(t["total_requests"], e.requests);
    EXPECT_EQ(t["total_input_tokens"], e.input);
    EXPECT_EQ(t["total_output_tokens"], e.output);
    EXPECT_EQ(t["total_cache_read_tokens"], e.cache_read);
    EXPECT_EQ(t["total_cache_write_tokens"], e.cache_write);
  }

  // Streaming and non-streaming requests in both formats: the ledger equals the known sums exactly,
  // per key too, and the old endpoints show them.
  void CheckExactAccounting();

  Cluster c_;
  bool openai_upstream_ = false;
  std::string key_a_, key_b_;
};

void UsageTest::CheckExactAccounting() {
  Expected all, a, b;
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(SendMix(key_a_, &a), 5);
    ASSERT_EQ(SendMix(key_b_, &b), 5);
  }
  all = {a.requests + b.requests, a.input + b.input, a.output + b.output, a.cache_read + b.cache_read,
         a.cache_write + b.cache_write};
  ExpectTotals(all);
  auto keys = json::parse(c_.Gateway("GET", "/admin/keys", {{"x-api-key", c_.admin_key()}}).body)["keys"];
  ASSERT_EQ(keys.size(), 2u);
  for (const auto& k : keys) {
    const Expected& e = k["name"] == "agent-a" ? a : b;
    EXPECT_EQ(k["total_requests"], e.requests);
    EXPECT_EQ(k["total_input"], e.input);
    EXPECT_EQ(k["total_output"], e.output);
    EXPECT_FALSE(k["last_used"].is_null());
  }
  auto daily = json::parse(c_.Gateway("GET", "/admin/usage/daily", {{"x-api-key", c_.admin_key()}}).body);
  ASSERT_EQ(daily["days"].size(), 1u);
  auto day = daily["days"][0];
  EXPECT_EQ(day["total_requests"], all.requests);
  EXPECT_EQ(day["total_input"], all.input);
  EXPECT_EQ(day["by_model"]["claude-acct"]["requests"], 24);
  EXPECT_EQ(day["by_model"]["claude-acct"]["total"], 24 * (11 + 22));
  EXPECT_EQ(day["keys"].size(), 2u);
  auto hourly = json::parse(c_.Gateway("GET", "/admin/usage/hourly", {{"x-api-key", c_.admin_key()}}).body);
  ASSERT_EQ(hourly["hours"].size(), 1u);  // (a test straddling an hour boundary would see 2)
  EXPECT_EQ(hourly["hours"][0]["by_model"]["gpt-acct"]["requests"], 36);
  auto ku = c_.Gateway("GET", "/admin/keys/" + key_a_ + "/usage", {{"x-api-key", c_.admin_key()}});
  ASSERT_EQ(ku.status, 200) << ku.body;
  auto kj = json::parse(ku.body);
  EXPECT_EQ(kj["name"], "agent-a");
  EXPECT_EQ(kj["usage"]["total_requests"], a.requests);
  EXPECT_EQ(kj["usage"]["total_output"], a.output);
  // Usage queries need the admin key.
  EXPECT_EQ(c_.Gateway("GET", "/admin/usage", {{"x-api-key", key_a_}}).status, 403);
  EXPECT_EQ(c_.Gateway("GET", "/admin/usage/daily?date=yesterday", {{"x-api-key", c_.admin_key()}}).status, 400);
}

// usagesvc down: requests are still served, events wait in the spool, and arrive exactly once
// when usagesvc is back.
TEST_F(UsageTest, ExactAccountingAcrossFormatsAndStreams) { CheckExactAccounting(); }

// The same mix against an OpenAI-format upstream: Anthropic requests are now the converted ones, and
// their usage is read from the OpenAI answers (cached tokens out of prompt_tokens, never twice).
class UsageOpenAIUpstreamTest : public UsageTest {
 protected:
  UsageOpenAIUpstreamTest() : UsageTest(Cluster::Options{.gateway_env = {{"UPSTREAM_FORMAT", "openai"}}}) {
    openai_upstream_ = true;
  }
};

TEST_F(UsageOpenAIUpstreamTest, ExactAccountingAcrossFormatsAndStreams) { CheckExactAccounting(); }

// The spool writer and the usage sender, woken by the I/O thread for every hand-over under load, run
// as SCHED_BATCH so that waking them does not preempt the I/O thread; every other thread (the I/O
// thread first) keeps the default policy.
TEST_F(UsageTest, UsageShipperThreadsDoNotPreemptTheIoThread) {
  Expected e;
  ASSERT_EQ(SendMix(key_a_, &e), 5);
  ExpectTotals(e);
  const pid_t pid = c_.gateway()->pid();
  int batch = 0, other = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    int policy = sched_getscheduler(static_cast<pid_t>(std::stoi(task.path().filename().string())));
    if (policy < 0) continue;  // a thread that ended meanwhile
    (policy == SCHED_BATCH ? batch : other)++;
    if (policy != SCHED_BATCH) {
      EXPECT_EQ(policy, SCHED_OTHER) << task.path();
    }
  }
  EXPECT_EQ(batch, 2) << "the spool writer and the sender";
  EXPECT_GE(other, 2) << "the main thread and the I/O thread at least";
}

TEST_F(UsageTest, UsagesvcOutageLosesNothing) {
  Expected e;
  SendMix(key_a_, &e);
  ExpectTotals(e);
  c_.usage()->Stop(SIGKILL);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(SendMix(key_a_, &e), 5);
  EXPECT_TRUE(Eventually([&] { return Health()["services"]["usagesvc"]["events_pending"] == 20; }));
  c_.StartUsage();
  ExpectTotals(e);
}

// /health tells whether usagesvc is reachable even when there is nothing to deliver: a gateway
// restarted with an empty spool and no traffic yet, and a quiet one whose usagesvc dies and comes back.
TEST_F(UsageTest, HealthSaysWhetherUsagesvcIsReachableWithNothingToDeliver) {
  auto connected = [&] { return Health()["services"]["usagesvc"]["connected"]; };
  c_.StopGateway();
  c_.StartGateway();
  EXPECT_TRUE(Eventually([&] { return connected() == true; })) << Health().dump();
  c_.usage()->Stop(SIGKILL);
  EXPECT_TRUE(Eventually([&] { return connected() == false; })) << Health().dump();
  c_.StartUsage();
  EXPECT_TRUE(Eventually([&] { return connected() == true; })) << Health().dump();
  EXPECT_EQ(Health()["services"]["usagesvc"]["events_pending"], 0);
}

// kill -9 of the gateway with events still in its spool: the next gateway replays them and
// usagesvc counts each exactly once.
TEST_F(UsageTest, GatewayKill9SpoolIsReplayed) {
  Expected e;
  c_.usage()->Stop(SIGKILL);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(SendMix(key_b_, &e), 5);
  ASSERT_TRUE(Eventually([&] { return Health()["services"]["usagesvc"]["events_pending"] == 20; }));
  c_.gateway()->Stop(SIGKILL);
  c_.StartUsage();
  c_.StartGateway();
  ExpectTotals(e);
  // And a restart after everything was delivered replays nothing.
  c_.StopGateway();
  c_.StartGateway();
  SendMix(key_b_, &e);
  ExpectTotals(e);
}

// kill -9 of usagesvc in the middle of a steady load: after its restart the totals are exact — no
// event lost, none counted twice.
TEST_F(UsageTest, UsagesvcKill9DuringLoadIsExact) {
  Expected e;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::thread load([&] {
    while (!stop) {
      Expected local;
      SendMix(key_a_, &local);
      std::lock_guard lock(mu);
      e.requests += local.requests;
      e.input += local.input;
      e.output += local.output;
      e.cache_read += local.cache_read;
      e.cache_write += local.cache_write;
    }
  });
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    c_.usage()->Stop(SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    c_.StartUsage();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  load.join();
  ASSERT_GT(e.requests, 20);
  ExpectTotals(e);
}

// kill -9 of the gateway in the middle of a steady load, then a new gateway on the same spool: every
// answer a client received whole is in the ledger (its usage was spooled before its last byte left),
// and the ledger never holds more than the upstream actually answered.
TEST_F(UsageTest, GatewayKill9DuringLoadLosesNoCompletedAnswer) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> completed{0}, completed_output{0};
  auto worker = [&](bool streaming) {
    while (!stop) {
      auto r = c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_a_}},
                          streaming ? R"({"model":"claude-acct","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]})"
                                    : R"({"model":"claude-acct","max_tokens":9,"messages":[{"role":"user","content":"hi"}]})");
      bool whole = r.status == 200 && r.complete &&
                   (!streaming || r.body.find("event: message_stop") != std::string::npos);
      if (whole) {
        completed++;
        completed_output += 22;
      }
    }
  };
  std::thread t1(worker, false), t2(worker, true);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  c_.gateway()->Stop(SIGKILL);
  stop = true;
  t1.join();
  t2.join();
  ASSERT_GT(completed.load(), 10);
  c_.StartGateway();
  ASSERT_TRUE(Eventually([&] { return SpoolDrained(); }, std::chrono::seconds(20)));
  auto stats = json::parse(Fetch(c_.upstream_port(), "GET", "/_control/stats").body);
  int64_t upstream_ok = stats["by_model"]["claude-acct"]["requests"];
  auto t = Totals();
  int64_t ledger = t["total_requests"];
  EXPECT_GE(ledger, completed.load()) << "an answer a client got whole is missing from the ledger";
  EXPECT_LE(ledger, upstream_ok + 2) << "more events than answers (at most the two in flight, cut)";
  EXPECT_GE(t["total_output_tokens"].get<int64_t>(), completed_output.load());
}

// A client that goes away mid-stream still yields a (partial) usage event.
TEST_F(UsageTest, ClientDisconnectMidStreamRecordsPartialUsage) {
  c_.SetModel("claude-long", R"({"events": 30, "interval_ms": 100, "usage": {"input_tokens": 50, "output_tokens": 60}})");
  {
    HttpConnection conn(c_.gateway_port());
    ASSERT_TRUE(conn.Send("POST", "/v1/messages", {{"x-api-key", key_a_}},
                          R"({"model":"claude-long","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]})"));
    std::string seen;
    conn.Read(std::chrono::milliseconds(500), [&](const std::string& p) { seen += p; });
    ASSERT_NE(seen.find("message_start"), std::string::npos);
  }
  ASSERT_TRUE(Eventually([&] { return SpoolDrained() && Totals()["total_requests"] == 1; },
                         std::chrono::seconds(15)));
  auto t = Totals();
  EXPECT_EQ(t["total_input_tokens"], 50) << "input tokens from message_start are known";
  EXPECT_EQ(t["total_errors"], 1) << "recorded with status 499";
}

}  // namespace
}  // namespace luna::testing

namespace luna::testing {
namespace {

// The old proxy's usage history in its keys.json is imported once, and the old endpoints answer for
// it as the old proxy did (dates in its UTC+8 zone); new traffic adds on top; restarts import nothing
// twice.
TEST(UsageLegacyImport, OldHistoryIsAnsweredAsTheOldProxyDid) {
  Cluster c(Cluster::Options{
      .keys_file_content = R"({"admin_key": "sk-admin-legacy-usage-000", "keys": {
        "sk-legacyusage0123456789abc": {"name": "old-agent", "enabled": true, "created": "2026-01-01T00:00:00+08:00",
          "usage": {"total_input": 1000, "total_output": 2000, "total_requests": 30, "last_used": "2026-01-02T10:30:00+08:00",
            "daily": {"2026-01-02": {"input": 100, "output": 200, "requests": 3,
                        "by_model": {"claude-x": {"total": 250, "requests": 2},
                                     "gemini-y": {"input": 10, "output": 40, "requests": 1}}}},
            "hourly": {"2026-01-02 10:00": {"by_model": {"claude-x": {"total": 250, "requests": 2}}}}}},
        "sk-legacyidle0123456789abcd": {"name": "idle", "enabled": false, "created": "2026-01-01T00:00:00+08:00",
          "usage": {"total_input": 0, "total_output": 0, "total_requests": 0, "last_used": null, "daily": {}}}}})",
      .admin_key_env = false});
  c.StartUpstream();
  c.StartAuth();
  c.StartUsage({{"USAGE_TIMEZONE", "+08:00"}});
  c.StartGateway();
  Headers admin = {{"x-api-key", "sk-admin-legacy-usage-000"}};
  auto usage = [&] { return json::parse(c.Gateway("GET", "/admin/usage", admin).body); };
  ASSERT_TRUE(Eventually([&] { return usage()["total_requests"] == 30; }, std::chrono::seconds(15)))
      << usage().dump();
  auto u = usage();
  EXPECT_EQ(u["total_input_tokens"], 1000);
  EXPECT_EQ(u["total_output_tokens"], 2000);
  EXPECT_EQ(u["total_keys"], 2);
  EXPECT_EQ(u["active_keys"], 1);

  auto daily = json::parse(c.Gateway("GET", "/admin/usage/daily?date=2026-01-02", admin).body);
  ASSERT_EQ(daily["days"].size(), 1u) << daily.dump();
  auto d = daily["days"][0];
  EXPECT_EQ(d["date"], "2026-01-02");
  EXPECT_EQ(d["total_input"], 100);
  EXPECT_EQ(d["total_output"], 200);
  EXPECT_EQ(d["total_requests"], 3);
  EXPECT_EQ(d["by_model"]["claude-x"]["total"], 250);
  EXPECT_EQ(d["by_model"]["claude-x"]["requests"], 2);
  EXPECT_EQ(d["by_model"]["gemini-y"]["total"], 50);
  ASSERT_EQ(d["keys"].size(), 1u);
  EXPECT_EQ(d["keys"][0]["name"], "old-agent");
  EXPECT_EQ(d["keys"][0]["input"], 100);

  auto hourly = json::parse(c.Gateway("GET", "/admin/usage/hourly?date=2026-01-02", admin).body);
  ASSERT_EQ(hourly["hours"].size(), 1u) << hourly.dump();
  EXPECT_EQ(hourly["hours"][0]["hour"], "2026-01-02 10:00");
  EXPECT_EQ(hourly["hours"][0]["by_model"]["claude-x"]["total"], 250);
  EXPECT_EQ(hourly["hours"][0]["by_tenant"]["old-agent"]["claude-x"]["requests"], 2);

  auto ku = json::parse(c.Gateway("GET", "/admin/keys/sk-legacyusage0123456789abc/usage", admin).body);
  EXPECT_EQ(ku["name"], "old-agent");
  EXPECT_EQ(ku["usage"]["total_input"], 1000);
  EXPECT_EQ(ku["usage"]["total_requests"], 30);
  EXPECT_EQ(ku["usage"]["daily"]["2026-01-02"]["input"], 100);

  // New traffic adds on top; a restart of usagesvc and authsvc imports nothing twice.
  c.SetModel("claude-new", R"({"usage": {"input_tokens": 5, "output_tokens": 6}})");
  ASSERT_EQ(c.Gateway("POST", "/v1/messages", {{"x-api-key", "sk-legacyusage0123456789abc"}},
                      R"({"model":"claude-new","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})")
                .status,
            200);
  ASSERT_TRUE(Eventually([&] { return usage()["total_requests"] == 31; }, std::chrono::seconds(15)));
  c.usage()->Stop(SIGTERM);
  c.StartUsage({{"USAGE_TIMEZONE", "+08:00"}});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(Eventually([&] { return c.Gateway("GET", "/admin/usage", admin).status == 200; }));
  u = usage();
  EXPECT_EQ(u["total_requests"], 31);
  EXPECT_EQ(u["total_input_tokens"], 1005);
  EXPECT_EQ(u["total_output_tokens"], 2006);
}

}  // namespace
}  // namespace luna::testing
