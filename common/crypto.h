// Key material: hashing, randomness and constant-time comparison (OpenSSL).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace luna {

// A SHA-256 digest in binary: 32 bytes, no heap.
using Sha256Digest = std::array<unsigned char, 32>;

// SHA-256 of `data`.
Sha256Digest Sha256(std::string_view data);

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// The digest that `hex` (64 hex digits, either case) spells; nullopt for anything else.
std::optional<Sha256Digest> Sha256FromHex(std::string_view hex);

// Lowercase hex of a digest.
std::string ToHex(const Sha256Digest& digest);

// `n` bytes from OpenSSL's CSPRNG, hex-encoded (2n characters). Aborts if the CSPRNG fails.
std::string RandomHex(size_t n);

// `n` bytes from the CSPRNG encoded in URL-safe base64 without padding.
std::string RandomBase64Url(size_t n);

// Compares two strings in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace luna
