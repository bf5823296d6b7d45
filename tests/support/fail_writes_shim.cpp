// An LD_PRELOAD library for tests: makes the real file-writing calls of a process fail the way a full
// or broken disk does, so that the services' own error paths (not a test hook inside them) are what
// is exercised. Loaded into a service started by a test; harmless while no fault is switched on.
//
// Switched on when
//   LUNA_FAIL_WRITES=<spec>          always (the variable alone says so), or
//   LUNA_FAIL_WRITES_CONTROL=<file>  while that file exists; its content is the spec (empty: defaults).
// Restricted to
//   LUNA_FAIL_WRITES_UNDER=<dir>     only files at or below this directory (recommended: the service's
//                                    state directory, so its log and the port files keep working);
//                                    unset: every regular file and directory.
// The spec is a list of words separated by spaces, commas or newlines:
//   ENOSPC | EIO | EDQUOT | EROFS    the errno to fail with (default ENOSPC)
//   write fsync rename open          which calls fail (default: all four); see below
//   dirfsync                         fsync of directories only (the last step of an atomic replace,
//                                    after the rename)
//   partial                          writes are cut short instead of refused at once: a call of more
//                                    than one byte stores half and returns the short count, a call of
//                                    one byte fails (a caller that loops on short writes ends up with
//                                    part of its data written and then the error, as on a filling disk)
// Calls covered:
//   write    write, pwrite, pwrite64, writev, pwritev, pwritev64 on a covered file
//   fsync    fsync, fdatasync, sync_file_range on a covered file or directory
//   rename   rename, renameat, renameat2 when either path is covered
//   open     open, open64, openat, openat64, creat, creat64, fopen, fopen64 (and the fortified __open_2
//            variants) asking for write access (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND; "w", "a",
//            "+"); opening for reading always works
// ftruncate and unlink are never failed (shrinking a file works on a full disk too).
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

enum Op { kWrite = 1, kFsync = 2, kRename = 4, kOpen = 8, kDirFsync = 16 };

struct Spec {
  int err = ENOSPC;
  int ops = kWrite | kFsync | kRename | kOpen;
  bool partial = false;
};

using OpenFn = int (*)(const char*, int, ...);
using OpenatFn = int (*)(int, const char*, int, ...);
using Open2Fn = int (*)(const char*, int);
using Openat2Fn = int (*)(int, const char*, int);
using CreatFn = int (*)(const char*, mode_t);
using FopenFn = FILE* (*)(const char*, const char*);
using WriteFn = ssize_t (*)(int, const void*, size_t);
using PwriteFn = ssize_t (*)(int, const void*, size_t, off_t);
using WritevFn = ssize_t (*)(int, const struct iovec*, int);
using PwritevFn = ssize_t (*)(int, const struct iovec*, int, off_t);
using SyncFn = int (*)(int);
using SyncRangeFn = int (*)(int, off64_t, off64_t, unsigned int);
using RenameFn = int (*)(const char*, const char*);
using RenameatFn = int (*)(int, const char*, int, const char*);
using Renameat2Fn = int (*)(int, const char*, int, const char*, unsigned int);

template <class F>
F Next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

// Resolved lazily (a call may come before this library's constructor ran) and idempotently.
struct Real {
  OpenFn open = Next<OpenFn>("open");
  OpenFn open64 = Next<OpenFn>("open64");
  OpenatFn openat = Next<OpenatFn>("openat");
  OpenatFn openat64 = Next<OpenatFn>("openat64");
  Open2Fn open_2 = Next<Open2Fn>("__open_2");
  Open2Fn open64_2 = Next<Open2Fn>("__open64_2");
  Openat2Fn openat_2 = Next<Openat2Fn>("__openat_2");
  Openat2Fn openat64_2 = Next<Openat2Fn>("__openat64_2");
  CreatFn creat = Next<CreatFn>("creat");
  CreatFn creat64 = Next<CreatFn>("creat64");
  FopenFn fopen = Next<FopenFn>("fopen");
  FopenFn fopen64 = Next<FopenFn>("fopen64");
  WriteFn write = Next<WriteFn>("write");
  PwriteFn pwrite = Next<PwriteFn>("pwrite");
  PwriteFn pwrite64 = Next<PwriteFn>("pwrite64");
  WritevFn writev = Next<WritevFn>("writev");
  PwritevFn pwritev = Next<PwritevFn>("pwritev");
  PwritevFn pwritev64 = Next<PwritevFn>("pwritev64");
  SyncFn fsync = Next<SyncFn>("fsync");
  SyncFn fdatasync = Next<SyncFn>("fdatasync");
  SyncRangeFn sync_file_range = Next<SyncRangeFn>("sync_file_range");
  RenameFn rename = Next<RenameFn>("rename");
  RenameatFn renameat = Next<RenameatFn>("renameat");
  Renameat2Fn renameat2 = Next<Renameat2Fn>("renameat2");
};

const Real& R() {
  static const Real real;
  return real;
}

// The directory faults are limited to, resolved once ("" = everything).
const char* Under() {
  static const char* under = [] {
    const char* env = getenv("LUNA_FAIL_WRITES_UNDER");
    if (env == nullptr || *env == '\0') return "";
    static char resolved[PATH_MAX];
    if (realpath(env, resolved) == nullptr) {
      // Not there yet: compare against the name as given.
      strncpy(resolved, env, sizeof resolved - 1);
    }
    size_t n = strlen(resolved);
    while (n > 1 && resolved[n - 1] == '/') resolved[--n] = '\0';
    return static_cast<const char*>(resolved);
  }();
  return under;
}

struct Word {
  const char* word;
  int err;  // the errno it selects, or 0
  int op;   // the call family it selects, or 0
  bool partial;
};
constexpr Word kWords[] = {
    {"ENOSPC", ENOSPC, 0, false},  {"EIO", EIO, 0, false},      {"EDQUOT", EDQUOT, 0, false},
    {"EROFS", EROFS, 0, false},    {"write", 0, kWrite, false}, {"fsync", 0, kFsync, false},
    {"rename", 0, kRename, false}, {"open", 0, kOpen, false},   {"dirfsync", 0, kDirFsync, false},
    {"partial", 0, 0, true},
};

// Unknown words are ignored.
Spec ParseSpec(const char* text) {
  Spec spec;
  int ops = 0;
  char word[32];
  size_t n = 0;
  for (const char* p = text;; ++p) {
    char c = *p;
    bool sep = c == '\0' || c == ' ' || c == ',' || c == '\n' || c == '\t' || c == '\r';
    if (!sep) {
      if (n + 1 < sizeof word) word[n++] = c;
      continue;
    }
    if (n > 0) {
      word[n] = '\0';
      for (const Word& w : kWords) {
        if (strcmp(word, w.word) != 0) continue;
        if (w.err != 0) spec.err = w.err;
        ops |= w.op;
        spec.partial |= w.partial;
      }
      n = 0;
    }
    if (c == '\0') break;
  }
  if (ops != 0) spec.ops = ops;
  return spec;
}

// The fault in force now, if any. Reads the control file with the real calls (never through this
// library's own wrappers).
bool Active(Spec* spec) {
  if (const char* always = getenv("LUNA_FAIL_WRITES"); always != nullptr && *always != '\0') {
    *spec = ParseSpec(always);
    return true;
  }
  const char* control = getenv("LUNA_FAIL_WRITES_CONTROL");
  if (control == nullptr || *control == '\0') return false;
  int fd = R().openat(AT_FDCWD, control, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char text[256];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  text[n > 0 ? n : 0] = '\0';
  *spec = ParseSpec(text);
  return true;
}

bool IsUnder(const char* path) {
  const char* under = Under();
  if (*under == '\0') return true;
  size_t n = strlen(under);
  return strncmp(path, under, n) == 0 && (path[n] == '\0' || path[n] == '/' || strcmp(under, "/") == 0);
}

// Whether `fd` is a file this library covers.
bool CoversFd(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) return false;
  if (*Under() == '\0') return true;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  return IsUnder(path);
}

// Whether `path` (relative to `dirfd`) names something this library covers. Only the directory part
// needs to exist: the file itself may be about to be created.
bool CoversPath(int dirfd, const char* path) {
  if (path == nullptr) return false;
  if (*Under() == '\0') return true;
  char full[2 * PATH_MAX + 2];
  if (path[0] == '/') {
    snprintf(full, sizeof full, "%s", path);
  } else {
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
      if (getcwd(base, sizeof base) == nullptr) return false;
    } else {
      char link[64];
      snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
      ssize_t n = readlink(link, base, sizeof base - 1);
      if (n <= 0) return false;
      base[n] = '\0';
    }
    snprintf(full, sizeof full, "%s/%s", base, path);
  }
  // Resolve the directory part (symbolic links, "..") so it compares with the resolved LUNA_FAIL_WRITES_UNDER.
  char* slash = strrchr(full, '/');
  char dir[sizeof full], resolved[PATH_MAX];
  if (slash == full) {
    snprintf(dir, sizeof dir, "/");
  } else {
    snprintf(dir, sizeof dir, "%.*s", static_cast<int>(slash - full), full);
  }
  if (realpath(dir, resolved) == nullptr) return IsUnder(full);
  char joined[2 * PATH_MAX + 2];
  snprintf(joined, sizeof joined, "%s/%s", strcmp(resolved, "/") == 0 ? "" : resolved, slash + 1);
  return IsUnder(joined);
}

bool ForWrite(int flags) { return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)) != 0; }

bool ModeForWrite(const char* mode) { return mode != nullptr && strpbrk(mode, "wa+") != nullptr; }

void Log(const char* call, int err) {
  if (getenv("LUNA_FAIL_WRITES_VERBOSE") == nullptr) return;
  char line[128];
  int n = snprintf(line, sizeof line, "fail_writes_shim: %s failed with %s\n", call, strerror(err));
  if (n > 0) R().write(2, line, static_cast<size_t>(n));
}

// Fails an open for writing when a fault covers it: returns true and sets errno.
bool FailOpen(int dirfd, const char* path, int flags, const char* call) {
  Spec spec;
  if (!ForWrite(flags) || !Active(&spec) || (spec.ops & kOpen) == 0 || !CoversPath(dirfd, path)) return false;
  Log(call, spec.err);
  errno = spec.err;
  return true;
}

// For the write family: -1 (errno set) to fail, 0 to pass the call through, or a shortened count for
// a partial write.
ssize_t WriteFault(int fd, size_t count, const char* call, size_t* shortened) {
  Spec spec;
  if (!Active(&spec) || (spec.ops & kWrite) == 0 || !CoversFd(fd)) return 0;
  if (spec.partial && count > 1) {
    *shortened = count / 2;
    return 1;
  }
  Log(call, spec.err);
  errno = spec.err;
  return -1;
}

bool IsDirectory(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

bool FailSync(int fd, const char* call) {
  Spec spec;
  if (!Active(&spec) || (spec.ops & (kFsync | kDirFsync)) == 0 || !CoversFd(fd)) return false;
  if ((spec.ops & kFsync) == 0 && !IsDirectory(fd)) return false;
  Log(call, spec.err);
  errno = spec.err;
  return true;
}

bool FailRename(int olddirfd, const char* oldpath, int newdirfd, const char* newpath, const char* call) {
  Spec spec;
  if (!Active(&spec) || (spec.ops & kRename) == 0) return false;
  if (!CoversPath(olddirfd, oldpath) && !CoversPath(newdirfd, newpath)) return false;
  Log(call, spec.err);
  errno = spec.err;
  return true;
}

mode_t ModeArg(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) != 0 ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

// The total length of an iovec array (for partial writes of writev).
size_t IovLength(const struct iovec* iov, int n) {
  size_t total = 0;
  for (int i = 0; i < n; ++i) total += iov[i].iov_len;
  return total;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = ModeArg(flags, ap);
  va_end(ap);
  if (FailOpen(AT_FDCWD, path, flags, "open")) return -1;
  return R().open(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = ModeArg(flags, ap);
  va_end(ap);
  if (FailOpen(AT_FDCWD, path, flags, "open64")) return -1;
  return R().open64(path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = ModeArg(flags, ap);
  va_end(ap);
  if (FailOpen(dirfd, path, flags, "openat")) return -1;
  return R().openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = ModeArg(flags, ap);
  va_end(ap);
  if (FailOpen(dirfd, path, flags, "openat64")) return -1;
  return R().openat64(dirfd, path, flags, mode);
}

int __open_2(const char* path, int flags) {
  if (FailOpen(AT_FDCWD, path, flags, "open")) return -1;
  return R().open_2(path, flags);
}

int __open64_2(const char* path, int flags) {
  if (FailOpen(AT_FDCWD, path, flags, "open64")) return -1;
  return R().open64_2(path, flags);
}

int __openat_2(int dirfd, const char* path, int flags) {
  if (FailOpen(dirfd, path, flags, "openat")) return -1;
  return R().openat_2(dirfd, path, flags);
}

int __openat64_2(int dirfd, const char* path, int flags) {
  if (FailOpen(dirfd, path, flags, "openat64")) return -1;
  return R().openat64_2(dirfd, path, flags);
}

int creat(const char* path, mode_t mode) {
  if (FailOpen(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, "creat")) return -1;
  return R().creat(path, mode);
}

int creat64(const char* path, mode_t mode) {
  if (FailOpen(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, "creat64")) return -1;
  return R().creat64(path, mode);
}

FILE* fopen(const char* path, const char* mode) {
  if (ModeForWrite(mode) && FailOpen(AT_FDCWD, path, O_WRONLY, "fopen")) return nullptr;
  return R().fopen(path, mode);
}

FILE* fopen64(const char* path, const char* mode) {
  if (ModeForWrite(mode) && FailOpen(AT_FDCWD, path, O_WRONLY, "fopen64")) return nullptr;
  return R().fopen64(path, mode);
}

ssize_t write(int fd, const void* buf, size_t count) {
  size_t shortened = 0;
  ssize_t f = WriteFault(fd, count, "write", &shortened);
  if (f < 0) return -1;
  return R().write(fd, buf, shortened > 0 ? shortened : count);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  size_t shortened = 0;
  ssize_t f = WriteFault(fd, count, "pwrite", &shortened);
  if (f < 0) return -1;
  return R().pwrite(fd, buf, shortened > 0 ? shortened : count, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  size_t shortened = 0;
  ssize_t f = WriteFault(fd, count, "pwrite64", &shortened);
  if (f < 0) return -1;
  return R().pwrite64(fd, buf, shortened > 0 ? shortened : count, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  size_t shortened = 0;
  ssize_t f = WriteFault(fd, IovLength(iov, iovcnt), "writev", &shortened);
  if (f < 0) return -1;
  // A partial writev stores only (part of) the first buffer.
  if (shortened > 0 && iovcnt > 0)
    return R().write(fd, iov[0].iov_base, shortened < iov[0].iov_len ? shortened : iov[0].iov_len);
  return R().writev(fd, iov, iovcnt);
}

ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  size_t shortened = 0;
  ssize_t f = WriteFault(fd, IovLength(iov, iovcnt), "pwritev", &shortened);
  if (f < 0) return -1;
  if (shortened > 0 && iovcnt > 0) {
    return R().pwrite(fd, iov[0].iov_base, shortened < iov[0].iov_len ? shortened : iov[0].iov_len, offset);
  }
  return R().pwritev(fd, iov, iovcnt, offset);
}

ssize_t pwritev64(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  size_t shortened = 0;
  ssize_t f = WriteFault(fd, IovLength(iov, iovcnt), "pwritev64", &shortened);
  if (f < 0) return -1;
  if (shortened > 0 && iovcnt > 0) {
    return R().pwrite(fd, iov[0].iov_base, shortened < iov[0].iov_len ? shortened : iov[0].iov_len, offset);
  }
  return R().pwritev64(fd, iov, iovcnt, offset);
}

int fsync(int fd) {
  if (FailSync(fd, "fsync")) return -1;
  return R().fsync(fd);
}

int fdatasync(int fd) {
  if (FailSync(fd, "fdatasync")) return -1;
  return R().fdatasync(fd);
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
  if (FailSync(fd, "sync_file_range")) return -1;
  return R().sync_file_range(fd, offset, nbytes, flags);
}

int rename(const char* oldpath, const char* newpath) {
  if (FailRename(AT_FDCWD, oldpath, AT_FDCWD, newpath, "rename")) return -1;
  return R().rename(oldpath, newpath);
}

int renameat(int olddirfd, const char* oldpath, int newdirfd, const char* newpath) {
  if (FailRename(olddirfd, oldpath, newdirfd, newpath, "renameat")) return -1;
  return R().renameat(olddirfd, oldpath, newdirfd, newpath);
}

int renameat2(int olddirfd, const char* oldpath, int newdirfd, const char* newpath, unsigned int flags) {
  if (FailRename(olddirfd, oldpath, newdirfd, newpath, "renameat2")) return -1;
  return R().renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

}  // extern "C"
