// Helpers shared by the authsvc unit tests: a temporary directory and small file utilities.
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace luna::authsvc::testing {

using ::luna::testing::TempDir;

inline void WriteText(const std::string& path, const std::string& text) { ::luna::testing::WriteAll(path, text); }
inline std::string ReadText(const std::string& path) { return ::luna::testing::ReadAll(path); }

inline bool Exists(const std::string& path) { return std::filesystem::exists(path); }

inline unsigned Mode(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

// An old-format keys.json as the Python proxy wrote it: two client keys and an admin key.
inline constexpr char kAliceKey[] = "sk-alice0123456789abcdefghijklmnopqrstuvwxyzAB";
inline constexpr char kBobKey[] = "sk-bob9876543210zyxwvutsrqponmlkjihgfedcbaZYX";
inline constexpr char kLegacyAdminKey[] = "sk-admin-legacy-0123456789abcdefghijklmnopq";

inline std::string LegacyKeysJson() {
  return std::string(R"({
  "admin_key": ")") + kLegacyAdminKey + R"(",
  "keys": {
    ")" + kBobKey + R"(": {
      "name": "bob laptop",
      "enabled": false,
      "created": 1717171717.25,
      "usage": {"total_requests": 12, "daily": {"2024-06-01": {"input_tokens": 1000}}}
    },
    ")" + kAliceKey + R"(": {
      "name": "alice",
      "enabled": true,
      "created": "2024-05-31T10:11:12.123456",
      "usage": {"total_requests": 3, "models": {"claude": 3}}
    }
  }
}
)";
}

}  // namespace luna::authsvc::testing
