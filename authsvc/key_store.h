// The keys file: loading the old proxy's format and authsvc's own, validating it, saving it atomically,
// and migrating an old-format file on the first write (after backing it up byte for byte).
//
// Two formats are read:
//   old (the Python proxy's keys.json), read as is:
//     {"admin_key": "...", "keys": {"sk-...": {"name", "enabled", "created", "usage": {...},
//                                             "allowed_models": [...] (later versions; also "models")}}}
//   own, the only one written:
//     {"format": "luna-keys", "version": 1, "admin_key_sha256": "<hex>" (optional),
//      "keys": [{"id", "sha256", "name", "prefix", "enabled", "created", "imported",
//                "policy" (only when set; common/key_policy.h's JSON form)}],
//      "legacy_usage": {"<key id>": <the old usage object verbatim>}}
// Full keys are never written; an old file keeps them only until the first write replaces it (the
// original stays in the backup, which the operator should delete once the migration is confirmed).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/key_policy.h"

namespace luna::authsvc {

// One API key as authsvc stores it: never the key itself.
struct KeyEntry {
  std::string id;      // "key_" + 16 lowercase hex digits; stable, safe to log
  std::string sha256;  // lowercase hex SHA-256 of the full key
  std::string name;
  std::string prefix;  // the first characters of the key ("sk-" plus 6), for display
  bool enabled = true;
  std::string created;  // RFC 3339 for new keys, the old proxy's value (as text) for imported ones
  bool imported = false;
  KeyPolicy policy;  // what the key may do; empty = no limits

  bool operator==(const KeyEntry&) const = default;
};

// What the keys file holds, apart from the legacy usage (which never changes after loading).
struct KeysState {
  std::vector<KeyEntry> keys;    // in creation order
  std::string admin_key_sha256;  // empty: the file names no admin key

  bool operator==(const KeysState&) const = default;
};

// The old proxy's per-key usage objects, by key id, each as compact JSON text.
using LegacyUsage = std::map<std::string, std::string>;

enum class KeysFileFormat {
  kAbsent,  // no file yet: start empty
  kLegacy,  // the Python proxy's keys.json
  kOwn,     // "format": "luna-keys"
};
const char* KeysFileFormatName(KeysFileFormat format);

// The display prefix of a key: its first 9 characters ("sk-" plus 6), fewer for unusually short keys.
std::string KeyPrefix(std::string_view key);
// A secret shortened for messages: its first 8 characters (fewer for short ones) and "…".
std::string MaskSecret(std::string_view secret);
// The id of an imported key, derived from its hash so that importing the same file twice gives the
// same ids: "key_" + the first 16 hex digits of the SHA-256.
std::string ImportedKeyId(std::string_view sha256_hex);
// True for "key_" followed by 16 lowercase hex digits.
bool IsWellFormedKeyId(std::string_view id);

class KeyStore {
 public:
  struct Contents {
    KeysFileFormat format = KeysFileFormat::kAbsent;
    KeysState state;
    LegacyUsage legacy_usage;
  };

  // Reads and validates `path`. A missing file gives an empty store (the file is created on the
  // first Save). Any other problem is an error naming the file, the place (line and column, or a
  // JSON path such as keys[3].sha256) and the reason; the file is not touched. Once the file has
  // loaded, removes the temporary files of writes a crash interrupted (RemoveStaleTemporaryFiles).
  static absl::StatusOr<std::unique_ptr<KeyStore>> Open(const std::string& path);

  // Parses file text without any I/O. `path` only names the file in error messages.
  static absl::StatusOr<Contents> Parse(std::string_view text, const std::string& path);
  // The own-format text for `state` and `legacy_usage` (pretty-printed, ending in a newline).
  static std::string Serialize(const KeysState& state, const LegacyUsage& legacy_usage);

  const std::string& path() const { return path_; }
  // The format the file had when it was opened.
  KeysFileFormat format_found() const { return format_found_; }
  // The state as loaded. The store does not track later saves: its owner keeps the live state.
  const KeysState& loaded_state() const { return loaded_state_; }
  const LegacyUsage& legacy_usage() const { return legacy_usage_; }
  // Where the old-format original was copied, once the first Save has done so; empty before.
  const std::string& backup_path() const { return backup_path_; }

  // Replaces the file with `state` in the own format, atomically. While the file on disk is still in
  // the old format, first copies it to "<path>.legacy-backup" (or ".legacy-backup.2", ... if an older
  // backup with different contents is already there). UNAVAILABLE, saying why, if anything fails; the
  // file is then unchanged. Not thread-safe: the caller serializes saves.
  absl::Status Save(const KeysState& state);

 private:
  KeyStore() = default;
  absl::Status BackUpLegacyFile();

  std::string path_;
  KeysFileFormat format_found_ = KeysFileFormat::kAbsent;
  KeysFileFormat format_on_disk_ = KeysFileFormat::kAbsent;
  KeysState loaded_state_;
  LegacyUsage legacy_usage_;
  std::string backup_path_;
};

}  // namespace luna::authsvc
