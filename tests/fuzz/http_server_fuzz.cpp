// libFuzzer target for the gateway's real HTTP server and router: each input is the bytes a client
// sends on one connection to an in-process HttpServer (session, Router, UpstreamClient, the
// converters), behind which an in-process upstream answers every model call. authsvc is a port that
// refuses connections, so keys the gateway's table does not hold get 503 at once.
//
// Checked, beyond "no crash": every byte the gateway sends parses as HTTP responses, one per request
// (plus at most one for the request that ended the connection) with a documented status; error bodies
// are JSON; every answer of the router carries x-request-id, the client's own when it is usable; the
// upstream credential never reaches the client; the upstream never sees the client's credential or a
// hop-by-hop header, and sees its own credential the way UPSTREAM_AUTH_STYLE=auto sends it; a client
// key of the table gets 200 from POST /v1/messages and a disabled one 403 on every /v1 route.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "gateway/api/router_internal.h"
#include "gateway/clients/grpc_auth_client.h"
#include "gateway/clients/key_table.h"
#include "gateway/http/server.h"
#include "gateway/upstream/upstream_client.h"
#include "tests/fuzz/fuzz_http.h"

using namespace luna::gateway;
using luna::fuzz::Fail;

namespace {

constexpr std::string_view kClientKey = "sk-fuzz-client-0001";
constexpr std::string_view kDisabledKey = "sk-fuzz-disabled-0002";
constexpr std::string_view kUpstreamKey = "sk-upstream-secret-0003";
constexpr std::string_view kBasePath = "/up";

// A socket bound to a free loopback port and never listening: connecting to it is refused.
int RefusingPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    Fail("setup", "cannot bind a loopback port");
  }
  return ntohs(a.sin_port);  // fd stays open (and bound) for the life of the process
}

// Found by this target, and fixed: the gateway's own answers to HEAD (/health, /metrics, errors, the
// model list) carried their body, which a keep-alive client then read as the start of the next answer
// (RFC 9110 §9.3.2: no content in a HEAD answer). True would tolerate such a body again.
constexpr bool kHeadAnswersCarryABody = false;

bool Contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

// Checks what the gateway sent upstream and answers it like the provider of its path would.
http::response<http::string_body> Answer(const Request& req, uint16_t port) {
  std::string_view target(req.target().data(), req.target().size());
  if (target.rfind(std::string(kBasePath) + "/", 0) != 0) Fail("upstream target outside the base path", target);
  std::string_view path = target.substr(kBasePath.size());
  path = path.substr(0, path.find('?'));
  std::string head;
  for (const auto& f : req) {
    std::string_view name(f.name_string().data(), f.name_string().size());
    std::string_view value(f.value().data(), f.value().size());
    head.append(name).append(": ").append(value).append("\n");
    for (std::string_view hop : {"te", "trailer", "upgrade", "keep-alive", "proxy-authorization",
                                 "proxy-authenticate", "proxy-connection", "expect"}) {
      if (beast::iequals(name, hop)) Fail("hop-by-hop header sent upstream", name);
    }
  }
  // UPSTREAM_AUTH_STYLE=auto: x-api-key to /v1/messages*, Bearer elsewhere; never the client's key.
  auto x_api_key = req.find("x-api-key");
  auto bearer = req.find(http::field::authorization);
  bool messages = path.rfind("/v1/messages", 0) == 0;
  if (messages && (x_api_key == req.end() || x_api_key->value() != kUpstreamKey || bearer != req.end())) {
    Fail("upstream credential not sent as x-api-key", head);
  }
  if (!messages && (bearer == req.end() || bearer->value() != "Bearer " + std::string(kUpstreamKey) ||
                    x_api_key != req.end())) {
    Fail("upstream credential not sent as Bearer", head);
  }
  if (req[http::field::host] != "127.0.0.1:" + std::to_string(port)) Fail("wrong Host upstream", head);

  http::response<http::string_body> res{http::status::ok, req.version()};
  bool stream = Contains(req.body(), "\"stream\":true") || Contains(req.body(), "\"stream\": true");
  if (path == "/v1/messages" && stream) {
    res.set(http::field::content_type, "text/event-stream");
    res.body() =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_f\",\"type\":\"message\","
        "\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":3,"
        "\"output_tokens\":0}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
        "{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
        "\"text_delta\",\"text\":\"hi\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
        "\"usage\":{\"output_tokens\":1}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  } else if (path == "/v1/messages") {
    res.set(http::field::content_type, "application/json");
    res.body() =
        "{\"id\":\"msg_f\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[{\"type\":"
        "\"text\",\"text\":\"hi\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}";
  } else {
    res.set(http::field::content_type, "application/json");
    res.body() = "{\"object\":\"other\"}";
  }
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

// The upstream: a thread per connection, synchronous Beast. Lives as long as the process.
class FakeUpstream {
 public:
  FakeUpstream() : acceptor_(ioc_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
    port_ = acceptor_.local_endpoint().port();
    std::thread([this] { AcceptLoop(); }).detach();
  }
  uint16_t port() const { return port_; }

 private:
  void AcceptLoop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket s(ioc_);
      acceptor_.accept(s, ec);
      if (ec) continue;
      std::thread([this, s = std::move(s)]() mutable { Serve(std::move(s)); }).detach();
    }
  }
  void Serve(tcp::socket s) {
    beast::flat_buffer buffer;
    for (;;) {
      Request req;
      beast::error_code ec;
      http::read(s, buffer, req, ec);
      if (ec) return;
      auto res = Answer(req, port_);
      http::write(s, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
};

struct Gateway {
  FakeUpstream upstream;
  KeyTable keys;
  std::unique_ptr<GrpcAuthClient> auth;
  std::unique_ptr<UpstreamClient> relay;
  ServerStats stats;
  std::unique_ptr<HttpServer> server;
  int port = 0;

  Gateway() {
    spdlog::set_level(spdlog::level::off);
    auto cfg = std::make_shared<GatewayConfig>();
    cfg->listen = "127.0.0.1:0";
    cfg->upstream_url = "http://127.0.0.1:" + std::to_string(upstream.port()) + std::string(kBasePath);
    cfg->upstream_api_key = std::string(kUpstreamKey);
    cfg->models = {"claude-fuzz"};
    cfg->authsvc_addr = "127.0.0.1:" + std::to_string(RefusingPort());
    cfg->usagesvc_addr = "off";
    cfg->fallbacksvc_addr = "off";
    cfg->max_body_bytes = static_cast<int64_t>(luna::fuzz::kBodyLimit);
    cfg->request_timeout_s = 10;
    cfg->idle_timeout_s = 10;
    cfg->upstream_timeout_s = 10;
    cfg->shutdown_grace_s = 1;
    cfg->access_log = false;
    keys.Upsert(luna::Sha256(kClientKey), KeyEntry{"key_fuzzclient", "fuzz", true});
    keys.Upsert(luna::Sha256(kDisabledKey), KeyEntry{"key_fuzzdisabled", "off", false});
    auth = std::make_unique<GrpcAuthClient>(cfg->authsvc_addr, luna::GrpcSecurity::Plaintext(), &keys);
    relay = std::make_unique<UpstreamClient>(cfg);
    auto url = ParseUrl(cfg->upstream_url);
    RouterDeps deps{cfg, *url, &keys, auth.get(), relay.get(), &stats, nullptr, nullptr};
    auto created = HttpServer::Create(deps);
    if (!created.ok()) Fail("setup", std::string(created.status().message()));
    server = std::move(*created);
    server->Start();
    port = server->port();
  }
};

Gateway& TheGateway() {
  static Gateway* g = new Gateway();  // never destroyed: its threads run until the process exits
  return *g;
}

// Sends `bytes` on a new connection, half-closes it and returns everything the gateway sent back.
std::string Exchange(int port, std::string_view bytes) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) Fail("connect", std::strerror(errno));
  fcntl(fd, F_SETFL, O_NONBLOCK);
  std::string got;
  size_t sent = 0;
  bool half_closed = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    if (sent == bytes.size() && !half_closed) {
      shutdown(fd, SHUT_WR);
      half_closed = true;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (half_closed ? 0 : POLLOUT)), 0};
    if (poll(&p, 1, 100) < 0) continue;
    if (p.revents & POLLOUT) {
      ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN) sent = bytes.size();  // the gateway closed: nothing more to send
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[16384];
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n > 0) {
        got.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EAGAIN) {
        break;
      }
    }
    if (std::chrono::steady_clock::now() > deadline) Fail("no end of answer within 30 s", bytes);
  }
  close(fd);
  return got;
}

bool DocumentedStatus(unsigned s) {
  switch (s) {
    case 100: case 200: case 400: case 401: case 403: case 404: case 405: case 408: case 413: case 431:
    case 502: case 503: case 504:
      return true;
    default:
      return false;
  }
}

bool UsableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Gateway& gw = TheGateway();
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  luna::fuzz::Parsed sent = luna::fuzz::ParseConnection(bytes, 0);
  std::string answer = Exchange(gw.port, bytes);
  if (Contains(answer, kUpstreamKey)) Fail("upstream credential reached the client", answer);

  // The answers, in order; interim 100-continue answers are not counted.
  size_t used = 0;
  size_t index = 0;
  while (used < answer.size()) {
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(64 << 20);
    const Request* req = index < sent.requests.size() ? &sent.requests[index] : nullptr;
    if (req != nullptr && req->method() == http::verb::head && !kHeadAnswersCarryABody) parser.skip(true);
    beast::error_code ec;
    used += parser.put(boost::asio::buffer(answer.data() + used, answer.size() - used), ec);
    if (!ec && !parser.is_done()) parser.put_eof(ec);
    if (ec || !parser.is_done()) Fail("answer does not parse as HTTP", answer);
    const auto& res = parser.get();
    unsigned status = res.result_int();
    if (!DocumentedStatus(status)) Fail("undocumented status", answer);
    if (status == 100) continue;
    if (status >= 400 && !(req != nullptr && req->method() == http::verb::head) && !nlohmann::json::accept(res.body())) Fail("error body not JSON", answer);
    ++index;
    // Answers of the session itself (malformed or oversized requests, timeouts) come before the
    // router; every other answer has a request id.
    bool from_session = status == 400 || status == 408 || status == 413 || status == 431;
    if (req == nullptr) {
      if (!from_session && sent.requests.size() < luna::fuzz::kMaxRequests) Fail("an answer without a request", answer);
      continue;
    }
    auto rid = res.find("x-request-id");
    if (!from_session && rid == res.end()) Fail("answer without x-request-id", answer);
    auto client_rid = req->find("x-request-id");
    if (rid != res.end() && client_rid != req->end() &&
        UsableRequestId(std::string_view(client_rid->value().data(), client_rid->value().size())) &&
        rid->value() != client_rid->value()) {
      Fail("client's request id not kept", answer);
    }
    std::string_view target(req->target().data(), req->target().size());
    std::string_view path = target.substr(0, target.find('?'));
    std::string key = ExtractCredential(*req);
    if (path == "/v1/messages" && req->method() == http::verb::post && key == kClientKey && status != 200 &&
        !from_session) {
      Fail("a valid key's model call failed", answer);
    }
    if (path.rfind("/v1/", 0) == 0 && key == kDisabledKey && status != 403 && status != 405 && !from_session) {
      Fail("a disabled key was not refused", answer);
    }
  }
  if (sent.requests.size() < luna::fuzz::kMaxRequests && index > sent.requests.size() + 1) {
    Fail("more answers than requests", answer);
  }
  return 0;
}
