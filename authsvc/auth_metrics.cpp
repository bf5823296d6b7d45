#include "authsvc/auth_metrics.h"

namespace luna::authsvc {

std::string RenderAuthMetrics(const ServiceMetrics& metrics, AuthGrpcService& service, bool serving) {
  prom::TextWriter out;
  metrics.WriteCommon(&out, serving);
  out.Gauge(metrics.Name("watch_streams"), "Open WatchKeys streams (gateways following the key table).",
            service.active_watches());
  std::string validations = metrics.Name("validations_total");
  out.Family(validations, "counter", "ValidateKey answers, by whether the key was found.");
  out.Sample(validations, {{"result", "found"}}, service.validations(true));
  out.Sample(validations, {{"result", "not_found"}}, service.validations(false));
  if (const KeyManager* m = service.manager()) {
    KeyManager::KeyCounts counts = m->CountKeys();
    std::string keys = metrics.Name("keys");
    out.Family(keys, "gauge", "API keys in the key table, by state.");
    out.Sample(keys, {{"state", "enabled"}}, counts.enabled);
    out.Sample(keys, {{"state", "disabled"}}, counts.total - counts.enabled);
    out.Counter(metrics.Name("keys_file_writes_total"),
                "Atomic writes of the keys file (temporary file, fsync, rename, directory fsync) since start.",
                m->keys_file_writes());
    out.Counter(metrics.Name("keys_file_write_failures_total"),
                "Writes of the keys file that failed since start (the change was refused with UNAVAILABLE).",
                m->keys_file_write_failures());
    out.Gauge(metrics.Name("keys_file_writable"),
              "1 while the keys file takes writes, 0 after a failed write until a retry succeeds.",
              m->write_problem().empty() ? 1 : 0);
  }
  return out.Take();
}

}  // namespace luna::authsvc
