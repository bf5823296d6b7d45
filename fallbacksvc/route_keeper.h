// RouteKeeper: the RouteEngine in a running service. It numbers and publishes route tables, starts
// a new one by itself when a cooldown ends (a timer thread), reloads the config, and keeps the state
// file current (coalesced writes, at most one per min_save_interval_ms, flushed on Stop).
//
// Threads: every public method may be called from any thread. Table listeners are called on the
// thread that made the change (a gRPC thread, the poller, the timer thread), never under the engine's
// lock, one at a time; tables can reach a listener out of order, so listeners keep the highest version.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "fallbacksvc/fallback_config.h"
#include "fallbacksvc/fallback_counters.h"
#include "fallbacksvc/quota_document.h"
#include "fallbacksvc/route_engine.h"
#include "fallbacksvc/state_store.h"

namespace luna::fallbacksvc {

struct ProviderPollStatus {
  std::string name;
  std::string quota_url;  // "" = not polled
  int64_t last_poll_unix_ms = 0;
  std::string last_poll_error;  // "" = the last poll succeeded (or none yet)
};

struct KeeperStatus {
  std::shared_ptr<const RouteTableData> table;
  std::shared_ptr<const FallbackConfig> config;
  std::vector<ProviderPollStatus> providers;
  int64_t config_loaded_unix_ms = 0;
  std::string last_reload_error;
};

class RouteKeeper {
 public:
  using ConfigLoader = std::function<absl::StatusOr<FallbackConfig>()>;
  using TableListener = std::function<void(std::shared_ptr<const RouteTableData>)>;

  struct Options {
    std::string state_file;
    ConfigLoader load_config;
    int64_t min_save_interval_ms = 250;
    // Unix milliseconds; the system clock when unset.
    std::function<int64_t()> now_ms;
    // Counts outcomes, cooldowns, reloads, state file writes and new tables (optional; must outlive
    // the keeper).
    FallbackCounters* counters = nullptr;
  };

  // Loads the config (one that does not validate is an error) and the state file (one that does not
  // parse is an error: the caller must refuse to start; the file is left untouched). Starts the timer.
  static absl::StatusOr<std::unique_ptr<RouteKeeper>> Create(Options options);
  ~RouteKeeper();
  RouteKeeper(const RouteKeeper&) = delete;
  RouteKeeper& operator=(const RouteKeeper&) = delete;

  std::shared_ptr<const RouteTableData> Current() const;
  std::shared_ptr<const FallbackConfig> config() const;

  // Calls `listener` with the current table at once, then with every new one until Unsubscribe.
  uint64_t Subscribe(TableListener listener);
  // After it returns the listener is not running and will not be called again.
  void Unsubscribe(uint64_t id);

  // Applies a batch of outcomes in order; returns the table version after it.
  uint64_t ReportOutcomes(const std::vector<Outcome>& outcomes);

  // A quota poll of `provider` finished: its document, or why it failed (the last known quota stays).
  void RecordPoll(const std::string& provider, const absl::StatusOr<QuotaDocument>& result);

  // Re-reads the config. On failure the config in force stays and the error is kept for Status.
  absl::StatusOr<uint64_t> Reload();

  // Called (on the reloading thread) after a successful reload; set before other threads use the keeper.
  void SetConfigListener(std::function<void()> listener) { config_listener_ = std::move(listener); }

  KeeperStatus Status() const;
  const std::string& state_file() const { return options_.state_file; }
  // Why the last write of the state file failed; "" once one succeeds (writes are retried every
  // second meanwhile; routing goes on from memory, and the file keeps its last whole content).
  std::string state_file_problem() const;
  // The keeper's clock (unix milliseconds).
  int64_t now_ms() const { return options_.now_ms(); }

  // Stops the timer and writes the state file if it changed. Idempotent; the destructor calls it.
  void Stop();

 private:
  explicit RouteKeeper(Options options);
  int64_t Now() const { return options_.now_ms(); }
  // Builds the table; if it routes differently from the current one, numbers it and makes it current.
  // Returns the new table, or null. Requires mu_.
  std::shared_ptr<const RouteTableData> RebuildLocked(int64_t now_ms);
  void Publish(std::shared_ptr<const RouteTableData> table);
  void MarkDirtyLocked();
  void ResetPollStatusLocked();
  void TimerLoop();
  bool SaveNow();

  Options options_;
  std::function<void()> config_listener_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  RouteEngine engine_;
  std::shared_ptr<const RouteTableData> current_;
  uint64_t version_ = 0;
  std::map<std::string, ProviderPollStatus> polls_;
  int64_t config_loaded_unix_ms_ = 0;
  std::string last_reload_error_;
  bool dirty_ = false;
  int64_t last_save_unix_ms_ = 0;
  std::string save_error_;
  bool stopping_ = false;

  std::mutex listeners_mu_;
  std::map<uint64_t, TableListener> listeners_;
  uint64_t next_listener_id_ = 1;

  std::mutex save_mu_;  // one writer of the state file at a time
  std::thread timer_;
};

}  // namespace luna::fallbacksvc
