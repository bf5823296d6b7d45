#include "fallbacksvc/fallback_config.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "fallbacksvc/http_url.h"

namespace luna::fallbacksvc {
namespace {

using json = nlohmann::json;

constexpr double kMaxSeconds = 86400;

std::string Join(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string Indexed(std::string_view array, size_t i) { return std::string(array) + "[" + std::to_string(i) + "]"; }

bool IsLegacyUpstreamType(const std::string& type) { return type == "antigravity" || type == "upstream"; }

// Strips trailing slashes and a trailing "/v1": base URLs end before the API path (the old proxy's
// OpenAI-style URLs often ended in "/v1").
std::string NormalizeBaseUrl(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.ends_with("/v1")) url.resize(url.size() - 3);
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

bool IsValidProviderName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (unsigned char c : name) {
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// Reads fields of JSON objects, collecting every problem with its field path. A JSON null counts as
// absent (the old proxy wrote Python's None as null).
class FieldReader {
 public:
  std::vector<std::string> errors;
  std::vector<std::string> warnings;

  void Error(const std::string& path, const std::string& problem) { errors.push_back(path + ": " + problem); }

  // Unknown fields are errors when `strict`, warnings otherwise.
  void CheckKnown(const json& obj, const std::string& parent, const std::set<std::string>& known, bool strict) {
    for (const auto& [key, value] : obj.items()) {
      if (known.count(key) != 0) continue;
      if (strict) {
        Error(Join(parent, key), "unknown field");
      } else {
        warnings.push_back(Join(parent, key) + ": unknown field, ignored");
      }
    }
  }

  static const json* Field(const json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::optional<std::string> String(const json& obj, const std::string& parent, const char* key) {
    const json* v = Field(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      Error(Join(parent, key), "must be a string");
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  // Required, non-empty. "" when missing (after recording the error).
  std::string NonEmptyString(const json& obj, const std::string& parent, const char* key) {
    const json* v = Field(obj, key);
    if (v == nullptr || !v->is_string() || v->get_ref<const std::string&>().empty()) {
      Error(Join(parent, key), "must be a non-empty string");
      return {};
    }
    return v->get<std::string>();
  }

  std::optional<bool> Bool(const json& obj, const std::string& parent, const char* key) {
    const json* v = Field(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) {
      Error(Join(parent, key), "must be true or false");
      return std::nullopt;
    }
    return v->get<bool>();
  }

  std::optional<double> Number(const json& obj, const std::string& parent, const char* key, double min, double max) {
    const json* v = Field(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) {
      Error(Join(parent, key), "must be a number");
      return std::nullopt;
    }
    double d = v->get<double>();
    if (!(d >= min && d <= max)) {
      Error(Join(parent, key), "must be between " + Format(min) + " and " + Format(max) + ", got " + v->dump());
      return std::nullopt;
    }
    return d;
  }

  std::optional<int64_t> Integer(const json& obj, const std::string& parent, const char* key, int64_t min,
                                 int64_t max) {
    const json* v = Field(obj, key);
    if (v == nullptr) return std::nullopt;
    // 30.0 is accepted as 30: the old proxy's files came from Python.
    if (!v->is_number() || std::floor(v->get<double>()) != v->get<double>()) {
      Error(Join(parent, key), "must be an integer");
      return std::nullopt;
    }
    double d = v->get<double>();
    if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
      Error(Join(parent, key),
            "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + v->dump());
      return std::nullopt;
    }
    return static_cast<int64_t>(d);
  }

 private:
  static std::string Format(double d) {
    if (std::floor(d) == d && std::abs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
    json j = d;
    return j.dump();
  }
};

void ReadTopLevelSettings(FieldReader& r, const json& root, FallbackConfig& c) {
  if (auto v = r.Bool(root, "", "enabled")) c.enabled = *v;
  if (auto v = r.Integer(root, "", "health_poll_interval_seconds", 1, static_cast<int64_t>(kMaxSeconds))) {
    c.health_poll_interval_seconds = static_cast<int>(*v);
  }
  if (auto v = r.Number(root, "", "min_remaining_fraction", 0, 1)) c.min_remaining_fraction = *v;
  if (auto v = r.Number(root, "", "quota_recovery_margin", 0, 1)) c.quota_recovery_margin = *v;
  if (const json* steps = FieldReader::Field(root, "cooldown_steps_seconds")) {
    if (!steps->is_array() || steps->empty()) {
      r.Error("cooldown_steps_seconds", "must be a non-empty array of seconds");
    } else {
      std::vector<int64_t> ms;
      for (size_t i = 0; i < steps->size(); ++i) {
        const json& s = (*steps)[i];
        if (!s.is_number() || !(s.get<double>() > 0) || s.get<double>() > kMaxSeconds) {
          r.Error(Indexed("cooldown_steps_seconds", i), "must be a number of seconds in (0, 86400]");
          continue;
        }
        ms.push_back(std::max<int64_t>(1, std::llround(s.get<double>() * 1000)));
      }
      if (ms.size() == steps->size()) c.cooldown_steps_ms = std::move(ms);
    }
  }
  if (auto v = r.Number(root, "", "bad_credential_cooldown_seconds", 0.001, 30 * kMaxSeconds)) {
    c.bad_credential_cooldown_ms = std::max<int64_t>(1, std::llround(*v * 1000));
  }
}

ProviderConfig DefaultUpstream(const ConfigContext& context) {
  ProviderConfig p;
  p.name = kDefaultProvider;
  p.format = "anthropic";
  std::string base = context.upstream_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!base.empty()) p.quota_url = base + "/health";
  return p;
}

// Capabilities of an extended-format tier.
Capabilities ReadCapabilities(FieldReader& r, const json& tier, const std::string& path) {
  Capabilities caps;
  const json* c = FieldReader::Field(tier, "capabilities");
  if (c == nullptr) return caps;
  std::string cpath = path + ".capabilities";
  if (!c->is_object()) {
    r.Error(cpath, "must be an object");
    return caps;
  }
  r.CheckKnown(*c, cpath, {"context_window", "tools", "images", "thinking"}, /*strict=*/true);
  caps.context_window = r.Integer(*c, cpath, "context_window", 1, int64_t{1} << 40);
  caps.tools = r.Bool(*c, cpath, "tools");
  caps.images = r.Bool(*c, cpath, "images");
  caps.thinking = r.Bool(*c, cpath, "thinking");
  return caps;
}

// The old format: each tier says where it is served; external providers are collected per distinct
// (base_url, api_key) and named after their host.
void ReadLegacyTiers(FieldReader& r, const json& tiers, const ConfigContext& context, FallbackConfig& c,
                     std::map<std::string, ProviderConfig>& declared) {
  std::map<std::pair<std::string, std::string>, std::string> by_endpoint;  // (base_url, api_key) -> name
  for (size_t i = 0; i < tiers.size(); ++i) {
    const json& t = tiers[i];
    std::string path = Indexed("tiers", i);
    if (!t.is_object()) {
      r.Error(path, "must be an object");
      continue;
    }
    r.CheckKnown(t, path, {"name", "model", "type", "health_key", "base_url", "api_key", "max_tokens_limit"},
                 /*strict=*/false);
    TierConfig tier;
    tier.name = r.NonEmptyString(t, path, "name");
    tier.model = r.NonEmptyString(t, path, "model");
    tier.health_key = r.String(t, path, "health_key").value_or("");
    tier.max_tokens_limit = r.Integer(t, path, "max_tokens_limit", 0, int64_t{1} << 40).value_or(0);
    auto type = r.String(t, path, "type");
    auto base_url = r.String(t, path, "base_url");
    auto api_key = r.String(t, path, "api_key").value_or("");
    // No type: the default upstream unless a base_url says otherwise.
    bool upstream = type ? IsLegacyUpstreamType(*type) : !base_url || base_url->empty();
    if (upstream) {
      tier.provider = kDefaultProvider;
      if (declared.count(kDefaultProvider) == 0) declared[kDefaultProvider] = DefaultUpstream(context);
    } else if (!base_url || base_url->empty()) {
      r.Error(path + ".base_url",
              "must be a non-empty string (type \"" + type.value_or("") + "\" is an external OpenAI-format provider)");
    } else if (auto url = ParseHttpUrl(NormalizeBaseUrl(*base_url)); !url.ok()) {
      r.Error(path + ".base_url", std::string(url.status().message()));
    } else {
      std::string normalized = NormalizeBaseUrl(*base_url);
      auto key = std::make_pair(normalized, api_key);
      auto found = by_endpoint.find(key);
      if (found == by_endpoint.end()) {
        std::string name = url->host;
        for (int n = 2; declared.count(name) != 0 || name == kDefaultProvider; ++n) {
          name = url->host + "-" + std::to_string(n);
        }
        ProviderConfig p;
        p.name = name;
        p.base_url = normalized;
        p.format = "openai";
        p.api_key = api_key;
        declared[name] = p;
        found = by_endpoint.emplace(key, name).first;
      }
      tier.provider = found->second;
    }
    c.tiers.push_back(std::move(tier));
  }
}

void ReadExtendedProviders(FieldReader& r, const json& providers, const ConfigContext& context,
                           std::map<std::string, ProviderConfig>& declared, std::map<std::string, size_t>& index) {
  if (!providers.is_array()) {
    r.Error("providers", "must be an array");
    return;
  }
  for (size_t i = 0; i < providers.size(); ++i) {
    const json& p = providers[i];
    std::string path = Indexed("providers", i);
    if (!p.is_object()) {
      r.Error(path, "must be an object");
      continue;
    }
    r.CheckKnown(p, path, {"name", "base_url", "format", "api_key_env", "api_key", "auth_style", "quota_url"},
                 /*strict=*/true);
    std::string name = r.NonEmptyString(p, path, "name");
    if (name.empty()) continue;
    if (!IsValidProviderName(name)) {
      r.Error(path + ".name", "\"" + name + "\": use letters, digits, '-', '_' and '.' only");
      continue;
    }
    if (index.count(name) != 0) {
      r.Error(path + ".name", "\"" + name + "\" is already providers[" + std::to_string(index[name]) + "]");
      continue;
    }
    index[name] = i;
    ProviderConfig out;
    auto base_url = r.String(p, path, "base_url");
    auto format = r.String(p, path, "format");
    if (name == kDefaultProvider) {
      // The default upstream: its URL is the gateway's UPSTREAM_URL, its API Anthropic's.
      out = DefaultUpstream(context);
      if (base_url && !base_url->empty()) {
        r.Error(path + ".base_url", "must be absent: \"upstream\" is the gateway's UPSTREAM_URL");
      }
      if (format && *format != "anthropic") r.Error(path + ".format", "the default upstream speaks \"anthropic\"");
    } else {
      out.name = name;
      if (!base_url || base_url->empty()) {
        r.Error(path + ".base_url", "must be a non-empty string");
      } else if (auto url = ParseHttpUrl(NormalizeBaseUrl(*base_url)); !url.ok()) {
        r.Error(path + ".base_url", std::string(url.status().message()));
      } else {
        out.base_url = NormalizeBaseUrl(*base_url);
      }
      if (!format || (*format != "anthropic" && *format != "openai")) {
        r.Error(path + ".format", "must be \"anthropic\" or \"openai\"");
      } else {
        out.format = *format;
      }
    }
    auto key_env = r.String(p, path, "api_key_env");
    auto key = r.String(p, path, "api_key");
    if (key_env && key) {
      r.Error(path, "give api_key_env or api_key, not both");
    } else if (key_env) {
      std::optional<std::string> value = context.getenv ? context.getenv(*key_env) : std::nullopt;
      if (key_env->empty()) {
        r.Error(path + ".api_key_env", "must name an environment variable");
      } else if (!value || value->empty()) {
        r.Error(path + ".api_key_env", "environment variable " + *key_env + " is not set");
      } else {
        out.api_key = *value;
        out.api_key_env = *key_env;
      }
    } else if (key && !key->empty()) {
      out.api_key = *key;
      r.warnings.push_back(path + ".api_key: an inline credential; prefer api_key_env");
    }
    if (auto style = r.String(p, path, "auth_style")) {
      if (!style->empty() && *style != "x-api-key" && *style != "bearer") {
        r.Error(path + ".auth_style", "must be \"x-api-key\" or \"bearer\"");
      } else {
        out.auth_style = *style;
      }
    }
    if (auto quota = r.String(p, path, "quota_url")) {
      // "" switches quota polling off (also for the default upstream).
      if (quota->empty()) {
        out.quota_url.clear();
      } else if (auto url = ParseHttpUrl(*quota); !url.ok()) {
        r.Error(path + ".quota_url", std::string(url.status().message()));
      } else {
        out.quota_url = *quota;
      }
    }
    declared[name] = std::move(out);
  }
}

void ReadExtendedTiers(FieldReader& r, const json& tiers, const ConfigContext& context, FallbackConfig& c,
                       std::map<std::string, ProviderConfig>& declared) {
  for (size_t i = 0; i < tiers.size(); ++i) {
    const json& t = tiers[i];
    std::string path = Indexed("tiers", i);
    if (!t.is_object()) {
      r.Error(path, "must be an object");
      continue;
    }
    r.CheckKnown(t, path, {"name", "model", "provider", "health_key", "max_tokens_limit", "capabilities"},
                 /*strict=*/true);
    TierConfig tier;
    tier.name = r.NonEmptyString(t, path, "name");
    tier.model = r.NonEmptyString(t, path, "model");
    tier.health_key = r.String(t, path, "health_key").value_or("");
    tier.max_tokens_limit = r.Integer(t, path, "max_tokens_limit", 0, int64_t{1} << 40).value_or(0);
    tier.capabilities = ReadCapabilities(r, t, path);
    tier.provider = r.String(t, path, "provider").value_or(kDefaultProvider);
    if (tier.provider == kDefaultProvider && declared.count(kDefaultProvider) == 0) {
      declared[kDefaultProvider] = DefaultUpstream(context);
    }
    if (declared.count(tier.provider) == 0) {
      r.Error(path + ".provider", "\"" + tier.provider + "\" is not in providers[]");
    }
    c.tiers.push_back(std::move(tier));
  }
}

}  // namespace

const ProviderConfig* FallbackConfig::FindProvider(std::string_view name) const {
  for (const auto& p : providers) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const TierConfig* FallbackConfig::FindTier(std::string_view name) const {
  for (const auto& t : tiers) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

absl::StatusOr<FallbackConfig> ParseFallbackConfig(std::string_view text, const ConfigContext& context) {
  const std::string where = "fallback config " + context.path + ": ";
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    // parse_error (nlohmann's message says where: byte offset, line and column), and out_of_range
    // for a number too large for any type.
    return absl::InvalidArgumentError(where + "not valid JSON: " + e.what());
  }
  if (!root.is_object()) return absl::InvalidArgumentError(where + "must be a JSON object");

  FallbackConfig c;
  FieldReader r;
  c.extended = root.contains("providers");
  r.CheckKnown(root, "",
               {"enabled", "health_poll_interval_seconds", "min_remaining_fraction", "tiers", "providers",
                "quota_recovery_margin", "cooldown_steps_seconds", "bad_credential_cooldown_seconds"},
               /*strict=*/c.extended);
  ReadTopLevelSettings(r, root, c);

  std::map<std::string, ProviderConfig> declared;
  std::map<std::string, size_t> declared_index;
  if (c.extended) ReadExtendedProviders(r, root["providers"], context, declared, declared_index);

  const json* tiers = FieldReader::Field(root, "tiers");
  if (tiers != nullptr && !tiers->is_array()) {
    r.Error("tiers", "must be an array");
  } else if (tiers != nullptr) {
    if (c.extended) {
      ReadExtendedTiers(r, *tiers, context, c, declared);
    } else {
      ReadLegacyTiers(r, *tiers, context, c, declared);
    }
  }
  if (c.tiers.empty() && c.enabled && r.errors.empty()) {
    r.warnings.push_back("tiers: empty; every request goes to the default upstream as asked");
  }

  // Every tier name once; health_key defaults to the model.
  std::map<std::string, size_t> names;
  for (size_t i = 0; i < c.tiers.size(); ++i) {
    TierConfig& t = c.tiers[i];
    if (t.health_key.empty()) t.health_key = t.model;
    if (t.name.empty()) continue;
    auto [it, inserted] = names.emplace(t.name, i);
    if (!inserted) {
      r.Error(Indexed("tiers", i) + ".name",
              "\"" + t.name + "\" is already the name of tiers[" + std::to_string(it->second) + "]");
    }
  }

  // Providers in order of first use; declared ones no tier uses are left out.
  std::set<std::string> used;
  for (const TierConfig& t : c.tiers) {
    if (used.insert(t.provider).second && declared.count(t.provider) != 0) {
      c.providers.push_back(declared[t.provider]);
    }
  }
  for (const auto& [name, index] : declared_index) {
    if (used.count(name) == 0) {
      r.warnings.push_back(Indexed("providers", index) + ": \"" + name + "\" is not used by any tier");
    }
  }

  if (!r.errors.empty()) return absl::InvalidArgumentError(where + absl::StrJoin(r.errors, "; "));
  c.warnings = std::move(r.warnings);
  return c;
}

absl::StatusOr<FallbackConfig> LoadFallbackConfig(const ConfigContext& context) {
  auto text = ReadFile(context.path);
  if (absl::IsNotFound(text.status())) {
    FallbackConfig c;
    c.enabled = false;
    c.warnings.push_back("fallback config " + context.path + " does not exist: fallback is disabled");
    return c;
  }
  if (!text.ok()) return absl::InvalidArgumentError("fallback config " + std::string(text.status().message()));
  return ParseFallbackConfig(*text, context);
}

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

}  // namespace luna::fallbacksvc
