// Counts a gRPC server's finished calls by service, method and status code, with a server
// interceptor, so no RPC handler has to remember to count. Lock-free on the call path: the table of
// methods is built once (from the services' generated descriptors, plus the standard health and
// reflection services) and never changes; each cell is an atomic counter.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/prometheus_text.h"

namespace luna {

class GrpcCallMetrics {
 public:
  // `services`: full names of the generated services to count by method, e.g.
  // "luna.auth.v1.AuthService". Calls of any other method count under service and method "other".
  explicit GrpcCallMetrics(const std::vector<std::string>& services);
  GrpcCallMetrics(const GrpcCallMetrics&) = delete;
  GrpcCallMetrics& operator=(const GrpcCallMetrics&) = delete;

  // An interceptor factory for grpc::ServerBuilder. This object must outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

  // Counts one finished call; `path` is "/package.Service/Method" as gRPC names it.
  void Count(std::string_view path, grpc::StatusCode code);
  // The count so far (for tests).
  uint64_t Get(std::string_view path, grpc::StatusCode code) const;

  // Writes the family `name` (a counter with labels service, method, code). Every known method
  // appears with code OK (0 until called), other codes once they occur.
  void Write(prom::TextWriter* out, std::string_view name) const;

  // "OK", "CANCELLED", ... as gRPC spells the codes.
  static const char* CodeName(grpc::StatusCode code);

  // One method's counters; the interceptor finds its row once per call.
  static constexpr size_t kCodes = 17;  // OK .. UNAUTHENTICATED
  struct Row {
    std::string service;
    std::string method;
    std::array<std::atomic<uint64_t>, kCodes> counts{};
    void Count(grpc::StatusCode code);
  };
  Row* Find(std::string_view path) const;

 private:

  std::vector<std::unique_ptr<Row>> rows_;  // fixed after construction; the last one is "other"
  absl::flat_hash_map<std::string, Row*> by_path_;
};

}  // namespace luna
