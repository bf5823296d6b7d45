#include "authsvc/key_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/crypto.h"

namespace luna::authsvc {
namespace {

// ordered_json keeps the old file's key order, which is its creation order.
using Json = nlohmann::ordered_json;

constexpr char kFormatName[] = "luna-keys";
constexpr int kFormatVersion = 1;

absl::Status LoadError(const std::string& path, const std::string& where, const std::string& reason) {
  return absl::InvalidArgumentError(absl::StrCat("cannot load keys file \"", path, "\": ", where, ": ", reason));
}

absl::Status TypeError(const std::string& path, const std::string& where, const std::string& expected,
                       const Json& got) {
  return LoadError(path, where, absl::StrCat("expected ", expected, ", got ", got.type_name()));
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool IsSha256Hex(std::string_view s) { return s.size() == 64 && IsLowerHex(s); }

bool IsKeyChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// Masks anything in `text` that looks like an "sk-" key. nlohmann's syntax errors quote the token they
// stopped at, which can be a key.
std::string MaskKeysIn(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t at = text.find("sk-", i);
    if (at == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    size_t end = at + 3;
    while (end < text.size() && IsKeyChar(text[end])) ++end;
    out.append(text.substr(i, at - i));
    out.append(end - at > 8 ? MaskSecret(text.substr(at, end - at)) : std::string(text.substr(at, end - at)));
    i = end;
  }
  return out;
}

// nlohmann reports the 1-based index of the last byte it read; turn it into line and column.
absl::Status SyntaxError(const std::string& path, std::string_view text, const Json::parse_error& e) {
  size_t index = e.byte > 0 ? e.byte - 1 : 0;
  index = std::min(index, text.size());
  size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<long>(index), '\n'));
  size_t line_start = text.rfind('\n', index == 0 ? 0 : index - 1);
  line_start = (line_start == std::string_view::npos || index == 0) ? 0 : line_start + 1;
  size_t column = index - line_start + 1;

  // what() is "[json.exception.parse_error.101] parse error at line L, column C: <reason>"; keep the
  // reason, without the "last read" token (it may be part of a key).
  std::string reason = e.what();
  if (auto colon = reason.find(": "); colon != std::string::npos) reason = reason.substr(colon + 2);
  if (auto last_read = reason.find("; last read:"); last_read != std::string::npos) {
    auto expected = reason.rfind("; expected ");
    std::string tail = (expected != std::string::npos && expected > last_read) ? reason.substr(expected) : "";
    reason = reason.substr(0, last_read) + tail;
  }
  bool blank = std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
  if (blank) reason = "the file is empty (restore it from a backup, or delete it to start with no keys)";
  return LoadError(path, absl::StrCat("line ", line, ", column ", column), MaskKeysIn(reason));
}

// A field that may be absent or null (both mean "not given").
const Json* Optional(const Json& object, const char* field) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// The old file's full keys and admin key, masked wherever else they appear in it: in a name, inside
// a usage object carried over verbatim. Whatever is kept of the old file is saved in the new one, which
// must hold no full key. Secrets shorter than 8 bytes are left: they would turn up in names by chance.
class SecretScrubber {
 public:
  explicit SecretScrubber(const Json& root) {
    if (const Json* admin = Optional(root, "admin_key"); admin != nullptr && admin->is_string()) {
      Add(admin->get_ref<const std::string&>());
    }
    if (const Json* keys = Optional(root, "keys"); keys != nullptr && keys->is_object()) {
      for (const auto& [key, entry] : keys->items()) Add(key);
    }
  }

  // `value` with every secret in its strings and member names masked.
  Json Scrubbed(const Json& value) const {
    if (secrets_.empty()) return value;
    if (value.is_string()) return Scrubbed(value.get_ref<const std::string&>());
    if (value.is_array()) {
      Json out = Json::array();
      for (const auto& v : value) out.push_back(Scrubbed(v));
      return out;
    }
    if (value.is_object()) {
      Json out = Json::object();
      for (const auto& [name, v] : value.items()) out[Scrubbed(name)] = Scrubbed(v);
      return out;
    }
    return value;
  }

 private:
  void Add(const std::string& secret) {
    if (secret.size() >= 8) secrets_.push_back(secret);
  }

  // Each mask is shorter than its secret, so this ends even where a mask and its neighbours spell
  // another secret.
  std::string Scrubbed(std::string text) const {
    for (bool changed = true; changed;) {
      changed = false;
      for (const auto& secret : secrets_) {
        for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
          text.replace(at, secret.size(), MaskSecret(secret));
          changed = true;
        }
      }
    }
    return text;
  }

  std::vector<std::string> secrets_;
};

absl::StatusOr<KeyStore::Contents> ParseLegacy(const Json& root, const std::string& path) {
  KeyStore::Contents c;
  c.format = KeysFileFormat::kLegacy;
  const SecretScrubber scrubber(root);
  if (const Json* admin = Optional(root, "admin_key")) {
    if (!admin->is_string()) return TypeError(path, "admin_key", "a string", *admin);
    const auto& s = admin->get_ref<const std::string&>();
    if (!s.empty()) c.state.admin_key_sha256 = Sha256Hex(s);
  }
  const Json* keys = Optional(root, "keys");
  if (keys == nullptr) return c;
  if (!keys->is_object()) return TypeError(path, "keys", "an object of \"sk-...\": {entry}", *keys);
  std::unordered_map<std::string, std::string> where_by_id;
  for (const auto& [key, raw_entry] : keys->items()) {
    std::string where = absl::StrCat("keys[\"", MaskSecret(key), "\"]");
    if (key.empty()) return LoadError(path, where, "empty key");
    if (!raw_entry.is_object()) return TypeError(path, where, "an object", raw_entry);
    const Json entry = scrubber.Scrubbed(raw_entry);
    KeyEntry e;
    e.sha256 = Sha256Hex(key);
    e.id = ImportedKeyId(e.sha256);
    e.prefix = KeyPrefix(key);
    e.imported = true;
    if (const Json* name = Optional(entry, "name")) {
      if (!name->is_string()) return TypeError(path, where + ".name", "a string", *name);
      e.name = name->get<std::string>();
    }
    if (const Json* enabled = Optional(entry, "enabled")) {
      if (!enabled->is_boolean()) return TypeError(path, where + ".enabled", "a boolean", *enabled);
      e.enabled = enabled->get<bool>();
    }
    if (const Json* created = Optional(entry, "created")) {
      if (created->is_string()) {
        e.created = created->get<std::string>();
      } else if (created->is_number()) {
        e.created = created->dump();
      } else {
        return TypeError(path, where + ".created", "a string or a number", *created);
      }
    }
    // The old proxy's later versions limited a key to some models.
    for (const char* field : {"allowed_models", "models"}) {
      const Json* models = Optional(entry, field);
      if (models == nullptr) continue;
      if (!models->is_array()) return TypeError(path, where + "." + field, "an array of model names", *models);
      for (const auto& m : *models) {
        if (!m.is_string()) return TypeError(path, where + "." + field, "an array of model names", m);
        e.policy.models.push_back(m.get<std::string>());
      }
    }
    if (auto st = ValidateKeyPolicy(e.policy); !st.ok()) return LoadError(path, where, std::string(st.message()));
    if (const Json* usage = Optional(entry, "usage")) {
      if (!usage->is_object()) return TypeError(path, where + ".usage", "an object", *usage);
      c.legacy_usage[e.id] = usage->dump(-1, ' ', false, Json::error_handler_t::replace);
    }
    auto [it, inserted] = where_by_id.emplace(e.id, where);
    if (!inserted) return LoadError(path, where, absl::StrCat("its id ", e.id, " is also that of ", it->second));
    c.state.keys.push_back(std::move(e));
  }
  return c;
}

absl::Status ReadString(const Json& object, const char* field, const std::string& path, const std::string& where,
                        std::string* out) {
  auto it = object.find(field);
  if (it == object.end()) return LoadError(path, absl::StrCat(where, ".", field), "missing");
  if (!it->is_string()) return TypeError(path, absl::StrCat(where, ".", field), "a string", *it);
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadBool(const Json& object, const char* field, const std::string& path, const std::string& where,
                      bool* out) {
  auto it = object.find(field);
  if (it == object.end()) return LoadError(path, absl::StrCat(where, ".", field), "missing");
  if (!it->is_boolean()) return TypeError(path, absl::StrCat(where, ".", field), "a boolean", *it);
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::StatusOr<KeyStore::Contents> ParseOwn(const Json& root, const std::string& path) {
  static const char* const kTopFields[] = {"format", "version", "admin_key_sha256", "keys", "legacy_usage"};
  static const char* const kKeyFields[] = {"id", "sha256", "name", "prefix", "enabled", "created", "imported", "policy"};
  auto known = [](const auto& fields, const std::string& name) {
    return std::any_of(std::begin(fields), std::end(fields), [&](const char* f) { return name == f; });
  };

  KeyStore::Contents c;
  c.format = KeysFileFormat::kOwn;
  const Json& format = root.at("format");
  if (!format.is_string() || format.get<std::string>() != kFormatName) {
    return LoadError(path, "format", absl::StrCat("expected \"", kFormatName, "\""));
  }
  auto version = root.find("version");
  if (version == root.end()) return LoadError(path, "version", "missing");
  if (!version->is_number_integer()) return TypeError(path, "version", "an integer", *version);
  if (version->get<int64_t>() != kFormatVersion) {
    return LoadError(path, "version",
                     absl::StrCat("version ", version->get<int64_t>(), " is not supported (this authsvc reads version ",
                                  kFormatVersion, "; a newer authsvc may have written the file)"));
  }
  for (const auto& [field, value] : root.items()) {
    if (!known(kTopFields, field)) return LoadError(path, field, "unknown field");
  }
  if (const Json* admin = Optional(root, "admin_key_sha256")) {
    if (!admin->is_string()) return TypeError(path, "admin_key_sha256", "a string", *admin);
    if (!IsSha256Hex(admin->get_ref<const std::string&>())) {
      return LoadError(path, "admin_key_sha256", "expected 64 lowercase hex digits");
    }
    c.state.admin_key_sha256 = admin->get<std::string>();
  }

  auto keys = root.find("keys");
  if (keys == root.end()) return LoadError(path, "keys", "missing");
  if (!keys->is_array()) return TypeError(path, "keys", "an array", *keys);
  std::unordered_map<std::string, size_t> index_by_id;
  std::unordered_map<std::string, size_t> index_by_hash;
  for (size_t i = 0; i < keys->size(); ++i) {
    const Json& entry = (*keys)[i];
    std::string where = absl::StrCat("keys[", i, "]");
    if (!entry.is_object()) return TypeError(path, where, "an object", entry);
    for (const auto& [field, value] : entry.items()) {
      if (!known(kKeyFields, field)) return LoadError(path, absl::StrCat(where, ".", field), "unknown field");
    }
    KeyEntry e;
    for (auto st : {ReadString(entry, "id", path, where, &e.id), ReadString(entry, "sha256", path, where, &e.sha256),
                    ReadString(entry, "name", path, where, &e.name), ReadString(entry, "prefix", path, where, &e.prefix),
                    ReadBool(entry, "enabled", path, where, &e.enabled),
                    ReadString(entry, "created", path, where, &e.created),
                    ReadBool(entry, "imported", path, where, &e.imported)}) {
      if (!st.ok()) return st;
    }
    if (const Json* policy = Optional(entry, "policy")) {
      auto parsed = KeyPolicyFromJson(nlohmann::json(*policy), "policy");
      if (!parsed.ok()) return LoadError(path, where, std::string(parsed.status().message()));
      e.policy = std::move(*parsed);
    }
    if (!IsWellFormedKeyId(e.id)) return LoadError(path, where + ".id", "expected \"key_\" and 16 lowercase hex digits");
    if (!IsSha256Hex(e.sha256)) return LoadError(path, where + ".sha256", "expected 64 lowercase hex digits");
    if (auto [it, inserted] = index_by_id.emplace(e.id, i); !inserted) {
      return LoadError(path, where + ".id", absl::StrCat("duplicate id ", e.id, " (also keys[", it->second, "])"));
    }
    if (auto [it, inserted] = index_by_hash.emplace(e.sha256, i); !inserted) {
      return LoadError(path, where + ".sha256", absl::StrCat("the same key as keys[", it->second, "]"));
    }
    c.state.keys.push_back(std::move(e));
  }

  if (const Json* usage = Optional(root, "legacy_usage")) {
    if (!usage->is_object()) return TypeError(path, "legacy_usage", "an object", *usage);
    for (const auto& [id, value] : usage->items()) {
      c.legacy_usage[id] = value.dump(-1, ' ', false, Json::error_handler_t::replace);
    }
  }
  return c;
}

}  // namespace

const char* KeysFileFormatName(KeysFileFormat format) {
  switch (format) {
    case KeysFileFormat::kAbsent:
      return "none (no file yet; the first write creates it)";
    case KeysFileFormat::kLegacy:
      return "old (Python proxy)";
    case KeysFileFormat::kOwn:
      return "luna-keys v1";
  }
  return "?";
}

std::string KeyPrefix(std::string_view key) { return std::string(key.substr(0, std::min<size_t>(9, key.size() / 2))); }

std::string MaskSecret(std::string_view secret) {
  return std::string(secret.substr(0, std::min<size_t>(8, secret.size() / 2))) + "…";
}

std::string ImportedKeyId(std::string_view sha256_hex) { return "key_" + std::string(sha256_hex.substr(0, 16)); }

bool IsWellFormedKeyId(std::string_view id) {
  return id.size() == 20 && id.substr(0, 4) == "key_" && IsLowerHex(id.substr(4));
}

absl::StatusOr<std::unique_ptr<KeyStore>> KeyStore::Open(const std::string& path) {
  std::unique_ptr<KeyStore> store(new KeyStore());
  store->path_ = path;
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (!absl::IsNotFound(text.status())) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot load keys file \"", path, "\": ", text.status().message()));
    }
  } else {
    auto contents = Parse(*text, path);
    if (!contents.ok()) return contents.status();
    store->format_found_ = store->format_on_disk_ = contents->format;
    store->loaded_state_ = std::move(contents->state);
    store->legacy_usage_ = std::move(contents->legacy_usage);
  }
  // A kill between creating a temporary file and renaming it over the keys file leaves the temporary
  // file behind (the keys file itself is whole); without this, hundreds of restarts would pile them up.
  for (const std::string& name : RemoveStaleTemporaryFiles(path)) {
    spdlog::warn("removed {}, the temporary file of a write interrupted by a crash (the keys file is whole)", name);
  }
  return store;
}

absl::StatusOr<KeyStore::Contents> KeyStore::Parse(std::string_view text, const std::string& path) {
  Json root;
  try {
    root = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return SyntaxError(path, text, e);
  } catch (const Json::exception& e) {
    // A number too large for any type (found by fuzzing: it ended the process).
    return absl::InvalidArgumentError(absl::StrCat("cannot load keys file \"", path, "\": not readable JSON: ", e.what()));
  }
  if (!root.is_object()) return TypeError(path, "top level", "an object", root);
  if (root.contains("format")) return ParseOwn(root, path);
  return ParseLegacy(root, path);
}

std::string KeyStore::Serialize(const KeysState& state, const LegacyUsage& legacy_usage) {
  Json root = Json::object();
  root["format"] = kFormatName;
  root["version"] = kFormatVersion;
  if (!state.admin_key_sha256.empty()) root["admin_key_sha256"] = state.admin_key_sha256;
  Json keys = Json::array();
  for (const KeyEntry& e : state.keys) {
    Json entry = Json::object();
    entry["id"] = e.id;
    entry["sha256"] = e.sha256;
    entry["name"] = e.name;
    entry["prefix"] = e.prefix;
    entry["enabled"] = e.enabled;
    entry["created"] = e.created;
    entry["imported"] = e.imported;
    if (!e.policy.empty()) entry["policy"] = Json(KeyPolicyToJson(e.policy));
    keys.push_back(std::move(entry));
  }
  root["keys"] = std::move(keys);
  Json usage = Json::object();
  // The texts were produced by dump() at load time, so they always parse.
  for (const auto& [id, text] : legacy_usage) usage[id] = Json::parse(text);
  root["legacy_usage"] = std::move(usage);
  return root.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

absl::Status KeyStore::BackUpLegacyFile() {
  auto original = ReadFile(path_);
  if (!original.ok()) {
    if (absl::IsNotFound(original.status())) {
      spdlog::warn("the old-format keys file {} has disappeared; there is nothing to back up", path_);
      return absl::OkStatus();
    }
    return original.status();
  }
  // Never overwrite a backup of some other old file (an operator may import twice).
  for (int n = 1; n <= 100; ++n) {
    std::string candidate = absl::StrCat(path_, ".legacy-backup", n == 1 ? "" : absl::StrCat(".", n));
    auto existing = ReadFile(candidate);
    if (existing.ok()) {
      if (*existing == *original) {
        backup_path_ = candidate;
        return absl::OkStatus();
      }
      continue;
    }
    if (!absl::IsNotFound(existing.status())) return existing.status();
    if (auto st = CopyFileDurably(path_, candidate); !st.ok()) return st;
    backup_path_ = candidate;
    spdlog::info("copied the old-format keys file {} to {} before rewriting it", path_, candidate);
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat("too many ", path_, ".legacy-backup.* files"));
}

absl::Status KeyStore::Save(const KeysState& state) {
  if (format_on_disk_ == KeysFileFormat::kLegacy) {
    if (auto st = BackUpLegacyFile(); !st.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot back up the old-format keys file before rewriting it: ", st.message()));
    }
  }
  if (auto st = WriteFileAtomically(path_, Serialize(state, legacy_usage_)); !st.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot write keys file: ", st.message()));
  }
  format_on_disk_ = KeysFileFormat::kOwn;
  return absl::OkStatus();
}

}  // namespace luna::authsvc
