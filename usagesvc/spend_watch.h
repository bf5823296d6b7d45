// The WatchSpend streams: each gateway gets a snapshot of the keys' spend, then the keys that changed,
// pushed by one thread at most every `interval_ms` (changes in between are coalesced: a key's figures
// are whole totals, so a watcher only ever needs the latest). When the day turns every watcher gets a
// new snapshot.
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "usage.grpc.pb.h"
#include "usagesvc/spend_tracker.h"

namespace luna::usagesvc {

class SpendWatchHub {
 public:
  explicit SpendWatchHub(SpendTracker* tracker, int interval_ms = 50);
  ~SpendWatchHub();

  // A new stream for `request->gateway_id()`. The reactor deletes itself when the call is done.
  grpc::ServerWriteReactor<luna::usage::v1::SpendUpdate>* Open(grpc::CallbackServerContext* ctx,
                                                               const luna::usage::v1::WatchSpendRequest* request);
  // Ends every stream and stops the pusher; new streams are finished at once. Idempotent.
  void Shutdown();

  class Reactor;

 private:
  void Loop();
  void Unregister(Reactor* r);

  SpendTracker* const tracker_;
  const int interval_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::set<Reactor*> watchers_;  // guarded by mu_
  std::thread thread_;
};

// A stream that ends at once with `status`, for calls that come before the service can serve them.
grpc::ServerWriteReactor<luna::usage::v1::SpendUpdate>* FinishedSpendStream(grpc::Status status);

}  // namespace luna::usagesvc
