// The gateway's WatchSpend stream from usagesvc: keeps the SpendBook (the keys' day and month token
// totals, for budgets) current. One thread of its own (StreamWatcher).
#pragma once

#include <memory>
#include <string>

#include "common/grpc_security.h"
#include "gateway/clients/stream_watcher.h"
#include "gateway/limits/key_limits.h"
#include "usage.grpc.pb.h"

namespace luna::gateway {

class GrpcSpendWatch {
 public:
  // `gateway_id`: the prefix of this gateway's usage event ids (UsageShipper::id_prefix()).
  GrpcSpendWatch(const std::string& target, const GrpcSecurity& security, std::string gateway_id, SpendBook* book);
  void Start() { watcher_.Start(); }
  void Stop() { watcher_.Stop(); }

 private:
  grpc::Status RunOnce(grpc::ClientContext& ctx, bool* delivered);

  std::unique_ptr<luna::usage::v1::UsageService::Stub> stub_;
  const std::string gateway_id_;
  SpendBook* const book_;
  StreamWatcher watcher_;
};

}  // namespace luna::gateway
