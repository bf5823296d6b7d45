#include "usagesvc/grpc_auth_client.h"

#include "absl/strings/str_cat.h"

namespace luna::usagesvc {
namespace apb = luna::auth::v1;

GrpcAuthClient::GrpcAuthClient(std::shared_ptr<grpc::Channel> channel, Options options)
    : stub_(apb::AuthService::NewStub(channel)),
      options_(options),
      admin_(std::move(channel),
             GrpcAdminChecker::Options{options.ok_ttl, options.refusal_ttl, options.check_deadline}) {}

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
