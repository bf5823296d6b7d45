// Forwards one request to an upstream and relays the answer to the client as it arrives: pooled
// keep-alive connections per host, TLS with certificate verification for https:// upstreams, and
// bodies streamed piece by piece (an SSE event reaches the client as soon as the upstream sends it).
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/config/gateway_config.h"
#include "gateway/http/beast_fwd.h"
#include "gateway/upstream/relay_observer.h"
#include "gateway/upstream/url.h"

namespace boost::asio::ssl {
class context;
}

namespace luna::gateway {

struct RelayResult {
  enum class Outcome {
    kRelayed,          // the upstream's answer (any status) went to the client
    kConnectFailed,    // nothing sent to the client: the upstream could not be reached (502)
    kTimeout,          // nothing sent to the client: no answer in time (504)
    kUpstreamCut,      // the answer started but the upstream broke off; client connection closed
    kClientGone,       // the client went away; the upstream request was cancelled
    kHeld,             // nothing sent to the client: RelayOptions::commit refused the answer, which
                       // is in held_* for the caller to convert, answer or fail over from
  };
  Outcome outcome = Outcome::kConnectFailed;
  int status = 0;               // upstream status, when an answer started
  std::string error;            // what went wrong, for logs
  bool client_keep_alive = false;  // the client connection can take another request
  int64_t upstream_first_byte_us = 0;
  int64_t body_bytes = 0;
  // kHeld: the upstream's answer.
  std::string held_body;
  std::string held_content_type;
  HeaderList held_headers;  // end-to-end headers, lower-case names, without content-type/-length
};

struct RelayOptions {
  // Sees (and may rewrite) the answer relayed to the client.
  RelayObserver* observer = nullptr;
  // Awaited once the whole answer has arrived from the upstream but before its last bytes go to the
  // client (the usage of a finished answer is made crash-safe there).
  const std::function<Awaitable<void>()>* before_complete = nullptr;
  // Asked with the upstream's status before anything goes to the client: false holds the answer
  // (read whole, up to held_body_limit) and returns it as kHeld. Null: every answer is relayed.
  const std::function<bool(int status)>* commit = nullptr;
  // Added to the client response of a relayed answer.
  const HeaderList* extra_headers = nullptr;
  size_t held_body_limit = 16 << 20;
  // Longest wait for the answer's head (0 = UPSTREAM_TIMEOUT_SECONDS): shorter when another target
  // could still answer.
  int first_byte_timeout_s = 0;
};

class UpstreamClient {
 public:
  UpstreamClient(std::shared_ptr<const GatewayConfig> config);
  ~UpstreamClient();

  // Sends `req` (its target, Host and credentials already set for the upstream) to `url` and relays
  // the response to `client` (or holds it, see RelayOptions). `keep_alive` is what the client asked for.
  Awaitable<RelayResult> Forward(const Url& url, Request& req, beast::tcp_stream& client, bool keep_alive,
                                 const RelayOptions& options = {});

  // Drops every idle pooled connection (at shutdown).
  void CloseIdle();

 private:
  struct Conn;
  Awaitable<std::unique_ptr<Conn>> Connect(const Url& url, std::string* error, bool* timed_out);
  std::unique_ptr<Conn> TakeIdle(const std::string& pool_key);
  void GiveBack(const std::string& pool_key, std::unique_ptr<Conn> conn);

  std::shared_ptr<const GatewayConfig> config_;
  std::unique_ptr<boost::asio::ssl::context> ssl_ctx_;
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Conn>>> idle_;
};

}  // namespace luna::gateway
