// lmtcnn SIMD kernels: standard and depthwise convolution, NHWC.
#pragma once

#include "lmtcnn/kernels/gemm.hpp"

namespace lmtcnn {
namespace kernels {

/// Geometry of a 2-D window op on one image: input h x w x c, window kh x kw, strides, padding before.
struct conv_geom {
  std::size_t in_h, in_w, in_c;
  std::size_t out_h, out_w, out_c;
  std::size_t kh, kw, stride_h, stride_w;
  std::size_t pad_top, pad_left;
};

// ---- standard convolution ------------------------------------------------------------------------
// Contract: filter [kh,kw,cin,cout] is a (kh*kw*cin) x cout matrix, packed once with pack_gemm_b.
// For each tile of up to mr output pixels (row-major order) the kernel gathers their patches into
// the scratch (mr * kh*kw*cin floats, k-major; padding cells are 0) and runs the GEMM tile on it.

/// Floats of scratch conv2d_image needs.
template <class A>
constexpr std::size_t conv2d_scratch_size(const conv_geom& g) {
  return gemm_mr<A>() * g.kh * g.kw * g.in_c;
}

/// One image: in [in_h,in_w,in_c] -> out [out_h,out_w,out_c].
template <class A>
void conv2d_image(const float* in, const conv_geom& g, const float* bpacked, float* out, const epilogue_k& ep,
                  float* scratch) {
  constexpr std::size_t mr = gemm_mr<A>();
  const std::size_t k = g.kh * g.kw * g.in_c, pixels = g.out_h * g.out_w;
  float* outs[mr];
  for (std::size_t p0 = 0; p0 < pixels; p0 += mr) {
    const std::size_t m = std::min(mr, pixels - p0);
    for (std::size_t r = 0; r < mr; ++r) {
      const std::size_t p = p0 + (r < m ? r : 0);
      outs[r] = out + p * g.out_c;
      const std::size_t oy = p / g.out_w, ox = p % g.out_w;
      std::size_t kk = 0;
      for (std::size_t ky = 0; ky < g.kh; ++ky) {
        const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(oy * g.stride_h + ky) - static_cast<std::ptrdiff_t>(g.pad_top);
        for (std::size_t kx = 0; kx < g.kw; ++kx) {
          const std::ptrdiff_t ix =
              static_cast<std::ptrdiff_t>(ox * g.stride_w + kx) - static_cast<std::ptrdiff_t>(g.pad_left);
          const bool inside = iy >= 0 && ix >= 0 && iy < static_cast<std::ptrdiff_t>(g.in_h) &&
                              ix < static_cast<std::ptrdiff_t>(g.in_w);
          const float* src = inside ? in + (static_cast<std::size_t>(iy) * g.in_w + static_cast<std::size_t>(ix)) * g.in_c : nullptr;
          for (std::size_t c = 0; c < g.in_c; ++c, ++kk) scratch[kk * mr + r] = inside ? src[c] : 0.f;
        }
      }
    }
    gemm_block_packed<A>(scratch, m, k, bpacked, g.out_c, outs, ep);
  }
}

// ---- depthwise convolution -----------------------------------------------------------------------
// Contract: filter [kh,kw,c,1] packed tap-major with each tap's c channels zero-padded to cpad =
// round_up(c) (pack_depthwise). The kernel vectorises over channels; it reads whole vectors of every
// input pixel's channels (up to one vector past the last channel: slack) and writes only c channels.

template <class A>
void pack_depthwise(const float* filter, std::size_t taps, std::size_t c, float* dst) {
  const std::size_t cpad = round_up<A>(c);
  for (std::size_t t = 0; t < taps; ++t)
    for (std::size_t ch = 0; ch < cpad; ++ch) dst[t * cpad + ch] = ch < c ? filter[t * c + ch] : 0.f;
}

/// One image: in [in_h,in_w,c] -> out [out_h,out_w,c]; g.out_c == g.in_c.
template <class A>
void depthwise_image(const float* in, const conv_geom& g, const float* wpacked, float* out, const epilogue_k& ep) {
  constexpr std::size_t w = width<A>;
  const std::size_t c = g.in_c, cpad = round_up<A>(c);
  for (std::size_t oy = 0; oy < g.out_h; ++oy) {
    const std::ptrdiff_t y0 = static_cast<std::ptrdiff_t>(oy * g.stride_h) - static_cast<std::ptrdiff_t>(g.pad_top);
    const std::size_t ky0 = y0 < 0 ? static_cast<std::size_t>(-y0) : 0;
    const std::size_t ky1 = std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(g.kh),
                                                     static_cast<std::ptrdiff_t>(g.in_h) - y0) > 0
                                ? static_cast<std::size_t>(std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(g.kh),
                                                                                    static_cast<std::ptrdiff_t>(g.in_h) - y0))
                                : 0;
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      const std::ptrdiff_t x0 = static_cast<std::ptrdiff_t>(ox * g.stride_w) - static_cast<std::ptrdiff_t>(g.pad_left);
      const std::size_t kx0 = x0 < 0 ? static_cast<std::size_t>(-x0) : 0;
      const std::ptrdiff_t kx_end = std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(g.kw),
                                                             static_cast<std::ptrdiff_t>(g.in_w) - x0);
      const std::size_t kx1 = kx_end > 0 ? static_cast<std::size_t>(kx_end) : 0;
      float* dst = out + (oy * g.out_w + ox) * c;
      for (std::size_t ch = 0; ch < cpad; ch += w) {
        vf<A> acc(0.f);
        for (std::size_t ky = ky0; ky < ky1; ++ky) {
          const float* row = in + (static_cast<std::size_t>(y0 + static_cast<std::ptrdiff_t>(ky)) * g.in_w) * c + ch;
          const float* wr = wpacked + ky * g.kw * cpad + ch;
          for (std::size_t kx = kx0; kx < kx1; ++kx)
            acc = xsimd::fma(vf<A>::load_unaligned(row + static_cast<std::size_t>(x0 + static_cast<std::ptrdiff_t>(kx)) * c),
                             vf<A>::load_aligned(wr + kx * cpad), acc);
        }
        store_upto<A>(dst + ch, apply<A>(ep, acc, ch), c - ch);
      }
    }
  }
}

}  // namespace kernels
}  // namespace lmtcnn
