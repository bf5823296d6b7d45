// Compiled into every executable that links luna_common (or luna_openssl_at_exit directly), through
// INTERFACE sources (common/CMakeLists.txt), so that it runs before main in each of them.
//
// By default OpenSSL cleans up from an atexit handler, deleting its thread-local keys. A thread
// that has used OpenSSL (a key hash, a TLS handshake) and ends after that handler (gRPC's pool
// threads end while the process exits) then never runs the key's destructor, and its error state
// (904 bytes) is lost: LeakSanitizer reports it and fails the sanitizer pass. So OpenSSL keeps its
// state to the end of the process, where the kernel frees it; every thread that ends still frees
// its own. The first initialisation decides, and nothing touches OpenSSL before static
// initialisation is over. tests/unit/common/openssl_exit_probe.cpp checks it.
#include <openssl/crypto.h>

namespace {

[[maybe_unused]] const bool kOpenSslWithoutExitCleanup =
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr) == 1;

}  // namespace
