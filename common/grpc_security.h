// How the internal gRPC links (gateway → services, services → authsvc, the --probe health checks) are
// protected, the same way in every binary: TLS, optionally with client certificates, and a shared
// internal token on every call. Read once at start from the environment (README.md, "Securing the
// internal links"):
//
//   GRPC_TLS_CA           CA bundle (PEM). Set: every gRPC link of the process uses TLS; clients verify
//                         the server's certificate against it, servers the clients' certificates.
//   GRPC_TLS_CERT         this process's certificate chain (PEM) ...
//   GRPC_TLS_KEY          ... and its private key (PEM); both or neither, and only with GRPC_TLS_CA. A
//                         server needs them; a client presents them as its client certificate.
//   GRPC_TLS_CLIENT_AUTH  require (default): a TLS server refuses clients without a certificate signed
//                         by GRPC_TLS_CA (mutual TLS); none: it asks for none.
//   GRPC_TLS_SERVER_NAME  the name clients check the server's certificate against (default: the host
//                         of the address dialled).
//   INTERNAL_TOKEN        the shared token, or INTERNAL_TOKEN_FILE: a file holding it (one of the two).
//                         Set: clients send it as `x-luna-internal-token` on every call, servers refuse
//                         calls without it with UNAUTHENTICATED (the health service included).
//
// Nothing here logs the token or key material; Describe() names only modes and file paths.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace luna {

// The variables' values as given (file paths, not contents).
struct GrpcSecuritySettings {
  std::string ca_file;      // GRPC_TLS_CA
  std::string cert_file;    // GRPC_TLS_CERT
  std::string key_file;     // GRPC_TLS_KEY
  std::string client_auth;  // GRPC_TLS_CLIENT_AUTH: require | none (empty: require)
  std::string server_name;  // GRPC_TLS_SERVER_NAME
  std::string token;        // INTERNAL_TOKEN
  std::string token_file;   // INTERNAL_TOKEN_FILE

  static GrpcSecuritySettings FromEnv();
};

class GrpcSecurity {
 public:
  // The metadata key the internal token travels in.
  static constexpr const char* kTokenMetadata = "x-luna-internal-token";

  // Validates the settings and reads the files they name. `serves_grpc`: the process runs a gRPC
  // server (then TLS needs GRPC_TLS_CERT and GRPC_TLS_KEY). InvalidArgument naming the variable (and
  // the file) for anything wrong: a file missing or unreadable, no PEM certificate or key in it, a key
  // that does not match the certificate, an expired certificate, a certificate without its key, a token
  // that is too short or not printable ASCII.
  static absl::StatusOr<std::shared_ptr<const GrpcSecurity>> Create(const GrpcSecuritySettings& settings,
                                                                    bool serves_grpc);
  static absl::StatusOr<std::shared_ptr<const GrpcSecurity>> FromEnv(bool serves_grpc) {
    return Create(GrpcSecuritySettings::FromEnv(), serves_grpc);
  }
  // Plaintext and no token: what in-process tests' servers and clients use.
  static const GrpcSecurity& Plaintext();

  // Credentials for a server's listening port: TLS as configured (client certificates required unless
  // GRPC_TLS_CLIENT_AUTH=none), else plaintext; either way, with a token, every call without it is
  // refused with UNAUTHENTICATED before it reaches a service (the comparison takes constant time).
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;

  // A channel to `target` with this process's credentials. `args` are the caller's channel settings
  // (keepalive, message sizes). With a token, every call on the channel carries it.
  std::shared_ptr<grpc::Channel> CreateChannel(const std::string& target,
                                               grpc::ChannelArguments args = grpc::ChannelArguments()) const;

  // For the start-up log: "gRPC links: TLS (...), internal token on". Never a secret.
  std::string Describe() const;

  bool tls() const { return !ca_pem_.empty(); }
  bool has_token() const { return !token_.empty(); }

 private:
  GrpcSecurity() = default;

  std::string ca_file_, cert_file_;  // for Describe()
  std::string ca_pem_, cert_pem_, key_pem_;
  bool require_client_cert_ = true;
  std::string server_name_;
  std::string token_;
};

}  // namespace luna
