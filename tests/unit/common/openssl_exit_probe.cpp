// A process that ends the way the services and tests do when it matters to OpenSSL: a thread that
// has used OpenSSL is still running when main returns and ends only during exit, after the atexit
// handlers registered after this one's (OpenSSL registers its cleanup at its first use, unless
// common/openssl_at_exit.cpp, linked in like every other executable's, told it not to).
//
// Exit status 0: OpenSSL was still initialised when the thread ended, so the thread freed its own
// state. 3: OpenSSL had cleaned up first; under LeakSanitizer that thread's error state is then
// reported as a leak (904 bytes), the failure the sanitizer pass met in CI.
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>

namespace {

std::atomic<bool> hashed{false};
std::atomic<bool> stop{false};
std::thread* worker = nullptr;

void EndWorkerLate() {
  // OPENSSL_init_crypto fails once OPENSSL_cleanup has run.
  if (OPENSSL_init_crypto(0, nullptr) != 1) _exit(3);
  stop = true;
  worker->join();
}

}  // namespace

int main() {
  std::atexit(EndWorkerLate);  // before OpenSSL's first use: runs after any cleanup it registers
  worker = new std::thread([] {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest("luna", 4, digest, &size, EVP_sha256(), nullptr) != 1) _exit(4);
    hashed = true;
    while (!stop) std::this_thread::yield();
  });
  while (!hashed) std::this_thread::yield();
  return 0;
}
