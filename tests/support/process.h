// Test support: real child processes (the project's binaries), temporary directories, port files.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace luna::testing {

// A temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A child process. Its stdout and stderr go to `log_path`. Killed (SIGKILL) if still running when
// destroyed.
class Process {
 public:
  Process(const std::string& binary, const std::vector<std::string>& args,
          const std::map<std::string, std::string>& env, const std::string& log_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  // Sends `sig`; then waits up to `timeout` for the exit. Returns the exit status (as from waitpid),
  // or -1 if it did not exit in time.
  int Stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void Kill() { Stop(9, std::chrono::seconds(5)); }
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
  std::string log_path_;
};

// Waits until `path` exists and holds a port number; returns it, or 0 after `timeout`.
int WaitForPortFile(const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Reads a whole file ("" if missing).
std::string ReadAll(const std::string& path);
void WriteAll(const std::string& path, const std::string& content);

// Polls `pred` every 10 ms until it is true or `timeout` passes; returns its last value.
template <class Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return pred();
    struct timespec ts{0, 10 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
}

}  // namespace luna::testing
