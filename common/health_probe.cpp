#include "common/health_probe.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include <grpcpp/grpcpp.h>

#include "grpc/health/v1/health.grpc.pb.h"

namespace luna {

bool ProbeGrpcHealth(const std::string& target, const std::string& service, int timeout_ms,
                     const GrpcSecurity& security) {
  auto channel = security.CreateChannel(target);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  auto st = stub->Check(&ctx, req, &resp);
  return st.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

int RunGrpcProbe(const std::string& target, const std::string& service, int timeout_ms) {
  auto security = GrpcSecurity::FromEnv(false);
  if (!security.ok()) {
    std::fprintf(stderr, "%s\n", std::string(security.status().message()).c_str());
    return 1;
  }
  return ProbeGrpcHealth(target, service, timeout_ms, **security) ? 0 : 1;
}

bool ProbeHttp(const std::string& host, int port, const std::string& path, int timeout_ms) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string h = (host.empty() || host == "0.0.0.0") ? "127.0.0.1" : host;
  if (getaddrinfo(h.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return false;
  int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  bool ok = false;
  if (fd >= 0) {
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
      std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + h + "\r\nConnection: close\r\n\r\n";
      if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
        char buf[64] = {};
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        // "HTTP/1.1 2xx"
        ok = n >= 12 && std::strncmp(buf, "HTTP/1.", 7) == 0 && buf[9] == '2';
      }
    }
    close(fd);
  }
  freeaddrinfo(res);
  return ok;
}

}  // namespace luna
