#include "gateway/usage/usage_spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "common/atomic_file.h"
#include "common/proto_fields.h"
#include "gateway/usage/usage_ring.h"
#include "usage.pb.h"

namespace luna::gateway {

namespace {

constexpr uint8_t kEvent = 1;
constexpr uint8_t kAck = 2;
constexpr size_t kHeader = 9;
constexpr uint32_t kMaxRecord = 16 << 20;

void PutU32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
               static_cast<char>(v >> 24)};
  out->append(b, 4);
}

uint32_t GetU32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24;
}

uint32_t Crc(uint8_t type, const char* p, size_t n) {
  uLong c = crc32(0L, &type, 1);
  c = crc32(c, reinterpret_cast<const Bytef*>(p), static_cast<uInt>(n));
  return static_cast<uint32_t>(c);
}

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::InternalError(what + " " + path + ": " + std::strerror(errno));
}

// A payload read back from a file (the spool, the ring) is a UsageEvent or a sign of corruption.
bool IsUsageEvent(std::string_view payload) {
  luna::usage::v1::UsageEvent ev;
  return ev.ParseFromArray(payload.data(), static_cast<int>(payload.size()));
}

}  // namespace

std::optional<SpooledEvent> SpooledEvent::FromPayload(std::string_view payload) {
  // The id is field 1, which protobuf writes first: the walk stops there.
  std::string_view id;
  size_t id_at = 0;
  const bool well_formed = ForEachLengthDelimited(payload, luna::usage::v1::UsageEvent::kEventIdFieldNumber,
                                                  [&](std::string_view value, size_t at) {
                                                    id = value;
                                                    id_at = at;
                                                    return false;
                                                  });
  if (!well_formed || id.empty()) return std::nullopt;
  SpooledEvent e;
  e.payload_.assign(payload);
  e.id_at_ = static_cast<uint32_t>(id_at);
  e.id_len_ = static_cast<uint32_t>(id.size());
  return e;
}

absl::StatusOr<std::unique_ptr<UsageSpool>> UsageSpool::Open(const std::string& path) {
  std::unique_ptr<UsageSpool> s(new UsageSpool());
  s->path_ = path;
  auto content = ReadFile(path);
  std::string data;
  if (content.ok()) {
    data = std::move(*content);
  } else if (!absl::IsNotFound(content.status())) {
    return content.status();
  }
  // Read every whole, valid record; stop at the first torn or corrupt one.
  std::vector<SpooledEvent> events;
  std::unordered_set<std::string> acked;
  size_t pos = 0;
  while (pos + kHeader <= data.size()) {
    uint32_t len = GetU32(data.data() + pos);
    uint32_t crc = GetU32(data.data() + pos + 4);
    uint8_t type = static_cast<uint8_t>(data[pos + 8]);
    if (len > kMaxRecord || pos + kHeader + len > data.size()) break;
    const char* payload = data.data() + pos + kHeader;
    if (Crc(type, payload, len) != crc) break;
    if (type == kEvent) {
      std::string_view bytes(payload, len);
      auto ev = IsUsageEvent(bytes) ? SpooledEvent::FromPayload(bytes) : std::nullopt;
      if (!ev) break;
      events.push_back(std::move(*ev));
    } else if (type == kAck) {
      std::string_view ids(payload, len);
      size_t start = 0;
      while (start <= ids.size()) {
        size_t nl = ids.find('\n', start);
        std::string_view id = ids.substr(start, nl == std::string_view::npos ? ids.npos : nl - start);
        if (!id.empty()) acked.emplace(id);
        if (nl == std::string_view::npos) break;
        start = nl + 1;
      }
    } else {
      break;
    }
    pos += kHeader + len;
  }
  s->dropped_tail_bytes_ = static_cast<int64_t>(data.size() - pos);
  std::unordered_set<std::string> seen;
  for (auto& ev : events) {
    std::string id(ev.event_id());
    if (acked.count(id) || !seen.insert(std::move(id)).second) continue;
    s->pending_.push_back(std::move(ev));
  }
  s->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (s->fd_ < 0) return Errno("cannot open usage spool", path);
  if (::ftruncate(s->fd_, static_cast<off_t>(pos)) != 0) return Errno("cannot truncate usage spool", path);
  if (::lseek(s->fd_, static_cast<off_t>(pos), SEEK_SET) < 0) return Errno("cannot seek usage spool", path);
  s->size_ = static_cast<int64_t>(pos);
  // Rewrite's temporary file, if a crash came before its rename (the spool itself is whole).
  RemoveStaleTemporaryFiles(path);
  // Start from a compact file: only what is still pending.
  if (s->size_ > 0 && (s->pending_.empty() || !acked.empty())) {
    auto st = s->Rewrite();
    if (!st.ok()) return st;
  }
  // Events staged in the ring and never appended here: the gateway crashed between answering and
  // writing the spool (usage_ring.h). Appended now; then the ring has nothing left to give.
  const std::string ring_path = RingPathFor(path);
  auto staged = UsageRing::ReadUnconsumed(ring_path);
  if (!staged.ok()) return staged.status();
  std::vector<std::string_view> recovered;
  for (const std::string& payload : *staged) {
    auto ev = IsUsageEvent(payload) ? SpooledEvent::FromPayload(payload) : std::nullopt;
    if (!ev) continue;
    std::string id(ev->event_id());
    if (acked.count(id) || !seen.insert(std::move(id)).second) continue;
    recovered.push_back(payload);
  }
  s->recovered_from_ring_ = static_cast<int64_t>(recovered.size());
  if (auto st = s->Append(recovered); !st.ok()) return st;
  if (::unlink(ring_path.c_str()) != 0 && errno != ENOENT) return Errno("cannot remove usage ring", ring_path);
  return s;
}

UsageSpool::~UsageSpool() {
  if (fd_ >= 0) ::close(fd_);
}

void UsageSpool::WriteRecord(std::string* buf, uint8_t type, std::string_view payload) {
  PutU32(buf, static_cast<uint32_t>(payload.size()));
  PutU32(buf, Crc(type, payload.data(), payload.size()));
  buf->push_back(static_cast<char>(type));
  buf->append(payload);
}

absl::Status UsageSpool::WriteAll(const std::string& buf) {
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = ::write(fd_, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto st = Errno("cannot write usage spool", path_);
      // Never leave half a record behind: later records would be unreadable.
      if (::ftruncate(fd_, static_cast<off_t>(size_)) == 0) ::lseek(fd_, static_cast<off_t>(size_), SEEK_SET);
      return st;
    }
    off += static_cast<size_t>(n);
  }
  size_ += static_cast<int64_t>(buf.size());
  return absl::OkStatus();
}

absl::Status UsageSpool::Append(absl::Span<const std::string_view> payloads, int64_t* refused) {
  if (payloads.empty()) return absl::OkStatus();
  std::vector<SpooledEvent> events;
  events.reserve(payloads.size());
  size_t bytes = 0;
  for (std::string_view p : payloads) {
    auto ev = SpooledEvent::FromPayload(p);
    if (!ev) {
      if (refused != nullptr) ++*refused;
      continue;
    }
    bytes += kHeader + p.size();
    events.push_back(std::move(*ev));
  }
  std::string buf;
  buf.reserve(bytes);
  for (const auto& ev : events) WriteRecord(&buf, kEvent, ev.payload());
  auto st = WriteAll(buf);
  if (!st.ok()) return st;
  for (auto& ev : events) pending_.push_back(std::move(ev));
  return absl::OkStatus();
}

absl::Status UsageSpool::Ack(absl::Span<const std::string_view> ids) {
  if (ids.empty()) return absl::OkStatus();
  // The record is built first: the ids may point into the events about to leave pending_.
  std::string payload;
  for (std::string_view id : ids) {
    payload += id;
    payload.push_back('\n');
  }
  bool oldest_in_order = ids.size() <= pending_.size();
  for (size_t i = 0; oldest_in_order && i < ids.size(); ++i) oldest_in_order = pending_[i].event_id() == ids[i];
  if (oldest_in_order) {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(ids.size()));
  } else {
    // Copies: erasing moves events over one another, under any view into them.
    std::unordered_set<std::string> done;
    for (std::string_view id : ids) done.emplace(id);
    std::erase_if(pending_, [&](const SpooledEvent& e) { return done.count(std::string(e.event_id())) > 0; });
  }
  if (pending_.empty()) {
    // Everything is acknowledged: the spool can start over empty.
    if (::ftruncate(fd_, 0) != 0) return Errno("cannot truncate usage spool", path_);
    ::lseek(fd_, 0, SEEK_SET);
    size_ = 0;
    return absl::OkStatus();
  }
  std::string buf;
  WriteRecord(&buf, kAck, payload);
  auto st = WriteAll(buf);
  if (!st.ok()) return st;
  // Keep the file from growing without bound during a long outage with partial acknowledgements.
  if (size_ > (64 << 20)) return Rewrite();
  return absl::OkStatus();
}

absl::Status UsageSpool::Sync() {
  if (::fdatasync(fd_) != 0) return Errno("cannot sync usage spool", path_);
  return absl::OkStatus();
}

absl::Status UsageSpool::Rewrite() {
  std::string buf;
  for (const auto& ev : pending_) WriteRecord(&buf, kEvent, ev.payload());
  auto st = WriteFileAtomically(path_, buf);
  if (!st.ok()) return st;
  int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot reopen usage spool", path_);
  ::lseek(fd, 0, SEEK_END);
  ::close(fd_);
  fd_ = fd;
  size_ = static_cast<int64_t>(buf.size());
  return absl::OkStatus();
}

}  // namespace luna::gateway
