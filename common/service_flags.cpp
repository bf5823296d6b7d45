#include "common/service_flags.h"

#include <cstdio>
#include <cstring>

namespace luna {

bool ParseServiceFlags(int argc, char** argv, const char* program, const char* default_probe, ServiceFlags* flags,
                       bool metrics_port_file) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--port-file" && i + 1 < argc) {
      flags->port_file = argv[++i];
    } else if (arg.rfind("--port-file=", 0) == 0) {
      flags->port_file = arg.substr(std::strlen("--port-file="));
    } else if (metrics_port_file && arg == "--metrics-port-file" && i + 1 < argc) {
      flags->metrics_port_file = argv[++i];
    } else if (metrics_port_file && arg.rfind("--metrics-port-file=", 0) == 0) {
      flags->metrics_port_file = arg.substr(std::strlen("--metrics-port-file="));
    } else if (arg == "--probe") {
      flags->probe_target = default_probe;
      if (i + 1 < argc && argv[i + 1][0] != '-') flags->probe_target = argv[++i];
    } else if (arg.rfind("--probe=", 0) == 0) {
      flags->probe_target = arg.substr(std::strlen("--probe="));
    } else if (arg == "--help" || arg == "-h") {
      flags->help = true;
    } else {
      std::fprintf(stderr, "%s: unknown or incomplete argument \"%s\"\n", program, arg.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace luna
