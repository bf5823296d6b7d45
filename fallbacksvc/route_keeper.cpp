#include "fallbacksvc/route_keeper.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace luna::fallbacksvc {
namespace {

constexpr int64_t kSaveRetryMs = 1000;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void LogWarnings(const FallbackConfig& config) {
  for (const std::string& w : config.warnings) spdlog::warn("config: {}", w);
}

}  // namespace

RouteKeeper::RouteKeeper(Options options)
    : options_(std::move(options)), engine_(std::make_shared<const FallbackConfig>()) {
  if (!options_.now_ms) options_.now_ms = SystemNowMs;
}

absl::StatusOr<std::unique_ptr<RouteKeeper>> RouteKeeper::Create(Options options) {
  auto config = options.load_config();
  if (!config.ok()) return config.status();
  auto state = LoadStateFile(options.state_file);
  if (!state.ok()) return state.status();
  LogWarnings(*config);

  std::unique_ptr<RouteKeeper> k(new RouteKeeper(std::move(options)));
  int64_t now = k->Now();
  k->engine_.SetConfig(std::make_shared<const FallbackConfig>(std::move(*config)));
  k->engine_.Import(state->engine);
  k->config_loaded_unix_ms_ = now;
  // Versions only increase, also across restarts: start above both the saved version and the clock in
  // microseconds (far more than one change per microsecond would be needed to catch up with it).
  k->version_ = std::max<uint64_t>(state->table_version, static_cast<uint64_t>(now) * 1000);
  k->ResetPollStatusLocked();
  // The state may have lost entries to the new config: write it back once.
  k->dirty_ = state->engine != k->engine_.Export();
  RouteTableData first = k->engine_.Build(now);
  first.version = ++k->version_;
  k->current_ = std::make_shared<const RouteTableData>(std::move(first));
  k->timer_ = std::thread([raw = k.get()] { raw->TimerLoop(); });
  return k;
}

RouteKeeper::~RouteKeeper() { Stop(); }

std::shared_ptr<const RouteTableData> RouteKeeper::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::shared_ptr<const FallbackConfig> RouteKeeper::config() const {
  std::lock_guard lock(mu_);
  return engine_.config();
}

uint64_t RouteKeeper::Subscribe(TableListener listener) {
  std::lock_guard lock(listeners_mu_);
  uint64_t id = next_listener_id_++;
  // Under listeners_mu_, so no table published later can reach the listener before this one.
  listener(Current());
  listeners_.emplace(id, std::move(listener));
  return id;
}

void RouteKeeper::Unsubscribe(uint64_t id) {
  std::lock_guard lock(listeners_mu_);
  listeners_.erase(id);
}

void RouteKeeper::Publish(std::shared_ptr<const RouteTableData> table) {
  if (!table) return;
  std::lock_guard lock(listeners_mu_);
  for (auto& [id, listener] : listeners_) listener(table);
}

std::shared_ptr<const RouteTableData> RouteKeeper::RebuildLocked(int64_t now_ms) {
  RouteTableData next = engine_.Build(now_ms);
  if (current_ && next.SameRoutes(*current_)) return nullptr;
  next.version = ++version_;
  current_ = std::make_shared<const RouteTableData>(std::move(next));
  if (options_.counters != nullptr) options_.counters->RouteTableChanged();
  // A new cooldown may end before the timer's current deadline.
  cv_.notify_all();
  return current_;
}

void RouteKeeper::MarkDirtyLocked() {
  dirty_ = true;
  cv_.notify_all();
}

void RouteKeeper::ResetPollStatusLocked() {
  std::map<std::string, ProviderPollStatus> next;
  for (const ProviderConfig& p : engine_.config()->providers) {
    ProviderPollStatus s;
    if (auto old = polls_.find(p.name); old != polls_.end() && old->second.quota_url == p.quota_url) s = old->second;
    s.name = p.name;
    s.quota_url = p.quota_url;
    next[p.name] = std::move(s);
  }
  polls_ = std::move(next);
}

uint64_t RouteKeeper::ReportOutcomes(const std::vector<Outcome>& outcomes) {
  std::shared_ptr<const RouteTableData> table;
  uint64_t version;
  // (tier, reason) of the cooldowns started, counted after the lock is released.
  std::vector<std::pair<std::string, const char*>> started;
  {
    std::lock_guard lock(mu_);
    int64_t now = Now();
    bool changed = false;
    std::vector<std::string> cooled;
    for (const Outcome& o : outcomes) {
      cooled.clear();
      changed = engine_.ApplyOutcome(o, now, options_.counters != nullptr ? &cooled : nullptr) || changed;
      for (std::string& tier : cooled) started.emplace_back(std::move(tier), OutcomeKindName(o.kind));
    }
    if (changed) {
      MarkDirtyLocked();
      table = RebuildLocked(now);
    }
    version = current_->version;
  }
  if (options_.counters != nullptr) {
    for (const Outcome& o : outcomes) options_.counters->OutcomeReported(o.kind);
    for (const auto& [tier, reason] : started) options_.counters->CooldownEntered(tier, reason);
  }
  Publish(std::move(table));
  return version;
}

void RouteKeeper::RecordPoll(const std::string& provider, const absl::StatusOr<QuotaDocument>& result) {
  std::shared_ptr<const RouteTableData> table;
  {
    std::lock_guard lock(mu_);
    int64_t now = Now();
    auto status = polls_.find(provider);
    if (status == polls_.end()) return;  // the provider left the config while it was polled
    status->second.last_poll_unix_ms = now;
    if (!result.ok()) {
      std::string error(result.status().message());
      if (status->second.last_poll_error != error) {
        spdlog::warn("quota poll of {} ({}) failed: {}; keeping the last known quota", provider,
                     status->second.quota_url, error);
      }
      status->second.last_poll_error = std::move(error);
      return;
    }
    if (!status->second.last_poll_error.empty()) spdlog::info("quota poll of {} works again", provider);
    status->second.last_poll_error.clear();
    if (engine_.ApplyQuotas(provider, *result, now)) {
      MarkDirtyLocked();
      table = RebuildLocked(now);
    }
  }
  Publish(std::move(table));
}

absl::StatusOr<uint64_t> RouteKeeper::Reload() {
  auto config = options_.load_config();
  // Loading validates: a config that loads is put in force below.
  if (options_.counters != nullptr) options_.counters->ConfigReloaded(config.ok());
  std::shared_ptr<const RouteTableData> table;
  uint64_t version;
  {
    std::lock_guard lock(mu_);
    if (!config.ok()) {
      last_reload_error_ = std::string(config.status().message());
      spdlog::error("reload refused, the config in force stays: {}", last_reload_error_);
      return config.status();
    }
    LogWarnings(*config);
    int64_t now = Now();
    engine_.SetConfig(std::make_shared<const FallbackConfig>(std::move(*config)));
    config_loaded_unix_ms_ = now;
    last_reload_error_.clear();
    ResetPollStatusLocked();
    MarkDirtyLocked();
    table = RebuildLocked(now);
    version = current_->version;
    spdlog::info("config reloaded: {} tiers, {} providers, fallback {}; table version {}",
                 engine_.config()->tiers.size(), engine_.config()->providers.size(),
                 engine_.config()->enabled ? "enabled" : "disabled", version);
  }
  Publish(std::move(table));
  if (config_listener_) config_listener_();
  return version;
}

KeeperStatus RouteKeeper::Status() const {
  std::lock_guard lock(mu_);
  KeeperStatus s;
  s.table = current_;
  s.config = engine_.config();
  for (const ProviderConfig& p : s.config->providers) {
    if (auto it = polls_.find(p.name); it != polls_.end()) s.providers.push_back(it->second);
  }
  s.config_loaded_unix_ms = config_loaded_unix_ms_;
  s.last_reload_error = last_reload_error_;
  return s;
}

bool RouteKeeper::SaveNow() {
  std::lock_guard save_lock(save_mu_);
  StateFileContent content;
  {
    std::lock_guard lock(mu_);
    if (!dirty_) return true;
    content.engine = engine_.Export();
    content.table_version = version_;
    content.saved_unix_ms = Now();
    dirty_ = false;
    last_save_unix_ms_ = content.saved_unix_ms;
  }
  // The write (with its fsyncs) runs outside mu_: outcome reports never wait for the disk.
  absl::Status saved = SaveStateFile(options_.state_file, content);
  if (options_.counters != nullptr) options_.counters->StateFileWritten(saved.ok());
  if (!saved.ok()) {
    spdlog::error("cannot write the state file: {}; retrying", std::string(saved.message()));
    std::lock_guard lock(mu_);
    dirty_ = true;
    last_save_unix_ms_ = Now() - options_.min_save_interval_ms + kSaveRetryMs;
    save_error_ = std::string(saved.message());
    return false;
  }
  std::lock_guard lock(mu_);
  if (!save_error_.empty()) spdlog::info("state file {} written again", options_.state_file);
  save_error_.clear();
  return true;
}

std::string RouteKeeper::state_file_problem() const {
  std::lock_guard lock(mu_);
  return save_error_;
}

void RouteKeeper::TimerLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    int64_t now = Now();
    std::optional<int64_t> wake = engine_.NextExpiry(now);
    if (dirty_) {
      int64_t save_at = last_save_unix_ms_ + options_.min_save_interval_ms;
      if (!wake || save_at < *wake) wake = save_at;
    }
    if (wake) {
      // +1: a cooldown is over once now > until.
      cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(0, *wake - now) + 1));
    } else {
      cv_.wait(lock);
    }
    if (stopping_) break;
    now = Now();
    // Ended cooldowns change the table without any event: this is what publishes them.
    std::shared_ptr<const RouteTableData> table = RebuildLocked(now);
    bool save = dirty_ && now >= last_save_unix_ms_ + options_.min_save_interval_ms;
    if (table || save) {
      lock.unlock();
      Publish(std::move(table));
      if (save) SaveNow();
      lock.lock();
    }
  }
}

void RouteKeeper::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (timer_.joinable()) timer_.join();
  SaveNow();
}

}  // namespace luna::fallbacksvc
