// lmtcnn precision: the arithmetic a network's multiplications run in, and bf16 rounding.
//
// fp32 (the default): every op in float32 (the reference accumulates in double).
// bf16: standard and pointwise convolutions and fully connected layers whose sums run over at least
// 64 products (bf16_multiplies) multiply bfloat16 operands: their weights and their input
// activations are rounded to bf16 (round to nearest, ties to even), the products are summed in
// float32. Narrower ones (a network's first convolution over the pixels, thin pointwise layers) stay
// float32: they are a small share of the work, gain little from bf16 (converting their short rows
// costs about what the halved multiplications save) and the image loses most from rounding.
// Everything else (depthwise convolution, bias, batch norm,
// activations, pooling, LRN, softmax) stays in float32, and the activations between layers are float32.
// The scalar reference rounds the same operands the same way and sums in double, so it is the oracle
// of the bf16 kernels too. Where the CPU has AVX512_BF16 the engine multiplies with its dot-product
// instruction (which treats bf16 subnormals as zero); elsewhere the rounded weights are widened back to
// float32 when the network is prepared and the ordinary float32 kernels run on rounded inputs (a few
// per cent slower than fp32: the rounding is extra work there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "lmtcnn/core/error.hpp"

namespace lmtcnn {

enum class precision { fp32, bf16 };

inline const char* precision_name(precision p) { return p == precision::bf16 ? "bf16" : "fp32"; }

/// "fp32" or "bf16"; throws lmtcnn::error naming the text otherwise.
inline precision parse_precision(const std::string& s) {
  if (s == "fp32") return precision::fp32;
  if (s == "bf16") return precision::bf16;
  throw error("precision '" + s + "': expected fp32 or bf16");
}

/// Whether a convolution or fully connected layer whose output values each sum `reduction` products
/// (kh * kw * input channels; the input length) multiplies in bf16 in the bf16 precision.
constexpr bool bf16_multiplies(std::size_t reduction) { return reduction >= 64; }

/// The bf16 nearest to f (ties to even) as its 16 bits: the upper half of the float32. NaN stays a
/// (quiet) NaN of the same sign; values beyond bf16's range round to infinity.
inline std::uint16_t bf16_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

/// The float32 whose upper half is b.
inline float bf16_to_float(std::uint16_t b) {
  const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// f rounded to bf16, as a float32.
inline float round_to_bf16(float f) { return bf16_to_float(bf16_bits(f)); }

}  // namespace lmtcnn
