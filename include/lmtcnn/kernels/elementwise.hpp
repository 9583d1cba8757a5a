// lmtcnn SIMD kernels: element-wise and per-channel kernels: ReLU, residual add, per-channel
// affine and normalisation, channel statistics (batch norm on batch statistics, per-image
// standardisation), softmax. Contracts as in common.hpp; each says what it reads and writes.
#pragma once

#include <cmath>
#include <cstring>
#include <limits>

#include "lmtcnn/kernels/common.hpp"

namespace lmtcnn {
namespace detail {
namespace kernels {

// ---- element-wise --------------------------------------------------------------------------------
// n floats; in and out may be the same pointer. The tail is handled without reading past n.

template <class A, class F>
inline void map_n(const float* in, float* out, std::size_t n, F f) {
  constexpr std::size_t w = width<A>;
  std::size_t i = 0;
  for (; i + w <= n; i += w) f(vf<A>::load_unaligned(in + i)).store_unaligned(out + i);
  if (i < n) {
    alignas(64) float tmp[w] = {};
    std::memcpy(tmp, in + i, (n - i) * sizeof(float));
    store_partial<A>(out + i, f(vf<A>::load_aligned(tmp)), n - i);
  }
}

template <class A>
void relu_n(const float* in, float* out, std::size_t n) {
  map_n<A>(in, out, n, [](vf<A> v) { return xsimd::max(v, vf<A>(0.f)); });
}

/// out = min(max(in, 0), 6); out may be in.
template <class A>
void relu6_n(const float* in, float* out, std::size_t n) {
  map_n<A>(in, out, n, [](vf<A> v) { return xsimd::min(xsimd::max(v, vf<A>(0.f)), vf<A>(6.f)); });
}

/// out = f(a + b) (residual add, then f: identity or a ReLU); out may be a or b.
template <class A, class F>
void add_map_n(const float* a, const float* b, float* out, std::size_t n, F f) {
  constexpr std::size_t w = width<A>;
  std::size_t i = 0;
  for (; i + w <= n; i += w) f(vf<A>::load_unaligned(a + i) + vf<A>::load_unaligned(b + i)).store_unaligned(out + i);
  if (i < n) {
    alignas(64) float ta[w] = {}, tb[w] = {};
    std::memcpy(ta, a + i, (n - i) * sizeof(float));
    std::memcpy(tb, b + i, (n - i) * sizeof(float));
    store_partial<A>(out + i, f(vf<A>::load_aligned(ta) + vf<A>::load_aligned(tb)), n - i);
  }
}

/// out = then(a + b), then none, relu or relu6; out may be a or b.
template <class A>
void add_n(const float* a, const float* b, float* out, std::size_t n, act then = act::none) {
  if (then == act::relu)
    add_map_n<A>(a, b, out, n, [](vf<A> v) { return xsimd::max(v, vf<A>(0.f)); });
  else if (then == act::relu6)
    add_map_n<A>(a, b, out, n, [](vf<A> v) { return xsimd::min(xsimd::max(v, vf<A>(0.f)), vf<A>(6.f)); });
  else
    add_map_n<A>(a, b, out, n, [](vf<A> v) { return v; });
}

/// Per pixel of c channels: out = in * scale[ch] + shift[ch] (scale, shift padded); in-place allowed.
/// Reads whole vectors of each pixel (slack after the last one).
template <class A>
void affine_pixels(const float* in, std::size_t pixels, std::size_t c, const float* scale, const float* shift,
                   float* out) {
  constexpr std::size_t w = width<A>;
  for (std::size_t p = 0; p < pixels; ++p)
    for (std::size_t ch = 0; ch < c; ch += w) {
      const vf<A> v = xsimd::fma(vf<A>::load_unaligned(in + p * c + ch), vf<A>::load_unaligned(scale + ch),
                                 vf<A>::load_unaligned(shift + ch));
      store_upto<A>(out + p * c + ch, v, c - ch);
    }
}

/// Per pixel of c channels: out = (in - mean[ch]) / divisor[ch] (padded arrays); in-place allowed.
template <class A>
void normalize_pixels(const float* in, std::size_t pixels, std::size_t c, const float* mean, const float* divisor,
                      float* out) {
  constexpr std::size_t w = width<A>;
  for (std::size_t p = 0; p < pixels; ++p)
    for (std::size_t ch = 0; ch < c; ch += w) {
      const vf<A> v = (vf<A>::load_unaligned(in + p * c + ch) - vf<A>::load_unaligned(mean + ch)) /
                      vf<A>::load_unaligned(divisor + ch);
      store_upto<A>(out + p * c + ch, v, c - ch);
    }
}

/// Pixels per float block of channel_moments.
inline constexpr std::size_t moments_block = 256;

/// Per-channel sum and sum of squared deviations from `center` over `pixels` pixels of c channels,
/// accumulated in float vectors over blocks of moments_block pixels and in double across blocks.
/// sum and sq hold c doubles each and are added to.
template <class A>
void channel_moments(const float* in, std::size_t pixels, std::size_t c, const float* center, double* sum,
                     double* sq) {
  constexpr std::size_t w = width<A>;
  alignas(64) float s[w], q[w];
  for (std::size_t ch = 0; ch < c; ch += w) {
    const std::size_t lanes = std::min(w, c - ch);
    const vf<A> mu = center ? vf<A>::load_unaligned(center + ch) : vf<A>(0.f);
    for (std::size_t p0 = 0; p0 < pixels; p0 += moments_block) {
      vf<A> vs(0.f), vq(0.f);
      for (std::size_t p = p0; p < std::min(pixels, p0 + moments_block); ++p) {
        const vf<A> d = vf<A>::load_unaligned(in + p * c + ch) - mu;
        vs += d;
        vq = xsimd::fma(d, d, vq);
      }
      vs.store_aligned(s);
      vq.store_aligned(q);
      for (std::size_t l = 0; l < lanes; ++l) {
        sum[ch + l] += s[l];
        sq[ch + l] += q[l];
      }
    }
  }
}

/// Softmax of each of `rows` rows of m values.
template <class A>
void softmax_rows(const float* in, std::size_t rows, std::size_t m, float* out) {
  constexpr std::size_t w = width<A>;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* x = in + r * m;
    float* y = out + r * m;
    float mx = -std::numeric_limits<float>::infinity();
    for (std::size_t j = 0; j < m; ++j) mx = std::max(mx, x[j]);
    double sum = 0;
    std::size_t j = 0;
    for (; j + w <= m; j += w) {
      const vf<A> e = xsimd::exp(vf<A>::load_unaligned(x + j) - vf<A>(mx));
      e.store_unaligned(y + j);
      sum += static_cast<double>(xsimd::hadd(e));
    }
    for (; j < m; ++j) {
      y[j] = std::exp(x[j] - mx);
      sum += y[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (j = 0; j < m; ++j) y[j] *= inv;
  }
}

}  // namespace kernels
}  // namespace detail
}  // namespace lmtcnn
