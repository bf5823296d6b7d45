// The probe modes of the binaries: check a running instance's health and exit 0 (healthy) or 1.
#pragma once

#include <string>

#include "common/grpc_security.h"

namespace luna {

// grpc.health.v1.Health/Check on `target` ("host:port") for `service` ("" = the server as a whole),
// over a channel with `security`'s credentials and token. True only for SERVING within `timeout_ms`.
bool ProbeGrpcHealth(const std::string& target, const std::string& service, int timeout_ms,
                     const GrpcSecurity& security = GrpcSecurity::Plaintext());

// A service's --probe: the gRPC security settings come from the environment, as the service's own do
// (so in a container the probe speaks TLS and sends the token like every other client there). Returns
// the exit status: 0 SERVING, 1 anything else (a bad setting is printed to stderr).
int RunGrpcProbe(const std::string& target, const std::string& service, int timeout_ms);

// GET `path` on host:port over plain HTTP/1.1; true only for a 2xx status within `timeout_ms`.
bool ProbeHttp(const std::string& host, int port, const std::string& path, int timeout_ms);

}  // namespace luna
