// Starts a gRPC server the way every Luna service runs one: the given services, the standard health
// service (NOT_SERVING until the owner says it is ready) and server reflection.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace luna {

class GrpcServer {
 public:
  // Binds `listen` ("host:port"; port 0 picks a free one) and starts serving `services`, which must
  // outlive the server. `health_name` is the service name reported by the health protocol (the
  // overall "" status follows it).
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const std::string& listen,
                                                           const std::vector<grpc::Service*>& services,
                                                           const std::string& health_name);
  ~GrpcServer();

  int port() const { return port_; }
  // Sets SERVING / NOT_SERVING for the named service and the overall status.
  void SetServing(bool serving);
  // Stops accepting calls, waits up to `grace_ms` for in-flight ones, then cancels the rest.
  void Shutdown(int grace_ms);

 private:
  GrpcServer() = default;
  std::unique_ptr<grpc::Server> server_;
  std::string health_name_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace luna
