#include "usagesvc/snapshot_file.h"

#include <google/protobuf/io/coded_stream.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

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

uint32_t Crc32(std::string_view data, uint32_t crc) {
  uLong c = crc;
  // zlib takes uInt lengths: feed it in 1 GiB pieces.
  for (size_t off = 0; off < data.size(); off += (1u << 30)) {
    size_t n = std::min<size_t>(data.size() - off, 1u << 30);
    c = crc32(c, reinterpret_cast<const Bytef*>(data.data() + off), static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(c);
}

namespace {

void FillHeader(char* header, uint32_t crc, uint64_t length) {
  std::memcpy(header, kMagic, sizeof kMagic);
  PutLe(header + 8, crc, 4);
  PutLe(header + 16, length, 8);
}

}  // namespace

std::string SnapshotFileStart() { return std::string(kHeaderBytes, '\0'); }

void SealSnapshotFile(std::string* content) {
  std::string_view payload = std::string_view(*content).substr(kHeaderBytes);
  FillHeader(content->data(), Crc32(payload), payload.size());
}

absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> SnapshotFileWriter::Open(const std::string& path) {
  auto file = AtomicFileWriter::Open(path);
  if (!file.ok()) return file.status();
  std::unique_ptr<SnapshotFileWriter> w(new SnapshotFileWriter(std::move(*file)));
  if (auto st = w->file_->Append(SnapshotFileStart()); !st.ok()) return st;  // filled in by Commit
  return w;
}

SnapshotFileWriter::SnapshotFileWriter(std::unique_ptr<AtomicFileWriter> file)
    : file_(std::move(file)) {}

absl::Status SnapshotFileWriter::Append(std::string_view piece) {
  crc_ = Crc32(piece, crc_);
  length_ += piece.size();
  return file_->Append(piece);
}

absl::Status SnapshotFileWriter::Commit() {
  char header[kHeaderBytes] = {};
  FillHeader(header, crc_, length_);
  if (auto st = file_->WriteAt(0, std::string_view(header, sizeof header)); !st.ok()) return st;
  return file_->Commit();
}

uint64_t SnapshotFileWriter::file_bytes() const { return kHeaderBytes + length_; }

absl::StatusOr<std::string> EncodeSnapshotFile(const ::luna::usage::storage::v1::Snapshot& snapshot) {
  std::string content = SnapshotFileStart();
  if (!snapshot.AppendToString(&content)) {
    return absl::ResourceExhaustedError("the snapshot is larger than protobuf can serialize (2 GiB)");
  }
  SealSnapshotFile(&content);
  return content;
}

namespace {

// The payload after the header checks (magic, length, CRC).
absl::StatusOr<std::string_view> CheckedPayload(std::string_view data) {
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
  if (payload.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::DataLossError("the payload is larger than protobuf can parse (2 GiB)");
  }
  return payload;
}

// A varint at *p (before end); false if it runs past the end or over 10 bytes.
bool ReadVarint(const char*& p, const char* end, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 70 && p < end; shift += 7) {
    const auto byte = static_cast<unsigned char>(*p++);
    *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<::luna::usage::storage::v1::Snapshot> DecodeSnapshotFile(std::string_view data) {
  auto payload = CheckedPayload(data);
  if (!payload.ok()) return payload.status();
  ::luna::usage::storage::v1::Snapshot snapshot;
  if (!snapshot.ParseFromArray(payload->data(), static_cast<int>(payload->size()))) {
    return absl::DataLossError("the payload does not parse");
  }
  return snapshot;
}

absl::StatusOr<SnapshotFileParts> DecodeSnapshotFileParts(std::string_view data) {
  auto payload = CheckedPayload(data);
  if (!payload.ok()) return payload.status();
  // Walk the top-level fields: detail (18) becomes a view; each run of other fields between them is
  // merged into the Snapshot as it stands (merging serialized pieces of a message is parsing it
  // whole). A snapshot carries only proto3 wire types 0, 1, 2 and 5.
  SnapshotFileParts parts;
  const char* p = payload->data();
  const char* const end = p + payload->size();
  const char* run = p;  // the start of the fields not merged yet
  const auto merge_run = [&](const char* run_end) {
    if (run_end == run) return true;
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(run), static_cast<int>(run_end - run));
    return parts.snapshot.MergeFromCodedStream(&in) && in.ConsumedEntireMessage();
  };
  const auto not_parsing = [] { return absl::DataLossError("the payload does not parse"); };
  while (p < end) {
    const char* field_start = p;
    uint64_t tag = 0, v = 0;
    if (!ReadVarint(p, end, &tag) || (tag >> 3) == 0) return not_parsing();
    switch (tag & 7) {
      case 0:
        if (!ReadVarint(p, end, &v)) return not_parsing();
        break;
      case 1:
        if (end - p < 8) return not_parsing();
        p += 8;
        break;
      case 5:
        if (end - p < 4) return not_parsing();
        p += 4;
        break;
      case 2:
        if (!ReadVarint(p, end, &v) || v > static_cast<uint64_t>(end - p)) return not_parsing();
        if ((tag >> 3) == 18) {
          if (!merge_run(field_start)) return not_parsing();
          parts.detail.emplace_back(p, static_cast<size_t>(v));
          p += v;
          run = p;
          continue;
        }
        p += v;
        break;
      default:
        return not_parsing();
    }
  }
  if (!merge_run(end)) return not_parsing();
  return parts;
}

}  // namespace luna::usagesvc
