// Integration: the passthrough relay — bodies, streams, credentials, limits and upstream failures.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/sha.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/integration/cluster.h"

namespace luna::testing {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string Sha256Hex(const std::string& s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : md) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

const std::string kSmall = R"({"model":"claude-test","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})";

class GatewayProxyTest : public ::testing::Test {
 protected:
  explicit GatewayProxyTest(Cluster::Options opts = {}) : c_(std::move(opts)) {}
  void SetUp() override {
    c_.StartUpstream();
    c_.StartAuth();
    c_.StartGateway();
    key_ = c_.CreateKey("agent");
  }
  json LastUpstreamRequest() { return json::parse(c_.UpstreamRequests())["requests"].back(); }
  Cluster c_;
  std::string key_;
};

// A 60 KB OpenClaw-like body (system blocks, 12 tools, cache_control, unknown fields) reaches the
// upstream byte for byte; the client's key does not, and the answer comes back unchanged.
TEST_F(GatewayProxyTest, OpenClawBodyArrivesByteIdentical) {
  std::string body = OpenClawLikeBody("claude-opus-test", 60 * 1024, false);
  ASSERT_GE(body.size(), 60u * 1024);
  auto r = c_.Gateway("POST", "/v1/messages",
                      {{"x-api-key", key_},
                       {"content-type", "application/json"},
                       {"anthropic-version", "2023-06-01"},
                       {"anthropic-dangerous-direct-browser-access", "true"},
                       {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
                      body);
  ASSERT_EQ(r.status, 200) << r.body;
  auto answer = json::parse(r.body);
  EXPECT_EQ(answer["model"], "claude-opus-test");
  EXPECT_EQ(answer["usage"]["input_tokens"], 10);

  auto rec = LastUpstreamRequest();
  EXPECT_EQ(rec["target"], "/v1/messages");
  EXPECT_EQ(rec["body_bytes"], body.size());
  EXPECT_EQ(rec["body_sha256"], Sha256Hex(body));
  auto h = rec["headers"];
  EXPECT_EQ(h["anthropic-version"], "2023-06-01");
  EXPECT_EQ(h["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(h["anthropic-dangerous-direct-browser-access"], "true");
  EXPECT_FALSE(h.contains("x-api-key")) << "the client's key must never reach the upstream";
  EXPECT_FALSE(h.contains("authorization"));
}

// The client's Bearer credential is replaced by the upstream's own one when configured.
class GatewayUpstreamCredentialTest : public GatewayProxyTest {
 protected:
  GatewayUpstreamCredentialTest()
      : GatewayProxyTest(Cluster::Options{.gateway_env = {{"UPSTREAM_API_KEY", "upstream-secret"}}}) {}
};

TEST_F(GatewayUpstreamCredentialTest, UpstreamCredentialReplacesTheClients) {
  ASSERT_EQ(c_.Gateway("POST", "/v1/messages", {{"authorization", "Bearer " + key_}}, kSmall).status, 200);
  auto h = LastUpstreamRequest()["headers"];
  EXPECT_EQ(h["x-api-key"], "upstream-secret");
  EXPECT_FALSE(h.contains("authorization"));
  ASSERT_EQ(c_.Gateway("POST", "/v1/chat/completions", {{"x-api-key", key_}},
                       R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})")
                .status,
            200);
  // The default upstream speaks Anthropic's API: the OpenAI request went there converted, with the
  // credential as Anthropic takes it.
  auto last = LastUpstreamRequest();
  EXPECT_EQ(last["target"], "/v1/messages");
  EXPECT_EQ(last["headers"]["x-api-key"], "upstream-secret");
  EXPECT_FALSE(last["headers"].contains("authorization"));
}

class GatewayOpenAIUpstreamCredentialTest : public GatewayProxyTest {
 protected:
  GatewayOpenAIUpstreamCredentialTest()
      : GatewayProxyTest(Cluster::Options{
            .gateway_env = {{"UPSTREAM_API_KEY", "upstream-secret"}, {"UPSTREAM_FORMAT", "openai"}}}) {}
};

TEST_F(GatewayOpenAIUpstreamCredentialTest, OpenAIUpstreamGetsBearer) {
  ASSERT_EQ(c_.Gateway("POST", "/v1/chat/completions", {{"x-api-key", key_}},
                       R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})")
                .status,
            200);
  auto last = LastUpstreamRequest();
  EXPECT_EQ(last["target"], "/v1/chat/completions");
  EXPECT_EQ(last["headers"]["authorization"], "Bearer upstream-secret");
  EXPECT_FALSE(last["headers"].contains("x-api-key"));
  // An Anthropic client's request goes there converted, with the credential as OpenAI takes it.
  ASSERT_EQ(c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}}, kSmall).status, 200);
  last = LastUpstreamRequest();
  EXPECT_EQ(last["target"], "/v1/chat/completions");
  EXPECT_EQ(last["headers"]["authorization"], "Bearer upstream-secret");
}

// An SSE answer reaches the client event by event: the first event arrives long before the
// upstream has produced the last one.
// A HEAD answer is the head alone (RFC 9110 §9.3.2), so the next answer on the connection is read
// right: HEAD then GET, pipelined, give two whole answers and nothing between them.
TEST_F(GatewayProxyTest, HeadAnswersCarryNoBody) {
  for (const std::string target : {"/health", "/metrics", "/nowhere", "/v1/models"}) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(c_.gateway_port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string reqs = "HEAD " + target + " HTTP/1.1\r\nHost: x\r\nx-api-key: " + key_ +
                       "\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(send(fd, reqs.data(), reqs.size(), 0), static_cast<ssize_t>(reqs.size()));
    std::string got;
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<size_t>(n));
    close(fd);
    size_t head_end = got.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos) << target << ": " << got;
    EXPECT_NE(got.find("Content-Length: ") , std::string::npos) << target << ": the length the body would have";
    EXPECT_EQ(got.substr(head_end + 4, 9), "HTTP/1.1 ") << target << ": the next answer must follow the head at once:\n"
                                                        << got;
  }
}

TEST_F(GatewayProxyTest, StreamArrivesEventByEvent) {
  c_.SetModel("claude-stream", R"({"events": 6, "interval_ms": 250})");
  HttpConnection conn(c_.gateway_port());
  ASSERT_TRUE(conn.Send("POST", "/v1/messages", {{"x-api-key", key_}, {"content-type", "application/json"}},
                        R"({"model":"claude-stream","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]})"));
  auto t0 = Clock::now();
  std::vector<Clock::duration> arrivals;
  std::string seen;
  Clock::duration first_event{};
  bool have_first = false;
  auto r = conn.Read(std::chrono::seconds(20), [&](const std::string& piece) {
    seen += piece;
    arrivals.push_back(Clock::now() - t0);
    if (!have_first && seen.find("event: message_start") != std::string::npos) {
      first_event = Clock::now() - t0;
      have_first = true;
    }
  });
  auto total = Clock::now() - t0;
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.complete);
  EXPECT_NE(r.Header("content-type").find("text/event-stream"), std::string::npos);
  EXPECT_NE(r.body.find("event: message_stop"), std::string::npos);
  ASSERT_TRUE(have_first);
  // The fake waits 250 ms between its 6+ events, so the stream lasts >= 1.5 s; had the gateway
  // buffered it, the first event would arrive at the very end.
  EXPECT_GE(total - first_event, std::chrono::milliseconds(1000));
  EXPECT_GE(arrivals.size(), 5u);
}

// A client that goes away mid-stream does not break the gateway; the next request is served.
TEST_F(GatewayProxyTest, ClientDisconnectMidStreamIsHarmless) {
  c_.SetModel("claude-slow", R"({"events": 20, "interval_ms": 100})");
  {
    HttpConnection conn(c_.gateway_port());
    ASSERT_TRUE(conn.Send("POST", "/v1/messages", {{"x-api-key", key_}},
                          R"({"model":"claude-slow","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]})"));
    std::string seen;
    conn.Read(std::chrono::milliseconds(400), [&](const std::string& p) { seen += p; });
    EXPECT_NE(seen.find("message_start"), std::string::npos);
  }  // connection closed here, mid-stream
  EXPECT_EQ(c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}}, kSmall).status, 200);
  EXPECT_TRUE(Eventually([&] { return c_.gateway()->Log().find(" 499 ") != std::string::npos; },
                         std::chrono::seconds(5)))
      << "the gateway notices the client left";
}

// Upstream answers that are errors are relayed as they are (status, retry-after, body).
TEST_F(GatewayProxyTest, UpstreamErrorsAreRelayedWithRetryAfter) {
  c_.SetModel("claude-limited", R"({"mode": "429", "retry_after": 7})");
  auto r = c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}},
                      R"({"model":"claude-limited","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("retry-after"), "7");
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "rate_limit_error");
}

// Other /v1 paths pass through with their method; the query string survives.
TEST_F(GatewayProxyTest, OtherV1PathsPassThrough) {
  auto r = c_.Gateway("GET", "/v1/models?limit=5", {{"x-api-key", key_}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["object"], "list");
  EXPECT_EQ(LastUpstreamRequest()["target"], "/v1/models?limit=5");
  r = c_.Gateway("POST", "/v1/messages/count_tokens", {{"x-api-key", key_}}, kSmall);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(LastUpstreamRequest()["target"], "/v1/messages/count_tokens");
}

// Routing errors: unknown path 404, wrong method 405 with Allow, each as JSON.
TEST_F(GatewayProxyTest, UnknownPathIs404AndWrongMethodIs405) {
  auto r = c_.Gateway("GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(json::parse(r.body).contains("error"));
  r = c_.Gateway("GET", "/v1/messages", {{"x-api-key", key_}});
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("allow"), "POST");
  EXPECT_EQ(json::parse(r.body)["type"], "error");
  r = c_.Gateway("DELETE", "/admin/keys", {{"x-api-key", c_.admin_key()}});
  EXPECT_EQ(r.status, 405);
  r = c_.Gateway("POST", "/health");
  EXPECT_EQ(r.status, 405);
}

// Keep-alive: many requests on one client connection, each answered in order.
TEST_F(GatewayProxyTest, KeepAliveServesManyRequestsOnOneConnection) {
  HttpConnection conn(c_.gateway_port());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(conn.Send("POST", "/v1/messages", {{"x-api-key", key_}}, kSmall));
    auto r = conn.Read();
    ASSERT_EQ(r.status, 200) << "request " << i;
    ASSERT_TRUE(r.complete);
  }
}

// Garbage instead of HTTP gets a 400 and the connection is closed; the gateway keeps serving.
TEST_F(GatewayProxyTest, MalformedHttpIs400) {
  HttpConnection conn(c_.gateway_port());
  ASSERT_TRUE(conn.SendRaw("THIS IS NOT HTTP\r\n\r\n"));
  auto r = conn.Read(std::chrono::seconds(5));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(conn.ClosedByPeer());
  EXPECT_EQ(c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}}, kSmall).status, 200);
}

// Bodies over MAX_BODY_BYTES get 413 in the caller's format; headers over MAX_HEADER_BYTES get 431.
class GatewayLimitsTest : public GatewayProxyTest {
 protected:
  GatewayLimitsTest()
      : GatewayProxyTest(Cluster::Options{.gateway_env = {{"MAX_BODY_BYTES", "65536"}, {"MAX_HEADER_BYTES", "8192"}}}) {}
};

TEST_F(GatewayLimitsTest, OversizedBodyIs413AndHugeHeadersAre431) {
  std::string big = OpenClawLikeBody("claude-test", 100 * 1024, false);
  auto r = c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}}, big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "request_too_large");
  // Chunked upload without a length: the limit still holds.
  HttpConnection conn(c_.gateway_port());
  std::string chunked = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-api-key: " + key_ +
                        "\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_TRUE(conn.SendRaw(chunked));
  std::string piece(16 * 1024, 'a');
  for (int i = 0; i < 6; ++i) {
    char hdr[16];
    snprintf(hdr, sizeof hdr, "%zx\r\n", piece.size());
    if (!conn.SendRaw(hdr + piece + "\r\n")) break;
  }
  r = conn.Read(std::chrono::seconds(5));
  EXPECT_EQ(r.status, 413);
  // Just under the limit passes.
  std::string ok = OpenClawLikeBody("claude-test", 60 * 1024, false);
  EXPECT_EQ(c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}}, ok).status, 200);
  r = c_.Gateway("GET", "/health", {{"x-big", std::string(10000, 'b')}});
  EXPECT_EQ(r.status, 431);
}

// Upstream unreachable → 502; upstream too slow → 504; both in the caller's format.
TEST(GatewayUpstreamFailure, UnreachableIs502AndSlowIs504) {
  int dead = UnusedPort();
  Cluster c(Cluster::Options{.gateway_env = {{"UPSTREAM_URL", "http://127.0.0.1:" + std::to_string(dead)},
                                             {"UPSTREAM_TIMEOUT_SECONDS", "1"}}});
  c.StartUpstream();
  c.StartAuth();
  c.StartGateway();
  std::string key = c.CreateKey("agent");
  auto r = c.Gateway("POST", "/v1/messages", {{"x-api-key", key}}, kSmall);
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(json::parse(r.body)["type"], "error");
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "api_error");
  r = c.Gateway("POST", "/v1/chat/completions", {{"x-api-key", key}}, R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.status, 502);
  EXPECT_TRUE(json::parse(r.body)["error"].contains("message"));

  Cluster slow(Cluster::Options{.gateway_env = {{"UPSTREAM_TIMEOUT_SECONDS", "1"}}});
  slow.StartUpstream();
  slow.StartAuth();
  slow.StartGateway();
  std::string k2 = slow.CreateKey("agent");
  slow.SetModel("claude-slow", R"({"delay_ms": 3000})");
  r = slow.Gateway("POST", "/v1/messages", {{"x-api-key", k2}},
                   R"({"model":"claude-slow","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "timeout_error");
}

// An upstream that breaks off a stream mid-way: the client sees the stream end abnormally (no
// terminating chunk), never a made-up clean end.
TEST_F(GatewayProxyTest, UpstreamCutMidStreamIsNotPassedOffAsComplete) {
  c_.SetModel("claude-cut", R"({"mode": "cut", "cut_after_events": 3})");
  auto r = c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}},
                      R"({"model":"claude-cut","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.complete);
  EXPECT_NE(r.body.find("message_start"), std::string::npos);
  EXPECT_EQ(r.body.find("message_stop"), std::string::npos);
}

// SIGTERM: the gateway stops accepting, lets an in-flight stream finish, then exits 0.
TEST_F(GatewayProxyTest, GracefulStopFinishesInFlightStreams) {
  c_.SetModel("claude-long", R"({"events": 8, "interval_ms": 150})");
  HttpConnection conn(c_.gateway_port());
  ASSERT_TRUE(conn.Send("POST", "/v1/messages", {{"x-api-key", key_}},
                        R"({"model":"claude-long","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]})"));
  std::string seen;
  std::thread stopper;
  auto r = conn.Read(std::chrono::seconds(20), [&](const std::string& p) {
    seen += p;
    if (!stopper.joinable()) {
      stopper = std::thread([&] { kill(c_.gateway()->pid(), SIGTERM); });
    }
  });
  if (stopper.joinable()) stopper.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.complete) << "the stream in flight at SIGTERM must finish";
  EXPECT_NE(r.body.find("message_stop"), std::string::npos);
  int st = c_.gateway()->Stop(0, std::chrono::seconds(15));
  ASSERT_NE(st, -1) << "gateway did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  // And it no longer accepts connections.
  EXPECT_EQ(Fetch(c_.gateway_port(), "GET", "/health").status, 0);
}

}  // namespace
}  // namespace luna::testing

namespace luna::testing {
namespace {

// Request ids: the client's x-request-id (or one the gateway makes) is in the answer, the upstream
// request and the request's log line; LOG_FORMAT=json makes every log line a JSON object.
class GatewayRequestIdTest : public GatewayProxyTest {
 protected:
  GatewayRequestIdTest() : GatewayProxyTest(Cluster::Options{.gateway_env = {{"LOG_FORMAT", "json"}}}) {}
};

TEST_F(GatewayRequestIdTest, IdTravelsWithTheRequestAndLogsAreJson) {
  auto r = c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}, {"x-request-id", "trace-abc-123"}}, kSmall);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("x-request-id"), "trace-abc-123");
  EXPECT_EQ(LastUpstreamRequest()["headers"]["x-request-id"], "trace-abc-123");

  // No id, or one that is not printable ASCII: the gateway makes one, unique per request.
  auto a = c_.Gateway("POST", "/v1/messages", {{"x-api-key", key_}}, kSmall);
  auto b = c_.Gateway("POST", "/v1/chat/completions", {{"x-api-key", key_}, {"x-request-id", "has space"}},
                      R"({"model":"gpt","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(a.Header("x-request-id").rfind("req_", 0), 0u) << a.Header("x-request-id");
  EXPECT_EQ(b.Header("x-request-id").rfind("req_", 0), 0u) << b.Header("x-request-id");
  EXPECT_NE(a.Header("x-request-id"), b.Header("x-request-id"));
  EXPECT_EQ(LastUpstreamRequest()["headers"]["x-request-id"], b.Header("x-request-id"));
  // Errors carry it too.
  auto e = c_.Gateway("POST", "/v1/messages", {{"x-api-key", "sk-wrong"}, {"x-request-id", "trace-err"}}, kSmall);
  EXPECT_EQ(e.status, 401);
  EXPECT_EQ(e.Header("x-request-id"), "trace-err");
  // And every other answer: health, metrics, the admin API, the model list.
  EXPECT_EQ(c_.Gateway("GET", "/health", {{"x-request-id", "trace-h"}}).Header("x-request-id"), "trace-h");
  EXPECT_EQ(c_.Gateway("GET", "/metrics", {{"x-request-id", "trace-m"}}).Header("x-request-id"), "trace-m");
  auto k = c_.Gateway("GET", "/admin/keys", {{"x-api-key", c_.admin_key()}, {"x-request-id", "trace-k"}});
  EXPECT_EQ(k.status, 200);
  EXPECT_EQ(k.Header("x-request-id"), "trace-k");

  std::string log;
  ASSERT_TRUE(Eventually([&] {
    log = c_.gateway()->Log();
    return log.find("trace-err") != std::string::npos;
  }));
  size_t lines = 0, with_id = 0;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not a JSON line: " << line;
    EXPECT_EQ(j["service"], "gateway");
    ++lines;
    std::string msg = j["msg"];
    if (msg.find("rid=trace-abc-123") != std::string::npos) ++with_id;
  }
  EXPECT_GT(lines, 3u);
  EXPECT_EQ(with_id, 1u);
}

}  // namespace
}  // namespace luna::testing
