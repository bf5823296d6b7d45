// The usage ledger in memory: aggregates by key x hour x model, the dedup set of event ids, the
// per-request detail within the retention, and the imported legacy history; the queries over them; and
// the conversion to and from a snapshot. No I/O and no gRPC service here: UsageStore feeds it records
// it has made durable, in journal order.
//
// Thread safety: every method may be called from any thread. Apply and the snapshot pruning take the
// lock exclusively; queries share it. The store calls Apply from its single writer thread only, so
// Seen() answers are stable between a Seen and the following Apply.
//
// Memory (measured by bench/usagesvc/record_bench with mallinfo2 over 8.76 M rows; see README.md):
//   - an aggregate row: 8-byte key (hour << 32 | model) + 56-byte Totals in its key's B-tree, plus its
//     share of the all-keys (hour, model) rollup: ~72 bytes;
//   - an event id: a 16-byte digest in a flat hash set, ~36 bytes (20..40 with the table's fill),
//     whatever the id's length;
//   - a detail event (within the retention only): its serialized form (~60-120 bytes) + ~50 bytes.
//
// Legacy history (imported from the old proxy's keys.json, see legacy_usage.h) is kept apart from the
// event aggregates, in three tables that mirror the old object's three granularities, and a query
// takes each legacy figure from exactly one of them so that nothing is counted twice:
//   - by_hour                         -> legacy hourly rows ("hourly[h].by_model"; converted from the
//                                        legacy zone to the ledger zone, which is exact for whole-hour
//                                        differences; otherwise the hour goes to the ledger hour its start
//                                        falls in);
//   - by_day, or a from/to date given -> legacy daily rows, under their original date labels (a day of
//                                        the old zone cannot be split into the ledger zone's days);
//                                        without by_model the day's "input/output/requests", with
//                                        by_model its "by_model" entries;
//   - otherwise (undated totals)      -> the legacy key totals ("total_input/total_output/
//                                        total_requests/last_used"), or with by_model the
//                                        "total_by_model" entries.
// Model-grouped legacy rows carry only what the old proxy attributed to models (per-model "total" goes
// to total_tokens_only when its input/output split is unknown), exactly as its own by_model views did;
// they may therefore add up to less than the ungrouped figures, as they did in the old proxy.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "usage.pb.h"
#include "usage_storage.pb.h"
#include "usagesvc/ledger_time.h"
#include "usagesvc/legacy_usage.h"

namespace luna::usagesvc {

// The storage format's messages (usage_storage.proto).
namespace storage = ::luna::usage::storage;

// One aggregate: 56 bytes.
struct Totals {
  int64_t requests = 0;
  int64_t errors = 0;  // status not 2xx
  int64_t input = 0;
  int64_t output = 0;
  int64_t cache_read = 0;
  int64_t cache_write = 0;
  int64_t last_used_ms = 0;

  void Add(const Totals& o);
  bool operator==(const Totals&) const = default;
};

// Totals as queries return them: with the legacy tokens known only as a sum.
struct QueryTotals : Totals {
  int64_t total_only = 0;

  void Add(const QueryTotals& o);
  void Add(const Totals& o) { Totals::Add(o); }
  bool operator==(const QueryTotals&) const = default;
};

// The dedup identity of an event id: the first 16 bytes of its SHA-256 (a false duplicate needs a
// 128-bit collision: below 1e-18 even after 10^10 events).
struct EventDigest {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const EventDigest&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const EventDigest& d) {
    return H::combine(std::move(h), d.hi, d.lo);
  }
};
EventDigest DigestOf(std::string_view event_id);

struct UsageQuery {
  std::optional<int64_t> from_day;  // inclusive day indexes in the ledger zone
  std::optional<int64_t> to_day;
  std::string key_id;  // empty: all keys
  bool by_day = false;
  bool by_hour = false;
  bool by_key = false;
  bool by_model = false;
};

struct UsageRow {
  std::optional<int64_t> day;   // day index, when grouped by day or hour
  std::optional<int64_t> hour;  // hour index, when grouped by hour
  std::string key_id;           // when grouped by key
  std::string model;            // when grouped by model
  QueryTotals totals;
};

struct LedgerOptions {
  LedgerZone zone;         // day and hour buckets
  LedgerZone legacy_zone;  // the old proxy's dates
  // Detail older than this (by event time, against now_ms) is not kept.
  int64_t detail_retention_ms = 30LL * 86400 * 1000;
  // The clock for the retention; the system clock when empty.
  std::function<int64_t()> now_ms;
};

struct LedgerStats {
  size_t keys = 0;
  size_t models = 0;
  size_t aggregate_rows = 0;
  size_t rollup_rows = 0;
  size_t event_ids = 0;
  size_t detail_events = 0;
  size_t legacy_keys = 0;
  int64_t events_recorded = 0;
};

// What a snapshot holds, for the log.
struct SnapshotCounts {
  size_t aggregate_rows = 0;
  size_t event_ids = 0;
  size_t detail_events = 0;
};

class Ledger {
 public:
  explicit Ledger(LedgerOptions options);
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Restores a snapshot's contents into an empty ledger. InvalidArgument (naming what is wrong) for an
  // inconsistent snapshot; FailedPrecondition if its zone differs from options.zone by a fraction of an
  // hour (a whole-hour difference is re-bucketed exactly).
  // `raw_detail`: detail events as serialized UsageEvents, beside any in snapshot.detail() (see
  // DecodeSnapshotFileParts: loading keeps each as the bytes it came in, never all parsed at once).
  static absl::StatusOr<std::unique_ptr<Ledger>> FromSnapshot(const storage::v1::Snapshot& snapshot,
                                                              LedgerOptions options,
                                                              const std::vector<std::string_view>& raw_detail = {});

  const LedgerOptions& options() const { return options_; }

  // True if an event with this digest is already recorded.
  bool Seen(const EventDigest& digest) const;
  bool LegacyImported(std::string_view key_id) const;

  // Applies one durable journal record: every event not yet seen (by digest) and every legacy import not
  // yet imported. Returns the number of events applied. A legacy import whose JSON does not parse is
  // recorded as imported but contributes nothing (it is reported in `legacy_errors` if given).
  // `applied`, if given, receives the indexes (in record.events()) of the events applied.
  // `record_bytes`, if given, is the record as journaled: each event's detail is kept as its bytes there
  // instead of the event being serialized again.
  int64_t Apply(const storage::v1::JournalRecord& record, std::vector<std::string>* legacy_errors = nullptr,
                std::vector<int>* applied = nullptr, std::string_view record_bytes = {});

  std::vector<UsageRow> Query(const UsageQuery& query) const;
  // Detail events of `key_id` (empty: all) with time >= since_ms, newest first, at most `limit`.
  std::vector<luna::usage::v1::UsageEvent> ListEvents(std::string_view key_id, int64_t since_ms, size_t limit) const;

  // Drops detail older than the retention.
  void PruneDetail();
  // The whole state, for a snapshot covering journals below `next_generation`: a serialized
  // storage::v1::Snapshot, given to `sink` in pieces of about `piece_bytes` (the detail) — everything
  // but the detail first, as one piece. The detail events go in as the bytes they are kept in (field 18,
  // one length-delimited record each), never parsed or held twice, so a snapshot of any size costs a
  // piece of memory on top of the ledger. ResourceExhausted past 2 GiB, which protobuf cannot parse
  // back, before anything is given to `sink`; an error from `sink` stops the snapshot and is returned.
  absl::StatusOr<SnapshotCounts> WriteSnapshot(int64_t next_generation,
                                               absl::FunctionRef<absl::Status(std::string_view)> sink,
                                               size_t piece_bytes = size_t{1} << 20) const;
  // The same, appended to *out.
  absl::StatusOr<SnapshotCounts> AppendSnapshot(int64_t next_generation, std::string* out) const;
  // The same, parsed (tests and tools).
  storage::v1::Snapshot ToSnapshot(int64_t next_generation) const;

  LedgerStats Stats() const;

  static constexpr uint32_t kNone = 0xffffffffu;  // "no model" / "all" in internal keys

 private:
  // Per-key rows and the rollup: hour * 2^32 + model index.
  using RowMap = absl::btree_map<int64_t, Totals>;
  struct DetailEntry {
    uint32_t key;
    std::string event;  // serialized UsageEvent
  };
  // (time bucket, key, model) for the legacy tables.
  struct LegacyKey {
    int64_t time;
    uint32_t key;
    uint32_t model;
    bool operator<(const LegacyKey& o) const {
      return time != o.time ? time < o.time : key != o.key ? key < o.key : model < o.model;
    }
  };
  using LegacyMap = absl::btree_map<LegacyKey, QueryTotals>;

  int64_t NowMs() const;
  uint32_t InternKey(std::string_view key_id);
  uint32_t InternModel(std::string_view model);
  std::optional<uint32_t> FindKey(std::string_view key_id) const;
  void AddRow(uint32_t key, int64_t hour, uint32_t model, const Totals& t);
  // `bytes`: the event serialized, when the caller has it (else it is serialized here for the detail).
  void ApplyEvent(const luna::usage::v1::UsageEvent& e, std::string_view bytes);
  void ApplyLegacy(std::string_view key_id, const LegacyKeyUsage& usage);

  LedgerOptions options_;
  mutable std::shared_mutex mu_;

  std::vector<std::string> key_names_;
  absl::flat_hash_map<std::string, uint32_t> key_index_;
  std::vector<std::string> model_names_;
  absl::flat_hash_map<std::string, uint32_t> model_index_;

  std::vector<RowMap> rows_by_key_;  // indexed by key index
  std::vector<Totals> key_totals_;   // all time, by key index: undated totals without a row scan
  RowMap rollup_;                    // all keys
  size_t row_count_ = 0;

  absl::flat_hash_set<EventDigest> seen_;
  absl::btree_multimap<int64_t, DetailEntry> detail_;  // by event time
  int64_t events_recorded_ = 0;

  // Legacy tables; time = 0 for totals, the old date's day index for daily, the ledger hour for hourly.
  LegacyMap legacy_totals_;
  LegacyMap legacy_daily_;
  LegacyMap legacy_hourly_;
  absl::btree_map<std::string, std::string> legacy_imported_;  // key id -> usage JSON
};

}  // namespace luna::usagesvc
