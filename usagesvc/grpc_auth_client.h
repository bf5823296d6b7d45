// usagesvc's view of authsvc: the admin check for its query RPCs and the legacy usage to import.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "auth.grpc.pb.h"

namespace luna::usagesvc {

struct LegacyUsageEntry {
  std::string key_id;
  std::string name;
  std::string usage_json;
};

class AuthClient {
 public:
  virtual ~AuthClient() = default;
  // Checks an admin credential (the key itself; empty if the call had none). Calls `done` exactly once:
  // inline, or on a gRPC thread. OK, UNAUTHENTICATED, PERMISSION_DENIED as authsvc answered; UNAVAILABLE
  // when authsvc cannot be asked.
  virtual void CheckAdmin(const std::string& credential, std::function<void(absl::Status)> done) = 0;
  // Blocking: every legacy usage object authsvc holds.
  virtual absl::StatusOr<std::vector<LegacyUsageEntry>> GetLegacyUsage() = 0;
};

// The gRPC implementation. Answers are cached by the credential's SHA-256: OK for 30 s, refusals
// (UNAUTHENTICATED, PERMISSION_DENIED) for 2 s; failures to reach authsvc are not cached.
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

  void CheckAdmin(const std::string& credential, std::function<void(absl::Status)> done) override;
  absl::StatusOr<std::vector<LegacyUsageEntry>> GetLegacyUsage() override;

 private:
  struct CacheEntry {
    absl::Status status;
    std::chrono::steady_clock::time_point expires;
  };
  void Remember(const std::string& hash, const absl::Status& status);

  std::unique_ptr<luna::auth::v1::AuthService::Stub> stub_;
  Options options_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, CacheEntry> cache_;
};

}  // namespace luna::usagesvc
