// The snapshot file's framing: "LUNAUSS1" | u32 CRC-32 (zlib) of the payload | u32 0 | u64 payload
// length | payload (a serialized storage.v1.Snapshot).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/atomic_file.h"
#include "usage_storage.pb.h"

namespace luna::usagesvc {

// Building the file in memory without a second copy: content = SnapshotFileStart(); append the
// payload (Ledger::AppendSnapshot); SealSnapshotFile(&content) fills in the header.
std::string SnapshotFileStart();
void SealSnapshotFile(std::string* content);

// Writing the file as its payload is produced (Ledger::WriteSnapshot), never holding it whole in
// memory: Open, Append the payload in pieces, Commit (the header is filled in, then the file is made
// durable and renamed over `path` as WriteFileAtomically does). Not committed: `path` is untouched.
class SnapshotFileWriter {
 public:
  static absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> Open(const std::string& path);
  absl::Status Append(std::string_view payload_piece);
  absl::Status Commit();
  uint64_t file_bytes() const;

 private:
  explicit SnapshotFileWriter(std::unique_ptr<AtomicFileWriter> file);
  std::unique_ptr<AtomicFileWriter> file_;
  uint32_t crc_ = 0;  // of the payload so far (zlib's CRC-32 of nothing is 0)
  uint64_t length_ = 0;
};

// The file content for `snapshot`. ResourceExhausted if protobuf cannot serialize it (over 2 GiB).
absl::StatusOr<std::string> EncodeSnapshotFile(const ::luna::usage::storage::v1::Snapshot& snapshot);

// The snapshot in `content`; DataLoss saying what is wrong (header, length, CRC, parse) otherwise.
absl::StatusOr<::luna::usage::storage::v1::Snapshot> DecodeSnapshotFile(std::string_view content);

// The same for loading: the detail events (field 18) are left as views into `content`, one serialized
// UsageEvent each, and `snapshot` holds everything else. A snapshot of a month of detail then costs
// its bytes once, not as parsed messages (three to four times as much) on top.
struct SnapshotFileParts {
  ::luna::usage::storage::v1::Snapshot snapshot;
  std::vector<std::string_view> detail;
};
absl::StatusOr<SnapshotFileParts> DecodeSnapshotFileParts(std::string_view content);

// CRC-32 (zlib) of any length of data; `crc` continues one computed over the data before it.
uint32_t Crc32(std::string_view data, uint32_t crc = 0);

}  // namespace luna::usagesvc
