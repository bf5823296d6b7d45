// The command line every Luna binary shares: `--port-file PATH` (write the bound port there once
// listening) and `--probe [HOST:PORT]` (check a running instance's health and exit 0/1).
#pragma once

#include <optional>
#include <string>

namespace luna {

struct ServiceFlags {
  std::string port_file;
  std::optional<std::string> probe_target;  // set when --probe was given
  bool help = false;
};

// Parses argv. On an argument it does not understand it prints why (naming `program`) and returns
// false. `default_probe` is the target of a bare --probe.
bool ParseServiceFlags(int argc, char** argv, const char* program, const char* default_probe, ServiceFlags* flags);

}  // namespace luna
