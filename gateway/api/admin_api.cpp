// The admin HTTP API with the old proxy's shapes, served through authsvc's admin RPCs. The caller's
// credential is forwarded; authsvc decides (401 no or unknown credential, 403 a client key).
#include <nlohmann/json.hpp>

#include "gateway/api/router_internal.h"
#include "gateway/http/await_callback.h"

namespace luna::gateway {

namespace authpb = luna::auth::v1;
using json = nlohmann::json;

namespace {

int HttpStatusFor(const grpc::Status& st) {
  switch (st.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED: return 401;
    case grpc::StatusCode::PERMISSION_DENIED: return 403;
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::INVALID_ARGUMENT: return 400;
    case grpc::StatusCode::ALREADY_EXISTS: return 409;
    case grpc::StatusCode::FAILED_PRECONDITION: return 409;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return 503;
    default: return 500;
  }
}

std::string MessageFor(const grpc::Status& st) {
  switch (st.error_code()) {
    case grpc::StatusCode::NOT_FOUND: return "Key not found";
    case grpc::StatusCode::PERMISSION_DENIED: return "Admin key required";
    case grpc::StatusCode::UNAUTHENTICATED: return "Invalid admin key";
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "Key service unavailable: " + st.error_message();
    default: return st.error_message();
  }
}

json KeyJson(const authpb::KeyInfo& k) {
  return json{{"id", k.id()},           {"key", k.masked()},     {"name", k.name()},
              {"enabled", k.enabled()}, {"created", k.created()}, {"imported", k.imported()}};
}

// Splits "/admin/keys/{key}[/{action}]" into key and action. The key part is percent-decoded.
bool SplitKeyPath(std::string_view path, std::string* key, std::string* action) {
  constexpr std::string_view kPrefix = "/admin/keys/";
  if (path.rfind(kPrefix, 0) != 0) return false;
  std::string_view rest = path.substr(kPrefix.size());
  auto slash = rest.find('/');
  std::string_view k = rest.substr(0, slash);
  *action = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  key->clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < k.size(); ++i) {
    if (k[i] == '%' && i + 2 < k.size() && hex(k[i + 1]) >= 0 && hex(k[i + 2]) >= 0) {
      *key += static_cast<char>(hex(k[i + 1]) * 16 + hex(k[i + 2]));
      i += 2;
    } else {
      *key += k[i];
    }
  }
  return !key->empty();
}

}  // namespace

Awaitable<bool> Router::HandleAdmin(Request& req, beast::tcp_stream& stream, Outcome& out) {
  std::string_view target(req.target().data(), req.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  std::string cred = ExtractCredential(req);
  if (cred.empty()) {
    co_return co_await WriteError(stream, req, out, 401,
                                  "Missing API key: send the admin key as x-api-key or Authorization: Bearer");
  }
  auto* auth = deps_.auth;
  auto fail = [&](const grpc::Status& st) -> Awaitable<bool> {
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE) out.note = st.error_message();
    co_return co_await WriteError(stream, req, out, HttpStatusFor(st), MessageFor(st));
  };
  auto ok = [&](json body) -> Awaitable<bool> {
    out.status = 200;
    co_return co_await WriteResponse(stream, req.version(), 200, body.dump(), req.keep_alive());
  };

  if (path == "/admin/keys") {
    if (req.method() == http::verb::get) {
      using R = std::pair<grpc::Status, authpb::ListKeysResponse>;
      auto [st, resp] = co_await AwaitCallback<R>([&](std::function<void(R)> done) {
        auth->CallAdmin<authpb::ListKeysRequest, authpb::ListKeysResponse>(
            &authpb::AuthService::Stub::async_interface::ListKeys, cred, {},
            [done](grpc::Status s, authpb::ListKeysResponse r) { done(R{s, std::move(r)}); });
      });
      if (!st.ok()) co_return co_await fail(st);
      json keys = json::array();
      for (const auto& k : resp.keys()) keys.push_back(KeyJson(k));
      json answer = json{{"keys", keys}};
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
      using R = std::pair<grpc::Status, authpb::CreateKeyResponse>;
      auto [st, resp] = co_await AwaitCallback<R>([&](std::function<void(R)> done) {
        auth->CallAdmin<authpb::CreateKeyRequest, authpb::CreateKeyResponse>(
            &authpb::AuthService::Stub::async_interface::CreateKey, cred, creq,
            [done](grpc::Status s, authpb::CreateKeyResponse r) { done(R{s, std::move(r)}); });
      });
      if (!st.ok()) co_return co_await fail(st);
      out.key_id = resp.key().id();
      json answer = json{{"api_key", resp.api_key()}, {"name", resp.key().name()}, {"id", resp.key().id()}};
      co_return co_await ok(std::move(answer));
    }
    co_return co_await WriteError(stream, req, out, 405, "Method not allowed: use GET or POST /admin/keys", true,
                                  OneHeader("allow", "GET, POST"));
  }

  std::string key, action;
  if (SplitKeyPath(path, &key, &action)) {
    authpb::KeyRef ref;
    ref.set_key(key);
    using R = std::pair<grpc::Status, authpb::KeyInfo>;
    using Method = GrpcAuthClient::AdminMethod<authpb::KeyRef, authpb::KeyInfo>;
    Method method = nullptr;
    std::string status_word;
    if (action.empty() && req.method() == http::verb::get) {
      method = &authpb::AuthService::Stub::async_interface::GetKey;
    } else if (action == "disable" && req.method() == http::verb::post) {
      method = &authpb::AuthService::Stub::async_interface::DisableKey;
      status_word = "disabled";
    } else if (action == "enable" && req.method() == http::verb::post) {
      method = &authpb::AuthService::Stub::async_interface::EnableKey;
      status_word = "enabled";
    } else if (action.empty() && req.method() == http::verb::delete_) {
      // Look the key up first so the answer can carry its name, as the old proxy's did.
      auto [gst, info] = co_await AwaitCallback<R>([&](std::function<void(R)> done) {
        auth->CallAdmin<authpb::KeyRef, authpb::KeyInfo>(&authpb::AuthService::Stub::async_interface::GetKey, cred,
                                                         ref, [done](grpc::Status s, authpb::KeyInfo r) {
                                                           done(R{s, std::move(r)});
                                                         });
      });
      if (!gst.ok()) co_return co_await fail(gst);
      using D = std::pair<grpc::Status, authpb::DeleteKeyResponse>;
      auto [dst, dresp] = co_await AwaitCallback<D>([&](std::function<void(D)> done) {
        auth->CallAdmin<authpb::KeyRef, authpb::DeleteKeyResponse>(
            &authpb::AuthService::Stub::async_interface::DeleteKey, cred, ref,
            [done](grpc::Status s, authpb::DeleteKeyResponse r) { done(D{s, std::move(r)}); });
      });
      if (!dst.ok()) co_return co_await fail(dst);
      out.key_id = dresp.id();
      json answer = json{{"status", "deleted"}, {"name", info.name()}, {"id", dresp.id()}};
      co_return co_await ok(std::move(answer));
    } else if (action.empty() || action == "disable" || action == "enable") {
      co_return co_await WriteError(stream, req, out, 405, "Method not allowed for " + std::string(path));
    }
    if (method != nullptr) {
      auto [st, info] = co_await AwaitCallback<R>([&](std::function<void(R)> done) {
        auth->CallAdmin<authpb::KeyRef, authpb::KeyInfo>(method, cred, ref, [done](grpc::Status s, authpb::KeyInfo r) {
          done(R{s, std::move(r)});
        });
      });
      if (!st.ok()) co_return co_await fail(st);
      out.key_id = info.id();
      if (status_word.empty()) co_return co_await ok(KeyJson(info));
      json answer = json{{"status", status_word}, {"name", info.name()}, {"id", info.id()}};
      co_return co_await ok(std::move(answer));
    }
  }
  co_return co_await WriteError(stream, req, out, 404, "Not found: " + std::string(path));
}

}  // namespace luna::gateway
