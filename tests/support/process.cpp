#include "tests/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace luna::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/luna-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

namespace {

// Where the logs of the test run are kept for log_secrets_scan: LUNA_TEST_LOG_ARCHIVE, else the
// build's test-logs directory; "off" keeps none.
std::string LogArchive() {
  const char* env = std::getenv("LUNA_TEST_LOG_ARCHIVE");
  if (env != nullptr) return std::string(env) == "off" ? "" : env;
#ifdef LUNA_TEST_LOG_ARCHIVE_DIR
  return LUNA_TEST_LOG_ARCHIVE_DIR;
#else
  return "";
#endif
}

// Copies the *.log files directly in `dir` to <archive>/<dir's name>/ before the directory goes.
void ArchiveLogs(const std::string& dir) {
  std::string archive = LogArchive();
  if (archive.empty()) return;
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path to = fs::path(archive) / fs::path(dir).filename();
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec) || entry.path().extension() != ".log") continue;
    fs::create_directories(to, ec);
    fs::copy_file(entry.path(), to / entry.path().filename(), fs::copy_options::overwrite_existing, ec);
  }
}

}  // namespace

TempDir::~TempDir() {
  ArchiveLogs(path_);
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Process::Process(const std::string& binary, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, const std::string& log_path)
    : log_path_(log_path) {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    // The test runner may block signals; the child must start with a clean mask.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
}

Process::~Process() {
  if (!exited_) Stop(SIGKILL, std::chrono::seconds(5));
  // Sanitizer pass (deploy/sanitizer-env.sh): GCC's UBSan writes its reports to stderr whatever
  // log_path says, i.e. into this log, which dies with the test's temporary directory. Keep a copy
  // where the run's final check looks.
  const char* dir = std::getenv("LUNA_SANITIZER_REPORT_DIR");
  if (dir == nullptr || *dir == '\0') return;
  std::string log = Log();
  if (log.find("runtime error:") != std::string::npos || log.find("Sanitizer") != std::string::npos) {
    WriteAll(std::string(dir) + "/child." + std::to_string(pid_) + ".log", log);
  }
}

bool Process::Running() {
  if (exited_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    status_ = st;
    return false;
  }
  return true;
}

int Process::Stop(int sig, std::chrono::milliseconds timeout) {
  if (exited_) return status_;
  kill(pid_, sig);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Running()) return status_;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (sig != SIGKILL) {
    kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
    exited_ = true;
    status_ = st;
  }
  return -1;
}

std::string Process::Log() const { return ReadAll(log_path_); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

int WaitForPortFile(const std::string& path, std::chrono::milliseconds timeout) {
  int port = 0;
  Eventually(
      [&] {
        std::string s = ReadAll(path);
        port = s.empty() ? 0 : std::atoi(s.c_str());
        return port > 0;
      },
      timeout);
  return port;
}

}  // namespace luna::testing
