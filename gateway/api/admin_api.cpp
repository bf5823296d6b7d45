// The admin HTTP API with the old proxy's shapes, served through the services' admin RPCs. The
// caller's credential is forwarded; the services decide (401 no or unknown credential, 403 a client
// key). Keys come from authsvc, usage figures from usagesvc.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>

#include "gateway/api/router_internal.h"
#include "gateway/clients/grpc_call.h"
#include "gateway/convert/models_list.h"
#include "gateway/http/await_callback.h"

namespace luna::gateway {

namespace authpb = luna::auth::v1;
namespace usagepb = luna::usage::v1;
namespace fbpb = luna::fallback::v1;
using json = nlohmann::json;
using AuthAsync = authpb::AuthService::Stub::async_interface;
using UsageAsync = usagepb::UsageService::Stub::async_interface;
using FallbackAsync = fbpb::FallbackService::Stub::async_interface;

namespace {

// One admin RPC, awaited. A coroutine whose parameters are all references or pointers (see
// await_callback.h on GCC 12).
template <class Iface, class Req, class Resp>
Awaitable<std::pair<grpc::Status, Resp>> Rpc(Iface* async, AsyncMethod<Iface, Req, Resp> method,
                                             const std::string& cred, const Req& req) {
  using R = std::pair<grpc::Status, Resp>;
  if (async == nullptr) co_return R{grpc::Status(grpc::StatusCode::UNAVAILABLE, "switched off in the gateway's configuration"), Resp{}};
  co_return co_await AwaitCallback<R>([&](std::function<void(R)> done) {
    CallWithCredential<Iface, Req, Resp>(async, method, cred, req,
                                         [done](grpc::Status s, Resp r) { done(R{s, std::move(r)}); });
  });
}

int HttpStatusFor(const grpc::Status& st) {
  switch (st.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED: return 401;
    case grpc::StatusCode::PERMISSION_DENIED: return 403;
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::INVALID_ARGUMENT: return 400;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return 409;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNIMPLEMENTED:
      return 503;
    default: return 500;
  }
}

std::string MessageFor(const grpc::Status& st, const char* service) {
  switch (st.error_code()) {
    case grpc::StatusCode::NOT_FOUND: return "Key not found";
    case grpc::StatusCode::PERMISSION_DENIED: return "Admin key required";
    case grpc::StatusCode::UNAUTHENTICATED: return "Invalid admin key";
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNIMPLEMENTED:
      return std::string(service) + " unavailable: " + st.error_message();
    default: return st.error_message();
  }
}

// A key for admins: the old proxy's fields, its policy, and (with budgets) how much of each is left.
json KeyJson(const authpb::KeyInfo& k, const SpendBook* book) {
  json j{{"id", k.id()},           {"key", k.masked()},     {"name", k.name()},
         {"enabled", k.enabled()}, {"created", k.created()}, {"imported", k.imported()}};
  const KeyPolicy policy = KeyPolicyFromProto(k.policy());
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  j["policy"] = KeyPolicyToJson(policy);
  j["expired"] = policy.expires_unix_ms > 0 && now_ms >= policy.expires_unix_ms;
  if (policy.has_budget()) {
    // usagesvc's totals as this gateway last heard them (its own spend of the last moments aside).
    KeyLimiter view(k.id());
    auto [day, month] = view.Budgets(policy, book, now_ms);
    json budgets = json::object();
    for (auto [name, b] : {std::pair{"day", day}, std::pair{"month", month}}) {
      if (b.limit <= 0) continue;
      budgets[name] = {{"limit", b.limit},
                       {"used", b.used},
                       {"remaining", std::max<int64_t>(0, b.limit - b.used)},
                       {"resets_at", FormatRfc3339Ms(b.resets_at_ms)}};
    }
    budgets["source"] = book == nullptr          ? "no usagesvc: not counted"
                        : book->connected()      ? "usagesvc"
                        : book->ever_synced()    ? "usagesvc (disconnected: last known totals)"
                                                 : "usagesvc (not reached yet)";
    j["budgets"] = std::move(budgets);
  }
  return j;
}

std::string PercentDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// Splits "/admin/keys/{key}[/{action}]" into key and action.
bool SplitKeyPath(std::string_view path, std::string* key, std::string* action) {
  constexpr std::string_view kPrefix = "/admin/keys/";
  if (path.rfind(kPrefix, 0) != 0) return false;
  std::string_view rest = path.substr(kPrefix.size());
  auto slash = rest.find('/');
  *key = PercentDecode(rest.substr(0, slash));
  *action = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  return !key->empty();
}

std::map<std::string, std::string> QueryParams(std::string_view target) {
  std::map<std::string, std::string> out;
  auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    out[PercentDecode(kv.substr(0, eq))] = eq == std::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

bool IsDate(const std::string& d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (d[i] < '0' || d[i] > '9') return false;
  }
  return true;
}

json LastUsed(int64_t ms) {
  if (ms <= 0) return nullptr;
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The old proxy's per-model entry: {"total": input+output, "requests"}, plus the new fields.
// (Imported history may know only a model's total, without the input/output split.)
json ModelEntry(const usagepb::UsageTotals& t) {
  return json{{"total", t.input_tokens() + t.output_tokens() + t.total_tokens_only()},
              {"requests", t.requests()},
              {"input", t.input_tokens()},
              {"output", t.output_tokens()},
              {"cache_read", t.cache_read_tokens()},
              {"cache_write", t.cache_write_tokens()},
              {"errors", t.errors()}};
}

void Add(usagepb::UsageTotals* into, const usagepb::UsageTotals& t) {
  into->set_requests(into->requests() + t.requests());
  into->set_errors(into->errors() + t.errors());
  into->set_input_tokens(into->input_tokens() + t.input_tokens());
  into->set_output_tokens(into->output_tokens() + t.output_tokens());
  into->set_cache_read_tokens(into->cache_read_tokens() + t.cache_read_tokens());
  into->set_cache_write_tokens(into->cache_write_tokens() + t.cache_write_tokens());
  into->set_total_tokens_only(into->total_tokens_only() + t.total_tokens_only());
  into->set_last_used_unix_ms(std::max(into->last_used_unix_ms(), t.last_used_unix_ms()));
}

// fallbacksvc's status for operators: every tier's quota ("unlimited" without a quota endpoint,
// "unknown" before the first poll), availability and cooldown, the plans by tier name, the pollers
// and the config in force.
json FallbackJson(const fbpb::FallbackStatus& s, int64_t now_ms) {
  const auto& t = s.table();
  std::map<std::string, std::string> formats;
  for (const auto& p : t.providers()) formats[p.name()] = p.format();
  json tiers = json::array();
  for (const auto& tier : t.tiers()) {
    // The old proxy's shape: remaining as "NN%", "unknown" or "unlimited"; type "antigravity" for the
    // default upstream, else the provider's API.
    json remaining = !tier.quota_polled()              ? json("unlimited")
                     : tier.remaining_fraction() < 0 ? json("unknown")
                                                     : json(std::to_string(std::lround(tier.remaining_fraction() * 100)) + "%");
    std::string type = tier.provider() == "upstream" ? "antigravity" : formats[tier.provider()];
    json cooldown = nullptr;
    if (tier.cooldown_until_unix_ms() > now_ms) {
      cooldown = {{"until_unix_ms", tier.cooldown_until_unix_ms()},
                  {"seconds_left", (tier.cooldown_until_unix_ms() - now_ms + 999) / 1000},
                  {"reason", tier.cooldown_reason()}};
    }
    tiers.push_back({{"name", tier.name()},
                     {"model", tier.model()},
                     {"type", type},
                     {"provider", tier.provider()},
                     {"available", tier.available()},
                     {"remaining", remaining},
                     {"remaining_fraction", tier.quota_polled() && tier.remaining_fraction() >= 0
                                                ? json(tier.remaining_fraction())
                                                : json(nullptr)},
                     {"quota_low", tier.quota_low()},
                     {"cooldown", cooldown},
                     {"consecutive_failures", tier.consecutive_failures()},
                     {"max_tokens_limit", tier.max_tokens_limit()}});
  }
  auto plan_json = [&](const fbpb::RoutePlan& p) {
    json names = json::array();
    for (int i : p.tiers()) {
      if (i >= 0 && i < t.tiers_size()) names.push_back(t.tiers(i).name());
    }
    return json{{"tiers", names}, {"reason", p.reason()}};
  };
  json plans = json::object();
  for (const auto& [model, plan] : t.plans()) plans[model] = plan_json(plan);
  json providers = json::array();
  int64_t last_poll = 0;
  for (const auto& p : s.providers()) {
    last_poll = std::max(last_poll, p.last_poll_unix_ms());
    providers.push_back({{"name", p.name()},
                         {"quota_url", p.quota_url()},
                         {"last_poll_unix_ms", p.last_poll_unix_ms()},
                         {"last_poll_error", p.last_poll_error()}});
  }
  return json{{"enabled", t.enabled()},
              {"min_remaining_fraction", s.min_remaining_fraction()},
              {"health_poll_interval_seconds", s.health_poll_interval_seconds()},
              {"table_version", t.version()},
              {"tiers", tiers},
              {"last_health_poll", last_poll > 0 ? json(Rfc3339Utc(last_poll / 1000)) : json(nullptr)},
              {"plans", plans},
              {"default_plan", plan_json(t.default_plan())},
              {"providers", providers},
              {"config_path", s.config_path()},
              {"config_loaded_unix_ms", s.config_loaded_unix_ms()},
              {"last_reload_error", s.last_reload_error()},
              {"state_file", s.state_file()}};
}

}  // namespace

Awaitable<bool> Router::HandleAdmin(Request& req, beast::tcp_stream& stream, Outcome& out) {
  std::string_view target(req.target().data(), req.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  std::string cred = ExtractCredential(req);
  if (cred.empty()) cred = DashboardCredential(req);  // a signed-in dashboard: session cookie + x-csrf-token
  if (cred.empty()) {
    co_return co_await WriteError(stream, req, out, 401,
                                  "Missing API key: send the admin key as x-api-key or Authorization: Bearer");
  }
  AuthAsync* auth = deps_.auth->async();
  UsageAsync* usage = deps_.usage != nullptr ? deps_.usage->async() : nullptr;
  std::string service = "Key service";
  auto fail = [&](const grpc::Status& st) -> Awaitable<bool> {
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE) out.note = st.error_message();
    co_return co_await WriteError(stream, req, out, HttpStatusFor(st), MessageFor(st, service.c_str()));
  };
  auto ok = [&](json body) -> Awaitable<bool> {
    out.status = 200;
    co_return co_await WriteResponse(stream, req, 200, body.dump(), req.keep_alive(), "application/json",
                                     OneHeader("x-request-id", out.request_id));
  };
  bool get = req.method() == http::verb::get;
  auto params = QueryParams(target);

  // ---- usage: the old proxy's /admin/usage, /admin/usage/daily, /admin/usage/hourly ----
  if (path == "/admin/usage" || path == "/admin/usage/daily" || path == "/admin/usage/hourly") {
    if (!get) co_return co_await WriteError(stream, req, out, 405, "Method not allowed: use GET", true, OneHeader("allow", "GET"));
    usagepb::QueryUsageRequest q;
    for (const char* name : {"date", "from", "to"}) {
      if (params.count(name) && !IsDate(params[name])) {
        co_return co_await WriteError(stream, req, out, 400,
                                      std::string("Query parameter \"") + name + "\" must be a date YYYY-MM-DD");
      }
    }
    if (params.count("date")) {
      q.set_from_date(params["date"]);
      q.set_to_date(params["date"]);
    }
    if (params.count("from")) q.set_from_date(params["from"]);
    if (params.count("to")) q.set_to_date(params["to"]);
    // Keys first: their names label the rows, and this call checks the admin credential.
    authpb::ListKeysRequest lreq;
    auto [lst, keys] = co_await Rpc<AuthAsync, authpb::ListKeysRequest, authpb::ListKeysResponse>(
        auth, &AuthAsync::ListKeys, cred, lreq);
    if (!lst.ok()) co_return co_await fail(lst);
    std::map<std::string, const authpb::KeyInfo*> by_id;
    for (const auto& k : keys.keys()) by_id[k.id()] = &k;
    if (params.count("key")) {
      std::string want = params["key"];
      for (const auto& k : keys.keys()) {
        if (k.id() == want || k.name() == want) q.set_key_id(k.id());
      }
      if (q.key_id().empty()) co_return co_await WriteError(stream, req, out, 404, "Key not found");
    }
    service = "Usage service";
    auto name_of = [&](const std::string& id) {
      auto it = by_id.find(id);
      return it == by_id.end() ? id : it->second->name();
    };
    if (path == "/admin/usage") {
      auto [st, resp] = co_await Rpc<UsageAsync, usagepb::QueryUsageRequest, usagepb::QueryUsageResponse>(
          usage, &UsageAsync::QueryUsage, cred, q);
      if (!st.ok()) co_return co_await fail(st);
      usagepb::UsageTotals t;
      for (const auto& row : resp.rows()) Add(&t, row.totals());
      int64_t active = 0;
      for (const auto& k : keys.keys()) active += k.enabled() ? 1 : 0;
      json answer = {{"total_input_tokens", t.input_tokens()},
                     {"total_output_tokens", t.output_tokens()},
                     {"total_requests", t.requests()},
                     {"total_keys", keys.keys_size()},
                     {"active_keys", active},
                     {"total_cache_read_tokens", t.cache_read_tokens()},
                     {"total_cache_write_tokens", t.cache_write_tokens()},
                     {"total_errors", t.errors()},
                     {"time_zone", resp.time_zone()}};
      co_return co_await ok(std::move(answer));
    }
    bool hourly = path == "/admin/usage/hourly";
    // Two queries: the totals per bucket and key without the model split, and the split by model.
    // usagesvc answers each from the right level of imported history (the old proxy's daily figures
    // need not equal the sum of its per-model ones).
    usagepb::QueryUsageRequest totals_q = q;
    totals_q.set_by_day(!hourly);
    totals_q.set_by_hour(hourly);
    totals_q.set_by_key(true);
    usagepb::QueryUsageRequest models_q = totals_q;
    models_q.set_by_model(true);
    auto [tst, tresp] = co_await Rpc<UsageAsync, usagepb::QueryUsageRequest, usagepb::QueryUsageResponse>(
        usage, &UsageAsync::QueryUsage, cred, totals_q);
    if (!tst.ok()) co_return co_await fail(tst);
    auto [st, resp] = co_await Rpc<UsageAsync, usagepb::QueryUsageRequest, usagepb::QueryUsageResponse>(
        usage, &UsageAsync::QueryUsage, cred, models_q);
    if (!st.ok()) co_return co_await fail(st);
    // bucket -> key -> totals, and bucket -> key -> model -> totals
    std::map<std::string, std::map<std::string, usagepb::UsageTotals>> key_totals;
    for (const auto& row : tresp.rows()) key_totals[hourly ? row.hour() : row.day()][row.key_id()] = row.totals();
    std::map<std::string, std::map<std::string, std::map<std::string, usagepb::UsageTotals>>> buckets;
    for (const auto& row : resp.rows()) {
      buckets[hourly ? row.hour() : row.day()][row.key_id()][row.model()] = row.totals();
    }
    for (const auto& [bucket, per_key] : key_totals) {
      for (const auto& [key_id, t] : per_key) buckets[bucket][key_id];  // buckets with totals only
    }
    json list = json::array();
    for (const auto& [bucket, per_key] : buckets) {
      usagepb::UsageTotals all;
      std::map<std::string, usagepb::UsageTotals> models;
      json tenants = json::object();
      json key_rows = json::array();
      for (const auto& [key_id, per_model] : per_key) {
        const usagepb::UsageTotals& kt = key_totals[bucket][key_id];
        json key_models = json::object();
        for (const auto& [model, t] : per_model) {
          Add(&models[model], t);
          key_models[model] = ModelEntry(t);
        }
        Add(&all, kt);
        std::string name = name_of(key_id);
        tenants[name] = key_models;
        key_rows.push_back({{"name", name},
                            {"key_id", key_id},
                            {"input", kt.input_tokens()},
                            {"output", kt.output_tokens()},
                            {"requests", kt.requests()},
                            {"cache_read", kt.cache_read_tokens()},
                            {"cache_write", kt.cache_write_tokens()},
                            {"errors", kt.errors()},
                            {"by_model", key_models}});
      }
      // The old proxy listed the busiest keys first.
      std::stable_sort(key_rows.begin(), key_rows.end(), [](const json& a, const json& b) {
        return a["input"].get<int64_t>() + a["output"].get<int64_t>() >
               b["input"].get<int64_t>() + b["output"].get<int64_t>();
      });
      json by_model = json::object();
      for (const auto& [model, t] : models) by_model[model] = ModelEntry(t);
      if (hourly) {
        list.push_back({{"hour", bucket}, {"by_model", by_model}, {"by_tenant", tenants}});
      } else {
        list.push_back({{"date", bucket},
                        {"total_input", all.input_tokens()},
                        {"total_output", all.output_tokens()},
                        {"total_requests", all.requests()},
                        {"total_cache_read", all.cache_read_tokens()},
                        {"total_cache_write", all.cache_write_tokens()},
                        {"total_errors", all.errors()},
                        {"by_model", by_model},
                        {"by_tenant", tenants},
                        {"keys", key_rows}});
      }
    }
    json answer = {{hourly ? "hours" : "days", list}, {"time_zone", resp.time_zone()}};
    co_return co_await ok(std::move(answer));
  }

  // ---- fallback: fallbacksvc's status, and a config reload ----
  if (path == "/admin/fallback" || path == "/admin/fallback/reload") {
    service = "Fallback service";
    FallbackAsync* fb = deps_.fallback != nullptr ? deps_.fallback->async() : nullptr;
    if (path == "/admin/fallback") {
      if (!get) co_return co_await WriteError(stream, req, out, 405, "Method not allowed: use GET", true, OneHeader("allow", "GET"));
      fbpb::GetStatusRequest sreq;
      auto [st, resp] = co_await Rpc<FallbackAsync, fbpb::GetStatusRequest, fbpb::FallbackStatus>(
          fb, &FallbackAsync::GetStatus, cred, sreq);
      if (!st.ok()) co_return co_await fail(st);
      auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
      co_return co_await ok(FallbackJson(resp, now_ms));
    }
    if (req.method() != http::verb::post) {
      co_return co_await WriteError(stream, req, out, 405, "Method not allowed: use POST", true, OneHeader("allow", "POST"));
    }
    fbpb::ReloadConfigRequest rreq;
    auto [st, resp] = co_await Rpc<FallbackAsync, fbpb::ReloadConfigRequest, fbpb::ReloadConfigResponse>(
        fb, &FallbackAsync::ReloadConfig, cred, rreq);
    if (!st.ok()) co_return co_await fail(st);
    json answer;  // (built outside co_await: GCC 12's coroutine bug with braced string literals)
    answer["reloaded"] = true;
    answer["table_version"] = resp.table_version();
    answer["tiers"] = resp.tiers();
    co_return co_await ok(std::move(answer));
  }

  // ---- keys ----
  if (path == "/admin/keys") {
    if (get) {
      authpb::ListKeysRequest lreq;
      auto [st, resp] = co_await Rpc<AuthAsync, authpb::ListKeysRequest, authpb::ListKeysResponse>(
          auth, &AuthAsync::ListKeys, cred, lreq);
      if (!st.ok()) co_return co_await fail(st);
      // Usage per key, when usagesvc answers; the list still comes without it otherwise.
      std::map<std::string, usagepb::UsageTotals> per_key;
      bool have_usage = false;
      if (usage != nullptr) {
        usagepb::QueryUsageRequest q;
        q.set_by_key(true);
        auto [ust, uresp] = co_await Rpc<UsageAsync, usagepb::QueryUsageRequest, usagepb::QueryUsageResponse>(
            usage, &UsageAsync::QueryUsage, cred, q);
        if (ust.ok()) {
          have_usage = true;
          for (const auto& row : uresp.rows()) per_key[row.key_id()] = row.totals();
        }
      }
      json keys = json::array();
      for (const auto& k : resp.keys()) {
        json item = KeyJson(k, deps_.spend);
        if (have_usage) {
          const auto& t = per_key[k.id()];
          item["total_input"] = t.input_tokens();
          item["total_output"] = t.output_tokens();
          item["total_requests"] = t.requests();
          item["total_cache_read"] = t.cache_read_tokens();
          item["total_cache_write"] = t.cache_write_tokens();
          item["last_used"] = LastUsed(t.last_used_unix_ms());
        }
        keys.push_back(std::move(item));
      }
      json answer = {{"keys", keys}};
      co_return co_await ok(std::move(answer));
    }
    if (req.method() == http::verb::post) {
      json body;
      if (!req.body().empty()) {
        body = json::parse(req.body(), nullptr, false);
        if (body.is_discarded()) {
          co_return co_await WriteError(stream, req, out, 400, "Malformed JSON body: expected {\"name\": \"...\"}");
        }
        if (!body.is_object()) {
          co_return co_await WriteError(stream, req, out, 400, "Body must be a JSON object: {\"name\": \"...\"}");
        }
      }
      std::string name = "unnamed";  // the old proxy's default
      if (body.is_object() && body.contains("name")) {
        if (!body["name"].is_string()) {
          co_return co_await WriteError(stream, req, out, 400, "Field \"name\" must be a string");
        }
        name = body["name"].get<std::string>();
      }
      authpb::CreateKeyRequest creq;
      creq.set_name(name);
      if (body.is_object() && body.contains("policy")) {
        auto policy = KeyPolicyFromJson(body["policy"], "policy");
        if (!policy.ok()) co_return co_await WriteError(stream, req, out, 400, std::string(policy.status().message()));
        KeyPolicyToProto(*policy, creq.mutable_policy());
      }
      auto [st, resp] = co_await Rpc<AuthAsync, authpb::CreateKeyRequest, authpb::CreateKeyResponse>(
          auth, &AuthAsync::CreateKey, cred, creq);
      if (!st.ok()) co_return co_await fail(st);
      out.key_id = resp.key().id();
      json answer = {{"api_key", resp.api_key()}, {"name", resp.key().name()}, {"id", resp.key().id()},
                     {"policy", KeyPolicyToJson(KeyPolicyFromProto(resp.key().policy()))}};
      co_return co_await ok(std::move(answer));
    }
    co_return co_await WriteError(stream, req, out, 405, "Method not allowed: use GET or POST /admin/keys", true,
                                  OneHeader("allow", "GET, POST"));
  }

  std::string key, action;
  if (SplitKeyPath(path, &key, &action)) {
    authpb::KeyRef ref;
    ref.set_key(key);
    using Method = AsyncMethod<AuthAsync, authpb::KeyRef, authpb::KeyInfo>;
    Method method = nullptr;
    std::string status_word;
    if (action == "policy" && (req.method() == http::verb::put || req.method() == http::verb::patch)) {
      // PUT replaces the whole policy; PATCH changes the fields given (null lifts one limit).
      json body = json::parse(req.body(), nullptr, false);
      if (body.is_discarded() || !body.is_object()) {
        co_return co_await WriteError(stream, req, out, 400,
                                      "Body must be a JSON object: the policy, e.g. {\"models\": [\"claude-*\"], "
                                      "\"requests_per_minute\": 60}");
      }
      if (req.method() == http::verb::patch) {
        auto [gst, current] = co_await Rpc<AuthAsync, authpb::KeyRef, authpb::KeyInfo>(auth, &AuthAsync::GetKey, cred, ref);
        if (!gst.ok()) co_return co_await fail(gst);
        json merged = KeyPolicyToJson(KeyPolicyFromProto(current.policy()));
        merged.merge_patch(body);
        body = std::move(merged);
      }
      auto policy = KeyPolicyFromJson(body, "policy");
      if (!policy.ok()) co_return co_await WriteError(stream, req, out, 400, std::string(policy.status().message()));
      authpb::SetKeyPolicyRequest preq;
      *preq.mutable_key() = ref;
      KeyPolicyToProto(*policy, preq.mutable_policy());
      auto [st, info] = co_await Rpc<AuthAsync, authpb::SetKeyPolicyRequest, authpb::KeyInfo>(
          auth, &AuthAsync::SetKeyPolicy, cred, preq);
      if (!st.ok()) co_return co_await fail(st);
      out.key_id = info.id();
      co_return co_await ok(KeyJson(info, deps_.spend));
    }
    if ((action.empty() || action == "usage" || action == "policy") && get) {
      method = &AuthAsync::GetKey;
    } else if (action == "disable" && req.method() == http::verb::post) {
      method = &AuthAsync::DisableKey;
      status_word = "disabled";
    } else if (action == "enable" && req.method() == http::verb::post) {
      method = &AuthAsync::EnableKey;
      status_word = "enabled";
    } else if (action.empty() && req.method() == http::verb::delete_) {
      // Look the key up first so the answer can carry its name, as the old proxy's did.
      auto [gst, info] = co_await Rpc<AuthAsync, authpb::KeyRef, authpb::KeyInfo>(auth, &AuthAsync::GetKey, cred, ref);
      if (!gst.ok()) co_return co_await fail(gst);
      auto [dst, dresp] = co_await Rpc<AuthAsync, authpb::KeyRef, authpb::DeleteKeyResponse>(
          auth, &AuthAsync::DeleteKey, cred, ref);
      if (!dst.ok()) co_return co_await fail(dst);
      out.key_id = dresp.id();
      json answer = {{"status", "deleted"}, {"name", info.name()}, {"id", dresp.id()}};
      co_return co_await ok(std::move(answer));
    } else if (action.empty() || action == "disable" || action == "enable" || action == "usage" || action == "policy") {
      co_return co_await WriteError(stream, req, out, 405, "Method not allowed for " + std::string(path));
    }
    if (method != nullptr) {
      auto [st, info] = co_await Rpc<AuthAsync, authpb::KeyRef, authpb::KeyInfo>(auth, method, cred, ref);
      if (!st.ok()) co_return co_await fail(st);
      out.key_id = info.id();
      if (action == "usage") {
        // The old proxy's {name, enabled, usage{total_input, total_output, total_requests, last_used, daily}}.
        service = "Usage service";
        usagepb::QueryUsageRequest total_q;
        total_q.set_key_id(info.id());
        usagepb::QueryUsageRequest day_q = total_q;
        day_q.set_by_day(true);
        usagepb::QueryUsageRequest model_q = day_q;
        model_q.set_by_model(true);
        auto [ast, aresp] = co_await Rpc<UsageAsync, usagepb::QueryUsageRequest, usagepb::QueryUsageResponse>(
            usage, &UsageAsync::QueryUsage, cred, total_q);
        if (!ast.ok()) co_return co_await fail(ast);
        auto [dst, dresp] = co_await Rpc<UsageAsync, usagepb::QueryUsageRequest, usagepb::QueryUsageResponse>(
            usage, &UsageAsync::QueryUsage, cred, day_q);
        if (!dst.ok()) co_return co_await fail(dst);
        auto [ust, uresp] = co_await Rpc<UsageAsync, usagepb::QueryUsageRequest, usagepb::QueryUsageResponse>(
            usage, &UsageAsync::QueryUsage, cred, model_q);
        if (!ust.ok()) co_return co_await fail(ust);
        usagepb::UsageTotals all;
        for (const auto& row : aresp.rows()) Add(&all, row.totals());
        std::map<std::string, std::pair<usagepb::UsageTotals, json>> days;
        for (const auto& row : dresp.rows()) Add(&days[row.day()].first, row.totals());
        for (const auto& row : uresp.rows()) days[row.day()].second[row.model()] = ModelEntry(row.totals());
        json daily = json::object();
        for (const auto& [day, d] : days) {
          daily[day] = {{"input", d.first.input_tokens()},
                        {"output", d.first.output_tokens()},
                        {"requests", d.first.requests()},
                        {"cache_read", d.first.cache_read_tokens()},
                        {"cache_write", d.first.cache_write_tokens()},
                        {"by_model", d.second.is_null() ? json::object() : d.second}};
        }
        json answer = {{"name", info.name()},
                       {"enabled", info.enabled()},
                       {"id", info.id()},
                       {"usage",
                        {{"total_input", all.input_tokens()},
                         {"total_output", all.output_tokens()},
                         {"total_requests", all.requests()},
                         {"total_cache_read", all.cache_read_tokens()},
                         {"total_cache_write", all.cache_write_tokens()},
                         {"last_used", LastUsed(all.last_used_unix_ms())},
                         {"daily", daily}}}};
        co_return co_await ok(std::move(answer));
      }
      if (status_word.empty()) co_return co_await ok(KeyJson(info, deps_.spend));
      json answer = {{"status", status_word}, {"name", info.name()}, {"id", info.id()}};
      co_return co_await ok(std::move(answer));
    }
  }
  co_return co_await WriteError(stream, req, out, 404, "Not found: " + std::string(path));
}

}  // namespace luna::gateway
