// usagesvc's view of authsvc: the admin check for its query RPCs and the legacy usage to import.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "auth.grpc.pb.h"
#include "common/grpc_admin_check.h"

namespace luna::usagesvc {

struct LegacyUsageEntry {
  std::string key_id;
  std::string name;
  std::string usage_json;
};

// CheckAdmin (from AdminChecker): calls `done` exactly once, inline or on a gRPC thread; OK,
// UNAUTHENTICATED, PERMISSION_DENIED as authsvc answered; UNAVAILABLE when authsvc cannot be asked.
class AuthClient : public AdminChecker {
 public:
  // Blocking: every legacy usage object authsvc holds.
  virtual absl::StatusOr<std::vector<LegacyUsageEntry>> GetLegacyUsage() = 0;
};

// The gRPC implementation. The admin check is the shared GrpcAdminChecker (answers cached by the
// credential's SHA-256: OK for 30 s, refusals for 2 s; failures to reach authsvc are not cached).
class GrpcAuthClient final : public AuthClient {
 public:
  struct Options {
    std::chrono::milliseconds ok_ttl{30000};
    std::chrono::milliseconds refusal_ttl{2000};
    std::chrono::milliseconds check_deadline{2000};
    std::chrono::milliseconds legacy_deadline{5000};
  };
  GrpcAuthClient(std::shared_ptr<grpc::Channel> channel, Options options);
  explicit GrpcAuthClient(std::shared_ptr<grpc::Channel> channel) : GrpcAuthClient(std::move(channel), Options()) {}

  void CheckAdmin(const std::string& credential, std::function<void(absl::Status)> done) override {
    admin_.CheckAdmin(credential, std::move(done));
  }
  absl::StatusOr<std::vector<LegacyUsageEntry>> GetLegacyUsage() override;

 private:
  std::unique_ptr<luna::auth::v1::AuthService::Stub> stub_;
  Options options_;
  GrpcAdminChecker admin_;
};

}  // namespace luna::usagesvc
