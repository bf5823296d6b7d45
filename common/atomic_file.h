// Durable file writes: a state file is never half-written (DESIGN.md, "Durability of state files").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace luna {

// Replaces `path` with `content` atomically: writes a temporary file in the same directory, fsyncs it,
// renames it over `path`, then fsyncs the directory. On error `path` is left as it was.
absl::Status WriteFileAtomically(const std::string& path, std::string_view content, int mode = 0600);

// WriteFileAtomically in pieces, for a file too large to build in memory first: Open creates the
// temporary file, Append writes to its end, WriteAt overwrites bytes already written (a header filled in
// last), Commit fsyncs it, renames it over `path` and fsyncs the directory. Until Commit succeeds `path`
// is left as it was; a writer destroyed without a successful Commit removes its temporary file. Errors
// name the file and the errno text; after one, only destruction is left.
class AtomicFileWriter {
 public:
  static absl::StatusOr<std::unique_ptr<AtomicFileWriter>> Open(const std::string& path, int mode = 0600);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  absl::Status Append(std::string_view bytes);
  absl::Status WriteAt(uint64_t offset, std::string_view bytes);
  absl::Status Commit();

 private:
  AtomicFileWriter(std::string path, std::string tmp, int fd);
  absl::Status Failed(const std::string& what, const std::string& file);

  std::string path_;
  std::string tmp_;
  int fd_;
};

// Reads a whole file. NotFound if it does not exist; other errors name the path and errno text.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Copies `from` to `to` durably (via WriteFileAtomically), keeping the contents byte for byte.
absl::Status CopyFileDurably(const std::string& from, const std::string& to);

bool FileExists(const std::string& path);

// Removes the temporary files that WriteFileAtomically calls for `path` (or for a file whose name
// starts with `path`'s, such as "<path>.legacy-backup") left behind when the process was killed
// between creating and renaming them: "<name>.tmp.<pid>.<n>" in `path`'s directory, unless <pid> is
// another process that is still running (which may be writing it now). Returns the names removed, for
// the log; a directory that cannot be listed gives none. Call at start, before the first write.
std::vector<std::string> RemoveStaleTemporaryFiles(const std::string& path);

}  // namespace luna
