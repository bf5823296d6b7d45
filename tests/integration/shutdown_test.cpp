// Integration: graceful shutdown of every process under load (SIGTERM, as compose and systemd send
// it). The gateway finishes what is in flight and leaves its unacknowledged usage in the spool; each
// service exits 0 mid-traffic with its state file whole, and what it acknowledged is there after a
// restart.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "tests/integration/cluster.h"

namespace luna::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string Ask(const std::string& model, bool stream) {
  json b = {{"model", model}, {"max_tokens", 16}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  if (stream) b["stream"] = true;
  return b.dump();
}

void ExpectCleanExit(Process* p, const char* what) {
  int st = p->Stop(0, 15s);  // already signalled: only wait
  ASSERT_NE(st, -1) << what << " did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(st)) << what << " died of a signal";
  EXPECT_EQ(WEXITSTATUS(st), 0) << what << " log:\n" << p->Log();
}

json Usage(Cluster& c) {
  auto r = c.Gateway("GET", "/admin/usage", {{"x-api-key", c.admin_key()}});
  // Not answered yet (a service restarting): an empty object, so callers keep polling.
  if (r.status != 200) return json::object();
  json j = json::parse(r.body, nullptr, false);
  return j.is_object() ? j : json::object();
}

// SIGTERM while 12 requests are in flight (streams of ~1 s and slow JSON answers) with usagesvc down:
// every one finishes whole, the gateway stops accepting at once and exits 0, and the 12 usage events
// wait in the spool; a new gateway on the same spool delivers each exactly once.
TEST(ShutdownTest, GatewayFinishesEveryRequestInFlightAndSpoolsItsUsage) {
  Cluster c;
  c.StartUpstream();
  c.StartAuth();
  c.StartGateway();  // usagesvc not started: the events stay in the spool
  std::string key = c.CreateKey("agent");
  c.SetModel("slow-stream", R"({"events": 10, "interval_ms": 100, "usage": {"input_tokens": 7, "output_tokens": 3}})");
  c.SetModel("slow-json", R"({"delay_ms": 700, "usage": {"input_tokens": 11, "output_tokens": 5}})");

  constexpr int kClients = 12;
  std::atomic<int> started{0};
  std::vector<HttpResponse> results(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      bool stream = i % 2 == 0;
      HttpConnection conn(c.gateway_port());
      if (!conn.Send("POST", "/v1/messages", {{"x-api-key", key}}, Ask(stream ? "slow-stream" : "slow-json", stream))) {
        return;
      }
      if (!stream) started.fetch_add(1);
      bool counted = !stream;
      results[i] = conn.Read(20s, [&](const std::string&) {
        if (!counted) {
          counted = true;
          started.fetch_add(1);
        }
      });
    });
  }
  // Every stream has its first bytes and every JSON request is sent: then SIGTERM.
  ASSERT_TRUE(Eventually([&] { return started.load() == kClients; }, 10s));
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(kill(c.gateway()->pid(), SIGTERM), 0);
  // It stops accepting at once, while the requests in flight go on.
  EXPECT_TRUE(Eventually([&] { return Fetch(c.gateway_port(), "GET", "/health", {}, "", 1s).status == 0; }, 3s));
  for (auto& t : clients) t.join();
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(results[i].status, 200) << "client " << i;
    EXPECT_TRUE(results[i].complete) << "client " << i << " was cut: " << results[i].body;
  }
  ExpectCleanExit(c.gateway(), "gateway");

  // The spool holds the 12 events; a new gateway with usagesvc up delivers each once.
  c.StartUsage();
  c.StartGateway();
  ASSERT_TRUE(Eventually([&] { return Usage(c).value("total_requests", 0) == kClients; }, 20s)) << Usage(c).dump();
  std::this_thread::sleep_for(500ms);
  json u = Usage(c);
  EXPECT_EQ(u["total_requests"], kClients);
  EXPECT_EQ(u["total_input_tokens"], 6 * 7 + 6 * 11);
  EXPECT_EQ(u["total_output_tokens"], 6 * 3 + 6 * 5);
}

// usagesvc SIGTERMed while gateways' events pour in: it exits 0, its ledger loads again, and the
// final totals count every request exactly once (what it had not acknowledged, the spool resends).
TEST(ShutdownTest, UsagesvcStopsMidTrafficAndTheLedgerCountsEveryRequestOnce) {
  Cluster c;
  c.StartUpstream();
  c.StartAuth();
  c.StartUsage();
  c.StartGateway();
  std::string key = c.CreateKey("agent");
  c.SetModel("counted", R"({"usage": {"input_tokens": 2, "output_tokens": 1}})");

  constexpr int kThreads = 4, kEach = 40;
  std::atomic<int> ok{0}, sent{0};
  std::vector<std::thread> load;
  for (int t = 0; t < kThreads; ++t) {
    load.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        sent.fetch_add(1);
        if (c.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, Ask("counted", false)).status == 200) ok.fetch_add(1);
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  ASSERT_TRUE(Eventually([&] { return sent.load() >= kThreads * kEach / 3; }, 20s));
  ASSERT_EQ(kill(c.usage()->pid(), SIGTERM), 0);
  ExpectCleanExit(c.usage(), "usagesvc");
  c.StartUsage();  // same data directory and port: the ledger must load
  for (auto& t : load) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach) << "a usagesvc restart must not fail client requests";
  ASSERT_TRUE(Eventually([&] { return Usage(c).value("total_requests", 0) == kThreads * kEach; }, 20s))
      << Usage(c).dump();
  std::this_thread::sleep_for(500ms);
  json u = Usage(c);
  EXPECT_EQ(u["total_requests"], kThreads * kEach);
  EXPECT_EQ(u["total_input_tokens"], 2 * kThreads * kEach);
}

// authsvc SIGTERMed while keys are being created: it exits 0, the keys file loads, and every key whose
// creation was answered 200 is in it (by name) and still works through the gateway.
TEST(ShutdownTest, AuthsvcStopsMidKeyWritesAndKeepsEveryKeyItConfirmed) {
  Cluster c;
  c.StartUpstream();
  c.StartAuth();
  c.StartGateway();
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> confirmed;  // name, key
  std::atomic<int> attempts{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop.load() && i < 200; ++i) {
        std::string name = "k" + std::to_string(t) + "-" + std::to_string(i);
        attempts.fetch_add(1);
        auto r = c.Gateway("POST", "/admin/keys", {{"x-api-key", c.admin_key()}, {"content-type", "application/json"}},
                           json{{"name", name}}.dump());
        if (r.status == 200) {
          std::lock_guard lock(mu);
          confirmed.emplace_back(name, json::parse(r.body).at("api_key").get<std::string>());
        }
      }
    });
  }
  ASSERT_TRUE(Eventually([&] { return attempts.load() >= 30; }, 20s));
  ASSERT_EQ(kill(c.auth()->pid(), SIGTERM), 0);
  ExpectCleanExit(c.auth(), "authsvc");
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_FALSE(confirmed.empty());

  json file = json::parse(ReadAll(c.keys_file()), nullptr, false);
  ASSERT_FALSE(file.is_discarded()) << "the keys file is not whole JSON";
  std::set<std::string> names;
  std::string text = file.dump();
  for (const auto& [name, key] : confirmed) {
    EXPECT_NE(text.find("\"" + name + "\""), std::string::npos) << "confirmed key " << name << " is missing";
    EXPECT_EQ(text.find(key), std::string::npos) << "the keys file holds a usable key";
  }
  // The same file loads again, and the confirmed keys authenticate.
  c.StartAuth();
  c.SetModel("after", R"({"usage": {"input_tokens": 1, "output_tokens": 1}})");
  const auto& [name, key] = confirmed.back();
  EXPECT_TRUE(Eventually(
      [&, k = key] {
        return c.Gateway("POST", "/v1/messages", {{"x-api-key", k}}, Ask("after", false)).status == 200;
      },
      15s))
      << name;
}

// fallbacksvc SIGTERMed while failures are being reported: it exits 0, its state file loads, and the
// cooldown it had entered is back after the restart; clients were answered by the next tier throughout.
TEST(ShutdownTest, FallbacksvcStopsMidReportsAndKeepsItsCooldowns) {
  int fb_port = UnusedPort();
  Cluster c(Cluster::Options{.gateway_env = {{"FALLBACKSVC_ADDR", "127.0.0.1:" + std::to_string(fb_port)}}});
  c.StartUpstream();
  c.StartAuth();
  json cfg = {{"enabled", true},
              {"health_poll_interval_seconds", 30},
              {"tiers",
               {{{"name", "first"}, {"model", "m-first"}, {"type", "upstream"}},
                {{"name", "second"}, {"model", "m-second"}, {"type", "upstream"}}}}};
  auto fb = StartFallbackService(c, cfg.dump(), &fb_port);
  c.StartGateway();
  std::string key = c.CreateKey("agent");
  ASSERT_TRUE(Eventually([&] {
    auto h = json::parse(c.Gateway("GET", "/health").body, nullptr, false);
    return h.is_object() && h["services"]["fallbacksvc"]["watch"] == "synced";
  }));
  c.SetModel("m-first", R"({"mode": "429", "retry_after": 600})");
  c.SetModel("m-second", R"({"usage": {"input_tokens": 1, "output_tokens": 1}})");

  std::atomic<int> ok{0}, sent{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int t = 0; t < 3; ++t) {
    load.emplace_back([&] {
      while (!stop.load()) {
        sent.fetch_add(1);
        if (c.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, Ask("m-first", false)).status == 200) ok.fetch_add(1);
        std::this_thread::sleep_for(10ms);
      }
    });
  }
  auto cooling = [&] {
    auto r = c.Gateway("GET", "/admin/fallback", {{"x-api-key", c.admin_key()}});
    json s = json::parse(r.body, nullptr, false);
    if (!s.is_object()) return false;
    for (const auto& t : s["tiers"]) {
      if (t["name"] == "first") return t["cooldown"].is_object();
    }
    return false;
  };
  ASSERT_TRUE(Eventually(cooling, 15s));
  ASSERT_EQ(kill(fb->pid(), SIGTERM), 0);
  ExpectCleanExit(fb.get(), "fallbacksvc");
  json state = json::parse(ReadAll(c.dir().File("fallback-state.json")), nullptr, false);
  EXPECT_FALSE(state.is_discarded()) << "the state file is not whole JSON";
  std::this_thread::sleep_for(300ms);  // traffic goes on without fallbacksvc, from the last table
  fb = StartFallbackService(c, "", &fb_port);
  EXPECT_TRUE(Eventually(cooling, 15s)) << "the cooldown did not survive the restart";
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_EQ(ok.load(), sent.load()) << "every request is answered by the next tier";
  fb->Stop(SIGTERM, 10s);
}

// A gateway killed outright (a crash, a replica replaced by compose) leaves its spool behind. A gateway
// whose USAGE_SPOOL_FILE has {hostname} in it finds that file beside its own (same directory, another
// host name, lock free), delivers its events once and removes it. And no two running gateways ever
// share one spool: the second refuses to start.
TEST(ShutdownTest, SpoolOfAGatewayThatIsGoneIsAdoptedAndASpoolInUseIsRefused) {
  Cluster c;
  c.StartUpstream();
  c.StartAuth();
  const std::string orphan = c.dir().File("usage-spool-oldreplica.log");
  c.SetGatewayEnv("USAGE_SPOOL_FILE", orphan);
  c.StartGateway();  // usagesvc not started yet: the events stay in the spool
  std::string key = c.CreateKey("agent");
  c.SetModel("m", R"({"usage": {"input_tokens": 3, "output_tokens": 2}})");
  for (int i = 0; i < 9; ++i) {
    ASSERT_EQ(c.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, Ask("m", i % 3 == 0)).status, 200);
  }

  // A second gateway on the same spool file refuses to start, naming the reason.
  int unused = 0;
  auto twin = c.StartExtraGateway("twin", {{"USAGE_SPOOL_FILE", orphan}}, &unused, /*expect_port=*/false);
  int st = twin->Stop(0, 10s);
  ASSERT_NE(st, -1) << "a gateway on a spool in use must exit";
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1);
  EXPECT_NE(twin->Log().find("in use by another running gateway"), std::string::npos) << twin->Log();

  c.gateway()->Kill();  // SIGKILL: the spool and its lock file stay behind
  ASSERT_FALSE(ReadAll(orphan).empty());

  c.StartUsage();
  int port = 0;
  auto adopter = c.StartExtraGateway(
      "adopter", {{"USAGE_SPOOL_FILE", c.dir().File("usage-spool-{hostname}.log")}}, &port);
  auto usage = [&] {
    auto r = Fetch(port, "GET", "/admin/usage", {{"x-api-key", c.admin_key()}});
    return r.status == 200 ? json::parse(r.body, nullptr, false) : json();
  };
  ASSERT_TRUE(Eventually([&] { return usage().value("total_requests", 0) == 9; }, 20s)) << usage().dump();
  EXPECT_TRUE(Eventually([&] { return ReadAll(orphan).empty() && ReadAll(orphan + ".lock").empty(); }, 10s))
      << "the adopted spool must be removed once delivered";
  std::this_thread::sleep_for(500ms);
  json u = usage();
  EXPECT_EQ(u["total_requests"], 9);
  EXPECT_EQ(u["total_input_tokens"], 27);
  EXPECT_NE(adopter->Log().find("adopted usage spool"), std::string::npos) << adopter->Log();
  adopter->Stop(SIGTERM, 15s);
}

}  // namespace
}  // namespace luna::testing
