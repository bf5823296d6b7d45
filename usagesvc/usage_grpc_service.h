// The gRPC face of usagesvc (luna.usage.v1.UsageService, callback API): proto <-> domain and
// absl::Status -> grpc::Status, nothing else. Durability lives in UsageStore, the numbers in Ledger.
//
// Threads: RecordUsage returns at once after queuing the batch; its reactor is finished on the store's
// writer thread once the batch is durable. QueryUsage/ListEvents are finished inline after a cached
// admin check, else on the gRPC thread that delivers authsvc's answer.
#pragma once

#include <atomic>

#include "usage.grpc.pb.h"
#include "usagesvc/grpc_auth_client.h"
#include "usagesvc/spend_watch.h"
#include "usagesvc/usage_store.h"

namespace luna::usagesvc {

class UsageGrpcService final : public luna::usage::v1::UsageService::CallbackService {
 public:
  // The health name the service reports (and the probe asks for).
  static constexpr const char* kHealthName = "luna.usage.v1.UsageService";

  // `store` may be null until the ledger is loaded: every call answers UNAVAILABLE until AttachStore.
  // `auth` and the store must outlive the gRPC server.
  explicit UsageGrpcService(AuthClient* auth, UsageStore* store = nullptr);

  void AttachStore(UsageStore* store);
  // The hub that serves WatchSpend; until it is attached those calls end with UNAVAILABLE.
  void AttachSpendWatch(SpendWatchHub* hub) { spend_.store(hub, std::memory_order_release); }
  // The store, or null before AttachStore (any thread).
  UsageStore* store() const { return store_.load(std::memory_order_acquire); }

  grpc::ServerUnaryReactor* RecordUsage(grpc::CallbackServerContext* ctx,
                                        const luna::usage::v1::RecordUsageRequest* request,
                                        luna::usage::v1::RecordUsageResponse* response) override;
  grpc::ServerUnaryReactor* QueryUsage(grpc::CallbackServerContext* ctx,
                                       const luna::usage::v1::QueryUsageRequest* request,
                                       luna::usage::v1::QueryUsageResponse* response) override;
  grpc::ServerUnaryReactor* ListEvents(grpc::CallbackServerContext* ctx,
                                       const luna::usage::v1::ListEventsRequest* request,
                                       luna::usage::v1::ListEventsResponse* response) override;
  grpc::ServerWriteReactor<luna::usage::v1::SpendUpdate>* WatchSpend(
      grpc::CallbackServerContext* ctx, const luna::usage::v1::WatchSpendRequest* request) override;

  static constexpr int kDefaultListLimit = 100;
  static constexpr int kMaxListLimit = 10000;

 private:
  UsageStore* StoreOrStatus(absl::Status* status) const;

  AuthClient* const auth_;
  std::atomic<UsageStore*> store_;
  std::atomic<SpendWatchHub*> spend_{nullptr};
};

}  // namespace luna::usagesvc
