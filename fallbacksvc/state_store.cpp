#include "fallbacksvc/state_store.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"

namespace luna::fallbacksvc {
namespace {

using json = nlohmann::json;
constexpr int kFormat = 1;

// Reads one typed field of an entry; throws std::invalid_argument naming it (caught in ParseState).
template <class T>
T Get(const json& obj, const std::string& where, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) throw std::invalid_argument(where + "." + key + ": missing");
  bool ok = false;
  if constexpr (std::is_same_v<T, std::string>) {
    ok = it->is_string();
  } else if constexpr (std::is_same_v<T, bool>) {
    ok = it->is_boolean();
  } else if constexpr (std::is_floating_point_v<T>) {
    ok = it->is_number();
  } else {
    ok = it->is_number_integer();
  }
  if (!ok) throw std::invalid_argument(where + "." + key + ": wrong type (" + it->type_name() + ")");
  return it->get<T>();
}

const json& Array(const json& root, const char* key) {
  static const json kEmpty = json::array();
  auto it = root.find(key);
  if (it == root.end()) return kEmpty;
  if (!it->is_array()) throw std::invalid_argument(std::string(key) + ": not an array");
  return *it;
}

}  // namespace

std::string SerializeState(const StateFileContent& content) {
  json quotas = json::array();
  for (const QuotaRecord& q : content.engine.quotas) {
    quotas.push_back({{"provider", q.provider},
                      {"key", q.key},
                      {"remaining_fraction", q.remaining_fraction},
                      {"quota_low", q.quota_low},
                      {"updated_unix_ms", q.updated_unix_ms}});
  }
  json cooldowns = json::array();
  for (const CooldownRecord& c : content.engine.cooldowns) {
    cooldowns.push_back({{"provider", c.provider},
                         {"model", c.model},
                         {"until_unix_ms", c.until_unix_ms},
                         {"failures", c.failures},
                         {"reason", c.reason},
                         {"transient", c.transient}});
  }
  json root = {{"format", kFormat},
               {"saved_unix_ms", content.saved_unix_ms},
               {"table_version", content.table_version},
               {"quotas", std::move(quotas)},
               {"cooldowns", std::move(cooldowns)}};
  // Reasons quote upstream messages: replace invalid UTF-8 rather than fail the write.
  return root.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

absl::StatusOr<StateFileContent> ParseState(std::string_view text, const std::string& path) {
  const std::string prefix = "state file " + path + ": ";
  StateFileContent out;
  try {
    json root = json::parse(text);
    if (!root.is_object()) return absl::InvalidArgumentError(prefix + "not a JSON object");
    int format = Get<int>(root, "(top)", "format");
    if (format != kFormat) {
      return absl::InvalidArgumentError(prefix + "format " + std::to_string(format) + " is not supported (expected " +
                                        std::to_string(kFormat) + ")");
    }
    out.saved_unix_ms = Get<int64_t>(root, "(top)", "saved_unix_ms");
    out.table_version = Get<uint64_t>(root, "(top)", "table_version");
    const json& quotas = Array(root, "quotas");
    for (size_t i = 0; i < quotas.size(); ++i) {
      std::string where = "quotas[" + std::to_string(i) + "]";
      if (!quotas[i].is_object()) throw std::invalid_argument(where + ": not an object");
      QuotaRecord q;
      q.provider = Get<std::string>(quotas[i], where, "provider");
      q.key = Get<std::string>(quotas[i], where, "key");
      q.remaining_fraction = Get<double>(quotas[i], where, "remaining_fraction");
      q.quota_low = Get<bool>(quotas[i], where, "quota_low");
      q.updated_unix_ms = Get<int64_t>(quotas[i], where, "updated_unix_ms");
      out.engine.quotas.push_back(std::move(q));
    }
    const json& cooldowns = Array(root, "cooldowns");
    for (size_t i = 0; i < cooldowns.size(); ++i) {
      std::string where = "cooldowns[" + std::to_string(i) + "]";
      if (!cooldowns[i].is_object()) throw std::invalid_argument(where + ": not an object");
      CooldownRecord c;
      c.provider = Get<std::string>(cooldowns[i], where, "provider");
      c.model = Get<std::string>(cooldowns[i], where, "model");
      c.until_unix_ms = Get<int64_t>(cooldowns[i], where, "until_unix_ms");
      c.failures = Get<int32_t>(cooldowns[i], where, "failures");
      c.reason = Get<std::string>(cooldowns[i], where, "reason");
      // Files written before the field existed: not transient (the cooldown is honoured).
      if (cooldowns[i].contains("transient")) c.transient = Get<bool>(cooldowns[i], where, "transient");
      out.engine.cooldowns.push_back(std::move(c));
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(prefix + "not valid JSON: " + e.what());
  } catch (const std::invalid_argument& e) {
    return absl::InvalidArgumentError(prefix + e.what());
  }
  return out;
}

absl::StatusOr<StateFileContent> LoadStateFile(const std::string& path) {
  auto text = ReadFile(path);
  StateFileContent content;
  if (!absl::IsNotFound(text.status())) {
    if (!text.ok()) return absl::FailedPreconditionError("state file " + std::string(text.status().message()));
    auto parsed = ParseState(*text, path);
    if (!parsed.ok()) return parsed.status();
    content = std::move(*parsed);
  }
  for (const std::string& name : RemoveStaleTemporaryFiles(path)) {
    spdlog::warn("removed {}, the temporary file of a write interrupted by a crash (the state file is whole)", name);
  }
  return content;
}

absl::Status SaveStateFile(const std::string& path, const StateFileContent& content) {
  return WriteFileAtomically(path, SerializeState(content), 0644);
}

}  // namespace luna::fallbacksvc
