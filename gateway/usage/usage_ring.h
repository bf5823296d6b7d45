// Where an answer's usage event becomes safe from a crash of the gateway without a system call or a
// thread hand-off on the request path: a fixed ring of slots in a file mapped into memory
// (MAP_SHARED) beside the spool, "<spool>.ring". Staging an event is a copy into the mapping; from
// then on it survives a kill -9 of the process (the kernel keeps the file's pages and writes them
// back), as a write() to the spool would, so the answer may go out at once. The spool's writer thread
// appends the events to the spool as before (usage_spool.h) and then marks them consumed, which frees
// their slots. UsageSpool::Open appends whatever a ring still holds unconsumed to its spool (a crash
// came between an answer and the spool's write) and removes the ring file.
//
// Before the ring every answer waited for the writer thread to write its event and wake the I/O
// thread again: 40-50 µs of the gateway's added latency at p50 and hundreds at p99 on a 2-core VM
// (README.md, "Benchmarks"). When the ring is full (the spool's disk stalls) or an event is larger
// than a slot, the caller falls back to that wait.
//
// File: a 4 KiB header [8 "LUNARNG1"][u32 slots][u32 slot bytes][u64 epoch][u64 consumed], then the
// slots, each [u64 seq][u32 length][u32 crc32 of epoch, seq, length and payload][payload: one
// serialized luna.usage.v1.UsageEvent], little-endian. Sequence numbers start at 1; event `seq`
// lives in slot seq % slots, which it may take once event seq - slots is consumed. A slot torn by a
// crash mid-copy fails its checksum (its answer had not gone out), and a slot of an earlier ring
// (another epoch) too. The whole file is allocated when the ring is created: a page mapped over a
// hole of a full disk would kill the process with SIGBUS at its first write.
//
// Not thread-safe: the usage shipper calls Stage and MarkConsumed under its own lock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace luna::gateway {

inline constexpr std::string_view kRingSuffix = ".ring";
std::string RingPathFor(const std::string& spool_path);

class UsageRing {
 public:
  static constexpr uint32_t kSlotBytes = 1024;
  static constexpr uint32_t kHeaderBytes = 4096;
  static constexpr uint32_t kMaxPayload = kSlotBytes - 16;

  // Creates the ring file at `path` (replacing any), allocated in full, and maps it.
  static absl::StatusOr<std::unique_ptr<UsageRing>> Create(const std::string& path, uint32_t slots);
  // The payloads a ring file holds staged and not consumed, oldest first; none if there is no file or
  // it never got a whole header (a crash while it was created, before anything could be staged).
  static absl::StatusOr<std::vector<std::string>> ReadUnconsumed(const std::string& path);

  UsageRing(const UsageRing&) = delete;
  UsageRing& operator=(const UsageRing&) = delete;
  ~UsageRing();

  // Copies one serialized event into the next slot and returns its sequence number; 0 (nothing
  // staged) when the payload is larger than kMaxPayload or the next slot still holds an event that
  // is not consumed.
  uint64_t Stage(std::string_view payload);
  // The payload of event `seq`, staged and not consumed (consumed() < seq <= last_staged()). It stays
  // in place until MarkConsumed passes it, so the spool's writer reads it there, outside the lock
  // Stage runs under, instead of a copy being made for it.
  std::string_view Staged(uint64_t seq) const;
  // Every event up to `seq` is in the spool: their slots may be taken again.
  void MarkConsumed(uint64_t seq);
  uint64_t last_staged() const { return last_staged_; }
  uint64_t consumed() const { return consumed_; }
  uint32_t slots() const { return slots_; }

 private:
  UsageRing() = default;

  char* map_ = nullptr;
  size_t map_bytes_ = 0;
  uint32_t slots_ = 0;
  uint64_t epoch_ = 0;
  uint64_t last_staged_ = 0;
  uint64_t consumed_ = 0;
};

}  // namespace luna::gateway
