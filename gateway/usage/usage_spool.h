// The gateway's local, append-only spool of usage events not yet acknowledged by usagesvc. A
// gateway crash (even kill -9) or a usagesvc outage loses nothing: at start the spool is read back
// and what was not acknowledged is sent again; usagesvc drops duplicates by event id.
//
// File format: a sequence of records [u32 length][u32 crc32 of type+payload][u8 type][payload],
// little-endian. Type 1: one serialized luna.usage.v1.UsageEvent (checked to parse when loaded). Type 2: acknowledged event ids,
// '\n'-separated. A torn or corrupt tail (a crash mid-write) is cut off at open and reported.
//
// Open also takes in what the spool's ring ("<spool>.ring", usage_ring.h) holds that never reached
// the spool, and removes the ring file.
//
// Not thread-safe: one owner thread (the usage shipper) uses it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace luna::gateway {

// One event in the spool: its serialized luna.usage.v1.UsageEvent, kept as the bytes it was staged,
// written and is sent as (the gateway serializes an event once, on the I/O thread), and its id.
class SpooledEvent {
 public:
  // Nothing when `payload` has no event id (field 1). The rest of it is not looked at.
  static std::optional<SpooledEvent> FromPayload(std::string_view payload);
  const std::string& payload() const { return payload_; }
  // A view into payload(): valid while this object stays where it is.
  std::string_view event_id() const { return std::string_view(payload_).substr(id_at_, id_len_); }

 private:
  SpooledEvent() = default;
  std::string payload_;
  uint32_t id_at_ = 0;
  uint32_t id_len_ = 0;
};

class UsageSpool {
 public:
  // Opens (creating if needed) the spool at `path` and loads the unacknowledged events.
  static absl::StatusOr<std::unique_ptr<UsageSpool>> Open(const std::string& path);
  ~UsageSpool();

  // Appends serialized events (one write; no fsync: the page cache survives a process crash, Sync
  // covers power loss). Once written they join pending(); when the write fails, nothing changes. A
  // payload without an event id is not written (it could never be acknowledged) and is counted in
  // `*refused` if given.
  absl::Status Append(absl::Span<const std::string_view> payloads, int64_t* refused = nullptr);
  // Records that these ids are acknowledged; they leave pending(). The ids may point into pending()
  // itself. Compacts the file when nothing is pending any more. Acknowledging the oldest events in
  // order (what the shipper does) costs no lookup.
  absl::Status Ack(absl::Span<const std::string_view> ids);
  absl::Status Sync();

  // Unacknowledged events, oldest first.
  const std::deque<SpooledEvent>& pending() const { return pending_; }
  // Bytes cut off a torn tail at open (0 if none).
  int64_t dropped_tail_bytes() const { return dropped_tail_bytes_; }
  // Events taken in from the ring at open (0 if none).
  int64_t recovered_from_ring() const { return recovered_from_ring_; }
  int64_t file_size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  UsageSpool() = default;
  static void WriteRecord(std::string* buf, uint8_t type, std::string_view payload);
  absl::Status WriteAll(const std::string& buf);
  absl::Status Rewrite();

  std::string path_;
  int fd_ = -1;
  int64_t size_ = 0;
  int64_t dropped_tail_bytes_ = 0;
  int64_t recovered_from_ring_ = 0;
  std::deque<SpooledEvent> pending_;
};

}  // namespace luna::gateway
