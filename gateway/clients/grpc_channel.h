// The channel settings every gateway → service link uses.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "common/grpc_security.h"

namespace luna::gateway {

// Keepalive pings notice a dead service (or link) within seconds even on a quiet watch stream;
// reconnects are quick after a service restarts; messages up to 1 GB are accepted (a WatchKeys
// snapshot holds every key). `security`: TLS and the internal token, as configured for the process.
std::shared_ptr<grpc::Channel> MakeServiceChannel(const std::string& target, const GrpcSecurity& security);

}  // namespace luna::gateway
