// Error helpers for the request converters: every rejection names the offending field, e.g.
// "messages[3].content[1].type: unsupported content block type \"foo\"".
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace luna::gateway {

// "<base>[<i>]"
inline std::string Indexed(std::string_view base, size_t i) {
  std::string s(base);
  s += '[';
  s += std::to_string(i);
  s += ']';
  return s;
}

// An InvalidArgument status "<field>: <what>" (the gateway answers it with HTTP 400).
inline absl::Status Invalid(std::string_view field, std::string_view what) {
  std::string m(field);
  m += ": ";
  m += what;
  return absl::InvalidArgumentError(m);
}

}  // namespace luna::gateway
