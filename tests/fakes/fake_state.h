// State shared by all connections of the fake upstream: per-model behaviour, the quota document
// served by /health, the record of received requests and the usage statistics.
// Thread-safe: every method may be called from any server thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fake_behaviour.h"

namespace luna::fake {

using HeaderList = std::vector<std::pair<std::string_view, std::string_view>>;

// Lowercase hex SHA-256 of `data` (OpenSSL).
std::string Sha256Hex(std::string_view data);

class FakeState {
 public:
  static constexpr size_t kMaxRecorded = 2000;
  static constexpr size_t kMaxRecordedBody = 256 * 1024;

  // `record` false keeps only the counters (--no-record), so benchmarks pay nothing per request.
  explicit FakeState(bool record) : record_(record) {}
  bool recording() const { return record_; }

  // The number `<n>` of the next answer (request-id req_fake_<n>, msg_fake_<n>, ...). Never reset.
  uint64_t NextNumber() { return next_number_.fetch_add(1, std::memory_order_relaxed) + 1; }

  // The behaviour configured for `model`, or the defaults. Never null.
  std::shared_ptr<const ModelBehaviour> BehaviourFor(std::string_view model) const;
  void SetBehaviour(const std::string& model, ModelBehaviour behaviour);
  bool RemoveBehaviour(std::string_view model);
  nlohmann::json BehavioursJson() const;

  // The `accounts` array served by GET /health, kept as serialised JSON.
  void SetAccounts(std::string accounts_json);
  std::string AccountsJson() const;

  // Counts a request to a non-control path and, unless --no-record, keeps a copy of it.
  void RecordRequest(uint64_t number, std::string_view method, std::string_view target,
                     const HeaderList& headers, std::string_view body);
  // Adds the usage of an answer that was written completely.
  void RecordCompleted(const CompletedAnswer& answer);

  // `path_filter` (if set) keeps only requests whose target without query equals it.
  nlohmann::json RequestsJson(std::optional<std::string_view> path_filter) const;
  nlohmann::json StatsJson() const;
  void ClearRequests();
  // Forgets model configs, accounts, the request record and the statistics.
  void Reset();

 private:
  struct RecordedRequest {
    uint64_t number = 0;
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;  // lowercase names
    size_t body_bytes = 0;
    std::string body_sha256;
    std::optional<std::string> body;  // only when <= kMaxRecordedBody
    int64_t received_unix_ms = 0;
  };
  struct ModelStats {
    int64_t requests = 0;
    FakeUsage usage{0, 0, 0, 0};
  };

  const bool record_;
  std::atomic<uint64_t> next_number_{0};

  mutable std::mutex behaviours_mutex_;
  std::map<std::string, std::shared_ptr<const ModelBehaviour>, std::less<>> behaviours_;
  std::string accounts_json_ = "[]";

  mutable std::mutex requests_mutex_;
  std::deque<RecordedRequest> requests_;

  mutable std::mutex stats_mutex_;
  int64_t total_requests_ = 0;
  int64_t completed_ = 0;
  std::map<std::string, int64_t, std::less<>> by_path_;
  std::map<std::string, ModelStats, std::less<>> by_model_;
};

}  // namespace luna::fake
