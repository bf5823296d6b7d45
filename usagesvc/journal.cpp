#include "usagesvc/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"

namespace luna::usagesvc {
namespace {

constexpr char kMagic[8] = {'L', 'U', 'N', 'A', 'U', 'S', 'J', '1'};

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

uint32_t RecordCrc(const char* length_bytes, std::string_view payload) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(length_bytes), 4);
  // zlib takes uInt lengths; payloads are below kMaxPayloadBytes.
  crc = crc32(crc, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size()));
  return static_cast<uint32_t>(crc);
}

std::string Errno(std::string_view what, const std::string& path, int err) {
  return absl::StrCat(std::string(what), " ", path, ": ", std::strerror(err));
}

}  // namespace

JournalFault JournalFaults::Current() const {
  JournalFault m = mode.load(std::memory_order_relaxed);
  if (m != JournalFault::kNone) return m;
  if (!fail_while_file_exists.empty() && FileExists(fail_while_file_exists)) return JournalFault::kWriteFails;
  return JournalFault::kNone;
}

void JournalFile::AppendRecord(std::string* out, std::string_view payload) {
  char header[kRecordHeaderBytes];
  PutU32(header, static_cast<uint32_t>(payload.size()));
  PutU32(header + 4, RecordCrc(header, payload));
  out->append(header, sizeof header);
  out->append(payload);
}

absl::StatusOr<JournalFile::ScanResult> JournalFile::Scan(
    const std::string& path, uint64_t generation, const std::function<absl::Status(std::string_view)>& on_record) {
  auto content = ReadFile(path);
  if (!content.ok()) return content.status();
  const std::string& data = *content;
  ScanResult r;
  r.file_bytes = data.size();
  if (data.size() < kHeaderBytes || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0) {
    return absl::DataLossError(absl::StrCat("journal ", path, " does not start with a usagesvc journal header"));
  }
  r.generation = GetU64(data.data() + 8);
  if (r.generation != generation) {
    return absl::DataLossError(
        absl::StrCat("journal ", path, " says it is generation ", r.generation, " but its name says ", generation));
  }
  size_t pos = kHeaderBytes;
  while (pos < data.size()) {
    if (data.size() - pos < kRecordHeaderBytes) {
      r.problem = absl::StrCat("torn record header at offset ", pos);
      break;
    }
    uint32_t length = GetU32(data.data() + pos);
    uint32_t crc = GetU32(data.data() + pos + 4);
    if (length > kMaxPayloadBytes) {
      r.problem = absl::StrCat("impossible record length ", length, " at offset ", pos);
      break;
    }
    if (data.size() - pos - kRecordHeaderBytes < length) {
      r.problem = absl::StrCat("torn record at offset ", pos, ": ", length, " bytes announced, ",
                               data.size() - pos - kRecordHeaderBytes, " present");
      break;
    }
    std::string_view payload(data.data() + pos + kRecordHeaderBytes, length);
    if (RecordCrc(data.data() + pos, payload) != crc) {
      r.problem = absl::StrCat("CRC mismatch in the record at offset ", pos);
      break;
    }
    if (auto st = on_record(payload); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat("journal ", path, ", record at offset ", pos, ": ", st.message()));
    }
    pos += kRecordHeaderBytes + length;
    ++r.records;
  }
  r.valid_bytes = pos;
  return r;
}

absl::Status JournalFile::Create(const std::string& path, uint64_t generation) {
  char header[kHeaderBytes];
  std::memcpy(header, kMagic, sizeof kMagic);
  PutU64(header + 8, generation);
  return WriteFileAtomically(path, std::string_view(header, sizeof header), 0600);
}

absl::StatusOr<std::unique_ptr<JournalFile>> JournalFile::OpenForAppend(const std::string& path, uint64_t generation,
                                                                        uint64_t valid_bytes,
                                                                        const JournalFaults* faults) {
  std::unique_ptr<JournalFile> j(new JournalFile());
  j->path_ = path;
  j->generation_ = generation;
  j->size_ = valid_bytes;
  j->faults_ = faults;
  j->fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (j->fd_ < 0) return absl::UnavailableError(Errno("cannot open journal", path, errno));
  if (auto st = j->Truncate(valid_bytes); !st.ok()) return st;
  return j;
}

JournalFile::~JournalFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status JournalFile::Truncate(uint64_t size) {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return absl::UnavailableError(Errno("cannot stat journal", path_, errno));
  if (static_cast<uint64_t>(st.st_size) != size) {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return absl::UnavailableError(Errno("cannot truncate journal", path_, errno));
    }
    if (::fdatasync(fd_) != 0) return absl::UnavailableError(Errno("cannot sync journal", path_, errno));
  }
  return absl::OkStatus();
}

absl::Status JournalFile::Append(std::string_view framed) {
  if (broken_) return absl::UnavailableError(absl::StrCat("journal ", path_, " is not writable since a failed write"));
  JournalFault fault = faults_ != nullptr ? faults_->Current() : JournalFault::kNone;
  int err = 0;
  const char* what = "cannot write journal";
  size_t to_write = framed.size();
  if (fault == JournalFault::kWriteFails) {
    to_write = 0;
    err = ENOSPC;
  } else if (fault == JournalFault::kPartialWrite) {
    to_write = framed.size() / 2;
    err = ENOSPC;
  }
  size_t done = 0;
  while (done < to_write) {
    ssize_t n = ::pwrite(fd_, framed.data() + done, to_write - done, static_cast<off_t>(size_ + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (err == 0) {
    if (fault == JournalFault::kSyncFails) {
      err = EIO;
      what = "cannot sync journal";
    } else if (::fdatasync(fd_) != 0) {
      err = errno;
      what = "cannot sync journal";
    }
  }
  if (err == 0) {
    size_ += framed.size();
    return absl::OkStatus();
  }
  // Cut the partial write off, so that no torn record stays between good ones.
  if (!Truncate(size_).ok()) broken_ = true;
  // After a failed fdatasync the kernel may have dropped the dirty pages: never trust this descriptor
  // again, reopen it (Recover) first.
  if (std::string_view(what) == "cannot sync journal") broken_ = true;
  return absl::UnavailableError(Errno(what, path_, err));
}

absl::Status JournalFile::Recover() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd_ < 0) return absl::UnavailableError(Errno("cannot reopen journal", path_, errno));
  if (auto st = Truncate(size_); !st.ok()) return st;
  broken_ = false;
  return absl::OkStatus();
}

}  // namespace luna::usagesvc
