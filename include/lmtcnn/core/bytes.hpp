// lmtcnn byte-level helpers shared by the file readers, the checksum, the seeded tensors and the
// programs' JSON output: integers stored little- or big-endian, SplitMix64's finaliser, and JSON
// string quoting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace lmtcnn {
namespace detail {

/// The unsigned integer stored in the n bytes (n <= 8) at p, least significant byte first.
inline std::uint64_t load_le(const unsigned char* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// The unsigned integer stored in the n bytes (n <= 8) at p, most significant byte first.
inline std::uint64_t load_be(const unsigned char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

/// SplitMix64's finaliser: a bijection of 64-bit words that spreads every input bit over the output.
inline constexpr std::uint64_t splitmix_finalize(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// s as a JSON string literal: quotes and backslashes escaped, control characters as \u00XX, valid
/// UTF-8 sequences copied and any other byte replaced by U+FFFD (so the output is always valid JSON).
inline std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      const std::size_t len = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
      bool ok = len > 0 && i + len <= s.size();
      for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
      if (ok) {
        out.append(s, i, len);
        i += len - 1;
      } else {
        out += "\\ufffd";
      }
    }
  }
  return out + "\"";
}

}  // namespace detail
}  // namespace lmtcnn
