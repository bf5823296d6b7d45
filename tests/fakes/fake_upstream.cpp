// fake_upstream: stands in for the Anthropic and OpenAI APIs in integration tests and benchmarks.
//
//   fake_upstream [--listen 127.0.0.1:0] [--port-file PATH] [--threads N] [--no-record]
//
// Binds, writes the bound port to PATH (atomically: PATH.tmp then rename), prints
// "fake_upstream listening on HOST:PORT", serves until SIGTERM/SIGINT and exits 0.
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "fake_router.h"
#include "fake_server.h"
#include "fake_state.h"

namespace {

constexpr std::string_view kUsage =
    "usage: fake_upstream [--listen HOST:PORT] [--port-file PATH] [--threads N] [--no-record]\n";

struct Flags {
  luna::fake::ServerOptions server;
  std::string port_file;
  bool record = true;
};

bool ParseFlags(int argc, char** argv, Flags& flags, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) {
        error = std::string(arg) + " needs a value";
        return false;
      }
      out = argv[++i];
      return true;
    };
    if (arg == "--listen") {
      if (!value(flags.server.listen)) return false;
    } else if (arg == "--port-file") {
      if (!value(flags.port_file)) return false;
    } else if (arg == "--threads") {
      std::string text;
      if (!value(text)) return false;
      auto [end, ec] =
          std::from_chars(text.data(), text.data() + text.size(), flags.server.threads);
      if (ec != std::errc() || end != text.data() + text.size() || flags.server.threads < 1 ||
          flags.server.threads > 256) {
        error = "--threads must be an integer between 1 and 256, got `" + text + "`";
        return false;
      }
    } else if (arg == "--no-record") {
      flags.record = false;
    } else {
      error = "unknown argument `" + std::string(arg) + "`";
      return false;
    }
  }
  return true;
}

// Temp file + rename, so a test polling PATH never reads a half-written number.
bool WritePortFile(const std::string& path, uint16_t port, std::string& error) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port;
    out.flush();
    if (!out) {
      error = "cannot write " + tmp;
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp + " to " + path;
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  std::string error;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      std::cout << kUsage;
      return 0;
    }
  }
  if (!ParseFlags(argc, argv, flags, error)) {
    std::cerr << "fake_upstream: " << error << "\n" << kUsage;
    return 2;
  }

  luna::fake::FakeState state(flags.record);
  luna::fake::FakeRouter router(state);
  auto server = luna::fake::FakeServer::Create(flags.server, router, error);
  if (!server) {
    std::cerr << "fake_upstream: " << error << std::endl;
    return 1;
  }
  if (!flags.port_file.empty() && !WritePortFile(flags.port_file, server->port(), error)) {
    std::cerr << "fake_upstream: " << error << std::endl;
    return 1;
  }
  std::cout << "fake_upstream listening on " << server->host() << ":" << server->port()
            << std::endl;
  server->Run();
  std::cout << "fake_upstream stopped" << std::endl;
  return 0;
}
