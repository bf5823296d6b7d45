// What each key has spent in the current day and calendar month (the ledger's time zone), kept up to
// date as events are applied, for the gateways' token budgets (WatchSpend). Also the highest event
// sequence number applied per gateway id, so that a gateway knows which of its own events the totals
// already include.
//
// Thread safety: every method may be called from any thread (one mutex). Apply takes the tracker's lock
// and then the ledger's, and Reload the same two in the same order, so an event is counted exactly once
// whether it is applied before or after a reload.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "usage.pb.h"
#include "usagesvc/ledger.h"

namespace luna::usagesvc {

struct SpendWindows {
  int64_t day_start_ms = 0;
  int64_t day_end_ms = 0;
  int64_t month_start_ms = 0;
  int64_t month_end_ms = 0;
};

// The day and month around `unix_ms` in `zone`.
SpendWindows WindowsAt(const LedgerZone& zone, int64_t unix_ms);

// "gw-1a2b3c-17" with gateway id "gw-1a2b3c" -> 17; 0 if the id does not have that form.
int64_t EventSequence(std::string_view event_id, std::string_view gateway_id);

class SpendTracker {
 public:
  // `now_ms`: the clock (the system clock when empty). Computes the current totals from `ledger`.
  SpendTracker(Ledger* ledger, std::function<int64_t()> now_ms = nullptr);

  // Applies `record` to the ledger and counts the events that were new. Used by UsageStore instead of
  // Ledger::Apply once the tracker is attached.
  int64_t Apply(const storage::v1::JournalRecord& record, std::vector<std::string>* legacy_errors,
                std::string_view record_bytes = {});

  // If the day has turned since the last call, recomputes every total from the ledger and returns true
  // (the watchers then need a snapshot).
  bool RollIfDue();

  // Every key with tokens this month, for a new watcher from `gateway_id`.
  void Snapshot(std::string_view gateway_id, luna::usage::v1::SpendUpdate* out) const;
  // The keys changed since the last call; false if none. `*out` gets the windows and keys, and
  // `*watermarks` the watermark of each of `gateways`, taken together so that a watermark never covers
  // an event whose tokens are not in the totals sent with it.
  bool TakeChanges(luna::usage::v1::SpendUpdate* out, const std::vector<std::string>& gateways,
                   std::vector<int64_t>* watermarks);

 private:
  struct Spend {
    int64_t day = 0;
    int64_t day_cache = 0;
    int64_t month = 0;
    int64_t month_cache = 0;
  };
  // Requires mu_.
  void ReloadLocked(int64_t now);
  void FillKey(const std::string& key_id, const Spend& s, luna::usage::v1::SpendUpdate* out) const;
  void FillWindows(luna::usage::v1::SpendUpdate* out) const;
  int64_t WatermarkLocked(std::string_view gateway_id) const;

  Ledger* const ledger_;
  std::function<int64_t()> now_ms_;
  mutable std::mutex mu_;
  SpendWindows windows_;
  std::unordered_map<std::string, Spend> spend_;
  std::unordered_set<std::string> changed_;
  std::unordered_map<std::string, int64_t> watermarks_;  // gateway id -> highest sequence applied
};

}  // namespace luna::usagesvc
