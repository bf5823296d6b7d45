#include "common/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace luna {
namespace {

absl::Status ErrnoStatus(const std::string& what, const std::string& path) {
  return absl::InternalError(what + " " + path + ": " + std::strerror(errno));
}

std::string DirName(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool AllDigits(std::string_view s, size_t max_digits) {
  return !s.empty() && s.size() <= max_digits && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// The pid in "<anything>.tmp.<pid>.<n>" (WriteFileAtomically's names), or -1 if `name` is not one.
long TemporaryFilePid(std::string_view name) {
  auto tmp = name.rfind(".tmp.");
  if (tmp == std::string_view::npos) return -1;
  std::string_view rest = name.substr(tmp + 5);
  auto dot = rest.find('.');
  if (dot == std::string_view::npos || !AllDigits(rest.substr(0, dot), 10) || !AllDigits(rest.substr(dot + 1), 20)) {
    return -1;
  }
  return std::stol(std::string(rest.substr(0, dot)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Open(const std::string& path, int mode) {
  // Unique per process and per call, so two writers in one process never share a temporary file.
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("cannot create", tmp);
  return std::unique_ptr<AtomicFileWriter>(new AtomicFileWriter(path, std::move(tmp), fd));
}

AtomicFileWriter::AtomicFileWriter(std::string path, std::string tmp, int fd)
    : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

absl::Status AtomicFileWriter::Failed(const std::string& what, const std::string& file) {
  auto st = ErrnoStatus(what, file);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_.clear();
  return st;
}

absl::Status AtomicFileWriter::Append(std::string_view bytes) {
  if (fd_ < 0) return absl::FailedPreconditionError("write to " + path_ + " after an error or commit");
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Failed("cannot write", tmp_);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::WriteAt(uint64_t offset, std::string_view bytes) {
  if (fd_ < 0) return absl::FailedPreconditionError("write to " + path_ + " after an error or commit");
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Failed("cannot write", tmp_);
    }
    p += n;
    offset += static_cast<uint64_t>(n);
    left -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Commit() {
  if (fd_ < 0) return absl::FailedPreconditionError("commit of " + path_ + " after an error or commit");
  if (::fsync(fd_) != 0) return Failed("cannot fsync", tmp_);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return Failed("cannot close", tmp_);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return Failed("cannot rename over", path_);
  tmp_.clear();
  std::string dir = DirName(path_);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ErrnoStatus("cannot open directory", dir);
  int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return ErrnoStatus("cannot fsync directory", dir);
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view content, int mode) {
  auto file = AtomicFileWriter::Open(path, mode);
  if (!file.ok()) return file.status();
  if (auto st = (*file)->Append(content); !st.ok()) return st;
  return (*file)->Commit();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError("no such file: " + path);
    return ErrnoStatus("cannot open", path);
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto st = ErrnoStatus("cannot read", path);
      ::close(fd);
      return st;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

absl::Status CopyFileDurably(const std::string& from, const std::string& to) {
  auto content = ReadFile(from);
  if (!content.ok()) return content.status();
  return WriteFileAtomically(to, *content);
}

std::vector<std::string> RemoveStaleTemporaryFiles(const std::string& path) {
  std::vector<std::string> removed;
  const std::string dir = DirName(path);
  const std::string base = BaseName(path);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return removed;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  for (const std::string& name : names) {
    if (name.size() <= base.size() || name.compare(0, base.size(), base) != 0) continue;
    long pid = TemporaryFilePid(name);
    if (pid < 0) continue;
    // Our own pid can only be a previous process's (we have not written yet): in a container the
    // service is often pid 1 every time.
    if (pid != ::getpid() && pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;
    if (::unlink((dir + "/" + name).c_str()) == 0) removed.push_back(name);
  }
  return removed;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace luna
