#include "usagesvc/ledger.h"

#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/proto_fields.h"

namespace luna::usagesvc {
namespace pb = luna::usage::v1;
namespace spb = luna::usage::storage::v1;

namespace {

constexpr int64_t kModelSpan = int64_t{1} << 32;
constexpr uint32_t kAll = Ledger::kNone;
constexpr int64_t kMinDay = -800000;  // before year 0
constexpr int64_t kMaxDay = 3000000;  // after year 9999

int64_t RowKey(int64_t hour, uint32_t model) { return hour * kModelSpan + model; }
int64_t HourOfRowKey(int64_t k) { return FloorDiv(k, kModelSpan); }
uint32_t ModelOfRowKey(int64_t k) { return static_cast<uint32_t>(k - HourOfRowKey(k) * kModelSpan); }

// Debian's abseil has its own string_view: heterogeneous lookups need that one.
absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

struct GroupKey {
  int64_t time = 0;
  uint32_t key = kAll;
  uint32_t model = kAll;
  bool operator==(const GroupKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const GroupKey& g) {
    return H::combine(std::move(h), g.time, g.key, g.model);
  }
};

QueryTotals FromFigures(const LegacyModelFigures& f) {
  QueryTotals t;
  t.requests = f.requests;
  t.input = f.input;
  t.output = f.output;
  t.total_only = f.total_only;
  return t;
}

// Ranks of interned names in name order, for sorting rows by name with integer compares.
std::vector<uint32_t> Ranks(const std::vector<std::string>& names) {
  std::vector<uint32_t> order(names.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return names[a] < names[b]; });
  std::vector<uint32_t> rank(names.size());
  for (uint32_t r = 0; r < order.size(); ++r) rank[order[r]] = r;
  return rank;
}

}  // namespace

void Totals::Add(const Totals& o) {
  requests += o.requests;
  errors += o.errors;
  input += o.input;
  output += o.output;
  cache_read += o.cache_read;
  cache_write += o.cache_write;
  last_used_ms = std::max(last_used_ms, o.last_used_ms);
}

void QueryTotals::Add(const QueryTotals& o) {
  Totals::Add(o);
  total_only += o.total_only;
}

EventDigest DigestOf(std::string_view event_id) {
  // luna::Sha256 keeps its algorithm and context: a quarter of the one-shot SHA256()'s cost, which
  // looks the algorithm up on every call (twice per event recorded).
  const Sha256Digest md = Sha256(event_id);
  EventDigest d;
  std::memcpy(&d.hi, md.data(), 8);
  std::memcpy(&d.lo, md.data() + 8, 8);
  return d;
}

Ledger::Ledger(LedgerOptions options) : options_(std::move(options)) {
  if (!options_.now_ms) {
    options_.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

int64_t Ledger::NowMs() const { return options_.now_ms(); }

uint32_t Ledger::InternKey(std::string_view key_id) {
  auto [it, inserted] = key_index_.try_emplace(AbslView(key_id), static_cast<uint32_t>(key_names_.size()));
  if (inserted) {
    key_names_.emplace_back(key_id);
    rows_by_key_.emplace_back();
    key_totals_.emplace_back();
  }
  return it->second;
}

uint32_t Ledger::InternModel(std::string_view model) {
  auto [it, inserted] = model_index_.try_emplace(AbslView(model), static_cast<uint32_t>(model_names_.size()));
  if (inserted) model_names_.emplace_back(model);
  return it->second;
}

std::optional<uint32_t> Ledger::FindKey(std::string_view key_id) const {
  auto it = key_index_.find(AbslView(key_id));
  if (it == key_index_.end()) return std::nullopt;
  return it->second;
}

void Ledger::AddRow(uint32_t key, int64_t hour, uint32_t model, const Totals& t) {
  int64_t k = RowKey(hour, model);
  auto [it, inserted] = rows_by_key_[key].try_emplace(k, t);
  if (inserted) {
    ++row_count_;
  } else {
    it->second.Add(t);
  }
  auto [rit, rinserted] = rollup_.try_emplace(k, t);
  if (!rinserted) rit->second.Add(t);
  key_totals_[key].Add(t);
}

bool Ledger::Seen(const EventDigest& digest) const {
  std::shared_lock lock(mu_);
  return seen_.contains(digest);
}

bool Ledger::LegacyImported(std::string_view key_id) const {
  std::shared_lock lock(mu_);
  return legacy_imported_.contains(std::string(key_id));
}

void Ledger::ApplyEvent(const pb::UsageEvent& e, std::string_view bytes) {
  uint32_t key = InternKey(e.key_id());
  uint32_t model = InternModel(e.served_model().empty() ? e.requested_model() : e.served_model());
  Totals t;
  t.requests = 1;
  t.errors = (e.status() >= 200 && e.status() < 300) ? 0 : 1;
  t.input = e.input_tokens();
  t.output = e.output_tokens();
  t.cache_read = e.cache_read_tokens();
  t.cache_write = e.cache_write_tokens();
  t.last_used_ms = e.time_unix_ms();
  AddRow(key, options_.zone.HourIndex(e.time_unix_ms()), model, t);
  if (e.time_unix_ms() >= NowMs() - options_.detail_retention_ms) {
    detail_.emplace(e.time_unix_ms(), DetailEntry{key, bytes.empty() ? e.SerializeAsString() : std::string(bytes)});
  }
  ++events_recorded_;
}

void Ledger::ApplyLegacy(std::string_view key_id, const LegacyKeyUsage& u) {
  uint32_t key = InternKey(key_id);
  QueryTotals totals;
  totals.requests = u.total_requests;
  totals.input = u.total_input;
  totals.output = u.total_output;
  totals.last_used_ms = u.last_used_unix_ms;
  legacy_totals_[LegacyKey{0, key, kNone}].Add(totals);
  for (const auto& [model, f] : u.total_by_model) {
    legacy_totals_[LegacyKey{0, key, InternModel(model)}].Add(FromFigures(f));
  }
  for (const auto& [day, d] : u.daily) {
    QueryTotals t;
    t.requests = d.requests;
    t.input = d.input;
    t.output = d.output;
    legacy_daily_[LegacyKey{day, key, kNone}].Add(t);
    for (const auto& [model, f] : d.by_model) {
      legacy_daily_[LegacyKey{day, key, InternModel(model)}].Add(FromFigures(f));
    }
  }
  for (const auto& [legacy_hour, by_model] : u.hourly) {
    int64_t unix_seconds = legacy_hour * 3600 - options_.legacy_zone.offset_seconds;
    int64_t hour = FloorDiv(unix_seconds + options_.zone.offset_seconds, 3600);
    for (const auto& [model, f] : by_model) {
      legacy_hourly_[LegacyKey{hour, key, InternModel(model)}].Add(FromFigures(f));
    }
  }
}

int64_t Ledger::Apply(const spb::JournalRecord& record, std::vector<std::string>* legacy_errors,
                      std::vector<int>* applied_indexes, std::string_view record_bytes) {
  // Each event's bytes in the journaled record, in order (none if the record's bytes are not given or
  // do not match it).
  std::vector<std::string_view> event_bytes;
  if (!record_bytes.empty()) {
    const bool well_formed = ForEachLengthDelimited(record_bytes, spb::JournalRecord::kEventsFieldNumber,
                                                    [&](std::string_view event, size_t) {
                                                      event_bytes.push_back(event);
                                                      return true;
                                                    });
    if (!well_formed || event_bytes.size() != static_cast<size_t>(record.events_size())) event_bytes.clear();
  }
  std::unique_lock lock(mu_);
  int64_t applied = 0;
  for (int i = 0; i < record.events_size(); ++i) {
    const pb::UsageEvent& e = record.events(i);
    if (!seen_.insert(DigestOf(e.event_id())).second) continue;
    ApplyEvent(e, event_bytes.empty() ? std::string_view() : event_bytes[static_cast<size_t>(i)]);
    ++applied;
    if (applied_indexes != nullptr) applied_indexes->push_back(i);
  }
  for (const spb::LegacyImport& imp : record.legacy_imports()) {
    if (!legacy_imported_.try_emplace(imp.key_id(), imp.usage_json()).second) continue;
    auto usage = ParseLegacyUsage(imp.usage_json(), options_.legacy_zone);
    if (!usage.ok()) {
      if (legacy_errors != nullptr) {
        legacy_errors->push_back(absl::StrCat(imp.key_id(), ": ", usage.status().message()));
      }
      continue;
    }
    ApplyLegacy(imp.key_id(), *usage);
  }
  return applied;
}

std::vector<UsageRow> Ledger::Query(const UsageQuery& q) const {
  std::shared_lock lock(mu_);
  const bool by_time = q.by_day || q.by_hour;
  // Events are limited to years 1970..9999 and dates to 4-digit years, so these bounds are "unbounded".
  const int64_t from_day = std::max<int64_t>(q.from_day.value_or(kMinDay), kMinDay);
  const int64_t to_day = std::min<int64_t>(q.to_day.value_or(kMaxDay), kMaxDay);
  if (from_day > to_day) return {};
  std::optional<uint32_t> only_key;
  if (!q.key_id.empty()) {
    only_key = FindKey(q.key_id);
    if (!only_key) return {};
  }

  absl::flat_hash_map<GroupKey, QueryTotals> groups;
  auto bucket = [&](int64_t hour) -> int64_t { return q.by_hour ? hour : q.by_day ? DayOfHour(hour) : 0; };

  // Event aggregates: the rollup when keys are neither filtered nor grouped, else the per-key rows.
  const int64_t lo = RowKey(from_day * 24, 0);
  const int64_t hi = RowKey((to_day + 1) * 24, 0);
  auto scan = [&](const RowMap& rows, uint32_t key) {
    // Consecutive rows often fall into the same group: accumulate locally, flush on change.
    GroupKey current;
    QueryTotals acc;
    bool have = false;
    for (auto it = rows.lower_bound(lo), end = rows.lower_bound(hi); it != end; ++it) {
      GroupKey g{bucket(HourOfRowKey(it->first)), key, q.by_model ? ModelOfRowKey(it->first) : kAll};
      if (have && !(g == current)) {
        groups[current].Add(acc);
        acc = QueryTotals();
      }
      current = g;
      have = true;
      acc.Add(it->second);
    }
    if (have) groups[current].Add(acc);
  };
  if (!by_time && !q.by_model && !q.from_day && !q.to_day) {
    // Undated totals per key or overall (GET /admin/keys, /admin/usage): no row scan.
    for (uint32_t k = 0; k < key_totals_.size(); ++k) {
      if (only_key && k != *only_key) continue;
      if (key_totals_[k].requests == 0) continue;  // a key known only from legacy history or detail
      groups[GroupKey{0, q.by_key ? k : kAll, kAll}].Add(key_totals_[k]);
    }
  } else if (only_key) {
    scan(rows_by_key_[*only_key], q.by_key ? *only_key : kAll);
  } else if (q.by_key) {
    for (uint32_t k = 0; k < rows_by_key_.size(); ++k) scan(rows_by_key_[k], k);
  } else {
    scan(rollup_, kAll);
  }

  // Legacy figures from exactly one of the three tables (see the header).
  // `tlo`..`thi` bound the table's time column (inclusive).
  auto take_legacy = [&](const LegacyMap& table, bool model_rows, int64_t tlo, int64_t thi) {
    for (auto it = table.lower_bound(LegacyKey{tlo, 0, 0}); it != table.end() && it->first.time <= thi; ++it) {
      const LegacyKey& lk = it->first;
      if (only_key && lk.key != *only_key) continue;
      if ((lk.model != kNone) != model_rows) continue;
      GroupKey g{by_time ? lk.time : 0, q.by_key ? lk.key : kAll, q.by_model ? lk.model : kAll};
      groups[g].Add(it->second);
    }
  };
  if (q.by_hour) {
    take_legacy(legacy_hourly_, /*model_rows=*/true, from_day * 24, (to_day + 1) * 24 - 1);
  } else if (q.by_day || q.from_day || q.to_day) {
    take_legacy(legacy_daily_, q.by_model, from_day, to_day);
  } else {
    take_legacy(legacy_totals_, q.by_model, 0, 0);
  }

  std::vector<std::pair<GroupKey, QueryTotals>> sorted(groups.begin(), groups.end());
  std::vector<uint32_t> key_rank = q.by_key ? Ranks(key_names_) : std::vector<uint32_t>();
  std::vector<uint32_t> model_rank = q.by_model ? Ranks(model_names_) : std::vector<uint32_t>();
  auto rank = [](const std::vector<uint32_t>& r, uint32_t i) { return i == kAll ? 0u : r[i]; };
  std::sort(sorted.begin(), sorted.end(), [&](const auto& a, const auto& b) {
    if (a.first.time != b.first.time) return a.first.time < b.first.time;
    if (q.by_key && a.first.key != b.first.key) return rank(key_rank, a.first.key) < rank(key_rank, b.first.key);
    if (q.by_model) return rank(model_rank, a.first.model) < rank(model_rank, b.first.model);
    return false;
  });

  std::vector<UsageRow> rows;
  rows.reserve(sorted.size());
  for (const auto& [g, totals] : sorted) {
    UsageRow row;
    if (q.by_hour) {
      row.hour = g.time;
      row.day = DayOfHour(g.time);
    } else if (q.by_day) {
      row.day = g.time;
    }
    if (q.by_key) row.key_id = key_names_[g.key];
    if (q.by_model) row.model = model_names_[g.model];
    row.totals = totals;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<pb::UsageEvent> Ledger::ListEvents(std::string_view key_id, int64_t since_ms, size_t limit) const {
  std::shared_lock lock(mu_);
  std::vector<pb::UsageEvent> out;
  std::optional<uint32_t> only_key;
  if (!key_id.empty()) {
    only_key = FindKey(key_id);
    if (!only_key) return out;
  }
  for (auto it = detail_.rbegin(); it != detail_.rend() && out.size() < limit; ++it) {
    if (it->first < since_ms) break;
    if (only_key && it->second.key != *only_key) continue;
    pb::UsageEvent e;
    if (e.ParseFromString(it->second.event)) out.push_back(std::move(e));
  }
  return out;
}

void Ledger::PruneDetail() {
  std::unique_lock lock(mu_);
  detail_.erase(detail_.begin(), detail_.lower_bound(NowMs() - options_.detail_retention_ms));
}

absl::StatusOr<SnapshotCounts> Ledger::WriteSnapshot(int64_t next_generation,
                                                     absl::FunctionRef<absl::Status(std::string_view)> sink,
                                                     size_t piece_bytes) const {
  std::shared_lock lock(mu_);
  SnapshotCounts counts;
  spb::Snapshot s;
  s.set_version(1);
  s.set_next_generation(next_generation);
  s.set_zone_offset_seconds(options_.zone.offset_seconds);
  s.set_zone_name(options_.zone.name);
  s.set_events_recorded(events_recorded_);
  for (const auto& k : key_names_) s.add_key_ids(k);
  for (const auto& m : model_names_) s.add_models(m);
  const int n = static_cast<int>(row_count_);
  s.mutable_agg_key()->Reserve(n);
  s.mutable_agg_hour()->Reserve(n);
  s.mutable_agg_model()->Reserve(n);
  for (auto* f : {s.mutable_agg_requests(), s.mutable_agg_errors(), s.mutable_agg_input(), s.mutable_agg_output(),
                  s.mutable_agg_cache_read(), s.mutable_agg_cache_write(), s.mutable_agg_last_used()}) {
    f->Reserve(n);
  }
  for (uint32_t key = 0; key < rows_by_key_.size(); ++key) {
    for (const auto& [k, t] : rows_by_key_[key]) {
      s.add_agg_key(key);
      s.add_agg_hour(HourOfRowKey(k));
      s.add_agg_model(ModelOfRowKey(k));
      s.add_agg_requests(t.requests);
      s.add_agg_errors(t.errors);
      s.add_agg_input(t.input);
      s.add_agg_output(t.output);
      s.add_agg_cache_read(t.cache_read);
      s.add_agg_cache_write(t.cache_write);
      s.add_agg_last_used(t.last_used_ms);
    }
  }
  std::string* digests = s.mutable_event_id_digests();
  digests->resize(seen_.size() * 16);
  char* p = digests->data();
  for (const EventDigest& d : seen_) {
    std::memcpy(p, &d.hi, 8);
    std::memcpy(p + 8, &d.lo, 8);
    p += 16;
  }
  for (const auto& [key_id, json] : legacy_imported_) {
    auto* imp = s.add_legacy_imports();
    imp->set_key_id(key_id);
    imp->set_usage_json(json);
  }
  counts.aggregate_rows = static_cast<size_t>(s.agg_key_size());
  counts.event_ids = seen_.size();
  // The size, checked before anything is written (a walk over the btree's nodes, not the events' bytes).
  const int64_t cutoff = NowMs() - options_.detail_retention_ms;
  size_t detail_bytes = 0;
  for (auto it = detail_.lower_bound(cutoff); it != detail_.end(); ++it) {
    const size_t n = it->second.event.size();
    detail_bytes += 2 + google::protobuf::io::CodedOutputStream::VarintSize64(n) + n;
  }
  if (s.ByteSizeLong() + detail_bytes > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::ResourceExhaustedError("the snapshot is larger than protobuf can parse back (2 GiB)");
  }
  std::string piece;
  if (!s.SerializeToString(&piece)) {
    return absl::ResourceExhaustedError("the snapshot is larger than protobuf can serialize (2 GiB)");
  }
  if (auto st = sink(piece); !st.ok()) return st;
  piece.clear();
  piece.shrink_to_fit();
  piece.reserve(piece_bytes + 64);
  // Field 18 (detail), wire type 2: tag, length, then the event's bytes as kept. A parser reads
  // fields in any order, and repeated elements in the order they come: oldest first, as before.
  for (auto it = detail_.lower_bound(cutoff); it != detail_.end(); ++it) {
    const std::string& event = it->second.event;
    uint8_t head[2 + 10] = {0x92, 0x01};  // the tag (18 << 3 | 2 = 146) as a varint, then the length
    const uint8_t* head_end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(event.size(), head + 2);
    piece.append(reinterpret_cast<const char*>(head), static_cast<size_t>(head_end - head));
    piece.append(event);
    ++counts.detail_events;
    if (piece.size() >= piece_bytes) {
      if (auto st = sink(piece); !st.ok()) return st;
      piece.clear();
    }
  }
  if (!piece.empty()) {
    if (auto st = sink(piece); !st.ok()) return st;
  }
  return counts;
}

absl::StatusOr<SnapshotCounts> Ledger::AppendSnapshot(int64_t next_generation, std::string* out) const {
  const size_t start = out->size();
  auto counts = WriteSnapshot(next_generation, [&](std::string_view piece) {
    out->append(piece);
    return absl::OkStatus();
  });
  if (!counts.ok()) out->resize(start);
  return counts;
}

spb::Snapshot Ledger::ToSnapshot(int64_t next_generation) const {
  std::string bytes;
  spb::Snapshot s;
  if (AppendSnapshot(next_generation, &bytes).ok()) s.ParseFromString(bytes);
  return s;
}

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::FromSnapshot(const spb::Snapshot& s, LedgerOptions options,
                                                            const std::vector<std::string_view>& raw_detail) {
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot: ", std::string(what)));
  };
  if (s.version() != 1) return bad(absl::StrCat("version ", s.version(), " is not supported (this usagesvc reads 1)"));
  const int32_t delta = options.zone.offset_seconds - s.zone_offset_seconds();
  if (delta % 3600 != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the snapshot's hours are counted in ", s.zone_name(), " and USAGE_TIMEZONE is now ", options.zone.name,
        ": the difference is not a whole number of hours, so the aggregates cannot be re-bucketed; set "
        "USAGE_TIMEZONE back to ",
        s.zone_name()));
  }
  const int64_t shift = delta / 3600;
  const int n = s.agg_key_size();
  for (int size :
       {s.agg_hour_size(), s.agg_model_size(), s.agg_requests_size(), s.agg_errors_size(), s.agg_input_size(),
        s.agg_output_size(), s.agg_cache_read_size(), s.agg_cache_write_size(), s.agg_last_used_size()}) {
    if (size != n) return bad("aggregate columns of different lengths");
  }
  if (s.event_id_digests().size() % 16 != 0) return bad("event id digests are not a multiple of 16 bytes");

  auto ledger = std::make_unique<Ledger>(std::move(options));
  Ledger& l = *ledger;
  std::unique_lock lock(l.mu_);
  for (const auto& k : s.key_ids()) {
    if (l.InternKey(k) != l.key_names_.size() - 1) return bad(absl::StrCat("key id \"", k, "\" listed twice"));
  }
  for (const auto& m : s.models()) {
    if (l.InternModel(m) != l.model_names_.size() - 1) return bad(absl::StrCat("model \"", m, "\" listed twice"));
  }
  for (int i = 0; i < n; ++i) {
    if (s.agg_key(i) >= l.key_names_.size() || s.agg_model(i) >= l.model_names_.size()) {
      return bad(absl::StrCat("aggregate row ", i, " refers to a key or model that is not listed"));
    }
    Totals t;
    t.requests = s.agg_requests(i);
    t.errors = s.agg_errors(i);
    t.input = s.agg_input(i);
    t.output = s.agg_output(i);
    t.cache_read = s.agg_cache_read(i);
    t.cache_write = s.agg_cache_write(i);
    t.last_used_ms = s.agg_last_used(i);
    l.AddRow(s.agg_key(i), s.agg_hour(i) + shift, s.agg_model(i), t);
  }
  const std::string& digests = s.event_id_digests();
  l.seen_.reserve(digests.size() / 16);
  for (size_t off = 0; off < digests.size(); off += 16) {
    EventDigest d;
    std::memcpy(&d.hi, digests.data() + off, 8);
    std::memcpy(&d.lo, digests.data() + off + 8, 8);
    l.seen_.insert(d);
  }
  const int64_t cutoff = l.NowMs() - l.options_.detail_retention_ms;
  for (const auto& e : s.detail()) {
    if (e.time_unix_ms() < cutoff) continue;
    l.detail_.emplace(e.time_unix_ms(), DetailEntry{l.InternKey(e.key_id()), e.SerializeAsString()});
  }
  luna::usage::v1::UsageEvent e;  // one at a time: only its time and key are needed
  for (std::string_view bytes : raw_detail) {
    if (!e.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return bad("a detail event does not parse");
    if (e.time_unix_ms() < cutoff) continue;
    l.detail_.emplace(e.time_unix_ms(), DetailEntry{l.InternKey(e.key_id()), std::string(bytes)});
  }
  for (const auto& imp : s.legacy_imports()) {
    if (!l.legacy_imported_.try_emplace(imp.key_id(), imp.usage_json()).second) continue;
    auto usage = ParseLegacyUsage(imp.usage_json(), l.options_.legacy_zone);
    if (usage.ok()) l.ApplyLegacy(imp.key_id(), *usage);
  }
  l.events_recorded_ = s.events_recorded();
  return ledger;
}

LedgerStats Ledger::Stats() const {
  std::shared_lock lock(mu_);
  LedgerStats st;
  st.keys = key_names_.size();
  st.models = model_names_.size();
  st.aggregate_rows = row_count_;
  st.rollup_rows = rollup_.size();
  st.event_ids = seen_.size();
  st.detail_events = detail_.size();
  st.legacy_keys = legacy_imported_.size();
  st.events_recorded = events_recorded_;
  return st;
}

}  // namespace luna::usagesvc
