// Key material: hashing, randomness and constant-time comparison (OpenSSL).
#pragma once

#include <string>
#include <string_view>

namespace luna {

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// `n` bytes from OpenSSL's CSPRNG, hex-encoded (2n characters). Aborts if the CSPRNG fails.
std::string RandomHex(size_t n);

// `n` bytes from the CSPRNG encoded in URL-safe base64 without padding.
std::string RandomBase64Url(size_t n);

// Compares two strings in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace luna
