// Who owns a usage spool file. A running gateway holds an exclusive lock on "<spool>.lock" for its
// whole life, so two gateways never write one spool, and a spool whose lock is free belongs to a
// gateway that is gone: another gateway sharing the directory (compose --scale, a replaced replica)
// may adopt it, deliver its events and remove it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace luna::gateway {

class SpoolLock {
 public:
  // Takes the lock of `spool_path` without waiting. FailedPrecondition if another process holds it.
  static absl::StatusOr<SpoolLock> TryLock(const std::string& spool_path);

  SpoolLock(SpoolLock&& other) noexcept;
  SpoolLock& operator=(SpoolLock&& other) noexcept;
  SpoolLock(const SpoolLock&) = delete;
  SpoolLock& operator=(const SpoolLock&) = delete;
  ~SpoolLock();

  // Removes the spool file, its ring and its lock file, then lets go of the lock (an adopted spool, delivered).
  void RemoveSpoolAndRelease();

 private:
  SpoolLock(std::string spool_path, int fd) : spool_path_(std::move(spool_path)), fd_(fd) {}
  std::string spool_path_;
  int fd_ = -1;
};

// The spool files of other gateways: when `pattern` (USAGE_SPOOL_FILE as configured) contains
// "{hostname}", the files in its directory that match it with any host name, except `own_path`, lock
// files and rings (usage_ring.h); otherwise none (a single gateway's spool has no siblings).
std::vector<std::string> SiblingSpools(const std::string& pattern, const std::string& own_path);

}  // namespace luna::gateway
