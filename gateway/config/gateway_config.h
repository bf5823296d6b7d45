// The gateway's configuration, read once from the environment into a typed struct.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <vector>

#include "absl/status/statusor.h"
#include "gateway/upstream/wire_format.h"

namespace luna::gateway {

// What the gateway does for keys when authsvc cannot be reached.
enum class AuthOutagePolicy {
  kServeKnown,  // keys in the local table keep their state; unknown keys get 503
  kFailClosed,  // every /v1 request gets 503 until authsvc is back
};

// How the upstream credential (UPSTREAM_API_KEY) is sent.
enum class UpstreamAuthStyle {
  kAuto,     // x-api-key on /v1/messages*, Authorization: Bearer elsewhere
  kXApiKey,  // always x-api-key
  kBearer,   // always Authorization: Bearer
};

struct GatewayConfig {
  std::string listen = "0.0.0.0:8180";               // GATEWAY_LISTEN
  int threads = 2;                                    // GATEWAY_THREADS
  std::string upstream_url = "http://127.0.0.1:8080"; // UPSTREAM_URL
  std::string upstream_api_key;                       // UPSTREAM_API_KEY (empty: none sent)
  UpstreamAuthStyle upstream_auth_style = UpstreamAuthStyle::kAuto;  // UPSTREAM_AUTH_STYLE
  WireFormat upstream_format = WireFormat::kAnthropic;  // UPSTREAM_FORMAT: the API UPSTREAM_URL speaks
  std::vector<std::string> models;                    // MODELS (comma-separated): listed by GET /v1/models
  bool upstream_tls_verify = true;                    // UPSTREAM_TLS_VERIFY
  std::string upstream_ca_file;                       // UPSTREAM_CA_FILE (empty: system store)
  int upstream_connect_timeout_ms = 5000;             // UPSTREAM_CONNECT_TIMEOUT_MS
  int upstream_timeout_s = 600;                       // UPSTREAM_TIMEOUT_SECONDS (first byte, and between reads)
  int upstream_max_idle_per_host = 256;               // UPSTREAM_MAX_IDLE_PER_HOST
  std::string authsvc_addr = "127.0.0.1:8181";        // AUTHSVC_ADDR
  std::string usagesvc_addr = "127.0.0.1:8182";       // USAGESVC_ADDR ("off": usage is not recorded)
  std::string fallbacksvc_addr = "127.0.0.1:8183";    // FALLBACKSVC_ADDR ("off": no fallback)
  int attempt_timeout_s = 120;                        // UPSTREAM_ATTEMPT_TIMEOUT_SECONDS (first byte, when another target remains)
  std::string usage_spool_file = "./usage-spool.log"; // USAGE_SPOOL_FILE ("{hostname}" is replaced)
  std::string usage_spool_pattern;                    // USAGE_SPOOL_FILE as given, when it has "{hostname}"
  int usage_batch_size = 500;                         // USAGE_BATCH_SIZE
  int usage_ring_slots = 2048;                        // USAGE_RING_SLOTS (0: no ring)
  AuthOutagePolicy auth_outage_policy = AuthOutagePolicy::kServeKnown;  // AUTH_OUTAGE_POLICY
  int negative_cache_ms = 2000;                       // AUTH_NEGATIVE_CACHE_MS
  int64_t max_body_bytes = 32 << 20;                  // MAX_BODY_BYTES
  int max_header_bytes = 64 << 10;                    // MAX_HEADER_BYTES
  int max_connections = 10000;                        // MAX_CONNECTIONS
  int header_timeout_s = 30;                          // HEADER_TIMEOUT_SECONDS (a new connection, or a request's first byte, to its headers' end)
  int request_timeout_s = 60;                         // REQUEST_TIMEOUT_SECONDS (to receive a request's body)
  int idle_timeout_s = 120;                           // IDLE_TIMEOUT_SECONDS (keep-alive: wait for the next request's first byte)
  int send_timeout_s = 60;                            // SEND_TIMEOUT_SECONDS (a write to a client that does not read)
  int shutdown_grace_s = 30;                          // SHUTDOWN_GRACE_SECONDS
  bool access_log = true;                             // ACCESS_LOG
  bool dashboard = true;                              // DASHBOARD: serve the admin page at /dashboard
  int dashboard_session_idle_s = 1800;                // DASHBOARD_SESSION_IDLE_SECONDS: an unused session ends
  int dashboard_session_max_s = 43200;                // DASHBOARD_SESSION_MAX_SECONDS: every session ends
  bool dashboard_secure_cookie = false;               // DASHBOARD_SECURE_COOKIE: always mark the cookie Secure
                                                      // (it is anyway when x-forwarded-proto is https)
};

// Reads every variable above; an unknown enum value or an out-of-range number is an error naming the
// variable.
absl::StatusOr<std::shared_ptr<const GatewayConfig>> LoadGatewayConfigFromEnv();

}  // namespace luna::gateway
