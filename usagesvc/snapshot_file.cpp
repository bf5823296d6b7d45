#include "usagesvc/snapshot_file.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace luna::usagesvc {
namespace {

constexpr char kMagic[8] = {'L', 'U', 'N', 'A', 'U', 'S', 'S', '1'};
constexpr size_t kHeaderBytes = 24;

void PutLe(char* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

}  // namespace

uint32_t Crc32(std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed it in 1 GiB pieces.
  for (size_t off = 0; off < data.size(); off += (1u << 30)) {
    size_t n = std::min<size_t>(data.size() - off, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + off), static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(crc);
}

absl::StatusOr<std::string> EncodeSnapshotFile(const ::luna::usage::storage::v1::Snapshot& snapshot) {
  std::string content(kHeaderBytes, '\0');
  if (!snapshot.AppendToString(&content)) {
    return absl::ResourceExhaustedError("the snapshot is larger than protobuf can serialize (2 GiB)");
  }
  std::string_view payload = std::string_view(content).substr(kHeaderBytes);
  std::memcpy(content.data(), kMagic, sizeof kMagic);
  PutLe(content.data() + 8, Crc32(payload), 4);
  PutLe(content.data() + 16, payload.size(), 8);
  return content;
}

absl::StatusOr<::luna::usage::storage::v1::Snapshot> DecodeSnapshotFile(std::string_view data) {
  if (data.size() < kHeaderBytes || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0) {
    return absl::DataLossError("no snapshot header");
  }
  uint64_t length = GetLe(data.data() + 16, 8);
  if (length != data.size() - kHeaderBytes) {
    return absl::DataLossError(
        absl::StrCat("the header says ", length, " bytes, the file has ", data.size() - kHeaderBytes));
  }
  std::string_view payload = data.substr(kHeaderBytes);
  if (Crc32(payload) != static_cast<uint32_t>(GetLe(data.data() + 8, 4))) return absl::DataLossError("CRC mismatch");
  ::luna::usage::storage::v1::Snapshot snapshot;
  if (!snapshot.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError("the payload does not parse");
  }
  return snapshot;
}

}  // namespace luna::usagesvc
