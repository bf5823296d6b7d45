// The admin dashboard at /dashboard: its page and hashed assets (compiled in, see dashboard_assets.h)
// and its sign-in API. Signing in checks the admin key once with authsvc and opens a server-side
// session; the browser holds only an HttpOnly, SameSite=Strict cookie naming it, and a CSRF token in
// the tab's memory that every /admin/* call made with the cookie must carry as x-csrf-token. The page
// then reads and changes everything through the existing /admin/* API.
#include <nlohmann/json.hpp>

#include "gateway/api/dashboard_assets.h"
#include "gateway/api/router_internal.h"
#include "gateway/clients/grpc_call.h"
#include "gateway/http/await_callback.h"

namespace luna::gateway {

namespace authpb = luna::auth::v1;
using AuthAsync = authpb::AuthService::Stub::async_interface;
using json = nlohmann::json;

namespace {

constexpr std::string_view kCookie = "luna_dashboard";
constexpr std::string_view kCsrfHeader = "x-csrf-token";
// Scripts and styles only from the gateway itself (no inline code); no framing; no other origins.
constexpr std::string_view kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

std::string_view HeaderOf(const Request& req, std::string_view name) {
  auto it = req.find(beast::string_view(name.data(), name.size()));
  return it == req.end() ? std::string_view() : std::string_view(it->value().data(), it->value().size());
}

std::string_view SessionId(const Request& req) {
  return CookieValue(HeaderOf(req, "cookie"), kCookie);
}

// Headers every dashboard answer carries; `cache` is its Cache-Control.
HeaderList SecurityHeaders(const std::string& request_id, std::string_view cache) {
  return HeaderList{{"content-security-policy", std::string(kCsp)},
                    {"x-frame-options", "DENY"},
                    {"x-content-type-options", "nosniff"},
                    {"referrer-policy", "no-referrer"},
                    {"cache-control", std::string(cache)},
                    {"x-request-id", request_id}};
}

// Secure when the browser reached the gateway over TLS (a TLS-terminating proxy in front says so in
// x-forwarded-proto), or when the operator asks for it.
std::string SessionCookie(std::string_view value, int64_t max_age_s, bool secure) {
  std::string c = std::string(kCookie) + "=" + std::string(value) + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                  std::to_string(max_age_s);
  if (secure) c += "; Secure";
  return c;
}

}  // namespace

std::string Router::DashboardCredential(const Request& req) {
  std::string_view id = SessionId(req);
  if (id.empty()) return {};
  std::string_view csrf = HeaderOf(req, kCsrfHeader);
  auto cred = sessions_.Use(id, &csrf, std::chrono::steady_clock::now());
  return cred ? *cred : std::string();
}

Awaitable<bool> Router::HandleDashboard(Request& req, beast::tcp_stream& stream, Outcome& out) {
  std::string_view target(req.target().data(), req.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  const auto& cfg = *deps_.config;
  if (!cfg.dashboard) co_return co_await WriteError(stream, req, out, 404, "Not found: the dashboard is switched off (DASHBOARD=false)");
  bool secure = cfg.dashboard_secure_cookie || beast::iequals(HeaderOf(req, "x-forwarded-proto"), "https");
  auto now = std::chrono::steady_clock::now();

  auto answer_json = [&](int status, json body, HeaderList extra) -> Awaitable<bool> {
    out.status = status;
    HeaderList headers = SecurityHeaders(out.request_id, "no-store");
    headers.insert(headers.end(), extra.begin(), extra.end());
    co_return co_await WriteResponse(stream, req, status, body.dump(), req.keep_alive(), "application/json",
                                     headers);
  };
  auto error = [&](int status, std::string_view message) -> Awaitable<bool> {
    co_return co_await WriteError(stream, req, out, status, message, true, SecurityHeaders(out.request_id, "no-store"));
  };

  if (path == "/dashboard/api/session") {
    out.flavor = ApiFlavor::kAdmin;  // errors as on /admin/*: {"detail"} and an error object
    if (req.method() == http::verb::post) {
      // Sign-in. A JSON body only: a cross-site form cannot send one without a CORS preflight.
      if (HeaderOf(req, "content-type").substr(0, 16) != "application/json") {
        co_return co_await error(415, "Sign-in takes a JSON body: {\"admin_key\": \"...\"}");
      }
      json body = json::parse(req.body(), nullptr, false);
      if (!body.is_object() || !body.contains("admin_key") || !body["admin_key"].is_string() ||
          body["admin_key"].get<std::string>().empty()) {
        co_return co_await error(400, "Sign-in takes a JSON body: {\"admin_key\": \"...\"}");
      }
      std::string cred = body["admin_key"].get<std::string>();
      using R = std::pair<grpc::Status, authpb::CheckAdminResponse>;
      AuthAsync* auth = deps_.auth->async();
      authpb::CheckAdminRequest check;
      R checked = co_await AwaitCallback<R>([&](std::function<void(R)> done) {
        CallWithCredential<AuthAsync, authpb::CheckAdminRequest, authpb::CheckAdminResponse>(
            auth, &AuthAsync::CheckAdmin, cred, check,
            [done](grpc::Status s, authpb::CheckAdminResponse r) { done(R{s, std::move(r)}); });
      });
      const grpc::Status& st = checked.first;
      if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED) co_return co_await error(401, "Invalid admin key");
      if (st.error_code() == grpc::StatusCode::PERMISSION_DENIED) co_return co_await error(403, "Admin key required");
      if (!st.ok()) {
        out.note = st.error_message();
        co_return co_await error(503, "Key service unavailable: " + st.error_message());
      }
      auto opened = sessions_.Open(std::move(cred), now);
      json answer;
      answer["csrf_token"] = opened.csrf_token;
      answer["idle_seconds"] = cfg.dashboard_session_idle_s;
      co_return co_await answer_json(200, std::move(answer),
                                     OneHeader("set-cookie", SessionCookie(opened.id, cfg.dashboard_session_max_s, secure)));
    }
    if (req.method() == http::verb::get) {
      // The page asks on load whether its cookie still names a session; a fresh CSRF token comes back.
      auto token = sessions_.RenewCsrf(SessionId(req), now);
      if (!token) co_return co_await error(401, "Not signed in");
      json answer;
      answer["csrf_token"] = *token;
      answer["idle_seconds"] = cfg.dashboard_session_idle_s;
      co_return co_await answer_json(200, std::move(answer), HeaderList());
    }
    if (req.method() == http::verb::delete_) {
      // Sign-out: needs the CSRF token, so another site cannot sign the operator out either.
      std::string_view id = SessionId(req);
      std::string_view csrf = HeaderOf(req, kCsrfHeader);
      if (!sessions_.Use(id, &csrf, now)) co_return co_await error(401, "Not signed in");
      sessions_.Close(id);
      json answer;
      answer["signed_out"] = true;
      co_return co_await answer_json(200, std::move(answer), OneHeader("set-cookie", SessionCookie("", 0, secure)));
    }
    co_return co_await WriteError(stream, req, out, 405, "Method not allowed: use POST, GET or DELETE", true,
                                  OneHeader("allow", "POST, GET, DELETE"));
  }

  if (req.method() != http::verb::get) {
    co_return co_await WriteError(stream, req, out, 405, "Method not allowed: use GET", true, OneHeader("allow", "GET"));
  }
  std::string_view asset_path = path == "/dashboard/" ? std::string_view("/dashboard") : path;
  const DashboardAsset* asset = FindDashboardAsset(asset_path);
  if (asset == nullptr) {
    std::string message = DashboardBuilt() ? "Not found: " + std::string(path)
                                           : "Not found: this gateway was built without the dashboard (LUNA_BUILD_DASHBOARD=OFF)";
    co_return co_await error(404, message);
  }
  HeaderList headers = SecurityHeaders(out.request_id, asset->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  headers.emplace_back("vary", "accept-encoding");
  std::string_view body = asset->body;
  if (!asset->gzip_body.empty() && HeaderOf(req, "accept-encoding").find("gzip") != std::string_view::npos) {
    body = asset->gzip_body;
    headers.emplace_back("content-encoding", "gzip");
  }
  out.status = 200;
  std::string content_type(asset->content_type);
  co_return co_await WriteResponse(stream, req, 200, std::string(body), req.keep_alive(), content_type,
                                   headers);
}

}  // namespace luna::gateway
