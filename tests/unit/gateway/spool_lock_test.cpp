#include "gateway/usage/spool_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>

namespace luna::gateway {
namespace {

class SpoolLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/luna-spool-lock-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  void Touch(const std::string& name) { std::ofstream(dir_ + "/" + name) << "x"; }
  bool Exists(const std::string& name) { return access((dir_ + "/" + name).c_str(), F_OK) == 0; }
  std::string dir_;
};

// One holder at a time (flock conflicts between two opens, even in one process); released on
// destruction; the adopter's release removes the spool, its ring and its lock file.
TEST_F(SpoolLockTest, OneHolderAtATime) {
  const std::string spool = dir_ + "/usage-spool-a.log";
  Touch("usage-spool-a.log");
  Touch("usage-spool-a.log.ring");
  {
    auto first = SpoolLock::TryLock(spool);
    ASSERT_TRUE(first.ok()) << first.status();
    auto second = SpoolLock::TryLock(spool);
    ASSERT_FALSE(second.ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(second.status()));
    EXPECT_NE(second.status().message().find("in use by another running gateway"), std::string::npos);
  }
  auto again = SpoolLock::TryLock(spool);
  ASSERT_TRUE(again.ok()) << "the lock must be free once its holder is gone";
  again->RemoveSpoolAndRelease();
  EXPECT_FALSE(Exists("usage-spool-a.log"));
  EXPECT_FALSE(Exists("usage-spool-a.log.lock"));
  EXPECT_FALSE(Exists("usage-spool-a.log.ring"));
}

// Siblings: the other host names' spools in the pattern's directory — not our own, not lock files or
// rings, not an atomic rewrite's temporary file, not unrelated files; none without {hostname}.
TEST_F(SpoolLockTest, SiblingsMatchThePatternWithAnyHostName) {
  for (const char* f : {"usage-spool-a.log", "usage-spool-b.log", "usage-spool-b.log.lock", "usage-spool-c.log",
                        "usage-spool-c.log.tmp.12.0", "other.log", "usage-spool-.log"}) {
    Touch(f);
  }
  auto got = SiblingSpools(dir_ + "/usage-spool-{hostname}.log", dir_ + "/usage-spool-a.log");
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{dir_ + "/usage-spool-b.log", dir_ + "/usage-spool-c.log"}));
  for (const char* f : {"spool-x", "spool-y", "spool-y.lock", "spool-y.ring"}) Touch(f);
  EXPECT_EQ(SiblingSpools(dir_ + "/spool-{hostname}", dir_ + "/spool-x"), (std::vector<std::string>{dir_ + "/spool-y"}))
      << "a pattern without a suffix still leaves lock files and rings out";
  EXPECT_TRUE(SiblingSpools(dir_ + "/usage-spool.log", dir_ + "/usage-spool.log").empty());
  EXPECT_TRUE(SiblingSpools(dir_ + "/{hostname}/spool.log", dir_ + "/a/spool.log").empty());
}

}  // namespace
}  // namespace luna::gateway
