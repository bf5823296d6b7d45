#include "common/grpc_admin_check.h"

#include <cctype>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"

namespace luna {
namespace apb = luna::auth::v1;

namespace {

constexpr size_t kMaxCacheEntries = 10000;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string CallCredential(const grpc::ServerContextBase& ctx) {
  const auto& metadata = ctx.client_metadata();
  if (auto it = metadata.find("x-api-key"); it != metadata.end()) {
    return std::string(Trim(std::string_view(it->second.data(), it->second.size())));
  }
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    std::string_view value = Trim(std::string_view(it->second.data(), it->second.size()));
    constexpr std::string_view kBearer = "bearer ";
    if (value.size() >= kBearer.size()) {
      bool match = true;
      for (size_t i = 0; i < kBearer.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(value[i])) != kBearer[i]) match = false;
      }
      if (match) return std::string(Trim(value.substr(kBearer.size())));
    }
  }
  return {};
}

GrpcAdminChecker::GrpcAdminChecker(std::shared_ptr<grpc::Channel> channel, Options options)
    : stub_(apb::AuthService::NewStub(std::move(channel))), options_(options) {}

void GrpcAdminChecker::Remember(const std::string& hash, const absl::Status& status) {
  auto ttl = status.ok() ? options_.ok_ttl : options_.refusal_ttl;
  std::lock_guard lock(mu_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_[hash] = CacheEntry{status, std::chrono::steady_clock::now() + ttl};
}

void GrpcAdminChecker::CheckAdmin(const std::string& credential, std::function<void(absl::Status)> done) {
  if (credential.empty()) {
    done(absl::UnauthenticatedError("admin credential required"));
    return;
  }
  std::string hash = Sha256Hex(credential);
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(hash);
    if (it != cache_.end()) {
      if (it->second.expires > std::chrono::steady_clock::now()) {
        absl::Status cached = it->second.status;
        done(cached);
        return;
      }
      cache_.erase(it);
    }
  }
  struct Call {
    grpc::ClientContext ctx;
    apb::CheckAdminRequest request;
    apb::CheckAdminResponse response;
  };
  auto call = std::make_shared<Call>();
  call->ctx.set_deadline(std::chrono::system_clock::now() + options_.deadline);
  call->ctx.AddMetadata("x-api-key", credential);
  stub_->async()->CheckAdmin(
      &call->ctx, &call->request, &call->response, [this, call, hash, done = std::move(done)](grpc::Status st) {
        absl::Status answer;
        switch (st.error_code()) {
          case grpc::StatusCode::OK:
            answer = absl::OkStatus();
            break;
          case grpc::StatusCode::UNAUTHENTICATED:
            answer = absl::UnauthenticatedError(st.error_message());
            break;
          case grpc::StatusCode::PERMISSION_DENIED:
            answer = absl::PermissionDeniedError(st.error_message());
            break;
          default:
            done(absl::UnavailableError(absl::StrCat("cannot check the admin credential: authsvc answered ",
                                                     static_cast<int>(st.error_code()), " ", st.error_message())));
            return;
        }
        Remember(hash, answer);
        done(answer);
      });
}

}  // namespace luna
