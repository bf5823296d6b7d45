#include "gateway/config/gateway_config.h"

#include <unistd.h>

#include <cstdio>
#include <string_view>

#include "common/env_config.h"
#include "gateway/upstream/url.h"

namespace luna::gateway {
namespace {

#define LUNA_ASSIGN_OR_RETURN(lhs, expr) \
  do {                                   \
    auto _v = (expr);                    \
    if (!_v.ok()) return _v.status();    \
    lhs = *_v;                           \
  } while (0)

}  // namespace

absl::StatusOr<std::shared_ptr<const GatewayConfig>> LoadGatewayConfigFromEnv() {
  auto c = std::make_shared<GatewayConfig>();
  c->listen = EnvString("GATEWAY_LISTEN", c->listen);
  if (auto hp = ParseHostPort(c->listen, "GATEWAY_LISTEN"); !hp.ok()) return hp.status();
  LUNA_ASSIGN_OR_RETURN(c->threads, EnvInt("GATEWAY_THREADS", c->threads, 1, 64));
  c->upstream_url = EnvString("UPSTREAM_URL", c->upstream_url);
  if (auto u = ParseUrl(c->upstream_url); !u.ok()) {
    return absl::InvalidArgumentError("UPSTREAM_URL: " + std::string(u.status().message()));
  }
  c->upstream_api_key = EnvString("UPSTREAM_API_KEY", "");
  std::string style = EnvString("UPSTREAM_AUTH_STYLE", "auto");
  if (style == "auto") {
    c->upstream_auth_style = UpstreamAuthStyle::kAuto;
  } else if (style == "x-api-key") {
    c->upstream_auth_style = UpstreamAuthStyle::kXApiKey;
  } else if (style == "bearer") {
    c->upstream_auth_style = UpstreamAuthStyle::kBearer;
  } else {
    return absl::InvalidArgumentError("UPSTREAM_AUTH_STYLE: expected auto, x-api-key or bearer, got \"" +
                                      style + "\"");
  }
  std::string format = EnvString("UPSTREAM_FORMAT", "anthropic");
  if (format == "anthropic") {
    c->upstream_format = WireFormat::kAnthropic;
  } else if (format == "openai") {
    c->upstream_format = WireFormat::kOpenAI;
  } else {
    return absl::InvalidArgumentError("UPSTREAM_FORMAT: expected anthropic or openai, got \"" + format + "\"");
  }
  const std::string models = EnvString("MODELS", "");  // (a string_view of the temporary would dangle)
  for (std::string_view rest = models; !rest.empty();) {
    size_t comma = rest.find(',');
    std::string_view name = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!name.empty()) c->models.emplace_back(name);
  }
  LUNA_ASSIGN_OR_RETURN(c->upstream_tls_verify, EnvBool("UPSTREAM_TLS_VERIFY", c->upstream_tls_verify));
  c->upstream_ca_file = EnvString("UPSTREAM_CA_FILE", "");
  LUNA_ASSIGN_OR_RETURN(c->upstream_connect_timeout_ms,
                        EnvInt("UPSTREAM_CONNECT_TIMEOUT_MS", c->upstream_connect_timeout_ms, 1, 600000));
  LUNA_ASSIGN_OR_RETURN(c->upstream_timeout_s, EnvInt("UPSTREAM_TIMEOUT_SECONDS", c->upstream_timeout_s, 1, 86400));
  LUNA_ASSIGN_OR_RETURN(c->upstream_max_idle_per_host,
                        EnvInt("UPSTREAM_MAX_IDLE_PER_HOST", c->upstream_max_idle_per_host, 0, 100000));
  c->authsvc_addr = EnvString("AUTHSVC_ADDR", c->authsvc_addr);
  c->usagesvc_addr = EnvString("USAGESVC_ADDR", c->usagesvc_addr);
  c->fallbacksvc_addr = EnvString("FALLBACKSVC_ADDR", c->fallbacksvc_addr);
  LUNA_ASSIGN_OR_RETURN(c->attempt_timeout_s,
                        EnvInt("UPSTREAM_ATTEMPT_TIMEOUT_SECONDS", c->attempt_timeout_s, 1, 86400));
  c->usage_spool_file = EnvString("USAGE_SPOOL_FILE", c->usage_spool_file);
  // "{hostname}" lets replicas sharing one spool volume (compose --scale) keep a file each.
  if (auto at = c->usage_spool_file.find("{hostname}"); at != std::string::npos) {
    if (c->usage_spool_file.find("{hostname}", at + 1) != std::string::npos) {
      // (found by fuzzing: only the first was replaced, and the spool's siblings are matched by one)
      return absl::InvalidArgumentError("USAGE_SPOOL_FILE: \"{hostname}\" may appear only once");
    }
    c->usage_spool_pattern = c->usage_spool_file;
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof(host), "gateway");
    c->usage_spool_file.replace(at, std::string_view("{hostname}").size(), host);
  }
  LUNA_ASSIGN_OR_RETURN(c->usage_batch_size, EnvInt("USAGE_BATCH_SIZE", c->usage_batch_size, 1, 10000));
  LUNA_ASSIGN_OR_RETURN(c->usage_ring_slots, EnvInt("USAGE_RING_SLOTS", c->usage_ring_slots, 0, 65536));
  std::string policy = EnvString("AUTH_OUTAGE_POLICY", "serve_known");
  if (policy == "serve_known") {
    c->auth_outage_policy = AuthOutagePolicy::kServeKnown;
  } else if (policy == "fail_closed") {
    c->auth_outage_policy = AuthOutagePolicy::kFailClosed;
  } else {
    return absl::InvalidArgumentError("AUTH_OUTAGE_POLICY: expected serve_known or fail_closed, got \"" +
                                      policy + "\"");
  }
  LUNA_ASSIGN_OR_RETURN(c->negative_cache_ms, EnvInt("AUTH_NEGATIVE_CACHE_MS", c->negative_cache_ms, 0, 3600000));
  LUNA_ASSIGN_OR_RETURN(c->max_body_bytes, EnvInt("MAX_BODY_BYTES", c->max_body_bytes, 1024, int64_t{1} << 32));
  LUNA_ASSIGN_OR_RETURN(c->max_header_bytes, EnvInt("MAX_HEADER_BYTES", c->max_header_bytes, 1024, 1 << 20));
  LUNA_ASSIGN_OR_RETURN(c->max_connections, EnvInt("MAX_CONNECTIONS", c->max_connections, 1, 1000000));
  LUNA_ASSIGN_OR_RETURN(c->header_timeout_s, EnvInt("HEADER_TIMEOUT_SECONDS", c->header_timeout_s, 1, 3600));
  LUNA_ASSIGN_OR_RETURN(c->request_timeout_s, EnvInt("REQUEST_TIMEOUT_SECONDS", c->request_timeout_s, 1, 3600));
  LUNA_ASSIGN_OR_RETURN(c->idle_timeout_s, EnvInt("IDLE_TIMEOUT_SECONDS", c->idle_timeout_s, 1, 86400));
  LUNA_ASSIGN_OR_RETURN(c->send_timeout_s, EnvInt("SEND_TIMEOUT_SECONDS", c->send_timeout_s, 1, 86400));
  LUNA_ASSIGN_OR_RETURN(c->shutdown_grace_s, EnvInt("SHUTDOWN_GRACE_SECONDS", c->shutdown_grace_s, 0, 3600));
  LUNA_ASSIGN_OR_RETURN(c->access_log, EnvBool("ACCESS_LOG", c->access_log));
  LUNA_ASSIGN_OR_RETURN(c->dashboard, EnvBool("DASHBOARD", c->dashboard));
  LUNA_ASSIGN_OR_RETURN(c->dashboard_session_idle_s,
                        EnvInt("DASHBOARD_SESSION_IDLE_SECONDS", c->dashboard_session_idle_s, 60, 86400 * 7));
  LUNA_ASSIGN_OR_RETURN(c->dashboard_session_max_s,
                        EnvInt("DASHBOARD_SESSION_MAX_SECONDS", c->dashboard_session_max_s, 60, 86400 * 30));
  LUNA_ASSIGN_OR_RETURN(c->dashboard_secure_cookie, EnvBool("DASHBOARD_SECURE_COOKIE", c->dashboard_secure_cookie));
  return std::shared_ptr<const GatewayConfig>(std::move(c));
}

}  // namespace luna::gateway
