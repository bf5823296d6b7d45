// The snapshot file's framing: "LUNAUSS1" | u32 CRC-32 (zlib) of the payload | u32 0 | u64 payload
// length | payload (a serialized storage.v1.Snapshot). Pure: the store does the I/O.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "usage_storage.pb.h"

namespace luna::usagesvc {

// The file content for `snapshot`. ResourceExhausted if protobuf cannot serialize it (over 2 GiB).
absl::StatusOr<std::string> EncodeSnapshotFile(const ::luna::usage::storage::v1::Snapshot& snapshot);

// The snapshot in `content`; DataLoss saying what is wrong (header, length, CRC, parse) otherwise.
absl::StatusOr<::luna::usage::storage::v1::Snapshot> DecodeSnapshotFile(std::string_view content);

// CRC-32 (zlib) of any length of data.
uint32_t Crc32(std::string_view data);

}  // namespace luna::usagesvc
