// Imports the old proxy's usage history (held by authsvc) into the ledger, once per key id: on a
// background thread, retrying until authsvc answers and the import is durable. Idempotent across
// restarts: the journal records each imported key id (UsageStore skips ids already imported).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "usagesvc/grpc_auth_client.h"
#include "usagesvc/usage_store.h"

namespace luna::usagesvc {

class LegacyImporter {
 public:
  struct Options {
    std::chrono::milliseconds first_retry{1000};
    std::chrono::milliseconds max_retry{30000};
  };
  // Starts at once. `auth` and `store` must outlive the importer.
  LegacyImporter(AuthClient* auth, UsageStore* store, Options options);
  LegacyImporter(AuthClient* auth, UsageStore* store) : LegacyImporter(auth, store, Options()) {}
  // Stops retrying and joins the thread (waits for an RPC in flight, at most its deadline).
  ~LegacyImporter();

  // True once one import pass has completed.
  bool done() const;
  // Waits up to `timeout` for done().
  bool WaitDone(std::chrono::milliseconds timeout) const;

 private:
  void Run();
  // One pass: OK when everything importable is durable.
  absl::Status ImportOnce();

  AuthClient* const auth_;
  UsageStore* const store_;
  const Options options_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool stopping_ = false;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace luna::usagesvc
