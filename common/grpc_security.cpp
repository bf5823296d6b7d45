#include "common/grpc_security.h"

#include <grpc/grpc_security.h>
#include <grpcpp/support/client_interceptor.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "common/atomic_file.h"
#include "common/crypto.h"
#include "common/env_config.h"

namespace luna {
namespace {

constexpr size_t kMinTokenLength = 16;
constexpr size_t kMaxTokenLength = 4096;
// A client without the token is told so at most this often in the server's log.
constexpr int64_t kRefusalLogIntervalMs = 10000;

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Never asks for a pass phrase (OpenSSL's default would prompt on the terminal): an encrypted key is
// simply not readable.
int NoPassphrase(char*, int, int, void*) { return 0; }

// The certificates in a PEM text, in order.
std::vector<X509Ptr> ReadCertificates(const std::string& pem) {
  std::vector<X509Ptr> out;
  BioPtr bio = MemoryBio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the loop ends on "no start line"
  return out;
}

absl::StatusOr<std::string> ReadNamedFile(const char* var, const std::string& path) {
  auto content = ReadFile(path);
  if (!content.ok()) return Invalid(std::string(var) + ": " + std::string(content.status().message()));
  return *content;
}

// gRPC metadata values are printable ASCII; spaces are excluded so that a stray one (or a line end
// copied into a file) cannot make two processes disagree.
bool IsValidToken(std::string_view token) {
  if (token.size() < kMinTokenLength || token.size() > kMaxTokenLength) return false;
  for (unsigned char c : token) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

std::string_view SliceView(const grpc_slice& s) {
  return {reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(s)), GRPC_SLICE_LENGTH(s)};
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The server side of the internal token: a gRPC auth metadata processor, which core runs on every
// call before any service (or interceptor) sees it, on TLS and plaintext ports alike. Owned by the
// server credentials it is attached to (Destroy).
class TokenCheck {
 public:
  explicit TokenCheck(const std::string& token)
      : digest_(Sha256Hex(token)), last_log_ms_(NowMs() - kRefusalLogIntervalMs - 1) {}

  static void Process(void* state, grpc_auth_context* /*context*/, const grpc_metadata* md, size_t num_md,
                      grpc_process_auth_metadata_done_cb done, void* user_data) {
    auto* self = static_cast<TokenCheck*>(state);
    const grpc_metadata* token = nullptr;
    std::string_view path;
    for (size_t i = 0; i < num_md; ++i) {
      std::string_view key = SliceView(md[i].key);
      if (key == GrpcSecurity::kTokenMetadata && token == nullptr) token = &md[i];
      if (key == ":path") path = SliceView(md[i].value);
    }
    // Comparing digests takes the same time whatever the value offered, its length included.
    if (token != nullptr && ConstantTimeEquals(Sha256Hex(SliceView(token->value)), self->digest_)) {
      // Consumed: the service never sees the token, so no handler can log or forward it.
      done(user_data, token, 1, nullptr, 0, GRPC_STATUS_OK, nullptr);
      return;
    }
    self->NoteRefusal(path);
    done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_UNAUTHENTICATED, "missing or wrong internal token");
  }

  static void Destroy(void* state) { delete static_cast<TokenCheck*>(state); }

 private:
  // Logs refusals at most once per interval, with how many there were, so a misconfigured client is
  // visible without flooding the log.
  void NoteRefusal(std::string_view path) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    int64_t now = NowMs();
    int64_t last = last_log_ms_.load(std::memory_order_relaxed);
    if (now - last <= kRefusalLogIntervalMs) return;
    if (!last_log_ms_.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
    uint64_t n = refused_.exchange(0, std::memory_order_relaxed);
    spdlog::warn("refused {} gRPC call(s) without the right internal token (the last one to {})", n,
                 path.substr(0, 200));
  }

  const std::string digest_;
  std::atomic<uint64_t> refused_{0};
  std::atomic<int64_t> last_log_ms_;
};

// Server credentials built on gRPC core's: TLS or plaintext, plus the token check. (gRPC C++'s
// InsecureServerCredentials cannot carry an auth metadata processor, and server interceptors cannot
// refuse a call, hence this small class over the C API.)
class LunaServerCredentials final : public grpc::ServerCredentials {
 public:
  LunaServerCredentials(std::string ca_pem, std::string cert_pem, std::string key_pem, bool require_client_cert,
                        std::string token)
      : ca_pem_(std::move(ca_pem)),
        cert_pem_(std::move(cert_pem)),
        key_pem_(std::move(key_pem)),
        require_client_cert_(require_client_cert),
        token_(std::move(token)) {}

  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>& /*processor*/) override {
    // The token check is this class's own processor; replacing it would switch the check off.
    spdlog::critical("SetAuthMetadataProcessor on Luna's gRPC server credentials is not supported");
    std::abort();
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    grpc_server_credentials* creds = nullptr;
    if (cert_pem_.empty()) {
      creds = grpc_insecure_server_credentials_create();
    } else {
      grpc_ssl_pem_key_cert_pair pair{key_pem_.c_str(), cert_pem_.c_str()};
      creds = grpc_ssl_server_credentials_create_ex(require_client_cert_ ? ca_pem_.c_str() : nullptr, &pair, 1,
                                                    require_client_cert_
                                                        ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                                        : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
                                                    nullptr);
    }
    if (creds == nullptr) return 0;
    if (!token_.empty()) {
      grpc_server_credentials_set_auth_metadata_processor(
          creds, grpc_auth_metadata_processor{&TokenCheck::Process, &TokenCheck::Destroy, new TokenCheck(token_)});
    }
    int port = grpc_server_add_http2_port(server, addr.c_str(), creds);
    grpc_server_credentials_release(creds);
    return port;
  }

  const std::string ca_pem_, cert_pem_, key_pem_;
  const bool require_client_cert_;
  const std::string token_;
};

// The client side of the internal token: adds it to every call's initial metadata, unary and
// streaming alike, whatever the call site.
class TokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(std::shared_ptr<const std::string> token) : token_(std::move(token)) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(GrpcSecurity::kTokenMetadata, *token_);
    }
    methods->Proceed();
  }

 private:
  std::shared_ptr<const std::string> token_;
};

class TokenInterceptorFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(std::shared_ptr<const std::string> token) : token_(std::move(token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo* /*info*/) override {
    return new TokenInterceptor(token_);
  }

 private:
  std::shared_ptr<const std::string> token_;
};

}  // namespace

GrpcSecuritySettings GrpcSecuritySettings::FromEnv() {
  GrpcSecuritySettings s;
  s.ca_file = EnvString("GRPC_TLS_CA", "");
  s.cert_file = EnvString("GRPC_TLS_CERT", "");
  s.key_file = EnvString("GRPC_TLS_KEY", "");
  s.client_auth = EnvString("GRPC_TLS_CLIENT_AUTH", "");
  s.server_name = EnvString("GRPC_TLS_SERVER_NAME", "");
  s.token = EnvString("INTERNAL_TOKEN", "");
  s.token_file = EnvString("INTERNAL_TOKEN_FILE", "");
  return s;
}

absl::StatusOr<std::shared_ptr<const GrpcSecurity>> GrpcSecurity::Create(const GrpcSecuritySettings& settings,
                                                                         bool serves_grpc) {
  std::shared_ptr<GrpcSecurity> s(new GrpcSecurity());

  // The token.
  if (!settings.token.empty() && !settings.token_file.empty()) {
    return Invalid("INTERNAL_TOKEN and INTERNAL_TOKEN_FILE are both set: set one");
  }
  const char* token_var = settings.token_file.empty() ? "INTERNAL_TOKEN" : "INTERNAL_TOKEN_FILE";
  s->token_ = settings.token;
  if (!settings.token_file.empty()) {
    auto content = ReadNamedFile("INTERNAL_TOKEN_FILE", settings.token_file);
    if (!content.ok()) return content.status();
    s->token_ = std::move(*content);
    while (!s->token_.empty() && std::string_view(" \t\r\n").find(s->token_.back()) != std::string_view::npos) {
      s->token_.pop_back();
    }
    if (s->token_.empty()) return Invalid("INTERNAL_TOKEN_FILE: " + settings.token_file + " is empty");
  }
  if (!s->token_.empty() && !IsValidToken(s->token_)) {
    return Invalid(std::string(token_var) + ": the token must be " + std::to_string(kMinTokenLength) + " to " +
                   std::to_string(kMaxTokenLength) +
                   " printable ASCII characters without spaces (make one with `openssl rand -hex 32`)");
  }

  // TLS: GRPC_TLS_CA switches it on; the other variables mean nothing without it.
  if (settings.cert_file.empty() != settings.key_file.empty()) {
    return Invalid(settings.cert_file.empty() ? "GRPC_TLS_KEY is set without GRPC_TLS_CERT: set both or neither"
                                              : "GRPC_TLS_CERT is set without GRPC_TLS_KEY: set both or neither");
  }
  if (settings.ca_file.empty()) {
    const char* orphan = !settings.cert_file.empty()     ? "GRPC_TLS_CERT"
                         : !settings.client_auth.empty() ? "GRPC_TLS_CLIENT_AUTH"
                         : !settings.server_name.empty() ? "GRPC_TLS_SERVER_NAME"
                                                         : nullptr;
    if (orphan != nullptr) {
      return Invalid(std::string(orphan) +
                     " is set but GRPC_TLS_CA is not: GRPC_TLS_CA (the CA that signed the peers' certificates) "
                     "switches TLS on; set it too");
    }
    return std::shared_ptr<const GrpcSecurity>(std::move(s));
  }
  if (settings.client_auth == "none") {
    s->require_client_cert_ = false;
  } else if (!settings.client_auth.empty() && settings.client_auth != "require") {
    return Invalid("GRPC_TLS_CLIENT_AUTH: expected require or none, got \"" + settings.client_auth + "\"");
  }
  if (serves_grpc && settings.cert_file.empty()) {
    return Invalid(
        "GRPC_TLS_CA is set but GRPC_TLS_CERT and GRPC_TLS_KEY are not: a gRPC server needs its own certificate "
        "and key for TLS");
  }
  s->server_name_ = settings.server_name;

  auto ca = ReadNamedFile("GRPC_TLS_CA", settings.ca_file);
  if (!ca.ok()) return ca.status();
  if (ReadCertificates(*ca).empty()) {
    return Invalid("GRPC_TLS_CA: " + settings.ca_file + " holds no PEM certificate");
  }
  s->ca_pem_ = std::move(*ca);
  s->ca_file_ = settings.ca_file;
  if (settings.cert_file.empty()) return std::shared_ptr<const GrpcSecurity>(std::move(s));

  auto cert = ReadNamedFile("GRPC_TLS_CERT", settings.cert_file);
  if (!cert.ok()) return cert.status();
  std::vector<X509Ptr> chain = ReadCertificates(*cert);
  if (chain.empty()) return Invalid("GRPC_TLS_CERT: " + settings.cert_file + " holds no PEM certificate");
  if (X509_cmp_current_time(X509_get0_notAfter(chain.front().get())) < 0) {
    return Invalid("GRPC_TLS_CERT: the certificate in " + settings.cert_file + " has expired");
  }
  auto key = ReadNamedFile("GRPC_TLS_KEY", settings.key_file);
  if (!key.ok()) return key.status();
  BioPtr key_bio = MemoryBio(*key);
  PkeyPtr pkey(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr));
  ERR_clear_error();
  if (!pkey) {
    return Invalid("GRPC_TLS_KEY: " + settings.key_file +
                   " holds no PEM private key (or only an encrypted one, which cannot be used)");
  }
  if (X509_check_private_key(chain.front().get(), pkey.get()) != 1) {
    ERR_clear_error();
    return Invalid("GRPC_TLS_KEY: the key in " + settings.key_file + " does not belong to the certificate in " +
                   settings.cert_file + " (GRPC_TLS_CERT)");
  }
  s->cert_pem_ = std::move(*cert);
  s->key_pem_ = std::move(*key);
  s->cert_file_ = settings.cert_file;
  return std::shared_ptr<const GrpcSecurity>(std::move(s));
}

const GrpcSecurity& GrpcSecurity::Plaintext() {
  static const GrpcSecurity* plaintext = new GrpcSecurity();
  return *plaintext;
}

std::shared_ptr<grpc::ServerCredentials> GrpcSecurity::ServerCredentials() const {
  return std::make_shared<LunaServerCredentials>(ca_pem_, cert_pem_, key_pem_, require_client_cert_, token_);
}

std::shared_ptr<grpc::Channel> GrpcSecurity::CreateChannel(const std::string& target,
                                                           grpc::ChannelArguments args) const {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (tls()) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ca_pem_;
    options.pem_cert_chain = cert_pem_;
    options.pem_private_key = key_pem_;
    creds = grpc::SslCredentials(options);
    if (!server_name_.empty()) args.SetSslTargetNameOverride(server_name_);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  if (token_.empty()) return grpc::CreateCustomChannel(target, creds, args);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<TokenInterceptorFactory>(std::make_shared<const std::string>(token_)));
  return grpc::experimental::CreateCustomChannelWithInterceptors(target, creds, args, std::move(interceptors));
}

std::string GrpcSecurity::Describe() const {
  std::string out = "gRPC links: ";
  if (!tls()) {
    out += "plaintext";
  } else {
    out += "TLS (CA " + ca_file_ + ", certificate " + (cert_file_.empty() ? std::string("none") : cert_file_) +
           ", client certificates " + (require_client_cert_ ? "required" : "not asked for");
    if (!server_name_.empty()) out += ", server name " + server_name_;
    out += ")";
  }
  out += has_token() ? ", internal token on" : ", no internal token";
  return out;
}

}  // namespace luna
