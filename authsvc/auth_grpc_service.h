// The gRPC face of authsvc (luna.auth.v1.AuthService, callback API): proto <-> domain and
// absl::Status -> grpc::Status, nothing else. The rules live in KeyManager.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <set>

#include "auth.grpc.pb.h"
#include "authsvc/key_manager.h"
#include "authsvc/serial_executor.h"

namespace luna::authsvc {

class WatchKeysReactor;

class AuthGrpcService final : public luna::auth::v1::AuthService::CallbackService {
 public:
  // The health name the service reports (and the probe asks for).
  static constexpr const char* kHealthName = "luna.auth.v1.AuthService";

  // `manager` may be null until the keys file is loaded: every call answers UNAVAILABLE until
  // AttachManager. The manager must outlive the gRPC server.
  explicit AuthGrpcService(KeyManager* manager = nullptr);
  ~AuthGrpcService() override;

  void AttachManager(KeyManager* manager);
  // The manager, or null before AttachManager (any thread).
  KeyManager* manager() const { return manager_.load(std::memory_order_acquire); }

  // For metrics: open WatchKeys streams, and ValidateKey answers by whether the key was found.
  size_t active_watches();
  uint64_t validations(bool found) const {
    return (found ? validations_found_ : validations_not_found_).load(std::memory_order_relaxed);
  }

  // Ends every open WatchKeys stream with OK, and any opened later at once, so that the server's
  // Shutdown does not wait for them. Call before shutting the server down.
  void BeginShutdown();

  grpc::ServerUnaryReactor* ValidateKey(grpc::CallbackServerContext* ctx,
                                        const luna::auth::v1::ValidateKeyRequest* request,
                                        luna::auth::v1::ValidateKeyResponse* response) override;
  grpc::ServerWriteReactor<luna::auth::v1::KeyEvent>* WatchKeys(
      grpc::CallbackServerContext* ctx, const luna::auth::v1::WatchKeysRequest* request) override;
  grpc::ServerUnaryReactor* CreateKey(grpc::CallbackServerContext* ctx,
                                      const luna::auth::v1::CreateKeyRequest* request,
                                      luna::auth::v1::CreateKeyResponse* response) override;
  grpc::ServerUnaryReactor* ListKeys(grpc::CallbackServerContext* ctx, const luna::auth::v1::ListKeysRequest* request,
                                     luna::auth::v1::ListKeysResponse* response) override;
  grpc::ServerUnaryReactor* GetKey(grpc::CallbackServerContext* ctx, const luna::auth::v1::KeyRef* request,
                                   luna::auth::v1::KeyInfo* response) override;
  grpc::ServerUnaryReactor* SetKeyPolicy(grpc::CallbackServerContext* ctx,
                                         const luna::auth::v1::SetKeyPolicyRequest* request,
                                         luna::auth::v1::KeyInfo* response) override;
  grpc::ServerUnaryReactor* DisableKey(grpc::CallbackServerContext* ctx, const luna::auth::v1::KeyRef* request,
                                       luna::auth::v1::KeyInfo* response) override;
  grpc::ServerUnaryReactor* EnableKey(grpc::CallbackServerContext* ctx, const luna::auth::v1::KeyRef* request,
                                      luna::auth::v1::KeyInfo* response) override;
  grpc::ServerUnaryReactor* DeleteKey(grpc::CallbackServerContext* ctx, const luna::auth::v1::KeyRef* request,
                                      luna::auth::v1::DeleteKeyResponse* response) override;
  grpc::ServerUnaryReactor* CheckAdmin(grpc::CallbackServerContext* ctx,
                                       const luna::auth::v1::CheckAdminRequest* request,
                                       luna::auth::v1::CheckAdminResponse* response) override;
  grpc::ServerUnaryReactor* GetLegacyUsage(grpc::CallbackServerContext* ctx,
                                           const luna::auth::v1::GetLegacyUsageRequest* request,
                                           luna::auth::v1::GetLegacyUsageResponse* response) override;

 private:
  friend class WatchKeysReactor;

  // The manager, or null with the status to answer. For admin calls also checks the credential.
  KeyManager* ManagerOrStatus(absl::Status* status) const;
  KeyManager* AdminManagerOrStatus(grpc::CallbackServerContext* ctx, absl::Status* status) const;
  // An admin call that writes the keys file: checks the credential, then runs `write` on the writer
  // thread (never a gRPC thread) and finishes the call with the status it returns.
  grpc::ServerUnaryReactor* AdminWrite(grpc::CallbackServerContext* ctx,
                                       std::function<absl::Status(KeyManager*)> write);

  // Called by reactors: Register returns false when shutting down (the reactor then finishes at once).
  bool RegisterWatch(WatchKeysReactor* reactor);
  void UnregisterWatch(WatchKeysReactor* reactor);

  std::atomic<KeyManager*> manager_;
  std::atomic<uint64_t> validations_found_{0};
  std::atomic<uint64_t> validations_not_found_{0};
  // Runs the calls that write the keys file.
  SerialExecutor writer_;

  std::mutex watches_mu_;
  std::set<WatchKeysReactor*> watches_;
  bool shutting_down_ = false;
};

}  // namespace luna::authsvc
