#include "usagesvc/journal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "test_util.h"

namespace luna::usagesvc {
namespace {

using testing::ReadBytes;
using testing::TempDir;
using testing::WriteBytes;

// Reads every valid payload of a journal.
std::vector<std::string> Payloads(const std::string& path, uint64_t generation, JournalFile::ScanResult* result) {
  std::vector<std::string> out;
  auto r = JournalFile::Scan(path, generation, [&](std::string_view p) {
    out.emplace_back(p);
    return absl::OkStatus();
  });
  EXPECT_TRUE(r.ok()) << r.status();
  if (r.ok() && result != nullptr) *result = *r;
  return out;
}

std::string Framed(std::initializer_list<std::string> payloads) {
  std::string out;
  for (const auto& p : payloads) JournalFile::AppendRecord(&out, p);
  return out;
}

std::unique_ptr<JournalFile> CreateOpen(const std::string& path, uint64_t gen, const JournalFaults* faults = nullptr) {
  EXPECT_TRUE(JournalFile::Create(path, gen).ok());
  auto j = JournalFile::OpenForAppend(path, gen, JournalFile::kHeaderBytes, faults);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? std::move(*j) : nullptr;
}

TEST(JournalTest, RecordsRoundTripInOrderIncludingEmptyAndBinaryPayloads) {
  // What is appended (in groups of any size) reads back byte for byte, in order.
  TempDir dir;
  std::string path = dir.File("journal.3.log");
  auto j = CreateOpen(path, 3);
  ASSERT_NE(j, nullptr);
  std::string binary("\0\x01\xff zero", 8);
  ASSERT_TRUE(j->Append(Framed({"one", "", binary})).ok());
  ASSERT_TRUE(j->Append(Framed({std::string(100000, 'x')})).ok());
  EXPECT_EQ(j->size(), ReadBytes(path).size());
  JournalFile::ScanResult r;
  auto got = Payloads(path, 3, &r);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], "one");
  EXPECT_EQ(got[1], "");
  EXPECT_EQ(got[2], binary);
  EXPECT_EQ(got[3].size(), 100000u);
  EXPECT_TRUE(r.problem.empty());
  EXPECT_EQ(r.dropped_bytes(), 0u);
}

TEST(JournalTest, ATornLastRecordIsFoundAtEveryCutOffset) {
  // Cutting the file at every byte inside the last record leaves exactly the earlier records valid and
  // reports the rest as dropped; reopening cuts it off so new appends follow the last good record.
  TempDir dir;
  std::string path = dir.File("journal.1.log");
  auto j = CreateOpen(path, 1);
  ASSERT_TRUE(j->Append(Framed({"first", "second"})).ok());
  const uint64_t good = j->size();
  ASSERT_TRUE(j->Append(Framed({"the last record, torn"})).ok());
  j.reset();
  const std::string full = ReadBytes(path);
  for (size_t cut = good + 1; cut < full.size(); ++cut) {
    WriteBytes(path, full.substr(0, cut));
    JournalFile::ScanResult r;
    auto got = Payloads(path, 1, &r);
    ASSERT_EQ(got.size(), 2u) << "cut at " << cut;
    EXPECT_EQ(r.valid_bytes, good) << "cut at " << cut;
    EXPECT_EQ(r.dropped_bytes(), cut - good) << "cut at " << cut;
    EXPECT_NE(r.problem.find("torn"), std::string::npos) << r.problem;
  }
  auto reopened = JournalFile::OpenForAppend(path, 1, good, nullptr);
  ASSERT_TRUE(reopened.ok());
  ASSERT_TRUE((*reopened)->Append(Framed({"after"})).ok());
  auto got = Payloads(path, 1, nullptr);
  EXPECT_EQ(got, (std::vector<std::string>{"first", "second", "after"}));
}

TEST(JournalTest, ACorruptedRecordInTheMiddleStopsReadingThereAndSaysWhere) {
  // A flipped byte in the second of three records: the first is read, reading stops with a CRC problem at its
  // offset, and everything from there on counts as dropped.
  TempDir dir;
  std::string path = dir.File("journal.1.log");
  auto j = CreateOpen(path, 1);
  ASSERT_TRUE(j->Append(Framed({"alpha"})).ok());
  const uint64_t second = j->size();
  ASSERT_TRUE(j->Append(Framed({"bravo", "charlie"})).ok());
  j.reset();
  std::string bytes = ReadBytes(path);
  bytes[second + JournalFile::kRecordHeaderBytes + 2] ^= 0x20;
  WriteBytes(path, bytes);
  JournalFile::ScanResult r;
  auto got = Payloads(path, 1, &r);
  EXPECT_EQ(got, (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(r.valid_bytes, second);
  EXPECT_EQ(r.dropped_bytes(), bytes.size() - second);
  EXPECT_NE(r.problem.find("CRC mismatch"), std::string::npos);
  EXPECT_NE(r.problem.find(std::to_string(second)), std::string::npos);
}

TEST(JournalTest, AZeroFilledTailIsNotMistakenForRecords) {
  // After a crash a file system may show zeros past the last write: they never pass as a record.
  TempDir dir;
  std::string path = dir.File("journal.1.log");
  auto j = CreateOpen(path, 1);
  ASSERT_TRUE(j->Append(Framed({"kept"})).ok());
  j.reset();
  WriteBytes(path, ReadBytes(path) + std::string(4096, '\0'));
  JournalFile::ScanResult r;
  EXPECT_EQ(Payloads(path, 1, &r).size(), 1u);
  EXPECT_EQ(r.dropped_bytes(), 4096u);
}

TEST(JournalTest, AForeignOrMisnamedFileIsAnErrorNotATail) {
  // A file without the journal header, or whose header names another generation, is refused outright.
  TempDir dir;
  WriteBytes(dir.File("journal.1.log"), "{\"not\": \"a journal\"}");
  auto r = JournalFile::Scan(dir.File("journal.1.log"), 1, [](std::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(JournalFile::Create(dir.File("journal.2.log"), 5).ok());
  r = JournalFile::Scan(dir.File("journal.2.log"), 2, [](std::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
}

TEST(JournalTest, InjectedWriteFailuresLeaveNoPartialRecordAndRecoveryResumes) {
  // Each kind of injected failure fails the append with UNAVAILABLE, leaves the file at its last good size,
  // and once the fault is cleared Recover + Append work and the file reads back with no gap.
  TempDir dir;
  std::string path = dir.File("journal.1.log");
  JournalFaults faults;
  auto j = CreateOpen(path, 1, &faults);
  ASSERT_TRUE(j->Append(Framed({"before"})).ok());
  const uint64_t good = j->size();
  for (JournalFault fault : {JournalFault::kWriteFails, JournalFault::kPartialWrite, JournalFault::kSyncFails}) {
    faults.mode = fault;
    auto st = j->Append(Framed({std::string(5000, 'f')}));
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(j->size(), good);
    struct stat s;
    ASSERT_EQ(::stat(path.c_str(), &s), 0);
    EXPECT_EQ(static_cast<uint64_t>(s.st_size), good) << "a partial record was left behind";
    EXPECT_EQ(j->Append(Framed({"still failing"})).code(), absl::StatusCode::kUnavailable);
    faults.mode = JournalFault::kNone;
    ASSERT_TRUE(j->Recover().ok());
  }
  ASSERT_TRUE(j->Append(Framed({"after"})).ok());
  JournalFile::ScanResult r;
  EXPECT_EQ(Payloads(path, 1, &r), (std::vector<std::string>{"before", "after"}));
  EXPECT_TRUE(r.problem.empty());
}

TEST(JournalTest, TheFaultFileMakesWritesFailWhileItExists) {
  // USAGE_TEST_FAIL_WRITES_IF_EXISTS: creating the file breaks writes, removing it heals them.
  TempDir dir;
  JournalFaults faults;
  faults.fail_while_file_exists = dir.File("disk-full");
  auto j = CreateOpen(dir.File("journal.1.log"), 1, &faults);
  WriteBytes(dir.File("disk-full"), "");
  EXPECT_EQ(j->Append(Framed({"x"})).code(), absl::StatusCode::kUnavailable);
  std::filesystem::remove(dir.File("disk-full"));
  ASSERT_TRUE(j->Recover().ok());
  EXPECT_TRUE(j->Append(Framed({"x"})).ok());
}

}  // namespace
}  // namespace luna::usagesvc
