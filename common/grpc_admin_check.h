// The admin check of the services' gRPC admin APIs: the call's credential, asked of authsvc's
// CheckAdmin, with the answers cached.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "auth.grpc.pb.h"

namespace luna {

// The credential of a call: "x-api-key: <k>", else "authorization: Bearer <k>"; empty if neither.
std::string CallCredential(const grpc::ServerContextBase& ctx);

class AdminChecker {
 public:
  virtual ~AdminChecker() = default;
  // Checks an admin credential (empty if the call had none). Calls `done` exactly once: inline, or on
  // a gRPC thread. OK, UNAUTHENTICATED, PERMISSION_DENIED as authsvc answered; UNAVAILABLE when authsvc
  // cannot be asked.
  virtual void CheckAdmin(const std::string& credential, std::function<void(absl::Status)> done) = 0;
};

// Asks authsvc. Answers are cached by the credential's SHA-256: OK for 30 s, refusals
// (UNAUTHENTICATED, PERMISSION_DENIED) for 2 s; failures to reach authsvc are not cached.
class GrpcAdminChecker final : public AdminChecker {
 public:
  struct Options {
    std::chrono::milliseconds ok_ttl{30000};
    std::chrono::milliseconds refusal_ttl{2000};
    std::chrono::milliseconds deadline{2000};
  };
  GrpcAdminChecker(std::shared_ptr<grpc::Channel> channel, Options options);
  explicit GrpcAdminChecker(std::shared_ptr<grpc::Channel> channel) : GrpcAdminChecker(std::move(channel), Options()) {}

  void CheckAdmin(const std::string& credential, std::function<void(absl::Status)> done) override;

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

}  // namespace luna
