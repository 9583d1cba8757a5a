// lmtcnn: reproducible pseudo-random tensors, for tests, benchmarks and demos without trained weights.
//
// The algorithm is fixed so another language can produce the very same numbers (the PyTorch golden
// script in tests/ does):
//   key      = mix(seed XOR fnv1a64(name))
//   z_i      = mix(key + (i + 1) * 0x9E3779B97F4A7C15)        (all arithmetic modulo 2^64)
//   uniform  = lo + (z_i >> 41) * ((hi - lo) * 2^-23)        (23 random bits, computed in double)
//   pixel    = z_i >> 56                                      (an integer 0..255)
// where mix is the SplitMix64 finaliser. When hi - lo is a power of two and lo a multiple of
// (hi - lo) * 2^-23, every value is exact in float and double alike.
#pragma once

#include <cstdint>
#include <string_view>

#include "lmtcnn/core/bytes.hpp"
#include "lmtcnn/core/tensor.hpp"

namespace lmtcnn {
namespace seeded {

inline constexpr std::uint64_t golden_gamma = 0x9E3779B97F4A7C15ull;

/// SplitMix64's finaliser.
inline constexpr std::uint64_t mix(std::uint64_t z) { return detail::splitmix_finalize(z); }

/// 64-bit FNV-1a hash of a tensor name.
inline constexpr std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (const char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001B3ull;
  return h;
}

/// The stream of raw 64-bit draws named (seed, name).
class stream {
 public:
  stream(std::uint64_t seed, std::string_view name) : key_(mix(seed ^ fnv1a64(name))) {}
  /// The i-th draw.
  std::uint64_t operator()(std::uint64_t i) const { return mix(key_ + (i + 1) * golden_gamma); }

 private:
  std::uint64_t key_;
};

/// A tensor of the given shape with values uniform in [lo, hi) from the stream (seed, name).
template <class T>
tensor<T> uniform(const shape& s, std::uint64_t seed, std::string_view name, double lo, double hi) {
  tensor<T> t(s);
  const stream draws(seed, name);
  const double step = (hi - lo) * 0x1p-23;
  for (index_t i = 0; i < t.size(); ++i)
    t[i] = static_cast<T>(lo + static_cast<double>(draws(static_cast<std::uint64_t>(i)) >> 41) * step);
  return t;
}

/// A tensor of integer pixel values 0..255 from the stream (seed, name).
template <class T>
tensor<T> pixels(const shape& s, std::uint64_t seed, std::string_view name) {
  tensor<T> t(s);
  const stream draws(seed, name);
  for (index_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(draws(static_cast<std::uint64_t>(i)) >> 56);
  return t;
}

}  // namespace seeded
}  // namespace lmtcnn
