// The gRPC face of fallbacksvc (luna.fallback.v1.FallbackService, callback API): proto <-> domain and
// absl::Status -> grpc::Status, nothing else. The rules live in RouteEngine, time and state in
// RouteKeeper.
//
// Threads: WatchRoutes streams are written from whichever thread publishes a table (only the newest
// table not yet sent is kept per stream, so a slow watcher never makes fallbacksvc queue).
// ReportOutcomes finishes inline. GetStatus and ReloadConfig finish inline after a cached admin check,
// else on the gRPC thread that delivers authsvc's answer.
#pragma once

#include <mutex>
#include <set>
#include <string>

#include "common/grpc_admin_check.h"
#include "fallback.grpc.pb.h"
#include "fallbacksvc/route_keeper.h"

namespace luna::fallbacksvc {

class WatchRoutesReactor;

class FallbackGrpcService final : public luna::fallback::v1::FallbackService::CallbackService {
 public:
  // The health name the service reports (and the probe asks for).
  static constexpr const char* kHealthName = "luna.fallback.v1.FallbackService";
  // Batches larger than this are refused (a gateway sends a few hundred at most).
  static constexpr int kMaxOutcomesPerBatch = 10000;

  // `keeper` and `admin` must outlive the gRPC server.
  FallbackGrpcService(RouteKeeper* keeper, AdminChecker* admin, std::string config_path);
  ~FallbackGrpcService() override;

  // Ends every open WatchRoutes stream with OK, and any opened later at once, so that the server's
  // Shutdown does not wait for them. Call before shutting the server down.
  void BeginShutdown();

  // Open WatchRoutes streams (for metrics).
  size_t active_watches();

  grpc::ServerWriteReactor<luna::fallback::v1::RouteTable>* WatchRoutes(
      grpc::CallbackServerContext* ctx, const luna::fallback::v1::WatchRoutesRequest* request) override;
  grpc::ServerUnaryReactor* ReportOutcomes(grpc::CallbackServerContext* ctx,
                                           const luna::fallback::v1::ReportOutcomesRequest* request,
                                           luna::fallback::v1::ReportOutcomesResponse* response) override;
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* ctx,
                                      const luna::fallback::v1::GetStatusRequest* request,
                                      luna::fallback::v1::FallbackStatus* response) override;
  grpc::ServerUnaryReactor* ReloadConfig(grpc::CallbackServerContext* ctx,
                                         const luna::fallback::v1::ReloadConfigRequest* request,
                                         luna::fallback::v1::ReloadConfigResponse* response) override;

 private:
  friend class WatchRoutesReactor;
  // Called by reactors: Register returns false when shutting down (the reactor then finishes at once).
  bool RegisterWatch(WatchRoutesReactor* reactor);
  void UnregisterWatch(WatchRoutesReactor* reactor);

  RouteKeeper* const keeper_;
  AdminChecker* const admin_;
  const std::string config_path_;

  std::mutex watches_mu_;
  std::set<WatchRoutesReactor*> watches_;
  bool shutting_down_ = false;
};

// The route table as the proto carries it. `redact` blanks the providers' api_key (GetStatus).
void ToProto(const RouteTableData& table, bool redact, luna::fallback::v1::RouteTable* out);

// Checks and converts a batch. InvalidArgument naming the first bad outcome and field.
absl::StatusOr<std::vector<Outcome>> FromProto(const luna::fallback::v1::ReportOutcomesRequest& request);

}  // namespace luna::fallbacksvc
