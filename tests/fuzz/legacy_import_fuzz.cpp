// libFuzzer target for the importers of the old proxy's files: authsvc's keys-file reader (the old
// keys.json and the own format, KeyStore::Parse) and usagesvc's reader of the old per-key usage object
// (ParseLegacyUsage) with its way into the ledger (a journal record's legacy import, queried, then
// through a snapshot and back). The first byte picks the importer.
//
// Checked, beyond "no crash": an accepted keys file has well-formed, unique ids and hashes, saves and
// reads back to the same state, and the saved text holds none of the old file's full keys (nor its
// admin key); every usage object it carried, and every accepted one, has non-negative figures, and the
// ledger answers the undated totals with exactly the old totals, before and after a snapshot (parsed
// whole, and loaded from the file as usagesvc does). A first byte 's' feeds the rest to the snapshot
// file's field walk as a payload.
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "authsvc/key_store.h"
#include "tests/fuzz/fuzz_check.h"
#include "usagesvc/ledger.h"
#include "usagesvc/legacy_usage.h"
#include "usagesvc/snapshot_file.h"

namespace {

using luna::fuzz::Fail;
namespace usv = luna::usagesvc;

bool IsLowerHex(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

usv::LedgerOptions Options() {
  usv::LedgerOptions o;
  o.legacy_zone = *usv::LedgerZone::Parse("+08:00", "legacy");
  o.now_ms = [] { return int64_t{1767225600000}; };  // 2026-01-01: no clock in the checks
  return o;
}

usv::QueryTotals UndatedTotals(const usv::Ledger& ledger, const std::string& key_id) {
  usv::UsageQuery q;
  q.key_id = key_id;
  auto rows = ledger.Query(q);
  usv::QueryTotals t;
  for (const auto& r : rows) t.Add(r.totals);
  return t;
}

void CheckLegacyUsage(std::string_view text) {
  auto u = usv::ParseLegacyUsage(text, Options().legacy_zone);
  if (!u.ok()) return;
  auto figures_ok = [](const usv::LegacyModelFigures& f) {
    return f.input >= 0 && f.output >= 0 && f.total_only >= 0 && f.requests >= 0;
  };
  if (u->total_input < 0 || u->total_output < 0 || u->total_requests < 0) Fail("negative total", text);
  for (const auto& [m, f] : u->total_by_model) {
    if (!figures_ok(f)) Fail("negative model figure", text);
  }
  for (const auto& [d, day] : u->daily) {
    if (day.input < 0 || day.output < 0 || day.requests < 0) Fail("negative day figure", text);
    for (const auto& [m, f] : day.by_model) {
      if (!figures_ok(f)) Fail("negative day model figure", text);
    }
  }
  for (const auto& [h, models] : u->hourly) {
    for (const auto& [m, f] : models) {
      if (!figures_ok(f)) Fail("negative hour model figure", text);
    }
  }

  // Into a ledger as usagesvc's importer does: the old totals answer the undated query.
  usv::Ledger ledger(Options());
  usv::storage::v1::JournalRecord rec;
  auto* imp = rec.add_legacy_imports();
  imp->set_key_id("key_00000000000000aa");
  imp->set_usage_json(std::string(text));
  std::vector<std::string> errors;
  ledger.Apply(rec, &errors);
  if (!errors.empty()) Fail("accepted usage refused by the ledger", errors.front());
  if (!ledger.LegacyImported("key_00000000000000aa")) Fail("import not recorded", text);
  usv::QueryTotals t = UndatedTotals(ledger, "key_00000000000000aa");
  if (t.input != u->total_input || t.output != u->total_output || t.requests != u->total_requests) {
    Fail("ledger totals differ from the old totals", text);
  }
  // Applying the same record again changes nothing.
  ledger.Apply(rec);
  if (!(UndatedTotals(ledger, "key_00000000000000aa") == t)) Fail("second import counted", text);
  // A snapshot keeps every query's answer, parsed whole or loaded from the file as usagesvc does.
  std::string file = usv::SnapshotFileStart();
  if (!ledger.AppendSnapshot(1, &file).ok()) Fail("snapshot not written", text);
  usv::SealSnapshotFile(&file);
  auto parts = usv::DecodeSnapshotFileParts(file);
  if (!parts.ok()) Fail("snapshot file does not load", std::string(parts.status().message()));
  auto from_file = usv::Ledger::FromSnapshot(parts->snapshot, Options(), parts->detail);
  if (!from_file.ok()) Fail("snapshot file does not restore", std::string(from_file.status().message()));
  if (!(UndatedTotals(**from_file, "key_00000000000000aa") == t)) Fail("snapshot file changed the totals", text);
  auto restored = usv::Ledger::FromSnapshot(ledger.ToSnapshot(1), Options());
  if (!restored.ok()) Fail("snapshot does not restore", std::string(restored.status().message()));
  for (int shape = 0; shape < 5; ++shape) {
    usv::UsageQuery q;
    q.by_day = shape == 1;
    q.by_hour = shape == 2;
    q.by_model = shape == 3;
    if (shape == 4) {  // every date: the daily rows summed
      q.from_day = 0;
      q.to_day = 3000000;
    }
    auto a = ledger.Query(q);
    auto b = (*restored)->Query(q);
    if (a.size() != b.size()) Fail("snapshot changed the rows", text);
    for (size_t i = 0; i < a.size(); ++i) {
      if (!(a[i].totals == b[i].totals) || a[i].day != b[i].day || a[i].hour != b[i].hour ||
          a[i].model != b[i].model) {
        Fail("snapshot changed a row", text);
      }
    }
  }
}

void CheckKeysFile(std::string_view text) {
  auto parsed = luna::authsvc::KeyStore::Parse(text, "keys.json");
  if (!parsed.ok()) return;
  const auto& state = parsed->state;
  std::set<std::string> ids, hashes;
  for (const auto& k : state.keys) {
    if (!luna::authsvc::IsWellFormedKeyId(k.id)) Fail("malformed id", k.id);
    if (!IsLowerHex(k.sha256, 64)) Fail("malformed hash", k.sha256);
    if (!ids.insert(k.id).second) Fail("id twice", k.id);
    if (!hashes.insert(k.sha256).second) Fail("hash twice", k.sha256);
  }
  if (!state.admin_key_sha256.empty() && !IsLowerHex(state.admin_key_sha256, 64)) Fail("malformed admin hash", text);
  for (const auto& [id, usage] : parsed->legacy_usage) {
    if (ids.count(id) == 0) Fail("usage of an unknown key", id);
    CheckLegacyUsage(usage);
  }

  std::string saved = luna::authsvc::KeyStore::Serialize(state, parsed->legacy_usage);
  auto reread = luna::authsvc::KeyStore::Parse(saved, "keys.json");
  if (!reread.ok()) Fail("saved file does not load", std::string(reread.status().message()) + "\n" + saved);
  if (reread->format != luna::authsvc::KeysFileFormat::kOwn) Fail("saved in another format", saved);
  if (!(reread->state == state) || reread->legacy_usage != parsed->legacy_usage) Fail("save changed the state", saved);

  // The old file's full keys (and admin key) are gone once saved.
  if (parsed->format != luna::authsvc::KeysFileFormat::kLegacy) return;
  auto root = nlohmann::json::parse(text, nullptr, false);
  if (root.is_discarded() || !root.is_object()) return;
  auto secrets = std::vector<std::string>();
  if (auto a = root.find("admin_key"); a != root.end() && a->is_string()) secrets.push_back(a->get<std::string>());
  if (auto ks = root.find("keys"); ks != root.end() && ks->is_object()) {
    for (const auto& [key, v] : ks->items()) secrets.push_back(key);
  }
  // Every string of the saved file, names included: where a key could have been written.
  std::vector<std::string> strings;
  auto collect = [&](const auto& self, const nlohmann::json& j) -> void {
    if (j.is_string()) strings.push_back(j.get<std::string>());
    if (j.is_array()) {
      for (const auto& v : j) self(self, v);
    } else if (j.is_object()) {
      for (const auto& [k, v] : j.items()) {
        strings.push_back(k);
        self(self, v);
      }
    }
  };
  auto saved_json = nlohmann::json::parse(saved, nullptr, false);
  if (saved_json.is_discarded()) Fail("saved file is not JSON", saved);
  collect(collect, saved_json);
  for (const auto& s : secrets) {
    // Short strings turn up anywhere by chance (in names, JSON punctuation).
    if (s.size() < 16) continue;
    for (const auto& w : strings) {
      // A key's hash may hold another key by chance (the fuzzer feeds back pieces of what it saw
      // compared: a key that is a piece of another key's hash); a hash that IS a key is a leak.
      if (IsLowerHex(w, 64) ? w == s : w.find(s) != std::string::npos) Fail("a full key was saved", s);
    }
  }
}

// Any bytes as a snapshot payload (with a CRC that matches, so the field walk is what is tested):
// refused with DataLoss or loaded, never a crash or a read past the end.
void CheckSnapshotPayload(std::string_view payload) {
  std::string file = usv::SnapshotFileStart();
  file.append(payload);
  usv::SealSnapshotFile(&file);
  auto parts = usv::DecodeSnapshotFileParts(file);
  if (!parts.ok()) {
    if (parts.status().code() != absl::StatusCode::kDataLoss) Fail("not DataLoss", std::string(parts.status().message()));
    return;
  }
  for (std::string_view d : parts->detail) {
    if (d.data() < file.data() || d.data() + d.size() > file.data() + file.size()) Fail("detail view outside the file", payload);
  }
  (void)usv::Ledger::FromSnapshot(parts->snapshot, Options(), parts->detail);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] == 's') {
    CheckSnapshotPayload(rest);
  } else if (data[0] % 2 == 0) {
    CheckKeysFile(rest);
  } else {
    CheckLegacyUsage(rest);
  }
  return 0;
}
