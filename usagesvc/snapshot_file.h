// The snapshot file's framing: "LUNAUSS1" | u32 CRC-32 (zlib) of the payload | u32 0 | u64 payload
// length | payload (a serialized storage.v1.Snapshot). Pure: the store does the I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "usage_storage.pb.h"

namespace luna::usagesvc {

// Writing without a second copy: content = SnapshotFileStart(); append the payload (Ledger::
// AppendSnapshot); SealSnapshotFile(&content) fills in the header.
std::string SnapshotFileStart();
void SealSnapshotFile(std::string* content);

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

// CRC-32 (zlib) of any length of data.
uint32_t Crc32(std::string_view data);

}  // namespace luna::usagesvc
