#include "authsvc/key_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "tests/unit/authsvc/test_files.h"

namespace luna::authsvc {
namespace {

using testing::Exists;
using testing::kAliceKey;
using testing::kBobKey;
using testing::kLegacyAdminKey;
using testing::LegacyKeysJson;
using testing::Mode;
using testing::ReadText;
using testing::TempDir;
using testing::WriteText;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

KeyEntry MakeEntry(const std::string& id, const std::string& key, const std::string& name, bool enabled) {
  KeyEntry e;
  e.id = id;
  e.sha256 = Sha256Hex(key);
  e.name = name;
  e.prefix = KeyPrefix(key);
  e.enabled = enabled;
  e.created = "2025-01-02T03:04:05Z";
  e.imported = false;
  return e;
}

TEST(KeyStoreTest, MissingFileOpensEmptyAndCreatesNothing) {
  // A missing keys file means "no keys yet": the store opens empty and does not create the file.
  TempDir dir;
  auto store = KeyStore::Open(dir.File("keys.json"));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->format_found(), KeysFileFormat::kAbsent);
  EXPECT_TRUE((*store)->loaded_state().keys.empty());
  EXPECT_TRUE((*store)->loaded_state().admin_key_sha256.empty());
  EXPECT_FALSE(Exists(dir.File("keys.json")));
}

TEST(KeyStoreTest, LegacyFileIsImportedHashedWithFieldsKeptInFileOrder) {
  // An old-format file is read as is: keys hashed, names/enabled/created kept, order kept, usage kept.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, LegacyKeysJson());
  auto store = KeyStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->format_found(), KeysFileFormat::kLegacy);
  const KeysState& state = (*store)->loaded_state();
  EXPECT_EQ(state.admin_key_sha256, Sha256Hex(kLegacyAdminKey));
  ASSERT_EQ(state.keys.size(), 2u);

  const KeyEntry& bob = state.keys[0];
  EXPECT_EQ(bob.sha256, Sha256Hex(kBobKey));
  EXPECT_EQ(bob.id, "key_" + Sha256Hex(kBobKey).substr(0, 16));
  EXPECT_EQ(bob.name, "bob laptop");
  EXPECT_FALSE(bob.enabled);
  EXPECT_EQ(bob.created, "1717171717.25");
  EXPECT_EQ(bob.prefix, std::string(kBobKey).substr(0, 9));
  EXPECT_TRUE(bob.imported);

  const KeyEntry& alice = state.keys[1];
  EXPECT_EQ(alice.sha256, Sha256Hex(kAliceKey));
  EXPECT_EQ(alice.name, "alice");
  EXPECT_TRUE(alice.enabled);
  EXPECT_EQ(alice.created, "2024-05-31T10:11:12.123456");

  const LegacyUsage& usage = (*store)->legacy_usage();
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(usage.at(bob.id)),
            nlohmann::json::parse(R"({"total_requests": 12, "daily": {"2024-06-01": {"input_tokens": 1000}}})"));
  EXPECT_EQ(nlohmann::json::parse(usage.at(alice.id)),
            nlohmann::json::parse(R"({"total_requests": 3, "models": {"claude": 3}})"));
  // Loading changed nothing on disk.
  EXPECT_EQ(ReadText(path), LegacyKeysJson());
}

TEST(KeyStoreTest, LegacyIdsAreStableAcrossLoads) {
  // Ids of imported keys derive from the key hash, so two loads (or two imports) give the same ids.
  TempDir dir;
  WriteText(dir.File("a.json"), LegacyKeysJson());
  WriteText(dir.File("b.json"), LegacyKeysJson());
  auto first = KeyStore::Open(dir.File("a.json"));
  auto second = KeyStore::Open(dir.File("b.json"));
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_EQ((*first)->loaded_state().keys.size(), 2u);
  EXPECT_EQ((*first)->loaded_state(), (*second)->loaded_state());
}

TEST(KeyStoreTest, FirstSaveBacksUpLegacyFileAndRewritesItWithoutFullKeys) {
  // The first write copies the old file byte for byte to .legacy-backup (0600), then writes the own
  // format, which holds no full key, and which loads back to the same state and legacy usage.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, LegacyKeysJson());
  auto store = KeyStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  KeysState state = (*store)->loaded_state();
  state.keys[0].enabled = true;
  ASSERT_TRUE((*store)->Save(state).ok());

  std::string backup = path + ".legacy-backup";
  EXPECT_EQ((*store)->backup_path(), backup);
  EXPECT_EQ(ReadText(backup), LegacyKeysJson());
  EXPECT_EQ(Mode(backup), 0600u);

  std::string text = ReadText(path);
  EXPECT_EQ(text.find(kAliceKey), std::string::npos);
  EXPECT_EQ(text.find(kBobKey), std::string::npos);
  EXPECT_EQ(text.find(kLegacyAdminKey), std::string::npos);
  auto json = nlohmann::json::parse(text);
  EXPECT_EQ(json["format"], "luna-keys");
  EXPECT_EQ(json["version"], 1);

  auto reloaded = KeyStore::Open(path);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ((*reloaded)->format_found(), KeysFileFormat::kOwn);
  EXPECT_EQ((*reloaded)->loaded_state(), state);
  EXPECT_EQ((*reloaded)->legacy_usage(), (*store)->legacy_usage());

  // A second save does not touch the backup again.
  ASSERT_TRUE((*store)->Save(state).ok());
  EXPECT_EQ(ReadText(backup), LegacyKeysJson());
}

// A full key (or the admin key) written elsewhere in the old file -- as a name, as a member name or a
// value deep in a usage object -- is masked on import, so the saved file holds it nowhere; the usage
// figures around it are kept. (Found by legacy_import_fuzz: a usage object carrying a "keys" member.)
TEST(KeyStoreTest, FullKeysWrittenElsewhereInTheOldFileAreMaskedOnImport) {
  const std::string live = "sk-live-0123456789abcdefXYZ";
  const std::string admin = "sk-admin-0123456394abcdef";
  const std::string old_file = nlohmann::json{
      {"admin_key", admin},
      {"keys",
       {{live,
         {{"name", "agent " + live},
          {"enabled", true},
          {"usage",
           {{"total_input", 100},
            {"total_output", 50},
            {"total_requests", 3},
            {"note", "admin was " + admin},
            {"keys", {{live, {{"name", "agent"}}}}}}}}}}}}.dump();
  auto parsed = KeyStore::Parse(old_file, "keys.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->state.keys.size(), 1u);
  EXPECT_EQ(parsed->state.keys[0].name, "agent " + MaskSecret(live));
  EXPECT_EQ(parsed->state.keys[0].sha256, Sha256Hex(live));  // the key itself still validates
  EXPECT_EQ(parsed->state.admin_key_sha256, Sha256Hex(admin));

  const std::string saved = KeyStore::Serialize(parsed->state, parsed->legacy_usage);
  EXPECT_EQ(saved.find(live), std::string::npos) << saved;
  EXPECT_EQ(saved.find(admin), std::string::npos) << saved;
  auto usage = nlohmann::json::parse(parsed->legacy_usage.at(parsed->state.keys[0].id));
  EXPECT_EQ(usage["total_input"], 100);
  EXPECT_EQ(usage["total_requests"], 3);
  EXPECT_EQ(usage["note"], "admin was " + MaskSecret(admin));
  EXPECT_TRUE(usage["keys"].contains(MaskSecret(live))) << usage.dump();
}

TEST(KeyStoreTest, ExistingDifferentBackupIsNeverOverwritten) {
  // A backup of some earlier old file stays; the new original goes to .legacy-backup.2.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path + ".legacy-backup", "an older original");
  WriteText(path, LegacyKeysJson());
  auto store = KeyStore::Open(path);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Save((*store)->loaded_state()).ok());
  EXPECT_EQ(ReadText(path + ".legacy-backup"), "an older original");
  EXPECT_EQ(ReadText(path + ".legacy-backup.2"), LegacyKeysJson());
}

TEST(KeyStoreTest, OwnFormatSaveAndLoadRoundTrip) {
  // Saving creates a missing file atomically (no temp file left) and loading it gives the same state.
  TempDir dir;
  std::string path = dir.File("keys.json");
  auto store = KeyStore::Open(path);
  ASSERT_TRUE(store.ok());
  KeysState state;
  state.admin_key_sha256 = Sha256Hex("sk-admin-x");
  state.keys.push_back(MakeEntry("key_0123456789abcdef", "sk-first-key-0000000000", "first", true));
  state.keys.push_back(MakeEntry("key_fedcba9876543210", "sk-second-key-111111111", "zweiter \"Schlüssel\"", false));
  state.keys[1].imported = true;
  ASSERT_TRUE((*store)->Save(state).ok());
  EXPECT_FALSE(Exists(path + ".legacy-backup"));
  EXPECT_EQ(Mode(path), 0600u);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "keys.json") << "stray file " << entry.path();
  }

  auto reloaded = KeyStore::Open(path);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ((*reloaded)->format_found(), KeysFileFormat::kOwn);
  EXPECT_EQ((*reloaded)->loaded_state(), state);
  EXPECT_EQ(KeyStore::Serialize(state, {}), ReadText(path));
}

TEST(KeyStoreTest, CorruptJsonIsRefusedWithFileLineAndColumnAndLeftUntouched) {
  // A syntax error names the file and the line and column, never shows a full key, and the file stays.
  TempDir dir;
  std::string path = dir.File("keys.json");
  std::string text = std::string("{\n  \"keys\": {\n    \"") + kAliceKey + "\": {\"name\": \"a\",, \"enabled\": true}\n  }\n}\n";
  WriteText(path, text);
  auto store = KeyStore::Open(path);
  ASSERT_FALSE(store.ok());
  std::string msg = Message(store.status());
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  // The second comma is on line 3; its column is the position after the key and `{"name": "a",`.
  size_t column = std::string("    \"").size() + std::string(kAliceKey).size() + std::string("\": {\"name\": \"a\",,").size();
  EXPECT_NE(msg.find("line 3, column " + std::to_string(column)), std::string::npos) << msg;
  EXPECT_EQ(msg.find(kAliceKey), std::string::npos) << msg;
  EXPECT_EQ(ReadText(path), text);
}

TEST(KeyStoreTest, UnterminatedKeyStringDoesNotLeakTheKeyInTheMessage) {
  // nlohmann quotes the token it stopped at; a key cut off mid-string must still be masked.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, std::string("{\"keys\": {\"") + kAliceKey + "\n");
  auto store = KeyStore::Open(path);
  ASSERT_FALSE(store.ok());
  std::string msg = Message(store.status());
  EXPECT_NE(msg.find("line 1, column"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(kAliceKey), std::string::npos) << msg;
}

TEST(KeyStoreTest, EmptyFileIsRefused) {
  // An empty keys.json (the old proxy could leave one after kill -9) is refused, not taken as "no keys".
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, "");
  auto store = KeyStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(Message(store.status()).find("empty"), std::string::npos) << store.status();
  EXPECT_EQ(ReadText(path), "");
}

TEST(KeyStoreTest, WrongTypeInLegacyEntryIsRefusedWithMaskedPath) {
  // A wrongly typed field of an old-format entry is named by its JSON path, with the key masked.
  TempDir dir;
  std::string path = dir.File("keys.json");
  std::string text = std::string(R"({"keys": {")") + kAliceKey + R"(": {"name": "a", "enabled": "yes"}}})";
  WriteText(path, text);
  auto store = KeyStore::Open(path);
  ASSERT_FALSE(store.ok());
  std::string msg = Message(store.status());
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("keys[\"sk-alice…\"].enabled"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected a boolean, got string"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(kAliceKey), std::string::npos) << msg;
  EXPECT_EQ(ReadText(path), text);
}

TEST(KeyStoreTest, LegacyEntryThatIsNotAnObjectIsRefused) {
  // A key whose entry is not an object is refused with its (masked) path.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, std::string(R"({"keys": {")") + kBobKey + R"(": true}})");
  auto store = KeyStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(Message(store.status()).find("keys[\"sk-bob98…\"]: expected an object, got boolean"), std::string::npos)
      << store.status();
}

TEST(KeyStoreTest, LegacyCreatedMayBeAStringOrANumberButNothingElse) {
  // "created" accepts what the old proxy wrote (a string or a number) and refuses other types.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, std::string(R"({"keys": {")") + kBobKey + R"(": {"created": [1]}}})");
  auto store = KeyStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(Message(store.status()).find(".created: expected a string or a number, got array"), std::string::npos)
      << store.status();
}

TEST(KeyStoreTest, WrongTypeInOwnFormatIsRefusedWithIndexPath) {
  // In the own format a bad field is named as keys[i].field.
  TempDir dir;
  std::string path = dir.File("keys.json");
  KeysState state;
  state.keys.push_back(MakeEntry("key_0123456789abcdef", "sk-first-key-0000000000", "first", true));
  state.keys.push_back(MakeEntry("key_fedcba9876543210", "sk-second-key-111111111", "second", true));
  auto json = nlohmann::json::parse(KeyStore::Serialize(state, {}));
  json["keys"][1]["sha256"] = 42;
  WriteText(path, json.dump());
  auto store = KeyStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(Message(store.status()).find("keys[1].sha256: expected a string, got number"), std::string::npos)
      << store.status();
}

TEST(KeyStoreTest, DuplicateIdsAreRefused) {
  // Two entries with the same id cannot both be right: refuse to guess.
  TempDir dir;
  std::string path = dir.File("keys.json");
  KeysState state;
  state.keys.push_back(MakeEntry("key_0123456789abcdef", "sk-first-key-0000000000", "first", true));
  state.keys.push_back(MakeEntry("key_0123456789abcdef", "sk-second-key-111111111", "second", true));
  WriteText(path, KeyStore::Serialize(state, {}));
  auto store = KeyStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(Message(store.status()).find("keys[1].id: duplicate id key_0123456789abcdef (also keys[0])"),
            std::string::npos)
      << store.status();
}

TEST(KeyStoreTest, UnknownFieldsAndNewerVersionsOfTheOwnFormatAreRefused) {
  // Fields authsvc does not know would be lost on the next write, so they are refused, as are newer versions.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, R"({"format": "luna-keys", "version": 1, "keys": [], "extra": 1})");
  auto store = KeyStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(Message(store.status()).find("extra: unknown field"), std::string::npos) << store.status();

  WriteText(path, R"({"format": "luna-keys", "version": 2, "keys": []})");
  store = KeyStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(Message(store.status()).find("version 2 is not supported"), std::string::npos) << store.status();
}

TEST(KeyStoreTest, FailedSaveReportsUnavailableAndKeepsTheFile) {
  // When the directory is gone the save fails with UNAVAILABLE saying why.
  TempDir dir;
  std::string sub = dir.File("state");
  std::filesystem::create_directory(sub);
  auto store = KeyStore::Open(sub + "/keys.json");
  ASSERT_TRUE(store.ok());
  std::filesystem::remove_all(sub);
  auto st = (*store)->Save(KeysState{});
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(Message(st).find("cannot write keys file"), std::string::npos) << st;
}

// A kill between creating and renaming a temporary file leaves it behind: the next start removes the
// ones of its own files (from dead processes, or from an earlier process with its own pid, as in a
// container), and nothing else.
TEST(KeyStoreTest, OpenRemovesTemporaryFilesOfInterruptedWrites) {
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, KeyStore::Serialize(KeysState{}, {}));
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  waitpid(dead, nullptr, 0);
  const std::string stale[] = {"keys.json.tmp." + std::to_string(dead) + ".0",
                               "keys.json.tmp." + std::to_string(getpid()) + ".3",
                               "keys.json.legacy-backup.tmp." + std::to_string(dead) + ".1"};
  // A running process's (it may be writing now), and names that only look alike.
  const std::string kept[] = {"keys.json.tmp." + std::to_string(getppid()) + ".0", "keys.json.tmp.12x.0",
                              "keys.json.tmp.9999999999999999999.0", "other.json.tmp." + std::to_string(dead) + ".0",
                              "keys.json.tmp"};
  for (const auto& n : stale) WriteText(dir.File(n), "{\"half");
  for (const auto& n : kept) WriteText(dir.File(n), "x");
  auto store = KeyStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  for (const auto& n : stale) EXPECT_FALSE(Exists(dir.File(n))) << n;
  for (const auto& n : kept) EXPECT_TRUE(Exists(dir.File(n))) << n;
}

// A keys file that does not load: nothing at all is touched, not even the temporary files.
TEST(KeyStoreTest, OpenOfABadFileRemovesNothing) {
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, "{");
  std::string tmp = dir.File("keys.json.tmp.999999999.0");
  WriteText(tmp, "x");
  EXPECT_FALSE(KeyStore::Open(path).ok());
  EXPECT_TRUE(Exists(tmp));
}

TEST(KeyStoreTest, PoliciesAreSavedOnlyWhenSetAndLoadBack) {
  TempDir dir;
  std::string path = dir.File("keys.json");
  auto store = KeyStore::Open(path);
  ASSERT_TRUE(store.ok());
  KeysState state;
  state.keys.push_back(MakeEntry("key_0123456789abcdef", "sk-first-key-0000000000", "limited", true));
  state.keys.push_back(MakeEntry("key_fedcba9876543210", "sk-second-key-111111111", "free", true));
  state.keys[0].policy.models = {"claude-*"};
  state.keys[0].policy.tokens_per_day = 1000;
  state.keys[0].policy.expires_unix_ms = 1798761600000;
  ASSERT_TRUE((*store)->Save(state).ok());
  auto file = nlohmann::json::parse(ReadText(path));
  EXPECT_EQ(file["keys"][0]["policy"]["models"], nlohmann::json({"claude-*"}));
  EXPECT_EQ(file["keys"][0]["policy"]["expires_at"], "2027-01-01T00:00:00Z");
  EXPECT_FALSE(file["keys"][1].contains("policy")) << "a key without limits is written as before";
  auto reloaded = KeyStore::Open(path);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ((*reloaded)->loaded_state(), state);
}

TEST(KeyStoreTest, BadPolicyInTheFileIsRefusedWithItsPlace) {
  TempDir dir;
  std::string path = dir.File("keys.json");
  KeysState state;
  state.keys.push_back(MakeEntry("key_0123456789abcdef", "sk-first-key-0000000000", "limited", true));
  std::string text = KeyStore::Serialize(state, {});
  auto j = nlohmann::json::parse(text);
  j["keys"][0]["policy"] = {{"tokens_per_day", -3}};
  WriteText(path, j.dump());
  auto store = KeyStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(Message(store.status()).find("keys[0]: policy.tokens_per_day"), std::string::npos) << store.status();
}

TEST(KeyStoreTest, LegacyAllowedModelsBecomeThePolicy) {
  // The old proxy's later versions limited a key to some models ("allowed_models").
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, std::string(R"({"admin_key": "sk-admin-legacy", "keys": {")") + kAliceKey +
                      R"(": {"name": "alice", "enabled": true, "allowed_models": ["claude-sonnet-4-5", "gpt-4o*"]}}})");
  auto store = KeyStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_EQ((*store)->loaded_state().keys.size(), 1u);
  EXPECT_EQ((*store)->loaded_state().keys[0].policy.models,
            (std::vector<std::string>{"claude-sonnet-4-5", "gpt-4o*"}));
  WriteText(path, std::string(R"({"keys": {")") + kAliceKey + R"(": {"allowed_models": "claude"}}})");
  auto bad = KeyStore::Open(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(Message(bad.status()).find("allowed_models"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace luna::authsvc
