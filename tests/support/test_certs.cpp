#include "tests/support/test_certs.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <vector>

#include "tests/support/process.h"

namespace luna::testing {
namespace {

// One config for every step: the extensions of a CA and of a leaf, and what `openssl ca` (used only
// for the expired certificate, whose dates `openssl x509` cannot set) needs.
constexpr const char* kConfig = R"([req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ca]
default_ca = ca_default
[ca_default]
database = index.txt
new_certs_dir = .
serial = serial.txt
default_md = sha256
policy = any_name
[any_name]
commonName = supplied
)";

std::string OpensslBinary() {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string candidate = path.substr(start, end - start) + "/openssl";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  throw std::runtime_error("the openssl command is not installed (deploy/install-deps.sh installs it)");
}

class Openssl {
 public:
  explicit Openssl(std::string dir) : dir_(std::move(dir)), binary_(OpensslBinary()) {}

  // Runs `openssl args...` in the directory; throws with its output unless it exits 0.
  void Run(std::vector<std::string> args) {
    std::string log = dir_ + "/openssl.log";
    std::remove(log.c_str());
    // Relative paths (the config's database and serial) are relative to the directory.
    std::vector<std::string> argv{"-c", "cd \"$0\" && exec \"$@\"", dir_, binary_};
    argv.insert(argv.end(), args.begin(), args.end());
    Process p("/bin/sh", argv, {}, log);
    int status = p.Stop(0, std::chrono::seconds(30));
    if (status != 0) throw std::runtime_error("openssl " + args.front() + " failed: " + ReadAll(log));
  }

  // A key and a certificate signing request for `cn`.
  void Request(const std::string& name, const std::string& cn) {
    Run({"req", "-new", "-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn});
  }
  void SelfSignedCa(const std::string& name, const std::string& cn) {
    Run({"req", "-x509", "-config", "openssl.cnf", "-extensions", "ca_ext", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "3",
         "-subj", "/CN=" + cn});
  }
  void Sign(const std::string& name, const std::string& ca, const std::string& extensions) {
    Run({"x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-set_serial",
         std::to_string(++serial_), "-days", "3", "-extfile", "openssl.cnf", "-extensions", extensions, "-out",
         name + ".pem"});
  }

  std::string File(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
  std::string binary_;
  int serial_ = 1000;
};

}  // namespace

TestCerts TestCerts::Make(const std::string& dir) {
  Openssl ssl(dir);
  WriteAll(ssl.File("openssl.cnf"), kConfig);
  WriteAll(ssl.File("index.txt"), "");
  WriteAll(ssl.File("serial.txt"), "01\n");
  ssl.SelfSignedCa("ca", "Luna Test CA");
  ssl.Request("server", "localhost");
  ssl.Sign("server", "ca", "server_ext");
  ssl.Request("client", "luna-test-client");
  ssl.Sign("client", "ca", "client_ext");
  ssl.Run({"ca", "-batch", "-config", "openssl.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "server.csr",
           "-out", "expired.pem", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-extensions",
           "server_ext", "-notext"});
  ssl.SelfSignedCa("other-ca", "Another Test CA");
  ssl.Request("other-client", "luna-test-client");
  ssl.Sign("other-client", "other-ca", "client_ext");

  TestCerts c;
  c.ca = ssl.File("ca.pem");
  c.server_cert = ssl.File("server.pem");
  c.server_key = ssl.File("server.key");
  c.client_cert = ssl.File("client.pem");
  c.client_key = ssl.File("client.key");
  c.expired_cert = ssl.File("expired.pem");
  c.other_ca = ssl.File("other-ca.pem");
  c.other_client_cert = ssl.File("other-client.pem");
  c.other_client_key = ssl.File("other-client.key");
  return c;
}

}  // namespace luna::testing
