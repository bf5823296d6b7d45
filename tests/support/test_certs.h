// Test support: certificates for the gRPC TLS tests, made with the openssl command line in a directory
// of the test's (EC P-256 keys, a few milliseconds each).
#pragma once

#include <string>

namespace luna::testing {

// PEM file paths.
struct TestCerts {
  std::string ca;                                   // the CA that signed the three below
  std::string server_cert, server_key;              // SAN IP:127.0.0.1, DNS:localhost; server and client use
  std::string client_cert, client_key;              // CN luna-test-client; client use
  std::string expired_cert;                         // for server_key, valid only on 2020-01-01
  std::string other_ca;                             // an unrelated CA ...
  std::string other_client_cert, other_client_key;  // ... and a client certificate it signed

  // Writes them all into `dir`. Throws std::runtime_error with openssl's output if a step fails.
  static TestCerts Make(const std::string& dir);
};

}  // namespace luna::testing
