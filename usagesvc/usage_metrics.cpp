#include "usagesvc/usage_metrics.h"

namespace luna::usagesvc {

std::string RenderUsageMetrics(const ServiceMetrics& metrics, const UsageStore* store, bool serving) {
  prom::TextWriter out;
  metrics.WriteCommon(&out, serving);
  if (store == nullptr) return out.Take();

  const UsageStoreCounters& c = store->counters();
  auto load = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  out.Counter(metrics.Name("events_recorded_total"), "Usage events newly recorded (durable, then acknowledged).",
              load(c.events_recorded));
  out.Counter(metrics.Name("events_duplicate_total"),
              "Usage events acknowledged but ignored because their event id was already recorded.",
              load(c.events_duplicate));
  out.Counter(metrics.Name("journal_writes_total"),
              "Journal records made durable, each with one write and one fdatasync (group commits, legacy "
              "imports, recovery probes).",
              load(c.journal_writes));
  out.Counter(metrics.Name("journal_write_failures_total"),
              "Journal appends whose write or fdatasync failed (the calls got UNAVAILABLE).",
              load(c.journal_write_failures));
  out.Gauge(metrics.Name("journal_writable"), "1 while the journal takes writes, 0 after a failure until a retry works.",
            store->healthy());
  out.Gauge(metrics.Name("events_queued"), "Events waiting for the writer thread, not yet durable.",
            store->queued_events());
  std::string snapshots = metrics.Name("snapshots_total");
  out.Family(snapshots, "counter", "Ledger snapshots taken since start, by result.");
  out.Sample(snapshots, {{"result", "ok"}}, load(c.snapshots_written));
  out.Sample(snapshots, {{"result", "error"}}, load(c.snapshot_failures));

  LedgerStats stats = store->ledger().Stats();
  out.Gauge(metrics.Name("ledger_keys"), "Key ids in the ledger.", stats.keys);
  out.Gauge(metrics.Name("ledger_models"), "Model names in the ledger.", stats.models);
  out.Gauge(metrics.Name("ledger_aggregate_rows"), "Aggregate rows (key x hour x model).", stats.aggregate_rows);
  out.Gauge(metrics.Name("ledger_rollup_rows"), "Rows of the all-keys rollup (hour x model).", stats.rollup_rows);
  out.Gauge(metrics.Name("ledger_event_ids"), "Event ids kept for deduplication.", stats.event_ids);
  out.Gauge(metrics.Name("ledger_detail_events"), "Per-request detail events within the retention.",
            stats.detail_events);
  out.Gauge(metrics.Name("ledger_legacy_keys"), "Keys whose old-proxy usage history was imported.",
            stats.legacy_keys);
  return out.Take();
}

}  // namespace luna::usagesvc
