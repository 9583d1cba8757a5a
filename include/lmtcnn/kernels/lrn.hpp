// lmtcnn SIMD kernels: local response normalisation across channels (TensorFlow's tf.nn.lrn), NHWC.
// Contracts as in common.hpp.
#pragma once

#include <cmath>
#include <cstring>
#include <limits>

#include "lmtcnn/kernels/common.hpp"

namespace lmtcnn {
namespace detail {
namespace kernels {

// ---- LRN across channels -------------------------------------------------------------------------
// out[c] = in[c] / (bias + alpha * sum of in[c']^2, |c'-c| <= radius)^beta, per pixel of c channels.
// scratch: round_up(c) + 2 * round_up(radius) + width floats. beta 0.75 (LMTCNN) uses two square
// roots instead of pow.

template <class A>
constexpr std::size_t lrn_scratch_size(std::size_t c, std::size_t radius) {
  return round_up<A>(c) + 2 * round_up<A>(radius) + width<A>;
}

template <class A>
void lrn_pixels(const float* in, std::size_t pixels, std::size_t c, std::size_t radius, float bias, float alpha,
                float beta, float* out, float* scratch) {
  constexpr std::size_t w = width<A>;
  const std::size_t lead = round_up<A>(radius);
  std::fill(scratch, scratch + lrn_scratch_size<A>(c, radius), 0.f);
  float* sq = scratch + lead;  // sq[-lead .. c + lead) valid, zero outside [0, c)
  const bool three_quarters = beta == 0.75f;
  for (std::size_t p = 0; p < pixels; ++p) {
    const float* x = in + p * c;
    const std::size_t cv = c / w * w;  // channels covered by whole vectors
    for (std::size_t ch = 0; ch < cv; ch += w) {
      const vf<A> v = vf<A>::load_unaligned(x + ch);
      (v * v).store_unaligned(sq + ch);
    }
    for (std::size_t ch = cv; ch < c; ++ch) sq[ch] = x[ch] * x[ch];  // sq stays zero past c
    for (std::size_t ch = 0; ch < c; ch += w) {
      // two partial sums halve the chain of dependent adds across the window
      vf<A> sum0(0.f), sum1(0.f);
      std::size_t d = 0;
      for (; d + 2 <= 2 * radius + 1; d += 2) {
        sum0 += vf<A>::load_unaligned(sq + ch + d - radius);
        sum1 += vf<A>::load_unaligned(sq + ch + d + 1 - radius);
      }
      if (d <= 2 * radius) sum0 += vf<A>::load_unaligned(sq + ch + d - radius);
      const vf<A> s = xsimd::fma(sum0 + sum1, vf<A>(alpha), vf<A>(bias));
      vf<A> denom;
      if (three_quarters) {
        const vf<A> r = xsimd::sqrt(s);
        denom = r * xsimd::sqrt(r);
      } else {
        denom = xsimd::pow(s, vf<A>(beta));
      }
      store_upto<A>(out + p * c + ch, vf<A>::load_unaligned(x + ch) / denom, c - ch);
    }
  }
}

}  // namespace kernels
}  // namespace detail
}  // namespace lmtcnn
