// lmtcnn SIMD kernels: local response normalisation across channels (TensorFlow's tf.nn.lrn), NHWC.
// Contracts as in common.hpp.
#pragma once

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "lmtcnn/kernels/common.hpp"

namespace lmtcnn {
namespace detail {
namespace kernels {

// ---- LRN across channels -------------------------------------------------------------------------
// out[c] = in[c] / (bias + alpha * sum of in[c']^2, |c'-c| <= radius)^beta, per pixel of c channels.
// scratch: lrn_scratch_size floats (two pixels' squares, zero-padded by round_up(radius) each side).

/// 1/sqrt(s) for normal, finite s > 0 to within a few float ulps: the instruction's estimate (relative
/// error 2^-14 on AVX-512, 1.5 * 2^-12 on SSE and AVX, about 2^-8 on NEON) refined by Newton steps
/// y (1.5 - (s y / 2) y), one per doubling of the bits (s y is formed first, so nothing overflows).
/// Paths without an estimate instruction divide by the square root.
template <class A>
LMTCNN_ALWAYS_INLINE vf<A> rsqrt_refined(vf<A> s) {
  vf<A> y;
  int steps = 1;
  if constexpr (false) {
#if defined(__AVX512F__)
  } else if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    y = _mm512_rsqrt14_ps(s);
#endif
#if defined(__AVX__)
  } else if constexpr (std::is_base_of_v<xsimd::avx, A>) {
    y = _mm256_rsqrt_ps(s);
#endif
#if defined(__SSE2__)
  } else if constexpr (std::is_base_of_v<xsimd::sse2, A>) {
    y = _mm_rsqrt_ps(s);
#endif
#if defined(__ARM_NEON)
  } else if constexpr (std::is_base_of_v<xsimd::neon, A>) {
    y = vrsqrteq_f32(s);
    steps = 2;
#endif
  } else {
    return vf<A>(1.f) / xsimd::sqrt(s);
  }
  for (int i = 0; i < steps; ++i) y = y * xsimd::fnma(s * y * vf<A>(0.5f), y, vf<A>(1.5f));
  return y;
}

template <class A>
constexpr std::size_t lrn_scratch_size(std::size_t c, std::size_t radius) {
  return 2 * (round_up<A>(c) + 2 * round_up<A>(radius) + width<A>);
}

/// Pixels [0, pixels) of in (c channels each) into out. The squares of the next pixel are stored
/// while this one's windows are summed: window sums load vectors that straddle the squares' stores,
/// and a load straddling two stores still in flight waits for both to reach the cache instead of
/// being forwarded (the layer took 1.4x the time so on Zen 4). beta 0.75 with bias >= FLT_MIN and
/// alpha >= 0 (LMTCNN's norm1: bias 1, alpha 1e-4) takes s^-3/4 = r^2 / sqrt(r), r = 1/sqrt(s), from two refined
/// reciprocal square roots instead of two square roots and a division; any other beta uses pow.
template <class A>
void lrn_pixels(const float* in, std::size_t pixels, std::size_t c, std::size_t radius, float bias, float alpha,
                float beta, float* out, float* scratch) {
  constexpr std::size_t w = width<A>;
  const std::size_t lead = round_up<A>(radius), stride = lrn_scratch_size<A>(c, radius) / 2;
  std::fill(scratch, scratch + 2 * stride, 0.f);
  // sq[-lead .. c + lead) valid, zero outside [0, c): pixel p's squares in buffer p % 2
  auto squares_of = [&](std::size_t p) { return scratch + lead + (p & 1) * stride; };
  const std::size_t cv = c / w * w;  // channels covered by whole vectors
  auto square = [&](std::size_t p) {
    const float* x = in + p * c;
    float* sq = squares_of(p);
    for (std::size_t ch = 0; ch < cv; ch += w) {
      const vf<A> v = vf<A>::load_unaligned(x + ch);
      (v * v).store_unaligned(sq + ch);
    }
    for (std::size_t ch = cv; ch < c; ++ch) sq[ch] = x[ch] * x[ch];  // sq stays zero past c
  };
  // s >= bias >= FLT_MIN: never a denormal, which the estimates may take for 0
  const bool three_quarters = beta == 0.75f && bias >= std::numeric_limits<float>::min() && alpha >= 0.f;
  if (pixels > 0) square(0);
  for (std::size_t p = 0; p < pixels; ++p) {
    if (p + 1 < pixels) square(p + 1);
    const float* x = in + p * c;
    const float* sq = squares_of(p);
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
      const vf<A> v = vf<A>::load_unaligned(x + ch);
      vf<A> y;
      if (three_quarters) {
        // s overflowed to infinity (squares past FLT_MAX) is taken as FLT_MAX: the result is then
        // within 2e-29 |x| of the 0 the division gives (the estimate of 1/sqrt(inf) is 0, and the
        // Newton step would make it NaN); NaN stays NaN. r * (r * q): r * r underflows for s near FLT_MAX.
        const vf<A> sf = xsimd::select(s > vf<A>(std::numeric_limits<float>::max()),
                                       vf<A>(std::numeric_limits<float>::max()), s);
        const vf<A> r = rsqrt_refined<A>(sf);
        y = v * (r * (r * rsqrt_refined<A>(r)));
      } else {
        y = v / xsimd::pow(s, vf<A>(beta));
      }
      store_upto<A>(out + p * c + ch, y, c - ch);
    }
  }
}

}  // namespace kernels
}  // namespace detail
}  // namespace lmtcnn
