// Enforcing a key's policy (common/key_policy.h) in the gateway, with no RPC per request:
//   - requests and tokens per minute are token buckets here, in each gateway (KeyLimiter);
//   - day and month token budgets compare usagesvc's totals, streamed to every gateway (SpendBook),
//     plus this gateway's own events that those totals do not include yet (KeyLimiter's pending list,
//     dropped as usagesvc's watermark for this gateway passes them).
// A request is admitted while a budget has any tokens left, so a key may overshoot a budget by the
// requests admitted before their tokens are known: per gateway, the requests in flight when the budget
// runs out (one, for an agent that sends one request at a time), plus what other gateways spent in the
// last ~150 ms (usage is shipped every 100 ms, totals pushed every 50 ms) that this gateway has not
// heard of yet. The rate buckets are per gateway: N gateways admit up to N times a key's rates.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "common/key_policy.h"
#include "usage.pb.h"

namespace luna::gateway {

// [start, end) of the current day and month, in Unix ms, in usagesvc's time zone.
struct SpendWindows {
  int64_t day_start_ms = 0;
  int64_t day_end_ms = 0;
  int64_t month_start_ms = 0;
  int64_t month_end_ms = 0;
};
// The UTC day and month around `unix_ms` (used until usagesvc has said which zone it counts in).
SpendWindows UtcWindowsAt(int64_t unix_ms);

struct KeySpend {
  int64_t day = 0;          // input + output
  int64_t day_cache = 0;    // cache read + write
  int64_t month = 0;
  int64_t month_cache = 0;
};

// usagesvc's totals per key for the current day and month (WatchSpend). Written by the watch thread,
// read by request threads.
class SpendBook {
 public:
  void Apply(const luna::usage::v1::SpendUpdate& update);
  void SetConnected(bool connected) { connected_.store(connected, std::memory_order_release); }
  bool connected() const { return connected_.load(std::memory_order_acquire); }
  bool ever_synced() const { return ever_synced_.load(std::memory_order_acquire); }
  size_t keys() const;

  struct View {
    SpendWindows windows;   // the windows around `now`
    KeySpend spend;         // usagesvc's totals for those windows (zero where they are stale)
    int64_t watermark = 0;  // this gateway's events up to this sequence are included
  };
  View Get(const std::string& key_id, int64_t now_ms) const;

 private:
  mutable std::shared_mutex mu_;
  SpendWindows windows_;
  std::unordered_map<std::string, KeySpend> spend_;
  int64_t watermark_ = 0;
  std::atomic<bool> connected_{false};
  std::atomic<bool> ever_synced_{false};
};

// Why a request was refused, and what to tell the client.
struct LimitDecision {
  enum class Kind { kOk, kRequestsPerMinute, kTokensPerMinute, kDayBudget, kMonthBudget };
  Kind kind = Kind::kOk;
  int64_t retry_after_ms = 0;  // when trying again can succeed
  int64_t limit = 0;
  int64_t used = 0;            // budgets: tokens counted so far in the period
  int64_t resets_at_ms = 0;    // budgets: the end of the period
  bool ok() const { return kind == Kind::kOk; }
};
// The client-facing message for a refusal ("Daily token budget of ... spent ...").
std::string LimitMessage(const LimitDecision& d);

struct BudgetState {
  int64_t limit = 0;
  int64_t used = 0;
  int64_t resets_at_ms = 0;
};

// The runtime state of one key's limits, shared by every thread of the gateway and kept across policy
// changes (KeyTable carries it from the old entry to the new one).
class KeyLimiter {
 public:
  explicit KeyLimiter(std::string key_id) : key_id_(std::move(key_id)) {}
  const std::string& key_id() const { return key_id_; }

  // Takes one request from the per-minute request bucket (if the policy has one).
  LimitDecision TakeRequest(const KeyPolicy& p, int64_t mono_ms);
  // Checks, without taking anything, that the token bucket and the budgets have tokens left.
  LimitDecision CheckTokens(const KeyPolicy& p, const SpendBook* book, int64_t now_ms, int64_t mono_ms);
  // Counts a finished request's tokens: against the token bucket, and as pending spend until usagesvc's
  // totals include event `seq` of this gateway (made at `event_ms`).
  void Charge(const KeyPolicy& p, int64_t tokens, int64_t cache_tokens, int64_t seq, int64_t event_ms,
              int64_t mono_ms);
  // The budgets as they stand (for the admin API); limit 0 = no such budget.
  std::pair<BudgetState, BudgetState> Budgets(const KeyPolicy& p, const SpendBook* book, int64_t now_ms);

  static constexpr size_t kMaxPending = 100000;

 private:
  struct Pending {
    int64_t seq;
    int64_t time_ms;
    int64_t tokens;
    int64_t cache;
  };
  void Refill(const KeyPolicy& p, int64_t mono_ms);
  // Requires mu_: usagesvc's totals plus the pending spend they do not include.
  std::pair<BudgetState, BudgetState> BudgetsLocked(const KeyPolicy& p, const SpendBook* book, int64_t now_ms);

  const std::string key_id_;
  std::mutex mu_;
  bool requests_on_ = false;  // the request bucket exists (a bucket starts full)
  bool tokens_on_ = false;
  double requests_ = 0;       // request bucket level
  double tokens_ = 0;         // token bucket level (may go below zero after a big answer)
  int64_t last_mono_ms_ = 0;
  std::deque<Pending> pending_;
};

}  // namespace luna::gateway
