// lmtcnn SIMD kernels: max and average pooling, NHWC, vectorised over channels.
// Contract: reads whole vectors of each input pixel's channels (up to one vector past the last
// channel: slack); writes only the c channels. Padding cells are skipped: for max they never win
// (TensorFlow's -inf), for average they are not counted.
#pragma once

#include <limits>

#include "lmtcnn/kernels/conv.hpp"

namespace lmtcnn {
namespace detail {
namespace kernels {

namespace impl {
/// The window rows/columns [lo, hi) of output index o that lie inside an axis of length n.
inline void window_range(std::size_t o, std::size_t stride, std::size_t pad, std::size_t k, std::size_t n,
                         std::size_t& lo, std::size_t& hi) {
  const std::ptrdiff_t start = static_cast<std::ptrdiff_t>(o * stride) - static_cast<std::ptrdiff_t>(pad);
  const std::ptrdiff_t end = std::min<std::ptrdiff_t>(start + static_cast<std::ptrdiff_t>(k), static_cast<std::ptrdiff_t>(n));
  lo = static_cast<std::size_t>(std::max<std::ptrdiff_t>(start, 0));
  hi = static_cast<std::size_t>(std::max<std::ptrdiff_t>(end, static_cast<std::ptrdiff_t>(lo)));
}
}  // namespace impl

namespace impl {
/// U channel vectors from ch on: U independent accumulators, so the max (or add) chains of the window
/// overlap instead of waiting on each other.
template <class A, bool max_pool, std::size_t U>
inline void pool_vectors(const float* in, std::size_t in_w, std::size_t c, std::size_t y0, std::size_t y1,
                         std::size_t x0, std::size_t x1, std::size_t ch, const vf<A>& inv, float* dst) {
  constexpr std::size_t w = width<A>;
  // the loops over u are unrolled at every optimisation level, so the accumulators stay in registers
  vf<A> acc[U];
#pragma GCC unroll 4
  for (std::size_t u = 0; u < U; ++u) acc[u] = vf<A>(max_pool ? -std::numeric_limits<float>::infinity() : 0.f);
  for (std::size_t y = y0; y < y1; ++y)
    for (std::size_t x = x0; x < x1; ++x) {
      const float* src = in + (y * in_w + x) * c + ch;
#pragma GCC unroll 4
      for (std::size_t u = 0; u < U; ++u) {
        const vf<A> v = vf<A>::load_unaligned(src + u * w);
        acc[u] = max_pool ? xsimd::max(acc[u], v) : acc[u] + v;
      }
    }
#pragma GCC unroll 4
  for (std::size_t u = 0; u < U; ++u) store_upto<A>(dst + ch + u * w, max_pool ? acc[u] : acc[u] * inv, c - ch - u * w);
}
}  // namespace impl

/// One image; g.kh/g.kw are the window, g.out_c == g.in_c. max_pool selects max, else average.
/// Output rows [oy_begin, oy_end) only (by default all).
template <class A, bool max_pool>
void pool_image(const float* in, const conv_geom& g, float* out, std::size_t oy_begin = 0,
                std::size_t oy_end = static_cast<std::size_t>(-1)) {
  constexpr std::size_t w = width<A>;
  const std::size_t c = g.in_c;
  oy_end = std::min(oy_end, g.out_h);
  for (std::size_t oy = oy_begin; oy < oy_end; ++oy) {
    std::size_t y0, y1;
    impl::window_range(oy, g.stride_h, g.pad_top, g.kh, g.in_h, y0, y1);
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      std::size_t x0, x1;
      impl::window_range(ox, g.stride_w, g.pad_left, g.kw, g.in_w, x0, x1);
      float* dst = out + (oy * g.out_w + ox) * c;
      const vf<A> inv(1.f / static_cast<float>((y1 - y0) * (x1 - x0)));
      std::size_t ch = 0;
      for (; ch + 4 * w <= c; ch += 4 * w) impl::pool_vectors<A, max_pool, 4>(in, g.in_w, c, y0, y1, x0, x1, ch, inv, dst);
      if (ch + 2 * w <= c) {
        impl::pool_vectors<A, max_pool, 2>(in, g.in_w, c, y0, y1, x0, x1, ch, inv, dst);
        ch += 2 * w;
      }
      for (; ch < c; ch += w) impl::pool_vectors<A, max_pool, 1>(in, g.in_w, c, y0, y1, x0, x1, ch, inv, dst);
    }
  }
}

}  // namespace kernels
}  // namespace detail
}  // namespace lmtcnn
