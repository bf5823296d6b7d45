#include "gateway/usage/usage_ring.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <random>
#include <utility>

#include "common/atomic_file.h"

namespace luna::gateway {

namespace {

static_assert(std::endian::native == std::endian::little, "the ring file is little-endian, as mapped");

constexpr char kMagic[8] = {'L', 'U', 'N', 'A', 'R', 'N', 'G', '1'};
// Header fields.
constexpr size_t kSlotsAt = 8, kSlotBytesAt = 12, kEpochAt = 16, kConsumedAt = 24;
// Slot fields.
constexpr size_t kSeqAt = 0, kLengthAt = 8, kCrcAt = 12, kPayloadAt = 16;

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
void Store(char* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

uint32_t SlotCrc(uint64_t epoch, uint64_t seq, uint32_t length, const char* payload) {
  char head[20];
  Store(head, epoch);
  Store(head + 8, seq);
  Store(head + 16, length);
  uLong c = crc32(0L, reinterpret_cast<const Bytef*>(head), sizeof head);
  c = crc32(c, reinterpret_cast<const Bytef*>(payload), length);
  return static_cast<uint32_t>(c);
}

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::InternalError(what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

std::string RingPathFor(const std::string& spool_path) { return spool_path + std::string(kRingSuffix); }

absl::StatusOr<std::unique_ptr<UsageRing>> UsageRing::Create(const std::string& path, uint32_t slots) {
  if (slots == 0) return absl::InvalidArgumentError("a usage ring needs at least one slot");
  const size_t bytes = kHeaderBytes + size_t{slots} * kSlotBytes;
  std::unique_ptr<UsageRing> ring(new UsageRing());
  ring->slots_ = slots;
  ring->epoch_ = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  // Header and zeroed slots written out in full, so every page of the mapping has its blocks.
  std::string content(bytes, '\0');
  std::memcpy(content.data(), kMagic, sizeof kMagic);
  Store(content.data() + kSlotsAt, slots);
  Store(content.data() + kSlotBytesAt, kSlotBytes);
  Store(content.data() + kEpochAt, ring->epoch_);
  Store(content.data() + kConsumedAt, uint64_t{0});
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create usage ring", path);
  size_t off = 0;
  while (off < bytes) {
    ssize_t n = ::write(fd, content.data() + off, bytes - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto st = Errno("cannot write usage ring", path);
      ::close(fd);
      ::unlink(path.c_str());
      return st;
    }
    off += static_cast<size_t>(n);
  }
  void* map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  auto st = map == MAP_FAILED ? Errno("cannot map usage ring", path) : absl::OkStatus();
  ::close(fd);
  if (!st.ok()) {
    ::unlink(path.c_str());
    return st;
  }
  ring->map_ = static_cast<char*>(map);
  ring->map_bytes_ = bytes;
  return ring;
}

UsageRing::~UsageRing() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

uint64_t UsageRing::Stage(std::string_view payload) {
  const uint64_t seq = last_staged_ + 1;
  if (payload.size() > kMaxPayload || seq > consumed_ + slots_) return 0;
  char* slot = map_ + kHeaderBytes + (seq % slots_) * size_t{kSlotBytes};
  const auto length = static_cast<uint32_t>(payload.size());
  std::memcpy(slot + kPayloadAt, payload.data(), payload.size());
  Store(slot + kSeqAt, seq);
  Store(slot + kLengthAt, length);
  Store(slot + kCrcAt, SlotCrc(epoch_, seq, length, payload.data()));
  last_staged_ = seq;
  return seq;
}

std::string_view UsageRing::Staged(uint64_t seq) const {
  const char* slot = map_ + kHeaderBytes + (seq % slots_) * size_t{kSlotBytes};
  return {slot + kPayloadAt, Load<uint32_t>(slot + kLengthAt)};
}

void UsageRing::MarkConsumed(uint64_t seq) {
  if (seq <= consumed_) return;
  consumed_ = std::min(seq, last_staged_);
  Store(map_ + kConsumedAt, consumed_);
}

absl::StatusOr<std::vector<std::string>> UsageRing::ReadUnconsumed(const std::string& path) {
  std::vector<std::string> out;
  auto content = ReadFile(path);
  if (!content.ok()) {
    if (absl::IsNotFound(content.status())) return out;
    return content.status();
  }
  const std::string& data = *content;
  if (data.size() < kHeaderBytes || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0) return out;
  const auto slots = Load<uint32_t>(data.data() + kSlotsAt);
  const auto slot_bytes = Load<uint32_t>(data.data() + kSlotBytesAt);
  const auto epoch = Load<uint64_t>(data.data() + kEpochAt);
  const auto consumed = Load<uint64_t>(data.data() + kConsumedAt);
  if (slots == 0 || slot_bytes <= kPayloadAt || data.size() < kHeaderBytes + uint64_t{slots} * slot_bytes) return out;
  std::vector<std::pair<uint64_t, std::string>> staged;
  for (uint32_t i = 0; i < slots; ++i) {
    const char* slot = data.data() + kHeaderBytes + size_t{i} * slot_bytes;
    const auto seq = Load<uint64_t>(slot + kSeqAt);
    const auto length = Load<uint32_t>(slot + kLengthAt);
    if (seq <= consumed || seq % slots != i || length > slot_bytes - kPayloadAt) continue;
    if (Load<uint32_t>(slot + kCrcAt) != SlotCrc(epoch, seq, length, slot + kPayloadAt)) continue;
    staged.emplace_back(seq, std::string(slot + kPayloadAt, length));
  }
  std::sort(staged.begin(), staged.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  out.reserve(staged.size());
  for (auto& [seq, payload] : staged) out.push_back(std::move(payload));
  return out;
}

}  // namespace luna::gateway
