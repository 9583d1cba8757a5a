// lmtcnn weight files: the 64-bit checksum (specified in weights_tools/FORMAT.md).
//
// Four 64-bit lanes consume the input 32 bytes at a time (little-endian words); each step
// lane = rotl(lane ^ (word * P2), 31) * P1 is a bijection of the lane for a fixed word, so any change
// confined to one 8-byte word always changes the result. The tail is zero-padded to a whole block and
// the length is mixed in at the end. Several GB/s on one core, so checking 30 MB costs milliseconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lmtcnn/core/bytes.hpp"

namespace lmtcnn {
namespace format {

namespace detail {
inline constexpr std::uint64_t hash_p1 = 0x9E3779B185EBCA87ull;
inline constexpr std::uint64_t hash_p2 = 0xC2B2AE3D27D4EB4Full;

inline std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline void hash_block(std::uint64_t (&lane)[4], const unsigned char* block) {
  for (int i = 0; i < 4; ++i) lane[i] = rotl(lane[i] ^ (lmtcnn::detail::load_le(block + 8 * i, 8) * hash_p2), 31) * hash_p1;
}
}  // namespace detail

/// Checksum of n bytes.
inline std::uint64_t hash64(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t lane[4] = {detail::hash_p1, detail::hash_p2, ~detail::hash_p1, ~detail::hash_p2};
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) detail::hash_block(lane, p + i);
  unsigned char tail[32] = {};
  if (i < n) {
    std::memcpy(tail, p + i, n - i);
    detail::hash_block(lane, tail);
  }
  std::uint64_t h = lane[0] ^ detail::rotl(lane[1], 7) ^ detail::rotl(lane[2], 12) ^ detail::rotl(lane[3], 18);
  h ^= static_cast<std::uint64_t>(n);
  return lmtcnn::detail::splitmix_finalize(h);
}

}  // namespace format
}  // namespace lmtcnn
