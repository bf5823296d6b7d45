#include "usagesvc/grpc_auth_client.h"

#include "absl/strings/str_cat.h"
#include "common/crypto.h"

namespace luna::usagesvc {
namespace apb = luna::auth::v1;

namespace {
constexpr size_t kMaxCacheEntries = 10000;
}  // namespace

GrpcAuthClient::GrpcAuthClient(std::shared_ptr<grpc::Channel> channel, Options options)
    : stub_(apb::AuthService::NewStub(std::move(channel))), options_(options) {}

void GrpcAuthClient::Remember(const std::string& hash, const absl::Status& status) {
  auto ttl = status.ok() ? options_.ok_ttl : options_.refusal_ttl;
  std::lock_guard lock(mu_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_[hash] = CacheEntry{status, std::chrono::steady_clock::now() + ttl};
}

void GrpcAuthClient::CheckAdmin(const std::string& credential, std::function<void(absl::Status)> done) {
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
  call->ctx.set_deadline(std::chrono::system_clock::now() + options_.check_deadline);
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

absl::StatusOr<std::vector<LegacyUsageEntry>> GrpcAuthClient::GetLegacyUsage() {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options_.legacy_deadline);
  apb::GetLegacyUsageResponse response;
  grpc::Status st = stub_->GetLegacyUsage(&ctx, apb::GetLegacyUsageRequest(), &response);
  if (!st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("authsvc GetLegacyUsage: ", static_cast<int>(st.error_code()), " ", st.error_message()));
  }
  std::vector<LegacyUsageEntry> out;
  out.reserve(static_cast<size_t>(response.entries_size()));
  for (const auto& e : response.entries()) out.push_back({e.key_id(), e.name(), e.usage_json()});
  return out;
}

}  // namespace luna::usagesvc
