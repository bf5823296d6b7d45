// The command line every Luna binary shares: `--port-file PATH` (write the bound port there once
// listening), `--metrics-port-file PATH` (the services: write the bound metrics port there) and
// `--probe [HOST:PORT]` (check a running instance's health and exit 0/1).
#pragma once

#include <optional>
#include <string>

namespace luna {

struct ServiceFlags {
  std::string port_file;
  std::string metrics_port_file;
  std::optional<std::string> probe_target;  // set when --probe was given
  bool help = false;
};

// Parses argv. On an argument it does not understand it prints why (naming `program`) and returns
// false. `default_probe` is the target of a bare --probe. `--metrics-port-file` is accepted only with
// `metrics_port_file` true (the services; the gateway serves /metrics on its own port).
bool ParseServiceFlags(int argc, char** argv, const char* program, const char* default_probe, ServiceFlags* flags,
                       bool metrics_port_file = false);

}  // namespace luna
