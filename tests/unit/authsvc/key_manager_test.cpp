#include "authsvc/key_manager.h"

#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "common/crypto.h"
#include "tests/unit/authsvc/test_files.h"

namespace luna::authsvc {
namespace {

using testing::Exists;
using testing::kAliceKey;
using testing::kBobKey;
using testing::kLegacyAdminKey;
using testing::LegacyKeysJson;
using testing::ReadText;
using testing::TempDir;
using testing::WriteText;

constexpr char kEnvAdminKey[] = "sk-admin-from-env-000000000000000000000";

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Records every change it is sent.
class RecordingSubscriber : public KeySubscriber {
 public:
  void OnKeyChange(KeyChange change) override { changes.push_back(std::move(change)); }
  std::vector<KeyChange> changes;
};

KeyManagerOptions Options(const std::string& path, std::optional<std::string> admin = kEnvAdminKey) {
  KeyManagerOptions o;
  o.keys_file = path;
  o.admin_key = std::move(admin);
  o.now = [] { return std::chrono::system_clock::from_time_t(1767225600); };  // 2026-01-01T00:00:00Z
  return o;
}

std::unique_ptr<KeyManager> MustCreate(KeyManagerOptions options) {
  auto m = KeyManager::Create(std::move(options));
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

TEST(KeyManagerTest, AdminKeyIsGeneratedOnceStoredHashedAndSurvivesARestart) {
  // With no ADMIN_KEY and no admin key in the file, one is generated, only its hash is written (the
  // write creates the file), it is handed out once, and a restart accepts it without generating another.
  TempDir dir;
  std::string path = dir.File("keys.json");
  auto m = MustCreate(Options(path, std::nullopt));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->admin_key_source(), AdminKeySource::kGenerated);
  auto key = m->TakeGeneratedAdminKey();
  ASSERT_TRUE(key.has_value());
  EXPECT_FALSE(m->TakeGeneratedAdminKey().has_value());
  EXPECT_EQ(key->rfind("sk-admin-", 0), 0u);
  EXPECT_EQ(key->size(), 9u + 32u);  // 24 random bytes in unpadded base64url
  EXPECT_TRUE(m->CheckAdminCredential(*key).ok());

  ASSERT_TRUE(Exists(path));
  std::string text = ReadText(path);
  EXPECT_EQ(text.find(*key), std::string::npos);
  EXPECT_NE(text.find(Sha256Hex(*key)), std::string::npos);

  auto restarted = MustCreate(Options(path, std::nullopt));
  ASSERT_NE(restarted, nullptr);
  EXPECT_EQ(restarted->admin_key_source(), AdminKeySource::kFile);
  EXPECT_FALSE(restarted->TakeGeneratedAdminKey().has_value());
  EXPECT_TRUE(restarted->CheckAdminCredential(*key).ok());
  EXPECT_EQ(ReadText(path), text);
}

TEST(KeyManagerTest, AdminKeyFromEnvTakesPrecedenceOverTheFile) {
  // ADMIN_KEY wins over the file's admin_key; the file's key is then no admin credential, and nothing is written.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, LegacyKeysJson());
  auto m = MustCreate(Options(path, kEnvAdminKey));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->admin_key_source(), AdminKeySource::kEnv);
  EXPECT_TRUE(m->CheckAdminCredential(kEnvAdminKey).ok());
  EXPECT_EQ(m->CheckAdminCredential(kLegacyAdminKey).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(m->TakeGeneratedAdminKey().has_value());
  EXPECT_EQ(ReadText(path), LegacyKeysJson());
  EXPECT_FALSE(Exists(path + ".legacy-backup"));
}

TEST(KeyManagerTest, LegacyAdminKeyIsAcceptedWithoutEnvAndWithoutAWrite) {
  // Without ADMIN_KEY the old file's admin_key is the admin credential; loading writes nothing.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, LegacyKeysJson());
  auto m = MustCreate(Options(path, std::nullopt));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->admin_key_source(), AdminKeySource::kFile);
  EXPECT_TRUE(m->CheckAdminCredential(kLegacyAdminKey).ok());
  EXPECT_EQ(ReadText(path), LegacyKeysJson());
}

TEST(KeyManagerTest, AdminCheckTellsMissingInvalidAndClientCredentialsApart) {
  // No credential and an unknown one are UNAUTHENTICATED; a client key (even disabled) is PERMISSION_DENIED.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, LegacyKeysJson());
  auto m = MustCreate(Options(path));
  ASSERT_NE(m, nullptr);
  auto none = m->CheckAdminCredential("");
  EXPECT_EQ(none.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Message(none), "admin credential required");
  auto wrong = m->CheckAdminCredential("sk-nobody");
  EXPECT_EQ(wrong.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Message(wrong), "invalid admin credential");
  auto client = m->CheckAdminCredential(kAliceKey);
  EXPECT_EQ(client.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Message(client), "admin key required");
  EXPECT_EQ(m->CheckAdminCredential(kBobKey).code(), absl::StatusCode::kPermissionDenied);
}

TEST(KeyManagerTest, CreateValidateDisableEnableDeleteLifecycleIsPersistedAtEachStep) {
  // A created key validates; disable/enable/delete change what lookups see, and every step is on disk.
  TempDir dir;
  std::string path = dir.File("keys.json");
  auto m = MustCreate(Options(path));
  ASSERT_NE(m, nullptr);
  auto reload = [&] { return MustCreate(Options(path)); };

  auto created = m->CreateKey("ci runner");
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string key = created->api_key;
  const std::string id = created->entry.id;
  EXPECT_TRUE(std::regex_match(key, std::regex("sk-[A-Za-z0-9_-]{32}")));
  EXPECT_TRUE(std::regex_match(id, std::regex("key_[0-9a-f]{16}")));
  EXPECT_EQ(created->entry.prefix, key.substr(0, 9));
  EXPECT_EQ(created->entry.sha256, Sha256Hex(key));
  EXPECT_EQ(created->entry.created, "2026-01-01T00:00:00Z");
  EXPECT_FALSE(created->entry.imported);
  EXPECT_EQ(ReadText(path).find(key), std::string::npos);

  auto found = m->FindByKey(key);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, id);
  EXPECT_TRUE(found->enabled);
  EXPECT_FALSE(m->FindByKey(key + "x").has_value());
  EXPECT_EQ(reload()->FindByKey(key)->id, id);

  auto disabled = m->DisableKey(id);
  ASSERT_TRUE(disabled.ok()) << disabled.status();
  EXPECT_FALSE(disabled->enabled);
  EXPECT_FALSE(m->FindByKey(key)->enabled);
  EXPECT_FALSE(reload()->FindByKey(key)->enabled);

  auto enabled = m->EnableKey(key);  // by full key this time
  ASSERT_TRUE(enabled.ok()) << enabled.status();
  EXPECT_TRUE(m->FindByKey(key)->enabled);
  EXPECT_TRUE(reload()->FindByKey(key)->enabled);

  auto deleted = m->DeleteKey(id);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->id, id);
  EXPECT_FALSE(m->FindByKey(key).has_value());
  EXPECT_EQ(m->GetKey(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(reload()->FindByKey(key).has_value());
  EXPECT_EQ(m->DeleteKey(id).status().code(), absl::StatusCode::kNotFound);
}

TEST(KeyManagerTest, KeysAreAddressedByIdOrFullKeyAndUnknownOnesAreNotFoundWithoutEchoingThem) {
  // GetKey takes an id or a full key; NOT_FOUND messages mask a full key.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, LegacyKeysJson());
  auto m = MustCreate(Options(path));
  ASSERT_NE(m, nullptr);
  std::string alice_id = ImportedKeyId(Sha256Hex(kAliceKey));
  auto by_id = m->GetKey(alice_id);
  auto by_key = m->GetKey(kAliceKey);
  ASSERT_TRUE(by_id.ok() && by_key.ok());
  EXPECT_EQ(*by_id, *by_key);
  EXPECT_EQ(by_id->name, "alice");

  std::string unknown = "sk-unknown-0000000000000000000000000";
  auto missing = m->GetKey(unknown);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Message(missing.status()).find(unknown), std::string::npos) << missing.status();
  EXPECT_EQ(m->GetKey("key_0000000000000000").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m->GetKey("").status().code(), absl::StatusCode::kNotFound);
}

TEST(KeyManagerTest, CreateKeyRequiresANameOfAtMost200Characters) {
  // Empty, blank, over-long and non-text names are INVALID_ARGUMENT; 200 characters (not bytes) are fine.
  TempDir dir;
  auto m = MustCreate(Options(dir.File("keys.json")));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->CreateKey("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->CreateKey("   ").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->CreateKey(std::string(201, 'n')).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->CreateKey("bad\nname").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->CreateKey("\xff\xfe").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(m->CreateKey(std::string(200, 'n')).ok());
  std::string umlauts;
  for (int i = 0; i < 200; ++i) umlauts += "ü";  // 400 bytes, 200 characters
  EXPECT_TRUE(m->CreateKey(umlauts).ok());
  EXPECT_EQ(m->key_count(), 2u);
}

TEST(KeyManagerTest, FirstChangeMigratesTheLegacyFileAfterBackingItUp) {
  // Loading an old file leaves it alone; the first change backs it up byte for byte and rewrites it
  // in the own format without any full key, keeping names, ids and the legacy usage.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, LegacyKeysJson());
  auto m = MustCreate(Options(path));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->format_found(), KeysFileFormat::kLegacy);
  EXPECT_EQ(m->legacy_usage().size(), 2u);
  EXPECT_EQ(ReadText(path), LegacyKeysJson());

  ASSERT_TRUE(m->DisableKey(kAliceKey).ok());
  EXPECT_EQ(ReadText(path + ".legacy-backup"), LegacyKeysJson());
  std::string text = ReadText(path);
  for (const char* secret : {kAliceKey, kBobKey, kLegacyAdminKey}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << "full key in the rewritten file";
  }
  auto reloaded = MustCreate(Options(path));
  ASSERT_NE(reloaded, nullptr);
  EXPECT_EQ(reloaded->format_found(), KeysFileFormat::kOwn);
  EXPECT_EQ(reloaded->ListKeys(), m->ListKeys());
  EXPECT_EQ(reloaded->legacy_usage(), m->legacy_usage());
  EXPECT_FALSE(reloaded->FindByKey(kAliceKey)->enabled);
}

TEST(KeyManagerTest, FailedWriteRollsTheChangeBackAndSendsNoEvent) {
  // When the file cannot be written the call fails with UNAVAILABLE and nothing changes, for readers
  // and for watchers.
  TempDir dir;
  std::string sub = dir.File("state");
  std::filesystem::create_directory(sub);
  auto m = MustCreate(Options(sub + "/keys.json"));
  ASSERT_NE(m, nullptr);
  auto created = m->CreateKey("k");
  ASSERT_TRUE(created.ok());
  RecordingSubscriber sub_events;
  m->Subscribe(&sub_events);
  std::filesystem::remove_all(sub);

  auto disabled = m->DisableKey(created->entry.id);
  EXPECT_EQ(disabled.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(Message(disabled.status()).find("cannot write keys file"), std::string::npos) << disabled.status();
  EXPECT_TRUE(m->FindByKey(created->api_key)->enabled);
  EXPECT_EQ(m->CreateKey("other").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(m->DeleteKey(created->entry.id).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(m->key_count(), 1u);
  EXPECT_EQ(sub_events.changes.size(), 1u);  // the snapshot only
  m->Unsubscribe(&sub_events);
}

TEST(KeyManagerTest, FailedWriteIsReportedAndRetriedUntilTheFileHoldsTheLiveTableAgain) {
  // A failed write is named by write_problem(); a thread then writes the live table again until it
  // succeeds, which clears the problem: the file holds what the manager serves (never the refused
  // change), and changes are accepted again.
  TempDir dir;
  std::string sub = dir.File("state");
  std::filesystem::create_directory(sub);
  KeyManagerOptions options = Options(sub + "/keys.json");
  options.write_retry_interval = std::chrono::milliseconds(20);
  auto m = MustCreate(options);
  ASSERT_NE(m, nullptr);
  auto created = m->CreateKey("k");
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(m->write_problem(), "");
  std::filesystem::remove_all(sub);

  EXPECT_EQ(m->CreateKey("refused").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(m->write_problem().find("cannot write keys file"), std::string::npos) << m->write_problem();
  uint64_t failures = m->keys_file_write_failures();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_NE(m->write_problem(), "") << "retries go on while the disk fails";
  EXPECT_EQ(m->keys_file_write_failures(), failures) << "retries are not counted as refused changes";

  std::filesystem::create_directory(sub);
  ASSERT_TRUE(::luna::testing::Eventually([&] { return m->write_problem().empty(); }, std::chrono::seconds(5)));
  auto reloaded = KeyStore::Open(sub + "/keys.json");
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  ASSERT_EQ((*reloaded)->loaded_state().keys.size(), 1u);
  EXPECT_EQ((*reloaded)->loaded_state().keys[0].id, created->entry.id);
  EXPECT_TRUE(m->CreateKey("accepted").ok());
  EXPECT_EQ(m->write_problem(), "");
}

TEST(KeyManagerTest, SubscriberGetsASnapshotThenEveryChangeInOrder) {
  // Watchers see the whole table first, then one UPSERT/DELETE per change; idempotent calls send nothing.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, LegacyKeysJson());
  auto m = MustCreate(Options(path));
  ASSERT_NE(m, nullptr);
  RecordingSubscriber s;
  m->Subscribe(&s);
  auto created = m->CreateKey("new");
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(m->DisableKey(created->entry.id).ok());
  ASSERT_TRUE(m->DisableKey(created->entry.id).ok());  // already disabled: no event
  ASSERT_TRUE(m->DeleteKey(kBobKey).ok());
  m->Unsubscribe(&s);
  ASSERT_TRUE(m->EnableKey(created->entry.id).ok());  // after Unsubscribe: not seen

  ASSERT_EQ(s.changes.size(), 4u);
  EXPECT_EQ(s.changes[0].type, KeyChange::Type::kSnapshot);
  ASSERT_EQ(s.changes[0].keys.size(), 2u);
  EXPECT_EQ(s.changes[0].keys[0].sha256, Sha256Hex(kBobKey));
  EXPECT_EQ(s.changes[1].type, KeyChange::Type::kUpsert);
  EXPECT_TRUE(s.changes[1].keys.at(0).enabled);
  EXPECT_EQ(s.changes[2].type, KeyChange::Type::kUpsert);
  EXPECT_FALSE(s.changes[2].keys.at(0).enabled);
  EXPECT_EQ(s.changes[3].type, KeyChange::Type::kDelete);
  EXPECT_EQ(s.changes[3].keys.at(0).sha256, Sha256Hex(kBobKey));
}

TEST(KeyManagerTest, ListKeysKeepsCreationOrder) {
  // Keys are listed in creation order: imported ones in file order, then new ones as created.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, LegacyKeysJson());
  auto m = MustCreate(Options(path));
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->CreateKey("third").ok());
  ASSERT_TRUE(m->CreateKey("fourth").ok());
  std::vector<std::string> names;
  for (const auto& k : m->ListKeys()) names.push_back(k.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bob laptop", "alice", "third", "fourth"}));
}

TEST(KeyManagerTest, CorruptFileMakesCreateFailAndIsNotOverwritten) {
  // A file that does not parse stops the manager from starting, even when an admin key would be generated.
  TempDir dir;
  std::string path = dir.File("keys.json");
  WriteText(path, "{\"keys\": ");
  auto m = KeyManager::Create(Options(path, std::nullopt));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(Message(m.status()).find(path), std::string::npos);
  EXPECT_EQ(ReadText(path), "{\"keys\": ");
}

}  // namespace
}  // namespace luna::authsvc
