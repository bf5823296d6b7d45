#include "usagesvc/legacy_importer.h"

#include <spdlog/spdlog.h>

#include <future>

#include "absl/strings/str_cat.h"
#include "usagesvc/legacy_usage.h"

namespace luna::usagesvc {

LegacyImporter::LegacyImporter(AuthClient* auth, UsageStore* store, Options options)
    : auth_(auth), store_(store), options_(options), thread_([this] { Run(); }) {}

LegacyImporter::~LegacyImporter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool LegacyImporter::done() const {
  std::lock_guard lock(mu_);
  return done_;
}

bool LegacyImporter::WaitDone(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return done_; });
}

void LegacyImporter::Run() {
  auto delay = options_.first_retry;
  int attempt = 0;
  while (true) {
    absl::Status st = ImportOnce();
    std::unique_lock lock(mu_);
    if (st.ok()) {
      done_ = true;
      cv_.notify_all();
      return;
    }
    ++attempt;
    // Say it at the first failure, then now and then, not every second.
    if (attempt == 1 || attempt % 10 == 0) {
      spdlog::warn("legacy usage import not done yet (attempt {}): {}; retrying in {} ms", attempt,
                   std::string(st.message()), delay.count());
    }
    if (cv_.wait_for(lock, delay, [this] { return stopping_; })) return;
    delay = std::min(delay * 2, options_.max_retry);
  }
}

absl::Status LegacyImporter::ImportOnce() {
  auto entries = auth_->GetLegacyUsage();
  if (!entries.ok()) return entries.status();
  const Ledger& ledger = store_->ledger();
  std::vector<storage::v1::LegacyImport> imports;
  for (const LegacyUsageEntry& e : *entries) {
    if (e.key_id.empty() || ledger.LegacyImported(e.key_id)) continue;
    // A history that does not parse would import nothing: leave it out (it stays reported at every start).
    if (auto parsed = ParseLegacyUsage(e.usage_json, ledger.options().legacy_zone); !parsed.ok()) {
      spdlog::error("legacy usage of key {} ({}) cannot be imported: {}", e.key_id, e.name,
                    std::string(parsed.status().message()));
      continue;
    }
    storage::v1::LegacyImport imp;
    imp.set_key_id(e.key_id);
    imp.set_usage_json(e.usage_json);
    imports.push_back(std::move(imp));
  }
  if (imports.empty()) {
    spdlog::info("legacy usage: nothing (more) to import ({} entries from authsvc)", entries->size());
    return absl::OkStatus();
  }
  auto promise = std::make_shared<std::promise<std::pair<absl::Status, int>>>();
  auto result = promise->get_future();
  size_t offered = imports.size();
  store_->ImportLegacy(std::move(imports), [promise](const absl::Status& st, int imported) {
    promise->set_value({st, imported});
  });
  auto [st, imported] = result.get();
  if (!st.ok()) return absl::Status(st.code(), absl::StrCat("cannot journal the legacy import: ", st.message()));
  spdlog::info("legacy usage imported for {} keys ({} offered)", imported, offered);
  return absl::OkStatus();
}

}  // namespace luna::usagesvc
