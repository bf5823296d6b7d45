#include "gateway/api/router.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "gateway/api/router_internal.h"
#include "gateway/convert/body_check.h"
#include "gateway/convert/error_mapping.h"
#include "gateway/convert/json_scan.h"
#include "gateway/convert/models_list.h"
#include "gateway/route/exchange.h"
#include "gateway/http/await_callback.h"
#include "gateway/usage/stream_usage.h"
#include "gateway/usage/usage_observer.h"

namespace luna::gateway {

using Clock = std::chrono::steady_clock;

std::string ExtractCredential(const Request& req) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    // Keys are printable ASCII. Anything else cannot be one, and must not reach gRPC: as call
    // metadata it aborts the process, as a proto string it fails the call (503, not 401).
    for (char c : s) {
      if (c < '!' || c > '~') return std::string(kUnusableCredential);
    }
    return std::string(s);
  };
  if (auto it = req.find("x-api-key"); it != req.end() && !it->value().empty()) {
    return trim(std::string_view(it->value().data(), it->value().size()));
  }
  if (auto it = req.find(http::field::authorization); it != req.end()) {
    std::string_view v(it->value().data(), it->value().size());
    if (v.size() > 7 && beast::iequals(v.substr(0, 7), "Bearer ")) return trim(v.substr(7));
  }
  return {};
}

Awaitable<bool> WriteError(beast::tcp_stream& stream, const Request& req, Router::Outcome& out, int status,
                           std::string_view message, bool keep_alive,
                           HeaderList extra_headers) {
  out.status = status;
  if (out.note.empty()) out.note = std::string(message);
  if (!out.request_id.empty()) extra_headers.emplace_back("x-request-id", out.request_id);
  bool ok = co_await WriteResponse(stream, req, status, ErrorBody(out.flavor, status, message),
                                   keep_alive && req.keep_alive(), "application/json", extra_headers);
  co_return ok && keep_alive && req.keep_alive();
}

Awaitable<bool> WriteLimitError(beast::tcp_stream& stream, const Request& req, Router::Outcome& out,
                                const LimitDecision& decision, bool keep_alive) {
  std::string message = LimitMessage(decision);
  HeaderList headers = OneHeader("retry-after", std::to_string(std::max<int64_t>(1, (decision.retry_after_ms + 999) / 1000)));
  co_return co_await WriteError(stream, req, out, 429, message, keep_alive, std::move(headers));
}

namespace {

// `text` with every "sk-…" key in it cut to its display prefix ("sk-" and 6 more characters), for log
// lines: an admin may name a key by the full key in a path (/admin/keys/sk-…/disable).
std::string MaskKeys(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (true) {
    size_t at = text.find("sk-", i);
    if (at == std::string_view::npos) break;
    size_t end = at + 3;
    auto key_char = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
             c == '%';
    };
    while (end < text.size() && key_char(text[end])) ++end;
    out.append(text.substr(i, std::min(end, at + 9) - i));
    if (end > at + 9) out.append("…");
    i = end;
  }
  out.append(text.substr(i));
  return out;
}

int64_t UnixMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
int64_t MonoMs(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string_view PathOf(const Request& req) {
  std::string_view t(req.target().data(), req.target().size());
  return t.substr(0, t.find('?'));
}

bool IsHopByHopRequestHeader(const http::fields::value_type& f) {
  switch (f.name()) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_authorization:
    case http::field::proxy_authenticate:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::expect:
    case http::field::host:
    case http::field::authorization:  // the client's credential never goes upstream
      return true;
    default:
      return beast::iequals(f.name_string(), "x-api-key") || beast::iequals(f.name_string(), "proxy-connection");
  }
}

// Rewrites the client's request for the upstream in place: target under the upstream's base path,
// hop-by-hop headers and the client's credential removed, the upstream's own credential added.
// Safe to repeat for another target (failover): every header it sets it first removes.
void PrepareUpstreamRequest(Request& req, const UpstreamTarget& target, std::string_view path_and_query) {
  // Headers named in Connection are hop-by-hop too.
  std::vector<std::string> listed;
  if (auto c = req.find(http::field::connection); c != req.end()) {
    std::string_view v(c->value().data(), c->value().size());
    size_t pos = 0;
    while (pos <= v.size()) {
      size_t comma = v.find(',', pos);
      std::string_view tok = v.substr(pos, comma == std::string_view::npos ? v.npos : comma - pos);
      while (!tok.empty() && tok.front() == ' ') tok.remove_prefix(1);
      while (!tok.empty() && tok.back() == ' ') tok.remove_suffix(1);
      if (!tok.empty()) listed.emplace_back(tok);
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
  }
  for (const auto& name : listed) req.erase(name);
  for (auto it = req.begin(); it != req.end();) {
    if (IsHopByHopRequestHeader(*it)) {
      it = req.erase(it);
    } else {
      ++it;
    }
  }
  const Url& url = target.url;
  req.set(http::field::host, url.HostHeader());
  req.target(url.base_path + std::string(path_and_query));
  if (!target.api_key.empty()) {
    bool x_api_key = target.auth_style == UpstreamAuthStyle::kXApiKey ||
                     (target.auth_style == UpstreamAuthStyle::kAuto &&
                      path_and_query.rfind("/v1/messages", 0) == 0);
    if (x_api_key) {
      req.set("x-api-key", target.api_key);
    } else {
      req.set(http::field::authorization, "Bearer " + target.api_key);
    }
  }
}

// The model endpoints read the answer (usage, conversion): ask for it uncompressed.
void PrepareModelCallHeaders(Request& req, const UpstreamTarget& target) {
  req.erase(http::field::accept_encoding);
  if (target.format == WireFormat::kAnthropic && req.find("anthropic-version") == req.end()) {
    req.set("anthropic-version", "2023-06-01");
  }
}

// A client's x-request-id is kept if it is short, printable ASCII without spaces; otherwise the
// gateway makes one.
bool UsableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

int64_t UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

Router::Router(RouterDeps deps)
    : deps_(std::move(deps)),
      started_(Clock::now()),
      started_wall_(std::chrono::system_clock::now()),
      request_id_prefix_("req_" + RandomHex(4) + "-"),
      sessions_(DashboardSessions::Settings{std::chrono::seconds(deps_.config->dashboard_session_idle_s),
                                            std::chrono::seconds(deps_.config->dashboard_session_max_s)}) {
  const auto& cfg = *deps_.config;
  default_target_.url = deps_.upstream_url;
  default_target_.format = cfg.upstream_format;
  default_target_.api_key = cfg.upstream_api_key;
  default_target_.auth_style = cfg.upstream_auth_style;
}

Awaitable<bool> Router::Handle(Request& req, beast::tcp_stream& stream) {
  auto t0 = Clock::now();
  deps_.stats->requests.fetch_add(1, std::memory_order_relaxed);
  Outcome out;
  std::string method(req.method_string());
  std::string path(PathOf(req));
  out.flavor = FlavorForPath(path);
  if (auto it = req.find("x-request-id");
      it != req.end() && UsableRequestId(std::string_view(it->value().data(), it->value().size()))) {
    out.request_id = std::string(it->value());
  } else {
    char hex[17];
    auto [end, ec] = std::to_chars(hex, hex + sizeof(hex), next_request_id_.fetch_add(1, std::memory_order_relaxed) + 1, 16);
    (void)ec;
    out.request_id = request_id_prefix_ + std::string(hex, end);
  }
  bool keep = true;
  if (HasDotSegment(path)) {
    keep = co_await WriteError(stream, req, out, 400, "Bad request: the path may not have \".\" or \"..\" segments");
  } else if (path.rfind("/v1/", 0) == 0) {
    keep = co_await HandleClientApi(req, stream, out);
  } else if (path == "/admin" || path.rfind("/admin/", 0) == 0) {
    keep = co_await HandleAdmin(req, stream, out);
  } else if (path == "/dashboard" || path.rfind("/dashboard/", 0) == 0) {
    keep = co_await HandleDashboard(req, stream, out);
  } else if (path == "/health") {
    keep = co_await HandleHealth(req, stream, out);
  } else if (path == "/metrics") {
    keep = co_await HandleMetrics(req, stream, out);
  } else {
    keep = co_await WriteError(stream, req, out, 404, "Not found: " + path);
  }
  // The answer is out: now the usage writer may be woken for what this request staged.
  if (deps_.usage != nullptr) deps_.usage->WakeWriterIfDue();
  auto total_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
  metrics_.ObserveRequest(GatewayMetrics::RouteLabel(path), out.status, out.model, out.tier, total_us / 1e6,
                          out.upstream_us >= 0 ? out.upstream_us / 1e6 : -1.0,
                          out.upstream_us >= 0 && !out.stream ? (total_us - out.upstream_us) / 1e6 : -1.0);
  if (deps_.config->access_log) {
    spdlog::info("{} {} {} rid={} key={} model={} upstream_ms={:.3f} total_ms={:.3f}{}{}", method, MaskKeys(path),
                 out.status,
                 out.request_id,
                 out.key_id.empty() ? "-" : out.key_id, out.model.empty() ? "-" : out.model,
                 out.upstream_us < 0 ? 0.0 : out.upstream_us / 1000.0, total_us / 1000.0,
                 out.note.empty() ? "" : " note=", MaskKeys(out.note));
  }
  co_return keep;
}

Awaitable<bool> Router::HandleHealth(Request& req, beast::tcp_stream& stream, Outcome& out) {
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    co_return co_await WriteError(stream, req, out, 405, "Method not allowed: use GET /health", true,
                                  OneHeader("allow", "GET, HEAD"));
  }
  const auto& cfg = *deps_.config;
  bool synced = deps_.auth->synced();
  bool ever = deps_.auth->ever_synced();
  bool serving = deps_.auth->serving();
  // The gateway can serve while authsvc is reachable, or — under serve_known — from a key table it
  // has loaded before.
  bool can_serve = !deps_.stats->stopping.load() &&
                   ((serving && synced) || (cfg.auth_outage_policy == AuthOutagePolicy::kServeKnown && ever));
  std::string status = !can_serve ? "unavailable" : (serving && synced) ? "ok" : "degraded";
  nlohmann::json j = {
      {"status", status},
      {"gateway",
       {{"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count()},
        {"open_connections", deps_.stats->open_connections.load()},
        {"requests", deps_.stats->requests.load()},
        {"stopping", deps_.stats->stopping.load()}}},
      {"services",
       {{"authsvc",
         {{"address", cfg.authsvc_addr},
          {"serving", serving},
          {"watch", synced ? "synced" : "disconnected"},
          {"keys", deps_.keys->size()},
          {"outage_policy", cfg.auth_outage_policy == AuthOutagePolicy::kServeKnown ? "serve_known" : "fail_closed"}}}}},
      {"upstream", {{"url", cfg.upstream_url}}},
  };
  if (deps_.fallback != nullptr) {
    auto fs = deps_.fallback->stats();
    auto routes = deps_.fallback->routes();
    j["services"]["fallbacksvc"] = {{"address", cfg.fallbacksvc_addr},
                                    {"watch", deps_.fallback->synced() ? "synced" : "disconnected"},
                                    {"table_version", fs.table_version},
                                    {"fallback", routes == nullptr ? "no table yet" : routes->enabled ? "on" : "off"},
                                    {"tiers", routes == nullptr ? 0 : routes->tiers.size()},
                                    {"outcomes_reported", fs.reports_sent},
                                    {"outcomes_dropped", fs.reports_dropped}};
  }
  if (deps_.usage != nullptr) {
    auto us = deps_.usage->stats();
    j["services"]["usagesvc"] = {{"address", cfg.usagesvc_addr},
                                 {"connected", us.connected},
                                 {"events_pending", us.pending},
                                 {"events_acknowledged", us.acknowledged},
                                 {"events_rejected", us.rejected},
                                 {"answers_waited_for_spool", us.waited},
                                 {"spend_stream", deps_.spend == nullptr ? "off"
                                                  : deps_.spend->connected() ? "synced"
                                                                             : "disconnected"},
                                 {"spend_keys", deps_.spend == nullptr ? 0 : deps_.spend->keys()}};
  }
  out.status = can_serve ? 200 : 503;
  co_return co_await WriteResponse(stream, req, out.status, j.dump(), req.keep_alive(), "application/json",
                                   OneHeader("x-request-id", out.request_id));
}

Awaitable<bool> Router::HandleMetrics(Request& req, beast::tcp_stream& stream, Outcome& out) {
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    co_return co_await WriteError(stream, req, out, 405, "Method not allowed: use GET /metrics", true,
                                  OneHeader("allow", "GET, HEAD"));
  }
  MetricsGauges g;
  g.open_connections = deps_.stats->open_connections.load();
  g.key_table_size = static_cast<int64_t>(deps_.keys->size());
  g.authsvc_synced = deps_.auth->synced();
  if (deps_.usage != nullptr) {
    auto us = deps_.usage->stats();
    g.usage_enabled = true;
    g.usage_events_pending = us.pending;
    g.usage_events_acknowledged = us.acknowledged;
    g.usage_events_rejected = us.rejected;
    g.usage_answers_waited = us.waited;
  }
  if (deps_.fallback != nullptr) {
    auto fs = deps_.fallback->stats();
    g.fallback_enabled = true;
    g.fallbacksvc_synced = deps_.fallback->synced();
    g.route_table_version = fs.table_version;
    g.outcomes_reported = fs.reports_sent;
    g.outcomes_dropped = fs.reports_dropped;
  }
  out.status = 200;
  co_return co_await WriteResponse(stream, req, 200, metrics_.Render(g), req.keep_alive(),
                                   "text/plain; version=0.0.4; charset=utf-8", OneHeader("x-request-id", out.request_id));
}

Awaitable<bool> Router::HandleClientApi(Request& req, beast::tcp_stream& stream, Outcome& out) {
  const auto& cfg = *deps_.config;
  const auto t0 = Clock::now();
  const auto wall0 = std::chrono::system_clock::now();
  std::string_view path = PathOf(req);
  if ((path == "/v1/messages" || path == "/v1/chat/completions") && req.method() != http::verb::post) {
    co_return co_await WriteError(stream, req, out, 405,
                                  "Method not allowed: " + std::string(path) + " accepts POST only", true,
                                  OneHeader("allow", "POST"));
  }

  // --- authentication: local table first, one ValidateKey for a key it does not know ---
  std::string key = ExtractCredential(req);
  if (key.empty()) {
    co_return co_await WriteError(stream, req, out, 401,
                                  "Missing API key: send it as x-api-key or Authorization: Bearer");
  }
  if (cfg.auth_outage_policy == AuthOutagePolicy::kFailClosed && !deps_.auth->synced()) {
    co_return co_await WriteError(stream, req, out, 503,
                                  "Authentication service unavailable; try again shortly", true,
                                  OneHeader("retry-after", "1"));
  }
  const Sha256Digest digest = Sha256(key);
  auto entry = deps_.keys->Find(digest);
  if (!entry) {
    auto now = KeyTable::Clock::now();
    if (deps_.keys->IsNegative(digest, now)) co_return co_await WriteError(stream, req, out, 401, "Invalid API key");
    auto res = co_await AwaitCallback<ValidateOutcome>(
        [&](std::function<void(ValidateOutcome)> done) { deps_.auth->ValidateKey(key, digest, done); });
    switch (res.kind) {
      case ValidateOutcome::Kind::kFound:
        entry = res.entry;
        break;
      case ValidateOutcome::Kind::kNotFound:
        deps_.keys->AddNegative(digest, KeyTable::Clock::now() + std::chrono::milliseconds(cfg.negative_cache_ms));
        co_return co_await WriteError(stream, req, out, 401, "Invalid API key");
      case ValidateOutcome::Kind::kUnavailable:
        out.note = "authsvc unavailable: " + res.error;
        co_return co_await WriteError(stream, req, out, 503,
                                      "Authentication service unavailable; try again shortly", true,
                                      OneHeader("retry-after", "1"));
    }
  }
  out.key_id = entry->id;
  if (!entry->enabled) co_return co_await WriteError(stream, req, out, 403, "API key disabled");
  if (entry->policy) {
    // The key's policy: expiry, then its request rate (every /v1 call counts); the model, tokens and
    // budgets are checked by HandleModelCall.
    out.policy = entry->policy;
    out.limiter = entry->limiter;
    const KeyPolicy& policy = *entry->policy;
    if (policy.expires_unix_ms > 0 && UnixMs(wall0) >= policy.expires_unix_ms) {
      std::string message = "API key expired at " + FormatRfc3339Ms(policy.expires_unix_ms);
      co_return co_await WriteError(stream, req, out, 403, message);
    }
    if (out.limiter) {
      LimitDecision d = out.limiter->TakeRequest(policy, MonoMs(t0));
      if (!d.ok()) co_return co_await WriteLimitError(stream, req, out, d);
    }
  }

  if (path == "/v1/messages") co_return co_await HandleModelCall(req, stream, out, WireFormat::kAnthropic, t0, wall0);
  if (path == "/v1/chat/completions") {
    co_return co_await HandleModelCall(req, stream, out, WireFormat::kOpenAI, t0, wall0);
  }
  // The configured models (MODELS, then the fallback chain's), in the shape of the API the client
  // speaks (an Anthropic SDK sends anthropic-version).
  std::vector<std::string> models;
  if (path == "/v1/models") {
    models = cfg.models;
    auto routes = deps_.fallback != nullptr ? deps_.fallback->routes() : nullptr;
    if (routes && routes->enabled) {
      for (const auto& tier : routes->tiers) {
        if (std::find(models.begin(), models.end(), tier.target.model) == models.end()) {
          models.push_back(tier.target.model);
        }
      }
    }
  }
  // A key limited to some models sees only those (and never the upstream's own list).
  const bool limited = out.policy && !out.policy->models.empty();
  if (limited) std::erase_if(models, [&](const std::string& m) { return !ModelAllowed(out.policy->models, m); });
  if (path == "/v1/models" && (!models.empty() || limited) &&
      (req.method() == http::verb::get || req.method() == http::verb::head)) {
    bool anthropic = req.find("anthropic-version") != req.end();
    std::string list = anthropic ? AnthropicModelList(models, Rfc3339Utc(UnixSeconds(started_wall_)))
                                 : OpenAIModelList(models, UnixSeconds(started_wall_));
    out.status = 200;
    co_return co_await WriteResponse(stream, req, 200, std::move(list), req.keep_alive(), "application/json",
                                     OneHeader("x-request-id", out.request_id));
  }

  // Any other /v1/* request goes to the default upstream as it is.
  bool keep_alive = req.keep_alive() && !deps_.stats->stopping.load();
  std::string path_and_query(req.target().data(), req.target().size());
  PrepareUpstreamRequest(req, default_target_, path_and_query);
  req.set("x-request-id", out.request_id);
  HeaderList id_header = OneHeader("x-request-id", out.request_id);
  RelayOptions passthrough;
  passthrough.extra_headers = &id_header;
  RelayResult r = co_await deps_.upstream->Forward(default_target_.url, req, stream, keep_alive, passthrough);
  out.upstream_us = r.upstream_first_byte_us;
  switch (r.outcome) {
    case RelayResult::Outcome::kRelayed:
    case RelayResult::Outcome::kHeld:  // (not asked for here)
      out.status = r.status;
      co_return r.client_keep_alive;
    case RelayResult::Outcome::kConnectFailed:
      out.note = r.error;
      co_return co_await WriteError(stream, req, out, 502, "Upstream unreachable: " + r.error, keep_alive);
    case RelayResult::Outcome::kTimeout:
      out.note = r.error;
      co_return co_await WriteError(stream, req, out, 504, "Upstream timed out", keep_alive);
    case RelayResult::Outcome::kUpstreamCut:
      out.status = r.status;
      out.note = r.error;
      co_return false;
    case RelayResult::Outcome::kClientGone:
      out.status = 499;
      out.note = r.error;
      co_return false;
  }
  co_return false;
}

Awaitable<bool> Router::HandleModelCall(Request& req, beast::tcp_stream& stream, Outcome& out, WireFormat api,
                                        std::chrono::steady_clock::time_point t0,
                                        std::chrono::system_clock::time_point wall0) {
  ClientCall call;
  call.api = api;
  std::string client_body = std::move(req.body());
  call.body = client_body;
  {
    // One pass over the (often 60 KB) body: a body the gateway cannot read is refused here, before
    // it costs an upstream call; else it yields model and stream.
    ModelCallFields fields;
    if (auto bad = CheckModelCallBody(call.body, &fields)) {
      co_return co_await WriteError(stream, req, out, 400, *bad);
    }
    if (auto m = StringAt(call.body, *fields.model)) call.model = std::string(*m);
    if (fields.stream) call.stream = BoolAt(call.body, *fields.stream).value_or(false);
  }
  out.model = call.model;
  out.stream = call.stream;
  std::string query;
  {
    std::string_view t(req.target().data(), req.target().size());
    if (auto q = t.find('?'); q != std::string_view::npos) query = std::string(t.substr(q));
  }
  const bool keep_alive = req.keep_alive() && !deps_.stats->stopping.load();
  const bool metering = deps_.usage != nullptr;
  const int64_t now_unix = UnixSeconds(wall0);
  const int64_t now_ms = UnixMs(wall0);

  // --- the key's policy: the model it may use, its tokens per minute and its budgets ---
  if (out.policy) {
    const KeyPolicy& policy = *out.policy;
    if (!ModelAllowed(policy.models, call.model)) {
      std::string message = "This API key may not use model ";
      message.append(call.model.empty() ? std::string("(none given)") : "'" + call.model + "'");
      message.append("; it may use: ");
      for (size_t i = 0; i < policy.models.size(); ++i) message.append(i == 0 ? "" : ", ").append(policy.models[i]);
      co_return co_await WriteError(stream, req, out, 403, message, keep_alive);
    }
    if (out.limiter) {
      LimitDecision d = out.limiter->CheckTokens(policy, deps_.spend, now_ms, MonoMs(Clock::now()));
      if (!d.ok()) co_return co_await WriteLimitError(stream, req, out, d, keep_alive);
    }
  }

  // --- route: the targets to try, in order, from the table fallbacksvc pushed ---
  std::shared_ptr<const CompiledRoutes> routes = deps_.fallback != nullptr ? deps_.fallback->routes() : nullptr;
  RoutePlan plan_scratch;
  const RoutePlan* chosen = ChooseRoute(
      routes.get(), default_target_, call.model, [&] { return ReadRequestNeeds(api, call.body); }, now_ms,
      &plan_scratch);
  if (out.policy && !out.policy->models.empty()) {
    // Fallback never takes a key to a model it may not use.
    if (chosen != &plan_scratch) plan_scratch = *chosen;
    chosen = &plan_scratch;
    std::erase_if(plan_scratch.targets, [&](const UpstreamTarget* t) {
      const std::string& m = t->model.empty() ? call.model : t->model;
      if (ModelAllowed(out.policy->models, m)) return false;
      std::string why = t->tier.empty() ? std::string("upstream") : "tier " + t->tier;
      plan_scratch.skipped.push_back(why.append(": model ").append(m).append(" not allowed for this key"));
      return true;
    });
  }
  const RoutePlan& plan = *chosen;

  // One usage event per client request, for the attempt that answered it. Built in this thread's
  // event, which the shipper serializes before anything else can use it (no suspension between):
  // its strings keep their buffers, so an event costs no allocation.
  auto make_event = [&](const UpstreamTarget& target, int status, bool partial, int64_t upstream_us,
                        const UsageCounts* usage, std::string_view served_model,
                        bool answered = true) -> const luna::usage::v1::UsageEvent& {
    thread_local luna::usage::v1::UsageEvent ev;
    ev.Clear();
    const uint64_t seq = deps_.usage->NextSequence();
    deps_.usage->EventIdInto(seq, ev.mutable_event_id());
    ev.mutable_key_id()->assign(out.key_id);
    ev.set_time_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(wall0.time_since_epoch()).count());
    ev.mutable_requested_model()->assign(call.model);
    if (usage != nullptr) {
      ev.set_input_tokens(usage->input_tokens);
      ev.set_output_tokens(usage->output_tokens);
      ev.set_cache_read_tokens(usage->cache_read_tokens);
      ev.set_cache_write_tokens(usage->cache_write_tokens);
    }
    if (answered) {
      ev.mutable_served_model()->assign(!served_model.empty()   ? served_model
                                        : !target.model.empty() ? std::string_view(target.model)
                                                                : std::string_view(call.model));
    }
    ev.mutable_tier()->assign(target.tier);
    ev.set_status(status);
    ev.set_upstream_latency_us(upstream_us);
    ev.set_total_latency_us(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
    ev.set_partial(partial);
    ev.mutable_api()->assign(WireFormatName(call.api));
    ev.set_stream(call.stream);
    ev.mutable_gateway_id()->assign(deps_.usage->id_prefix());
    ev.mutable_request_id()->assign(out.request_id);
    if (out.limiter != nullptr && usage != nullptr) {
      out.limiter->Charge(*out.policy, usage->input_tokens + usage->output_tokens,
                          usage->cache_read_tokens + usage->cache_write_tokens, static_cast<int64_t>(seq),
                          ev.time_unix_ms(), MonoMs(Clock::now()));
    }
    return ev;
  };
  // Makes an event safe from a crash of this process: staged in the spool's ring at once, or else put
  // into the spool and waited for. `ev` is this thread's (make_event): used before any suspension.
  auto spool = [&](const luna::usage::v1::UsageEvent& ev) -> Awaitable<void> {
    if (deps_.usage->SubmitCrashSafe(ev)) co_return;
    std::string payload = ev.SerializeAsString();
    co_await AwaitCallback<bool>([&](std::function<void(bool)> done) {
      deps_.usage->SubmitSerialized(std::move(payload), [done] { done(true); });
    });
  };

  // Every failure so far, for the answer if no target answers.
  std::vector<std::string> failures = plan.skipped;
  bool all_rate_limited = true;  // every attempt failed for a rate limit or spent quota
  int64_t retry_ms = plan.earliest_back_unix_ms > now_ms ? plan.earliest_back_unix_ms - now_ms : 0;
  auto note_failure = [&](const UpstreamTarget& target, AttemptKind kind, int status, int64_t wait_ms) {
    std::string who = target.tier.empty() ? "upstream " + (target.model.empty() ? call.model : target.model)
                                          : "tier " + target.tier;
    failures.push_back(who + ": " + (status != 0 ? std::to_string(status) + " " : "") +
                       std::string(AttemptKindName(kind)));
    all_rate_limited = all_rate_limited && (kind == AttemptKind::kRateLimited || kind == AttemptKind::kQuotaExhausted);
    metrics_.UpstreamFailure(AttemptKindName(kind));
    // Without a hint the target is back after fallbacksvc's first cooldown step.
    int64_t back = wait_ms > 0 ? wait_ms : 30000;
    retry_ms = retry_ms == 0 ? back : std::min(retry_ms, back);
  };
  auto report = [&](const UpstreamTarget& target, AttemptKind kind, int status, int64_t wait_ms,
                    std::string message) {
    // Without a fallback chain in force fallbacksvc has nothing to do with outcomes; a success only
    // matters for a tier fallbacksvc has failing (it ends the cooldown).
    if (deps_.fallback == nullptr || !routes || !routes->enabled) return;
    if (kind == AttemptKind::kOk && !target.report_success) return;
    AttemptReport rep;
    rep.tier = target.tier;
    rep.provider = target.provider;
    rep.model = target.model.empty() ? call.model : target.model;
    rep.status = status;
    rep.kind = kind;
    rep.retry_after_ms = wait_ms;
    rep.message = std::move(message);
    rep.time_unix_ms = now_ms;
    deps_.fallback->Report(std::move(rep));
  };
  // No target answered (or none could be tried): 429 if they are all rate-limited or out of quota,
  // else 503, naming every target and why, with retry-after for the soonest one back.
  auto write_exhausted = [&](const UpstreamTarget* last_target) -> Awaitable<bool> {
    int status = all_rate_limited && !failures.empty() && !plan.targets.empty() ? 429 : 503;
    std::string message = "No upstream could answer for model " + (call.model.empty() ? std::string("?") : call.model);
    for (size_t i = 0; i < failures.size(); ++i) message += (i == 0 ? ": " : "; ") + failures[i];
    int64_t retry_s = std::max<int64_t>(1, (retry_ms + 999) / 1000);
    if (metering) {
      deps_.usage->Submit(make_event(last_target != nullptr ? *last_target : default_target_, status, false, 0,
                                     nullptr, {}, false));
    }
    out.note = message;
    HeaderList headers = OneHeader("retry-after", std::to_string(retry_s));
    co_return co_await WriteError(stream, req, out, status, message, keep_alive, headers);
  };
  if (plan.targets.empty()) co_return co_await write_exhausted(nullptr);

  bool body_lent = false;  // the client's body is in req.body() (the relay leaves it intact)
  for (size_t attempt_no = 0; attempt_no < plan.targets.size(); ++attempt_no) {
    if (body_lent) {
      client_body = std::move(req.body());
      call.body = client_body;
      body_lent = false;
    }
    const UpstreamTarget& target = *plan.targets[attempt_no];
    const bool last = attempt_no + 1 == plan.targets.size();
    const bool tried_before = attempt_no > 0;
    auto prepared = PrepareAttempt(call, target);
    if (!prepared.ok()) {
      // The request cannot be put into the target's API: the client's request is at fault.
      std::string message(prepared.status().message());
      if (metering) deps_.usage->Submit(make_event(target, 400, false, 0, nullptr, {}, false));
      co_return co_await WriteError(stream, req, out, 400, message, keep_alive);
    }
    if (!prepared->warnings.empty()) out.note = "conversion: " + prepared->warnings.front();
    if (prepared->body_unchanged) {
      // The client's bytes go as they are, moved (not copied) into the upstream request; they are
      // taken back below if another attempt follows.
      req.body() = std::move(client_body);
      call.body = req.body();
      body_lent = true;
    } else {
      req.body() = std::move(prepared->body);
    }
    PrepareUpstreamRequest(req, target, std::string(ApiPath(target.format)) + query);
    PrepareModelCallHeaders(req, target);
    req.set("x-request-id", out.request_id);

    std::string message_id;
    if (prepared->converting && call.stream && call.api == WireFormat::kAnthropic) message_id = "msg_" + RandomHex(12);
    std::unique_ptr<UsageObserver> observer = MakeAnswerObserver(call, *prepared, target, message_id, now_unix);
    // Errors, and non-streaming answers that need converting, are held: read whole, then answered.
    const bool hold_ok = prepared->converting && !call.stream;
    std::function<bool(int)> commit = [hold_ok](int status) { return status < 400 && !hold_ok; };
    // A finished answer's usage goes into the spool before the client sees the answer's end, so a
    // crash right after can never lose the usage of an answer the client got whole.
    bool usage_recorded = false;
    std::function<Awaitable<void>()> before_complete;
    if (metering) {
      before_complete = [&]() -> Awaitable<void> {
        const UsageMeter* m = observer->meter();
        bool partial = observer->status() / 100 == 2 && m != nullptr && !m->complete();
        usage_recorded = true;
        co_await spool(make_event(target, observer->status(), partial, 0, m != nullptr ? &m->usage() : nullptr,
                                  m != nullptr ? std::string_view(m->served_model()) : std::string_view()));
      };
    }
    // Which model and tier answer, and why, for the client.
    HeaderList route_headers;
    route_headers.emplace_back("x-request-id", out.request_id);
    route_headers.emplace_back("x-luna-model", target.model.empty() ? call.model : target.model);
    if (!target.tier.empty()) route_headers.emplace_back("x-luna-tier", target.tier);
    if (tried_before) {
      route_headers.emplace_back("x-luna-fallback", "after " + failures.back());
    } else if (!plan.reason.empty()) {
      route_headers.emplace_back("x-luna-fallback", plan.reason);
    }
    RelayOptions options;
    options.observer = observer.get();
    options.before_complete = metering ? &before_complete : nullptr;
    options.commit = &commit;
    options.extra_headers = &route_headers;
    options.first_byte_timeout_s = last ? 0 : deps_.config->attempt_timeout_s;
    RelayResult r = co_await deps_.upstream->Forward(target.url, req, stream, keep_alive, options);
    out.upstream_us = r.upstream_first_byte_us;

    switch (r.outcome) {
      case RelayResult::Outcome::kHeld: {
        AttemptKind kind = ClassifyAnswer(r.status, r.held_body);
        int64_t wait_ms = RetryAfterMs(r.held_headers, now_ms);
        if (kind != AttemptKind::kOk) {
          report(target, kind, r.status, wait_ms, ErrorMessageFromBody(r.status, r.held_body));
          note_failure(target, kind, r.status, wait_ms);
          // Nothing has gone to the client yet: the next target may answer.
          if (!last) continue;
          if (tried_before || !plan.skipped.empty()) co_return co_await write_exhausted(&target);
        } else {
          report(target, kind, r.status, 0, {});
        }
        out.tier = target.tier;
        if (tried_before) metrics_.FallbackTaken(target.tier);
        HeldAnswer held{r.status, r.held_body, r.held_content_type, &r.held_headers};
        ClientAnswer answer = RenderHeldAnswer(call, *prepared, target, held, now_unix);
        for (auto& h : route_headers) answer.headers.push_back(std::move(h));
        if (metering) {
          co_await spool(make_event(target, answer.status, false, r.upstream_first_byte_us,
                                    answer.usage_known ? &answer.usage : nullptr, answer.served_model));
        }
        out.status = answer.status;
        if (answer.status >= 400 && out.note.empty()) out.note = "upstream answered " + std::to_string(r.status);
        bool ok = co_await WriteResponse(stream, req, answer.status, std::move(answer.body), keep_alive,
                                         answer.content_type, answer.headers);
        co_return ok && keep_alive;
      }
      case RelayResult::Outcome::kConnectFailed:
      case RelayResult::Outcome::kTimeout: {
        bool timeout = r.outcome == RelayResult::Outcome::kTimeout;
        AttemptKind kind = timeout ? AttemptKind::kTimeout : AttemptKind::kConnectFailed;
        report(target, kind, 0, 0, r.error);
        note_failure(target, kind, 0, 0);
        // Nothing has gone to the client: the next target may still answer.
        if (!last) continue;
        if (tried_before || !plan.skipped.empty()) co_return co_await write_exhausted(&target);
        int status = timeout ? 504 : 502;
        if (metering) deps_.usage->Submit(make_event(target, status, timeout, r.upstream_first_byte_us, nullptr, {}, false));
        out.note = r.error;
        // (A named local: GCC 12 destroys a temporary from a ?: inside co_await twice.)
        std::string message = timeout ? std::string("Upstream timed out") : "Upstream unreachable: " + r.error;
        co_return co_await WriteError(stream, req, out, status, message, keep_alive);
      }
      case RelayResult::Outcome::kRelayed:
      case RelayResult::Outcome::kUpstreamCut:
      case RelayResult::Outcome::kClientGone: {
        int status = r.status;
        bool partial = false;
        out.tier = target.tier;
        if (tried_before) metrics_.FallbackTaken(target.tier);
        if (r.outcome == RelayResult::Outcome::kRelayed) {
          partial = r.status / 100 == 2 && observer->meter() != nullptr && !observer->meter()->complete();
          report(target, AttemptKind::kOk, r.status, 0, {});
        } else {
          if (r.outcome == RelayResult::Outcome::kUpstreamCut) {
            report(target, AttemptKind::kServerError, r.status, 0, r.error);
          }
          partial = true;
          if (r.outcome == RelayResult::Outcome::kClientGone) status = 499;
          out.note = r.error;
        }
        if (metering && !usage_recorded) {
          const UsageMeter* m = observer->meter();
          deps_.usage->Submit(make_event(target, status, partial, r.upstream_first_byte_us,
                                         m != nullptr ? &m->usage() : nullptr,
                                         m != nullptr ? std::string_view(m->served_model()) : std::string_view()));
        }
        out.status = status;
        co_return r.outcome == RelayResult::Outcome::kRelayed && r.client_keep_alive;
      }
    }
  }
  co_return false;
}

}  // namespace luna::gateway
