// lmtcnn SIMD kernels: the window geometry, standard convolution and strided 1x1 convolution, NHWC
// (depthwise convolution: kernels/depthwise.hpp).
#pragma once

#include "lmtcnn/kernels/gemm.hpp"
#include "lmtcnn/core/geometry.hpp"

#include <type_traits>

namespace lmtcnn {
namespace detail {
namespace kernels {

/// Geometry of a 2-D window op on one image: input h x w x c, window kh x kw, strides, padding before.
struct conv_geom {
  std::size_t in_h, in_w, in_c;
  std::size_t out_h, out_w, out_c;
  std::size_t kh, kw, stride_h, stride_w;
  std::size_t pad_top, pad_left;
};

/// The geometry of a kh x kw window with strides over an h x w x c image, padding as TensorFlow's
/// (VALID, or SAME with the odd cell after); out_c is the layer's output channels.
inline conv_geom conv_geometry(std::size_t h, std::size_t w, std::size_t c, std::size_t out_c, std::size_t kh,
                               std::size_t kw, std::size_t stride_h, std::size_t stride_w, padding pad) {
  const axis_geometry gy = window_axis(static_cast<index_t>(h), static_cast<index_t>(kh), static_cast<index_t>(stride_h), pad);
  const axis_geometry gx = window_axis(static_cast<index_t>(w), static_cast<index_t>(kw), static_cast<index_t>(stride_w), pad);
  return {h, w, c, static_cast<std::size_t>(gy.out), static_cast<std::size_t>(gx.out), out_c, kh, kw,
          stride_h, stride_w, static_cast<std::size_t>(gy.pad_before), static_cast<std::size_t>(gx.pad_before)};
}

// ---- standard convolution ------------------------------------------------------------------------
// Contract: filter [kh,kw,cin,cout] is a (kh*kw*cin) x cout matrix, packed once with pack_gemm_b.
// For each tile of up to mr output pixels (row-major order) the kernel copies their patches into the
// scratch (each window row is kw*cin contiguous floats of NHWC input; padding cells are 0), transposes
// them k-major and runs the GEMM tile. Scratch: conv2d_scratch_size floats.

template <class A>
constexpr std::size_t conv2d_scratch_size(const conv_geom& g) {
  const std::size_t k = g.kh * g.kw * g.in_c;
  return 2 * gemm_mr<A>() * k;  // two tiles
}

/// Copies the window of output pixel p (row-major index) into row: kh rows of kw*in_c floats, zeros
/// where the window lies in the padding; row_span > kw*in_c: each window row followed by zeros to
/// row_span floats.
inline void gather_patch(const float* in, const conv_geom& g, std::size_t p, float* row, std::size_t row_span = 0) {
  const std::size_t span = g.kw * g.in_c;
  if (row_span < span) row_span = span;
  const std::size_t oy = p / g.out_w, ox = p % g.out_w;
  const std::ptrdiff_t ix0 = static_cast<std::ptrdiff_t>(ox * g.stride_w) - static_cast<std::ptrdiff_t>(g.pad_left);
  const bool x_inside = ix0 >= 0 && ix0 + static_cast<std::ptrdiff_t>(g.kw) <= static_cast<std::ptrdiff_t>(g.in_w);
  for (std::size_t ky = 0; ky < g.kh; ++ky, row += row_span) {
    std::fill(row + span, row + row_span, 0.f);
    const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(oy * g.stride_h + ky) - static_cast<std::ptrdiff_t>(g.pad_top);
    if (x_inside && iy >= 0 && iy < static_cast<std::ptrdiff_t>(g.in_h)) {  // the window row in one piece
      std::copy_n(in + (static_cast<std::size_t>(iy) * g.in_w + static_cast<std::size_t>(ix0)) * g.in_c, span, row);
      continue;
    }
    for (std::size_t kx = 0; kx < g.kw; ++kx) {
      const std::ptrdiff_t ix = ix0 + static_cast<std::ptrdiff_t>(kx);
      float* dst = row + kx * g.in_c;
      if (iy < 0 || iy >= static_cast<std::ptrdiff_t>(g.in_h) || ix < 0 || ix >= static_cast<std::ptrdiff_t>(g.in_w))
        std::fill(dst, dst + g.in_c, 0.f);
      else
        std::copy_n(in + (static_cast<std::size_t>(iy) * g.in_w + static_cast<std::size_t>(ix)) * g.in_c, g.in_c, dst);
    }
  }
}

/// Walks the output pixels of rows [oy_begin, oy_end) of one image in tiles of mr. Interior tiles:
/// n pixels of one output row in [ox_lo, ox_hi), the columns whose windows lie inside the image, in
/// rows likewise inside; interior(oy, ox, iy0, ix0, n) gets the first pixel, its window's corner and
/// n: mr, but for the last tile of a row the rest rounded up to a multiple of `quantum` (a divisor
/// of mr), ending at ox_hi (so it may overlap the tile before it: those pixels are computed twice,
/// identically). With quantum = mr every tile is whole; a smaller quantum spares the overlap's
/// work where the caller has narrower tiles (LMTCNN's conv1, 56 columns in tiles of 12: 60 pixels'
/// work in whole tiles, 56 with a last tile of 8).
/// Every other pixel goes to edge(pixels, m), mr (m < mr at the end) row-major indices at a time.
template <std::size_t mr, std::size_t quantum = mr, class Interior, class Edge>
void conv2d_tiles(const conv_geom& g, std::size_t oy_begin, std::size_t oy_end, Interior&& interior, Edge&& edge) {
  static_assert(quantum > 0 && mr % quantum == 0, "the last tile's width is a multiple of quantum up to mr");
  oy_end = std::min(oy_end, g.out_h);
  std::size_t ox_lo = 0;
  while (ox_lo < g.out_w && ox_lo * g.stride_w < g.pad_left) ++ox_lo;
  std::size_t ox_hi = ox_lo;
  while (ox_hi < g.out_w && ox_hi * g.stride_w - g.pad_left + g.kw <= g.in_w) ++ox_hi;
  if (ox_hi - ox_lo < mr) ox_hi = ox_lo;  // too narrow for a whole tile: everything is gathered
  auto row_inside = [&](std::size_t oy) {
    const std::ptrdiff_t iy0 = static_cast<std::ptrdiff_t>(oy * g.stride_h) - static_cast<std::ptrdiff_t>(g.pad_top);
    return iy0 >= 0 && iy0 + static_cast<std::ptrdiff_t>(g.kh) <= static_cast<std::ptrdiff_t>(g.in_h);
  };
  for (std::size_t oy = oy_begin; oy < oy_end; ++oy) {
    if (!row_inside(oy)) continue;
    for (std::size_t t = ox_lo; t < ox_hi; t += mr) {
      const std::size_t n = std::min(mr, (ox_hi - t + quantum - 1) / quantum * quantum), ox = std::min(t, ox_hi - n);
      interior(oy, ox, oy * g.stride_h - g.pad_top, ox * g.stride_w - g.pad_left, n);
    }
  }
  // the rest in row-major order: whole rows whose windows cross the top or bottom, else the columns
  // left and right of the interior (no division per pixel: a 416 x 416 layer has 173,056 of them)
  std::size_t pending[mr];
  std::size_t m = 0;
  auto add = [&](std::size_t first, std::size_t last) {
    for (std::size_t q = first; q < last; ++q) {
      pending[m++] = q;
      if (m == mr) {
        edge(static_cast<const std::size_t*>(pending), m);
        m = 0;
      }
    }
  };
  for (std::size_t oy = oy_begin; oy < oy_end; ++oy) {
    const std::size_t row = oy * g.out_w;
    if (!row_inside(oy)) {
      add(row, row + g.out_w);
    } else {
      add(row, row + ox_lo);
      add(row + ox_hi, row + g.out_w);
    }
  }
  if (m > 0) edge(static_cast<const std::size_t*>(pending), m);
}

/// One image: in [in_h,in_w,in_c] -> out [out_h,out_w,out_c], output rows [oy_begin, oy_end) only
/// (by default all), so threads may share an image; out holds the rows from out_row0 on (a band in
/// a caller's buffer: out_row0 = oy_begin). Interior tiles read the image in place; the others'
/// windows are gathered (zeros for padding) and packed.
/// Layers of at most one vector of output channels (the tiny face detector's first, 16 channels)
/// take interior tiles of gemm_mr_narrow pixels by one vector, which the two-vector tile would
/// leave half empty; the same sums in the same order.
template <class A>
void conv2d_image(const float* in, const conv_geom& g, const float* bpacked, float* out, const epilogue_k& ep,
                  float* scratch, std::size_t oy_begin = 0, std::size_t oy_end = static_cast<std::size_t>(-1),
                  std::size_t out_row0 = 0) {
  constexpr std::size_t mr = gemm_mr<A>(), nr = gemm_nr<A>();
  const std::size_t first_pixel = out_row0 * g.out_w;  // the pixel at out
  const std::size_t k = g.kh * g.kw * g.in_c, span = g.kw * g.in_c;
  float* apack = scratch;         // k-major tile
  float* rows = scratch + mr * k;  // row-major patches
  const std::size_t lda = g.stride_w * g.in_c, row_stride = g.in_w * g.in_c;
  // pixels whose windows are not all inside, up to mr at a time: gathered and packed
  auto edge = [&](const std::size_t* pixel, std::size_t m) {
    float* outs[mr];
    for (std::size_t r = 0; r < mr; ++r) {
      const std::size_t p = pixel[r < m ? r : 0];
      outs[r] = out + (p - first_pixel) * g.out_c;
      gather_patch(in, g, p, rows + r * k);
    }
    for (std::size_t kk = 0; kk < k; ++kk)
#pragma GCC unroll 16
      for (std::size_t r = 0; r < mr; ++r) apack[kk * mr + r] = rows[r * k + kk];
    gemm_block_packed<A>(apack, m, k, bpacked, g.out_c, outs, ep);
  };
  // an interior tile of n pixels from (oy, ox): their output rows, and its first window's corner
  auto interior = [&](float** outs, std::size_t n, std::size_t oy, std::size_t ox, std::size_t iy0, std::size_t ix0) {
    for (std::size_t r = 0; r < n; ++r) outs[r] = out + (oy * g.out_w + ox + r - first_pixel) * g.out_c;
    return in + (iy0 * g.in_w + ix0) * g.in_c;
  };
  if (g.out_c <= width<A>) {
    constexpr std::size_t mn = gemm_mr_narrow<A>();
    conv2d_tiles<mn>(
        g, oy_begin, oy_end,
        [&](std::size_t oy, std::size_t ox, std::size_t iy0, std::size_t ix0, std::size_t) {
          float* outs[mn];
          const float* a = interior(outs, mn, oy, ox, iy0, ix0);
          switch (lda) {  // RGB input at stride 1 or 2, the usual first layers
            case 3: gemm_tile_window_narrow<A, 3>(a, lda, g.kh, span, row_stride, bpacked, outs, g.out_c, ep); break;
            case 6: gemm_tile_window_narrow<A, 6>(a, lda, g.kh, span, row_stride, bpacked, outs, g.out_c, ep); break;
            default: gemm_tile_window_narrow<A>(a, lda, g.kh, span, row_stride, bpacked, outs, g.out_c, ep); break;
          }
        },
        [&](const std::size_t* pixel, std::size_t m) {
          for (std::size_t i = 0; i < m; i += mr) edge(pixel + i, std::min(mr, m - i));
        });
    return;
  }
  constexpr std::size_t q = gemm_mr_quantum<A>();
  conv2d_tiles<mr, q>(
      g, oy_begin, oy_end,
      [&](std::size_t oy, std::size_t ox, std::size_t iy0, std::size_t ix0, std::size_t n) {
        float* outs[mr];
        const float* a = interior(outs, n, oy, ox, iy0, ix0);
        // the tile's rows known when compiled: mr, or a narrower last tile of a row
        auto tile = [&](auto tile_rows) {
          for (std::size_t p = 0; p < g.out_c; p += nr)
            gemm_tile_window<A, decltype(tile_rows)::value>(a, lda, g.kh, span, row_stride, bpacked + p * k, outs, p,
                                                       std::min(nr, g.out_c - p), ep);
        };
        if (n == mr)
          tile(std::integral_constant<std::size_t, mr>());
        else if (n == q)
          tile(std::integral_constant<std::size_t, q>());
        else if (n == 2 * q)
          tile(std::integral_constant<std::size_t, 2 * q < mr ? 2 * q : mr>());
        else
          tile(std::integral_constant<std::size_t, 3 * q < mr ? 3 * q : mr>());
      },
      edge);
}

/// One image with every window gathered (the bf16 precision's way: its blocks convert the rows they
/// get): output pixels of rows [oy_begin, oy_end), mr at a time, their windows copied into rows
/// (mr * k floats of scratch), then block(row pointers, m, out row pointers).
template <class A, class Block>
void conv2d_image_gathered(const float* in, const conv_geom& g, float* out, float* rows, std::size_t oy_begin,
                           std::size_t oy_end, Block&& block) {
  constexpr std::size_t mr = gemm_mr<A>();
  const std::size_t k = g.kh * g.kw * g.in_c, end = std::min(oy_end, g.out_h) * g.out_w;
  const float* rp[mr];
  float* outs[mr];
  for (std::size_t q = oy_begin * g.out_w; q < end; q += mr) {
    const std::size_t m = std::min(mr, end - q);
    for (std::size_t r = 0; r < mr; ++r) {
      const std::size_t rr = r < m ? r : 0;
      if (r < m) gather_patch(in, g, q + r, rows + r * k);
      rp[r] = rows + rr * k;
      outs[r] = out + (q + rr) * g.out_c;
    }
    block(rp, m, outs);
  }
}

/// Walks the output pixels [begin, end) (row-major) of a 1x1 convolution of one image, mr at a time:
/// block(input row pointers, m, output row pointers); rows past m repeat the first.
template <std::size_t mr, class Block>
void pointwise_rows(const float* in, const conv_geom& g, float* out, std::size_t begin, std::size_t end, Block&& block) {
  end = std::min(end, g.out_h * g.out_w);
  const float* rows[mr];
  float* outs[mr];
  for (std::size_t p0 = begin; p0 < end; p0 += mr) {
    const std::size_t m = std::min(mr, end - p0);
    for (std::size_t r = 0; r < mr; ++r) {
      const std::size_t q = p0 + (r < m ? r : 0), oy = q / g.out_w, ox = q % g.out_w;
      rows[r] = in + ((oy * g.stride_h - g.pad_top) * g.in_w + (ox * g.stride_w - g.pad_left)) * g.in_c;
      outs[r] = out + q * g.out_c;
    }
    block(static_cast<const float* const*>(rows), m, static_cast<float* const*>(outs));
  }
}

/// A 1x1 convolution with strides (no padding: a 1x1 window never needs any) on one image: the GEMM
/// over the sampled input pixels, output pixels [begin, end) in row-major order (by default all), a
/// tile of mr at a time, read in place through row pointers. Scratch: mr * in_c floats.
template <class A>
void pointwise_strided_image(const float* in, const conv_geom& g, const float* bpacked, float* out,
                             const epilogue_k& ep, float* scratch, std::size_t begin = 0,
                             std::size_t end = static_cast<std::size_t>(-1)) {
  pointwise_rows<gemm_mr<A>()>(in, g, out, begin, end, [&](const float* const* rows, std::size_t m, float* const* outs) {
    gemm_block<A>(rows, m, g.in_c, bpacked, g.out_c, outs, ep, scratch);
  });
}

}  // namespace kernels
}  // namespace detail
}  // namespace lmtcnn
