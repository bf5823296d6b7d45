// Starts a gRPC server the way every Luna service runs one: the given services, the standard health
// service (NOT_SERVING until the owner says it is ready) and server reflection.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/grpc_call_metrics.h"
#include "common/grpc_security.h"

namespace luna {

class GrpcServer {
 public:
  // Binds `listen` ("host:port"; port 0 picks a free one) and starts serving `services`, which must
  // outlive the server. `health_name` is the service name reported by the health protocol (the
  // overall "" status follows it). `call_metrics` (optional, must outlive the server) counts every
  // finished call. `security` sets the port's credentials (TLS, client certificates, the internal
  // token check); the default, plaintext without a token, is for in-process tests.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const std::string& listen,
                                                           const std::vector<grpc::Service*>& services,
                                                           const std::string& health_name,
                                                           GrpcCallMetrics* call_metrics = nullptr,
                                                           const GrpcSecurity& security = GrpcSecurity::Plaintext());
  ~GrpcServer();

  int port() const { return port_; }
  // Sets SERVING / NOT_SERVING for the named service and the overall status.
  void SetServing(bool serving);
  // What the health service says now (any thread).
  bool serving() const { return serving_.load(std::memory_order_acquire); }
  // Stops accepting calls, waits up to `grace_ms` for in-flight ones, then cancels the rest.
  void Shutdown(int grace_ms);

 private:
  GrpcServer() = default;
  std::unique_ptr<grpc::Server> server_;
  std::string health_name_;
  int port_ = 0;
  bool shut_down_ = false;
  std::atomic<bool> serving_{false};
};

}  // namespace luna
