#include "gateway/usage/spool_lock.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "gateway/usage/usage_ring.h"

namespace luna::gateway {

namespace {

constexpr std::string_view kHostnameToken = "{hostname}";
constexpr std::string_view kLockSuffix = ".lock";

}  // namespace

absl::StatusOr<SpoolLock> SpoolLock::TryLock(const std::string& spool_path) {
  const std::string lock_path = spool_path + std::string(kLockSuffix);
  // The lock file may be removed by an adopter between our open and our lock; then the lock we got is
  // on a file nobody else will see: open again until the locked file is the one at the path.
  for (int tries = 0; tries < 5; ++tries) {
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      return absl::UnavailableError("cannot open " + lock_path + ": " + std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return absl::FailedPreconditionError("usage spool " + spool_path +
                                             " is in use by another running gateway (its lock " + lock_path +
                                             " is held)");
      }
      return absl::UnavailableError("cannot lock " + lock_path + ": " + std::strerror(err));
    }
    struct stat held {}, at_path {};
    if (::fstat(fd, &held) == 0 && ::stat(lock_path.c_str(), &at_path) == 0 && held.st_ino == at_path.st_ino &&
        held.st_dev == at_path.st_dev) {
      return SpoolLock(spool_path, fd);
    }
    ::close(fd);
  }
  return absl::UnavailableError("cannot lock " + lock_path + ": it keeps being replaced");
}

SpoolLock::SpoolLock(SpoolLock&& other) noexcept : spool_path_(std::move(other.spool_path_)), fd_(other.fd_) {
  other.fd_ = -1;
}

SpoolLock& SpoolLock::operator=(SpoolLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    spool_path_ = std::move(other.spool_path_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

SpoolLock::~SpoolLock() {
  if (fd_ >= 0) ::close(fd_);
}

void SpoolLock::RemoveSpoolAndRelease() {
  if (fd_ < 0) return;
  ::unlink(spool_path_.c_str());
  ::unlink(RingPathFor(spool_path_).c_str());
  ::unlink((spool_path_ + std::string(kLockSuffix)).c_str());
  ::close(fd_);
  fd_ = -1;
}

std::vector<std::string> SiblingSpools(const std::string& pattern, const std::string& own_path) {
  std::vector<std::string> out;
  size_t token = pattern.find(kHostnameToken);
  if (token == std::string::npos) return out;
  size_t slash = pattern.rfind('/', token);
  if (pattern.find('/', token) != std::string::npos) return out;  // {hostname} in a directory name: not supported
  std::string dir = slash == std::string::npos ? "." : pattern.substr(0, slash == 0 ? 1 : slash);
  std::string prefix = pattern.substr(slash == std::string::npos ? 0 : slash + 1, token - (slash == std::string::npos ? 0 : slash + 1));
  std::string suffix = pattern.substr(token + kHostnameToken.size());
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name.size() <= prefix.size() + suffix.size()) continue;
    if (!name.starts_with(prefix) || !name.ends_with(suffix)) continue;
    if (name.ends_with(kLockSuffix) && !suffix.ends_with(kLockSuffix)) continue;
    if (name.ends_with(kRingSuffix) && !suffix.ends_with(kRingSuffix)) continue;  // a spool's ring
    if (name.find(".tmp") != std::string_view::npos) continue;  // an atomic rewrite in progress
    std::string path = (dir == "/" ? "" : dir) + "/" + std::string(name);
    if (path == own_path || (dir == "." && std::string(name) == own_path)) continue;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    out.push_back(std::move(path));
  }
  ::closedir(d);
  return out;
}

}  // namespace luna::gateway
