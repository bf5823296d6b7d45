// One journal file of usagesvc: append-only records with a length and a CRC each, written with one
// write() and one fdatasync() per group commit. Pure file I/O: it knows nothing of what the payloads mean.
//
// File layout ("journal.<generation>.log"):
//   header  16 bytes: "LUNAUSJ1" + the generation, uint64 little-endian
//   records u32 payload length (LE) | u32 CRC-32 (zlib) of the 4 length bytes and the payload | payload
// A file is created whole (header written to a temporary file, fsynced, renamed), so a journal never
// has a torn header. A record is valid when its length fits in the file and its CRC matches; a zero-
// filled tail never passes (the CRC of four zero bytes is not zero). Reading stops at the first invalid
// record: everything from there on is the torn (or corrupted) tail, which the owner cuts off.
//
// Not thread-safe: one owner thread (the store's writer) uses an open JournalFile.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace luna::usagesvc {

// Test hook: makes writes fail the way a full or broken disk does. Shared by a store and its journals.
enum class JournalFault {
  kNone,
  kWriteFails,    // write() fails (ENOSPC) before writing anything
  kPartialWrite,  // write() stores half the bytes, then fails (ENOSPC)
  kSyncFails,     // write() succeeds, fdatasync() fails (EIO)
};

struct JournalFaults {
  std::atomic<JournalFault> mode{JournalFault::kNone};
  // While this file exists, every write fails with ENOSPC (USAGE_TEST_FAIL_WRITES_IF_EXISTS; empty: off).
  std::string fail_while_file_exists;
  // The fault in force now (mode, else the file's).
  JournalFault Current() const;
};

class JournalFile {
 public:
  static constexpr size_t kHeaderBytes = 16;
  static constexpr size_t kRecordHeaderBytes = 8;
  static constexpr uint32_t kMaxPayloadBytes = 256u << 20;

  // What reading a journal found.
  struct ScanResult {
    uint64_t generation = 0;
    uint64_t records = 0;
    uint64_t valid_bytes = 0;  // header + the valid records
    uint64_t file_bytes = 0;
    std::string problem;  // why reading stopped before the end ("" when it did not)
    uint64_t dropped_bytes() const { return file_bytes - valid_bytes; }
  };

  // Frames one payload as a record and appends it to `out`.
  static void AppendRecord(std::string* out, std::string_view payload);

  // Reads `path`, calling `on_record` for each valid record in order; stops at the first invalid one
  // (reported in the result, not as an error). Errors: the file cannot be read, its header is not a
  // journal header of `generation`, or `on_record` failed.
  static absl::StatusOr<ScanResult> Scan(const std::string& path, uint64_t generation,
                                         const std::function<absl::Status(std::string_view)>& on_record);

  // Creates a new, empty journal file durably (header via a temporary file, rename, directory fsync).
  static absl::Status Create(const std::string& path, uint64_t generation);

  // Opens an existing journal for appending after its first `valid_bytes` bytes; anything after them is
  // cut off (ftruncate + fdatasync) first. `faults` may be null.
  static absl::StatusOr<std::unique_ptr<JournalFile>> OpenForAppend(const std::string& path, uint64_t generation,
                                                                    uint64_t valid_bytes, const JournalFaults* faults);
  ~JournalFile();
  JournalFile(const JournalFile&) = delete;
  JournalFile& operator=(const JournalFile&) = delete;

  // Appends already framed records (AppendRecord) with one write and one fdatasync. OK means durable.
  // On failure returns UNAVAILABLE saying what failed, and cuts the file back to its last good size so
  // no partial record stays behind; if even that fails, the file is marked broken and every Append
  // fails until Recover succeeds.
  absl::Status Append(std::string_view framed);

  // Reopens the file, cuts it back to the last good size and syncs it. OK when it is usable again.
  absl::Status Recover();

  uint64_t generation() const { return generation_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  JournalFile() = default;
  absl::Status Truncate(uint64_t size);

  std::string path_;
  uint64_t generation_ = 0;
  int fd_ = -1;
  uint64_t size_ = 0;  // the last good size: everything below it is durable
  bool broken_ = false;
  const JournalFaults* faults_ = nullptr;
};

}  // namespace luna::usagesvc
