// common/metrics_http: the services' small HTTP server for GET /metrics and GET /health, on a real
// loopback socket (port 0): answers, refusals, limits, timeouts and stopping.
#include "common/metrics_http.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/prom_text.h"

namespace luna {
namespace {

using namespace std::chrono_literals;
using luna::testing::Eventually;
using luna::testing::Fetch;
using luna::testing::HttpConnection;
using luna::testing::HttpResponse;

constexpr const char* kBody =
    "# HELP luna_test_things_total Things.\n"
    "# TYPE luna_test_things_total counter\n"
    "luna_test_things_total{kind=\"a\"} 3\n";

class MetricsHttpTest : public ::testing::Test {
 protected:
  void Start(MetricsHttpServer::Options extra = {}) {
    MetricsHttpServer::Options o = std::move(extra);
    if (!o.metrics) o.metrics = [this] {
      ++scrapes_;
      return std::string(kBody);
    };
    if (!o.serving) o.serving = [this] { return serving_.load(); };
    server_ = std::make_unique<MetricsHttpServer>(std::move(o));
    auto port = server_->Start("127.0.0.1:0", "TEST_METRICS_LISTEN");
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    ASSERT_GT(port_, 0);
    EXPECT_EQ(server_->port(), port_);
  }
  HttpResponse Get(const std::string& target, const luna::testing::Headers& headers = {}) {
    return Fetch(port_, "GET", target, headers, "", 5s);
  }

  std::unique_ptr<MetricsHttpServer> server_;
  int port_ = 0;
  std::atomic<bool> serving_{true};
  std::atomic<int> scrapes_{0};
};

TEST_F(MetricsHttpTest, ServesMetricsInTheTextFormat) {
  Start();
  HttpResponse r = Get("/metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_EQ(r.body, kBody);
  EXPECT_TRUE(r.complete);
  luna::testing::PromText parsed;
  std::string error;
  ASSERT_TRUE(luna::testing::ParsePromText(r.body, &parsed, &error)) << error;
  EXPECT_EQ(parsed.Value("luna_test_things_total", {{"kind", "a"}}), 3);
  // A query string (Prometheus may add one) is ignored; every scrape calls the callback again.
  EXPECT_EQ(Get("/metrics?name[]=x").status, 200);
  EXPECT_EQ(scrapes_.load(), 2);
}

TEST_F(MetricsHttpTest, HealthFollowsServing) {
  Start();
  HttpResponse r = Get("/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.body, R"({"status":"ok"})");
  serving_ = false;
  r = Get("/health");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"status":"not_serving"})");
  serving_ = true;
  EXPECT_EQ(Get("/health").status, 200);
}

// A problem (a state file that cannot be written) is named in /health: "degraded" while the service
// still serves (200), beside "not_serving" (503) when it does not; gone again once it is solved.
TEST_F(MetricsHttpTest, HealthNamesTheProblemAndSaysDegradedWhileServing) {
  std::mutex mu;
  std::string problem;
  Start({.problem = [&] {
    std::lock_guard lock(mu);
    return problem;
  }});
  EXPECT_EQ(Get("/health").body, R"({"status":"ok"})");
  {
    std::lock_guard lock(mu);
    problem = "cannot write keys file: \"/x/keys.json\": No space left on device";
  }
  HttpResponse r = Get("/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"degraded","problem":"cannot write keys file: \"/x/keys.json\": No space left on device"})");
  serving_ = false;
  r = Get("/health");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"status":"not_serving","problem":"cannot write keys file: \"/x/keys.json\": No space left on device"})");
  serving_ = true;
  {
    std::lock_guard lock(mu);
    problem.clear();
  }
  EXPECT_EQ(Get("/health").body, R"({"status":"ok"})");
}

TEST_F(MetricsHttpTest, RefusesOtherPathsMethodsAndBodies) {
  Start();
  EXPECT_EQ(Get("/").status, 404);
  EXPECT_EQ(Get("/metricsx").status, 404);
  EXPECT_EQ(Get("/admin/keys").status, 404);
  HttpResponse r = Fetch(port_, "POST", "/metrics", {}, "", 5s);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("allow"), "GET");
  EXPECT_EQ(Fetch(port_, "DELETE", "/health", {}, "", 5s).status, 405);
  EXPECT_EQ(Fetch(port_, "HEAD", "/metrics", {}, "", 5s).status, 405);
  EXPECT_EQ(Fetch(port_, "GET", "/metrics", {}, "hello", 5s).status, 413);
  HttpConnection c(port_);
  ASSERT_TRUE(c.SendRaw("GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
  EXPECT_EQ(c.Read(5s).status, 413);
  EXPECT_EQ(scrapes_.load(), 0);  // none of these reached the callback
}

TEST_F(MetricsHttpTest, BoundsHeadersAndAnswersGarbageWith400) {
  Start({.max_header_bytes = 1024});
  EXPECT_EQ(Get("/metrics", {{"x-big", std::string(2000, 'a')}}).status, 431);
  EXPECT_EQ(Get("/metrics", {{"x-small", std::string(500, 'a')}}).status, 200);
  HttpConnection c(port_);
  ASSERT_TRUE(c.SendRaw("THIS IS NOT HTTP\r\n\r\n"));
  EXPECT_EQ(c.Read(5s).status, 400);
}

TEST_F(MetricsHttpTest, ClosesAConnectionThatSendsNothingInTime) {
  Start({.read_timeout = 300ms});
  HttpConnection c(port_);
  ASSERT_TRUE(c.connected());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.ClosedByPeer(5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(Get("/health").status, 200);
}

TEST_F(MetricsHttpTest, LimitsOpenConnections) {
  Start({.max_connections = 2});
  auto idle1 = std::make_unique<HttpConnection>(port_);
  auto idle2 = std::make_unique<HttpConnection>(port_);
  ASSERT_TRUE(idle1->connected() && idle2->connected());
  // Both idle connections are accepted and held: the third is closed at once, unanswered.
  HttpConnection third(port_);
  ASSERT_TRUE(third.connected());
  third.Send("GET", "/health", {});
  EXPECT_EQ(third.Read(5s).status, 0);
  // The held ones still work, and once one is gone a new one is served.
  ASSERT_TRUE(idle1->Send("GET", "/health", {}));
  EXPECT_EQ(idle1->Read(5s).status, 200);
  idle1.reset();
  EXPECT_TRUE(Eventually([&] { return Get("/health").status == 200; }, 5s));
}

TEST_F(MetricsHttpTest, AFailingCallbackAnswers500) {
  Start({.metrics = []() -> std::string { throw std::runtime_error("boom"); }});
  EXPECT_EQ(Get("/metrics").status, 500);
  EXPECT_EQ(Get("/health").status, 200);
}

TEST_F(MetricsHttpTest, StopClosesIdleConnectionsAtOnce) {
  Start();  // read timeout 10 s
  HttpConnection idle(port_);
  ASSERT_TRUE(idle.connected());
  EXPECT_EQ(Get("/health").status, 200);  // the idle connection is accepted by now
  auto t0 = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_TRUE(idle.ClosedByPeer(2s));
  EXPECT_EQ(Get("/health").status, 0);  // nothing listens any more
  server_->Stop();                       // idempotent
}

TEST(MetricsHttpStartTest, ReportsAPortInUseAndBadAddresses) {
  MetricsHttpServer first({});
  auto port = first.Start("127.0.0.1:0", "X_METRICS_LISTEN");
  ASSERT_TRUE(port.ok()) << port.status();
  MetricsHttpServer second({});
  auto clash = second.Start("127.0.0.1:" + std::to_string(*port), "X_METRICS_LISTEN");
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(std::string(clash.status().message()).find("X_METRICS_LISTEN"), std::string::npos) << clash.status();
  EXPECT_NE(std::string(clash.status().message()).find(std::to_string(*port)), std::string::npos) << clash.status();

  MetricsHttpServer third({});
  auto bad = third.Start("no-port-here", "X_METRICS_LISTEN");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("X_METRICS_LISTEN"), std::string::npos) << bad.status();
  // Never started: stopping (and destroying) is harmless.
  second.Stop();
  third.Stop();
}

TEST(MetricsHttpStartTest, LocalhostByName) {
  MetricsHttpServer server({.metrics = [] { return std::string(kBody); }});
  auto port = server.Start("localhost:0");
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(Fetch(*port, "GET", "/metrics", {}, "", 5s).status, 200);
}

}  // namespace
}  // namespace luna
