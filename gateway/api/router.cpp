#include "gateway/api/router.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "gateway/api/router_internal.h"
#include "gateway/convert/json_scan.h"
#include "gateway/http/await_callback.h"
#include "gateway/usage/stream_usage.h"
#include "gateway/usage/usage_observer.h"

namespace luna::gateway {

using Clock = std::chrono::steady_clock;

std::string ExtractCredential(const Request& req) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
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
  bool ok = co_await WriteResponse(stream, req.version(), status, ErrorBody(out.flavor, status, message),
                                   keep_alive && req.keep_alive(), "application/json", extra_headers);
  co_return ok && keep_alive && req.keep_alive();
}

namespace {

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
void PrepareUpstreamRequest(Request& req, const Url& url, const GatewayConfig& cfg) {
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
  req.set(http::field::host, url.HostHeader());
  if (!url.base_path.empty()) {
    std::string t = url.base_path + std::string(req.target().data(), req.target().size());
    req.target(t);
  }
  if (!cfg.upstream_api_key.empty()) {
    bool x_api_key = cfg.upstream_auth_style == UpstreamAuthStyle::kXApiKey ||
                     (cfg.upstream_auth_style == UpstreamAuthStyle::kAuto && PathOf(req).rfind("/v1/messages", 0) == 0);
    if (x_api_key) {
      req.set("x-api-key", cfg.upstream_api_key);
    } else {
      req.set(http::field::authorization, "Bearer " + cfg.upstream_api_key);
    }
  }
}

}  // namespace

Router::Router(RouterDeps deps) : deps_(std::move(deps)), started_(Clock::now()) {}

Awaitable<bool> Router::Handle(Request& req, beast::tcp_stream& stream) {
  auto t0 = Clock::now();
  deps_.stats->requests.fetch_add(1, std::memory_order_relaxed);
  Outcome out;
  std::string method(req.method_string());
  std::string path(PathOf(req));
  out.flavor = FlavorForPath(path);
  bool keep = true;
  if (path.rfind("/v1/", 0) == 0) {
    keep = co_await HandleClientApi(req, stream, out);
  } else if (path == "/admin" || path.rfind("/admin/", 0) == 0) {
    keep = co_await HandleAdmin(req, stream, out);
  } else if (path == "/health") {
    keep = co_await HandleHealth(req, stream, out);
  } else {
    keep = co_await WriteError(stream, req, out, 404, "Not found: " + path);
  }
  if (deps_.config->access_log) {
    auto total_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
    spdlog::info("{} {} {} key={} model={} upstream_ms={:.3f} total_ms={:.3f}{}{}", method, path, out.status,
                 out.key_id.empty() ? "-" : out.key_id, out.model.empty() ? "-" : out.model,
                 out.upstream_us < 0 ? 0.0 : out.upstream_us / 1000.0, total_us / 1000.0,
                 out.note.empty() ? "" : " note=", out.note);
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
  if (deps_.usage != nullptr) {
    auto us = deps_.usage->stats();
    j["services"]["usagesvc"] = {{"address", cfg.usagesvc_addr},
                                 {"connected", us.connected},
                                 {"events_pending", us.pending},
                                 {"events_acknowledged", us.acknowledged},
                                 {"events_rejected", us.rejected}};
  }
  out.status = can_serve ? 200 : 503;
  co_return co_await WriteResponse(stream, req.version(), out.status, j.dump(), req.keep_alive());
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
  std::string hash = Sha256Hex(key);
  auto entry = deps_.keys->Find(hash);
  if (!entry) {
    auto now = KeyTable::Clock::now();
    if (deps_.keys->IsNegative(hash, now)) co_return co_await WriteError(stream, req, out, 401, "Invalid API key");
    auto res = co_await AwaitCallback<ValidateOutcome>(
        [&](std::function<void(ValidateOutcome)> done) { deps_.auth->ValidateKey(key, hash, done); });
    switch (res.kind) {
      case ValidateOutcome::Kind::kFound:
        entry = res.entry;
        break;
      case ValidateOutcome::Kind::kNotFound:
        deps_.keys->AddNegative(hash, KeyTable::Clock::now() + std::chrono::milliseconds(cfg.negative_cache_ms));
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

  std::string_view body = req.body();
  if (auto model = TopLevelString(body, "model")) out.model = std::string(*model);

  // Usage is metered on the two model endpoints. OpenAI streams are always asked for their usage
  // upstream; the usage chunk is hidden again from clients that did not ask for it.
  std::optional<WireFormat> api;
  if (path == "/v1/messages") api = WireFormat::kAnthropic;
  if (path == "/v1/chat/completions") api = WireFormat::kOpenAI;
  bool streaming = TopLevelBool(body, "stream").value_or(false);
  bool hide_usage_chunk = false;
  if (api == WireFormat::kOpenAI && streaming && deps_.usage != nullptr) {
    hide_usage_chunk = !EnsureIncludeUsage(&req.body());
  }
  std::optional<UsageObserver> observer;
  if (api && deps_.usage != nullptr) observer.emplace(*api, hide_usage_chunk);

  // --- relay ---
  bool keep_alive = req.keep_alive() && !deps_.stats->stopping.load();
  PrepareUpstreamRequest(req, deps_.upstream_url, cfg);
  auto make_event = [&](int status, bool partial, int64_t upstream_us) {
    luna::usage::v1::UsageEvent ev;
    ev.set_event_id(deps_.usage->NextEventId());
    ev.set_key_id(out.key_id);
    ev.set_time_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(wall0.time_since_epoch()).count());
    ev.set_requested_model(out.model);
    if (const UsageMeter* m = observer->meter()) {
      ev.set_served_model(m->served_model().empty() ? out.model : m->served_model());
      ev.set_input_tokens(m->usage().input_tokens);
      ev.set_output_tokens(m->usage().output_tokens);
      ev.set_cache_read_tokens(m->usage().cache_read_tokens);
      ev.set_cache_write_tokens(m->usage().cache_write_tokens);
    }
    ev.set_status(status);
    ev.set_upstream_latency_us(upstream_us);
    ev.set_total_latency_us(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
    ev.set_partial(partial);
    ev.set_api(*api == WireFormat::kAnthropic ? "anthropic" : "openai");
    ev.set_stream(streaming);
    ev.set_gateway_id(deps_.usage->id_prefix());
    return ev;
  };
  // A finished answer's usage goes into the spool before the client sees the answer's end, so a
  // crash right after can never lose the usage of an answer the client got whole.
  bool usage_recorded = false;
  std::function<Awaitable<void>()> before_complete;
  if (observer) {
    before_complete = [&]() -> Awaitable<void> {
      const UsageMeter* m = observer->meter();
      bool partial = observer->status() / 100 == 2 && m != nullptr && !m->complete();
      auto ev = make_event(observer->status(), partial, 0);
      usage_recorded = true;
      co_await AwaitCallback<bool>([&](std::function<void(bool)> done) {
        deps_.usage->Submit(std::move(ev), [done] { done(true); });
      });
    };
  }
  RelayResult r = co_await deps_.upstream->Forward(deps_.upstream_url, req, stream, keep_alive,
                                                   observer ? &*observer : nullptr,
                                                   observer ? &before_complete : nullptr);
  out.upstream_us = r.upstream_first_byte_us;
  if (observer && !usage_recorded) {
    int status = r.status;
    bool partial = false;
    switch (r.outcome) {
      case RelayResult::Outcome::kRelayed:
        partial = r.status / 100 == 2 && observer->meter() != nullptr && !observer->meter()->complete();
        break;
      case RelayResult::Outcome::kConnectFailed: status = 502; break;
      case RelayResult::Outcome::kTimeout: status = 504; partial = true; break;
      case RelayResult::Outcome::kUpstreamCut: partial = true; break;
      case RelayResult::Outcome::kClientGone: status = 499; partial = true; break;
    }
    deps_.usage->Submit(make_event(status, partial, r.upstream_first_byte_us));
  }
  switch (r.outcome) {
    case RelayResult::Outcome::kRelayed:
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

}  // namespace luna::gateway
