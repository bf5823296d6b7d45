// The state file: a round trip keeps everything, a missing file is a first start, and a file that
// does not parse is refused with its name and the reason, never overwritten.
#include "fallbacksvc/state_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "tests/support/process.h"

namespace luna::fallbacksvc {
namespace {

using ::luna::testing::TempDir;

StateFileContent Sample() {
  StateFileContent s;
  s.table_version = 1772323200000123;
  s.saved_unix_ms = 1772323200456;
  s.engine.quotas.push_back(QuotaRecord{"upstream", "claude-opus", 0.125, true, 1772323200000});
  s.engine.quotas.push_back(QuotaRecord{"upstream", "claude-sonnet", -1, false, 1772323100000});
  s.engine.cooldowns.push_back(
      CooldownRecord{"upstream", "claude-opus", 1772323230000, 2, "429 rate_limited: cooling 1m (2nd in a row)"});
  s.engine.cooldowns.push_back(CooldownRecord{"deepseek", "", 1772326800000, 1, "401 bad_credential: \xff bytes"});
  s.engine.cooldowns.push_back(
      CooldownRecord{"upstream", "claude-sonnet", 1772323230000, 1, "connect_failed: cooling 30s", true});
  return s;
}

TEST(StateStoreTest, SaveThenLoadGivesTheSameState) {
  // Everything written comes back, including absolute cooldown ends and failure counts.
  TempDir dir;
  std::string path = dir.File("fallback-state.json");
  StateFileContent s = Sample();
  ASSERT_TRUE(SaveStateFile(path, s).ok());
  auto loaded = LoadStateFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  // Invalid UTF-8 in a reason is replaced, not fatal.
  s.engine.cooldowns[1].reason = "401 bad_credential: \xef\xbf\xbd bytes";
  EXPECT_EQ(*loaded, s);
}

TEST(StateStoreTest, MissingFileIsAFirstStart) {
  // No state file yet: an empty state, not an error.
  TempDir dir;
  auto loaded = LoadStateFile(dir.File("none.json"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, StateFileContent{});
}

TEST(StateStoreTest, LoadRemovesTheTemporaryFilesOfInterruptedWrites) {
  // A kill between writing the temporary file and renaming it leaves it behind; the next load removes
  // it (the file itself is whole), and nothing else.
  TempDir dir;
  std::string path = dir.File("fallback-state.json");
  ASSERT_TRUE(SaveStateFile(path, Sample()).ok());
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  waitpid(dead, nullptr, 0);
  std::string stale = path + ".tmp." + std::to_string(dead) + ".7";
  std::string other = dir.File("other.json.tmp." + std::to_string(dead) + ".7");
  ::luna::testing::WriteAll(stale, "{\"format\": 1, \"sav");
  ::luna::testing::WriteAll(other, "x");
  ASSERT_TRUE(LoadStateFile(path).ok());
  EXPECT_FALSE(FileExists(stale));
  EXPECT_TRUE(FileExists(other));
}

struct CorruptCase {
  const char* name;
  const char* content;
  const char* expected;
};

class StateStoreCorruptTest : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(StateStoreCorruptTest, IsRefusedNamingTheFileAndLeftAlone) {
  // A state file that does not parse is an error naming the file and why; the file is not touched.
  TempDir dir;
  std::string path = dir.File("fallback-state.json");
  ASSERT_TRUE(WriteFileAtomically(path, GetParam().content).ok());
  auto loaded = LoadStateFile(path);
  ASSERT_FALSE(loaded.ok());
  std::string message(loaded.status().message());
  EXPECT_EQ(message.rfind("state file " + path + ": ", 0), 0u) << message;
  EXPECT_NE(message.find(GetParam().expected), std::string::npos) << message;
  EXPECT_EQ(*ReadFile(path), GetParam().content);
}

INSTANTIATE_TEST_SUITE_P(
    AllKinds, StateStoreCorruptTest,
    ::testing::Values(
        CorruptCase{"Empty", "", "not valid JSON"},
        CorruptCase{"Truncated", R"({"format": 1, "saved_unix_ms": 5, "quotas": [{"provi)", "not valid JSON"},
        CorruptCase{"NotAnObject", "[]", "not a JSON object"},
        CorruptCase{"WrongFormat", R"({"format": 7, "saved_unix_ms": 0, "table_version": 0})",
                    "format 7 is not supported"},
        CorruptCase{"MissingField", R"({"format": 1, "table_version": 0})", "(top).saved_unix_ms: missing"},
        CorruptCase{"QuotasNotArray", R"({"format": 1, "saved_unix_ms": 0, "table_version": 0, "quotas": {}})",
                    "quotas: not an array"},
        CorruptCase{"CooldownWrongType",
                    R"({"format": 1, "saved_unix_ms": 0, "table_version": 0, "cooldowns": [
                        {"provider": "upstream", "model": "m", "until_unix_ms": "soon", "failures": 1, "reason": ""}]})",
                    "cooldowns[0].until_unix_ms: wrong type (string)"}),
    [](const ::testing::TestParamInfo<CorruptCase>& info) { return info.param.name; });

}  // namespace
}  // namespace luna::fallbacksvc
