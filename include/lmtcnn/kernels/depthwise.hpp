// lmtcnn SIMD kernels: depthwise convolution, NHWC.
#pragma once

#include "lmtcnn/kernels/conv.hpp"
#include "lmtcnn/kernels/depthwise_tiling.hpp"

namespace lmtcnn {
namespace detail {
namespace kernels {

// ---- depthwise convolution -----------------------------------------------------------------------
// Contract: filter [kh,kw,c,1] packed by pack_depthwise into blocks of one vector of channels, the
// c channels zero-padded to cpad = round_up(c): block b holds its taps' vectors one after another, so
// a block's weights are taps consecutive vectors at wpacked + b * width * taps (constant offsets in
// the kernel). The kernel vectorises over channels; it reads whole vectors of every input pixel's
// channels (up to one vector past the last channel: slack) and writes only c channels.

template <class A>
void pack_depthwise(const float* filter, std::size_t taps, std::size_t c, float* dst) {
  constexpr std::size_t w = width<A>;
  const std::size_t cpad = round_up<A>(c);
  for (std::size_t b = 0; b < cpad; b += w) {
    const std::size_t valid = std::min(w, c - b);  // the rest of the block is zero padding
    for (std::size_t t = 0; t < taps; ++t, dst += w) {
      for (std::size_t l = 0; l < valid; ++l) dst[l] = filter[t * c + b + l];
      for (std::size_t l = valid; l < w; ++l) dst[l] = 0.f;
    }
  }
}

namespace impl {

/// The packed weights of the channel block starting at channel ch (a multiple of the vector width):
/// its taps' vectors, one after another.
template <class A>
LMTCNN_ALWAYS_INLINE const float* depthwise_block(const float* wpacked, std::size_t ch, std::size_t taps) {
  return wpacked + ch * taps;
}

/// Any window, any position: only the taps inside the image.
template <class A>
inline vf<A> depthwise_pixel(const float* in, const conv_geom& g, const float* wpacked, std::size_t ch,
                             std::ptrdiff_t y0, std::ptrdiff_t x0) {
  const float* wt = depthwise_block<A>(wpacked, ch, g.kh * g.kw);
  const std::size_t c = g.in_c;
  const std::ptrdiff_t h = static_cast<std::ptrdiff_t>(g.in_h), wd = static_cast<std::ptrdiff_t>(g.in_w);
  vf<A> acc(0.f);
  for (std::size_t ky = 0; ky < g.kh; ++ky) {
    const std::ptrdiff_t iy = y0 + static_cast<std::ptrdiff_t>(ky);
    if (iy < 0 || iy >= h) continue;
    for (std::size_t kx = 0; kx < g.kw; ++kx) {
      const std::ptrdiff_t ix = x0 + static_cast<std::ptrdiff_t>(kx);
      if (ix < 0 || ix >= wd) continue;
      acc = xsimd::fma(vf<A>::load_unaligned(in + (static_cast<std::size_t>(iy) * g.in_w + static_cast<std::size_t>(ix)) * c + ch),
                       vf<A>::load_aligned(wt + (ky * g.kw + kx) * width<A>), acc);
    }
  }
  return acc;
}

/// T neighbouring output pixels (whole windows inside the image) of one channel block, starting at
/// input column ix0: T independent accumulators (3T for T <= 2), so the FMA chains overlap. Every
/// loop over them is unrolled, the stores too, so they stay in registers. One window row at a time
/// with its three weights in registers. rows[r] is window row r at the block's first channel, wt the
/// block's first tap weight (taps one vector apart). For S = 1 or 2 each input vector is loaded once and
/// feeds every window that covers it; S = 0 means any other stride.
template <class A, std::size_t T, std::size_t R0, std::size_t NR, std::size_t S>
LMTCNN_ALWAYS_INLINE void depthwise3x3_tile(const float* const* rows, const float* wt, std::size_t c,
                                            std::size_t stride, std::size_t ix0, float* dst, const epilogue_k& ep,
                                            std::size_t ch, std::size_t lanes) {
  // one or two pixels are too few FMA chains to hide the FMA latency: each window row then sums
  // into its own accumulator
  constexpr std::size_t P = T <= 2 ? 3 : 1;
  vf<A> acc[P][T];
#pragma GCC unroll 3
  for (std::size_t q = 0; q < P; ++q)
#pragma GCC unroll 8
    for (std::size_t j = 0; j < T; ++j) acc[q][j] = vf<A>(0.f);
#pragma GCC unroll 3
  for (std::size_t r = R0; r < R0 + NR; ++r) {
    vf<A>(&a)[T] = acc[P == 1 ? 0 : r];
    const float* p = rows[r] + ix0 * c;
    constexpr std::size_t w = width<A>;
    vf<A> w3[3] = {vf<A>::load_aligned(wt + 3 * r * w), vf<A>::load_aligned(wt + (3 * r + 1) * w),
                   vf<A>::load_aligned(wt + (3 * r + 2) * w)};
#pragma GCC unroll 3
    for (std::size_t kx = 0; kx < 3; ++kx) keep_in_register<A>(w3[kx]);
    if constexpr (S == 0) {
#pragma GCC unroll 3
      for (std::size_t kx = 0; kx < 3; ++kx)
#pragma GCC unroll 8
        for (std::size_t j = 0; j < T; ++j) a[j] = xsimd::fma(vf<A>::load_unaligned(p + (j * stride + kx) * c), w3[kx], a[j]);
    } else {
      // input column i feeds window j through tap i - S*j; the pointer steps from column to column
      // (offsets i * c would each take a register, more than x86 has)
#pragma GCC unroll 32
      for (std::size_t i = 0; i < S * (T - 1) + 3; ++i, p += c) {
        vf<A> v = vf<A>::load_unaligned(p);
        keep_in_register<A>(v);
#pragma GCC unroll 8
        for (std::size_t j = 0; j < T; ++j)
          if (i >= S * j && i - S * j < 3) a[j] = xsimd::fma(v, w3[i - S * j], a[j]);
      }
    }
  }
  vf<A>(&a)[T] = acc[P == 1 ? 0 : R0];
  if constexpr (P > 1) {
#pragma GCC unroll 3
    for (std::size_t r = R0 + 1; r < R0 + NR; ++r)
#pragma GCC unroll 8
      for (std::size_t j = 0; j < T; ++j) a[j] += acc[r][j];
  }
  apply_n<A>(ep, a, ch);
  if (lanes >= width<A>) {
#pragma GCC unroll 8
    for (std::size_t j = 0; j < T; ++j) a[j].store_unaligned(dst + j * c);
  } else {
#pragma GCC unroll 8
    for (std::size_t j = 0; j < T; ++j) store_partial<A>(dst + j * c, a[j], lanes);
  }
}

/// The same tile (T >= 4) for two neighbouring output rows at once, both windows wholly inside the
/// image, stride S (1 or 2) both ways: rows[i] (i < S + 3) is input row i of the pair's first window at
/// the block's first channel. The window rows the two output rows share (one at stride 2, two at
/// stride 1) are loaded once for both, so a block loads 5 x 17 vectors for 16 pixels at stride 2
/// instead of 2 x 3 x 17. Each accumulator sums its taps in the one-row tile's order, row by row and
/// left to right, so the result is the same to the bit, whichever rows a thread's share pairs.
template <class A, std::size_t T, std::size_t S>
LMTCNN_ALWAYS_INLINE void depthwise3x3_tile2(const float* const* rows, const float* wt, std::size_t c, std::size_t ix0,
                                             float* dst0, float* dst1, const epilogue_k& ep, std::size_t ch,
                                             std::size_t lanes) {
  static_assert(T >= 4 && (S == 1 || S == 2), "one accumulator per pixel, stride 1 or 2");
  constexpr std::size_t w = width<A>;
  vf<A> acc[2][T];
#pragma GCC unroll 2
  for (std::size_t o = 0; o < 2; ++o)
#pragma GCC unroll 8
    for (std::size_t j = 0; j < T; ++j) acc[o][j] = vf<A>(0.f);
#pragma GCC unroll 5
  for (std::size_t r = 0; r < S + 3; ++r) {
    const float* p = rows[r] + ix0 * c;
#pragma GCC unroll 32
    for (std::size_t i = 0; i < S * (T - 1) + 3; ++i, p += c) {
      vf<A> v = vf<A>::load_unaligned(p);
      keep_in_register<A>(v);
#pragma GCC unroll 2
      for (std::size_t o = 0; o < 2; ++o) {
        if (r < S * o || r - S * o >= 3) continue;  // window row r - S * o of output row o
        const std::size_t kr = r - S * o;
#pragma GCC unroll 8
        for (std::size_t j = 0; j < T; ++j)
          if (i >= S * j && i - S * j < 3)
            acc[o][j] = xsimd::fma(v, vf<A>::load_aligned(wt + (3 * kr + i - S * j) * w), acc[o][j]);
      }
    }
  }
  apply_n<A>(ep, acc[0], ch);
  apply_n<A>(ep, acc[1], ch);
  if (lanes >= w) {
#pragma GCC unroll 8
    for (std::size_t j = 0; j < T; ++j) {
      acc[0][j].store_unaligned(dst0 + j * c);
      acc[1][j].store_unaligned(dst1 + j * c);
    }
  } else {
#pragma GCC unroll 8
    for (std::size_t j = 0; j < T; ++j) {
      store_partial<A>(dst0 + j * c, acc[0][j], lanes);
      store_partial<A>(dst1 + j * c, acc[1][j], lanes);
    }
  }
}

/// One output pixel at a left or right edge (window rows [R0, R0 + NR) inside the image; of its three
/// columns x0, x0 + 1, x0 + 2, those with I0, I1, I2 set inside), every channel block: the taps
/// outside are left out at compile time, and their addresses are never formed. rows[r] is window
/// row r at channel 0 and column 0.
template <class A, std::size_t R0, std::size_t NR, bool I0, bool I1, bool I2>
void depthwise3x3_edge(const float* const* rows, const float* wpacked, std::size_t cpad, std::size_t c,
                       std::ptrdiff_t x0, float* dst, const epilogue_k& ep) {
  constexpr std::size_t w = width<A>;
  const std::ptrdiff_t cc = static_cast<std::ptrdiff_t>(c);
  for (std::size_t ch = 0; ch < cpad; ch += w) {
    const float* wt = depthwise_block<A>(wpacked, ch, 9);
    vf<A> s[3] = {vf<A>(0.f), vf<A>(0.f), vf<A>(0.f)};
#pragma GCC unroll 3
    for (std::size_t r = R0; r < R0 + NR; ++r) {
      const float* p = rows[r] + ch;
      if constexpr (I0) s[r] = xsimd::fma(vf<A>::load_unaligned(p + x0 * cc), vf<A>::load_aligned(wt + 3 * r * w), s[r]);
      if constexpr (I1) s[r] = xsimd::fma(vf<A>::load_unaligned(p + (x0 + 1) * cc), vf<A>::load_aligned(wt + (3 * r + 1) * w), s[r]);
      if constexpr (I2) s[r] = xsimd::fma(vf<A>::load_unaligned(p + (x0 + 2) * cc), vf<A>::load_aligned(wt + (3 * r + 2) * w), s[r]);
    }
    vf<A> y[1] = {s[R0]};
#pragma GCC unroll 3
    for (std::size_t r = R0 + 1; r < R0 + NR; ++r) y[0] += s[r];
    apply_n<A>(ep, y, ch);
    store_upto<A>(dst + ch, y[0], c - ch);
  }
}

/// The edge pixel whose window starts at input column x0 (some of its columns outside [0, in_w)).
template <class A, std::size_t R0, std::size_t NR>
inline void depthwise3x3_edge_at(const float* const* rows, const float* wpacked, std::size_t cpad, std::size_t c,
                                 std::ptrdiff_t x0, std::ptrdiff_t in_w, float* dst, const epilogue_k& ep) {
  auto inside = [&](std::ptrdiff_t x) { return x >= 0 && x < in_w; };
  const int mask = (inside(x0) ? 1 : 0) | (inside(x0 + 1) ? 2 : 0) | (inside(x0 + 2) ? 4 : 0);
  switch (mask) {
    case 6: depthwise3x3_edge<A, R0, NR, false, true, true>(rows, wpacked, cpad, c, x0, dst, ep); break;   // left
    case 3: depthwise3x3_edge<A, R0, NR, true, true, false>(rows, wpacked, cpad, c, x0, dst, ep); break;   // right
    case 1: depthwise3x3_edge<A, R0, NR, true, false, false>(rows, wpacked, cpad, c, x0, dst, ep); break;  // right, stride 2
    case 2: depthwise3x3_edge<A, R0, NR, false, true, false>(rows, wpacked, cpad, c, x0, dst, ep); break;  // a 1-wide image
    case 4: depthwise3x3_edge<A, R0, NR, false, false, true>(rows, wpacked, cpad, c, x0, dst, ep); break;
    case 7: depthwise3x3_edge<A, R0, NR, true, true, true>(rows, wpacked, cpad, c, x0, dst, ep); break;
    default: depthwise3x3_edge<A, R0, NR, false, false, false>(rows, wpacked, cpad, c, x0, dst, ep); break;  // 5: never (3 wide)
  }
}

/// One output row of a 3x3 depthwise convolution. Window rows [R0, R0 + NR) lie inside the image:
/// rows[r] is that input row at channel 0 (the others are never read). S is the horizontal stride
/// when it is 1 or 2, 0 for any other (g.stride_w). Columns [ox_lo, ox_hi) have their whole window
/// inside the image: tiles of tmax (8, 4 or 2: depthwise_tile_width), then narrower ones, down to 1
/// pixel; the other columns skip their taps outside the image.
/// Every channel block of a tile (or edge pixel) is done before the next, so the tile's input
/// pixels are read whole and in order, each cache line by the blocks that share it one after another.
template <class A, std::size_t R0, std::size_t NR, std::size_t S>
inline void depthwise3x3_row(const float* const* rows, const float* wpacked, const conv_geom& g, std::size_t ox_lo,
                             std::size_t ox_hi, std::size_t tmax, float* dst_row, const epilogue_k& ep) {
  constexpr std::size_t w = width<A>;
  const std::size_t c = g.in_c, cpad = round_up<A>(c), stride = S == 0 ? g.stride_w : S;
  const std::ptrdiff_t pad_l = static_cast<std::ptrdiff_t>(g.pad_left), in_w = static_cast<std::ptrdiff_t>(g.in_w);
  auto edge = [&](std::size_t x) {
    depthwise3x3_edge_at<A, R0, NR>(rows, wpacked, cpad, c, static_cast<std::ptrdiff_t>(x * stride) - pad_l, in_w,
                                    dst_row + x * c, ep);
  };
  auto tiles = [&](auto tile_size, std::size_t x) {
    constexpr std::size_t T = decltype(tile_size)::value;
    const std::size_t ix0 = x * stride - g.pad_left;
    for (std::size_t ch = 0; ch < cpad; ch += w) {
      const float* rc[3] = {rows[0] + ch, rows[1] + ch, rows[2] + ch};
      depthwise3x3_tile<A, T, R0, NR, S>(rc, depthwise_block<A>(wpacked, ch, 9), c, stride, ix0, dst_row + x * c + ch,
                                         ep, ch, c - ch);
    }
  };
  const bool t8 = tmax >= 8, t4 = tmax >= 4;
  std::size_t ox = 0;
  for (; ox < ox_lo; ++ox) edge(ox);
  for (; t8 && ox + 8 <= ox_hi; ox += 8) tiles(std::integral_constant<std::size_t, 8>(), ox);
  for (; t4 && ox + 4 <= ox_hi; ox += 4) tiles(std::integral_constant<std::size_t, 4>(), ox);
  for (; ox + 2 <= ox_hi; ox += 2) tiles(std::integral_constant<std::size_t, 2>(), ox);
  for (; ox < ox_hi; ++ox) tiles(std::integral_constant<std::size_t, 1>(), ox);
  for (; ox < g.out_w; ++ox) edge(ox);
}

/// Two output rows whose windows lie wholly inside the image, at stride S (1 or 2) both ways: rows[i]
/// (i < S + 3) is input row i of the first row's window at channel 0. The columns are cut into the
/// same edges and tiles as depthwise3x3_row cuts them; its tiles of 8 and 4 take both rows at once in
/// pairs of up to pmax (8 or 4: depthwise_pair_width; 4 where 16 accumulators would fill the
/// registers), the rest each row alone.
template <class A, std::size_t S>
inline void depthwise3x3_row2(const float* const* rows, const float* wpacked, const conv_geom& g, std::size_t ox_lo,
                              std::size_t ox_hi, std::size_t tmax, std::size_t pmax, float* dst0, float* dst1,
                              const epilogue_k& ep) {
  constexpr std::size_t w = width<A>;
  constexpr bool pair8 = vector_registers<A>() >= 32;
  const std::size_t c = g.in_c, cpad = round_up<A>(c);
  const std::ptrdiff_t pad_l = static_cast<std::ptrdiff_t>(g.pad_left), in_w = static_cast<std::ptrdiff_t>(g.in_w);
  const float* const* rows1 = rows + S;
  auto edge = [&](std::size_t x) {
    const std::ptrdiff_t x0 = static_cast<std::ptrdiff_t>(x * S) - pad_l;
    depthwise3x3_edge_at<A, 0, 3>(rows, wpacked, cpad, c, x0, in_w, dst0 + x * c, ep);
    depthwise3x3_edge_at<A, 0, 3>(rows1, wpacked, cpad, c, x0, in_w, dst1 + x * c, ep);
  };
  auto pair = [&](auto tile_size, std::size_t x) {
    constexpr std::size_t T = decltype(tile_size)::value;
    const std::size_t ix0 = x * S - g.pad_left;
    for (std::size_t ch = 0; ch < cpad; ch += w) {
      const float* rc[S + 3];
      for (std::size_t r = 0; r < S + 3; ++r) rc[r] = rows[r] + ch;
      depthwise3x3_tile2<A, T, S>(rc, depthwise_block<A>(wpacked, ch, 9), c, ix0, dst0 + x * c + ch, dst1 + x * c + ch,
                                  ep, ch, c - ch);
    }
  };
  // the channel-block loop of depthwise3x3_row's tiles, written out again: through a shared helper
  // GCC inlined these row functions differently and the stride-1 layers took 1.08-1.15 times as long
  auto single = [&](auto tile_size, std::size_t x) {
    constexpr std::size_t T = decltype(tile_size)::value;
    const std::size_t ix0 = x * S - g.pad_left;
    for (std::size_t o = 0; o < 2; ++o) {
      const float* const* rr = o == 0 ? rows : rows1;
      float* dst = (o == 0 ? dst0 : dst1) + x * c;
      for (std::size_t ch = 0; ch < cpad; ch += w) {
        const float* rc[3] = {rr[0] + ch, rr[1] + ch, rr[2] + ch};
        depthwise3x3_tile<A, T, 0, 3, S>(rc, depthwise_block<A>(wpacked, ch, 9), c, S, ix0, dst + ch, ep, ch, c - ch);
      }
    }
  };
  using t8 = std::integral_constant<std::size_t, 8>;
  using t4 = std::integral_constant<std::size_t, 4>;
  // [ox_lo, x4_end): the columns a single row takes in tiles of 8 and 4 (one accumulator per pixel
  // in both, so a pair may cut them into 8s and 4s its own way)
  std::size_t x4_end = ox_lo;
  if (tmax >= 8) x4_end += (ox_hi - ox_lo) / 8 * 8;
  if (tmax >= 4) x4_end += (ox_hi - x4_end) / 4 * 4;
  std::size_t ox = 0;
  for (; ox < ox_lo; ++ox) edge(ox);
  if constexpr (pair8)
    if (pmax >= 8)
      for (; ox + 8 <= x4_end; ox += 8) pair(t8(), ox);
  for (; ox + 4 <= x4_end; ox += 4) pair(t4(), ox);
  for (; ox + 2 <= ox_hi; ox += 2) single(std::integral_constant<std::size_t, 2>(), ox);
  for (; ox < ox_hi; ++ox) single(std::integral_constant<std::size_t, 1>(), ox);
  for (; ox < g.out_w; ++ox) edge(ox);
}

template <class A, std::size_t R0, std::size_t NR>
inline void depthwise3x3_row_any_stride(const float* const* rows, const float* wpacked, const conv_geom& g,
                                        std::size_t ox_lo, std::size_t ox_hi, std::size_t tmax, float* dst_row,
                                        const epilogue_k& ep) {
  if (g.stride_w == 1)
    depthwise3x3_row<A, R0, NR, 1>(rows, wpacked, g, ox_lo, ox_hi, tmax, dst_row, ep);
  else if (g.stride_w == 2)
    depthwise3x3_row<A, R0, NR, 2>(rows, wpacked, g, ox_lo, ox_hi, tmax, dst_row, ep);
  else
    depthwise3x3_row<A, R0, NR, 0>(rows, wpacked, g, ox_lo, ox_hi, tmax, dst_row, ep);
}

/// Output indices [lo, hi) along one axis whose whole window lies inside the input.
inline void window_interior(std::size_t out_n, std::size_t stride, std::size_t pad, std::size_t k, std::size_t in_n,
                            std::size_t& lo, std::size_t& hi) {
  lo = 0;
  while (lo < out_n && lo * stride < pad) ++lo;
  hi = lo;
  while (hi < out_n && hi * stride - pad + k <= in_n) ++hi;
}

}  // namespace impl

/// One image: in [in_h,in_w,c] -> out [out_h,out_w,c]; g.out_c == g.in_c; output rows [oy_begin,
/// oy_end) only (by default all). `tile` is depthwise_tile_width<A>(g.in_w, g.in_c, g.stride_w) and
/// `pair` depthwise_pair_width<A>(g.in_w, g.in_c, g.stride_w), which a caller that runs the layer many
/// times computes once (each costs ~0.1-0.2 us); 0 and npos compute them here. `tile` only sets the
/// widest tile tried: any value gives the same result up to rounding; `pair` (0: single rows only)
/// leaves the bits as they are.
/// Output rows are the outer loop, so the input rows one output row needs stay in cache while every
/// channel block passes over them. For 3x3 windows, tiles of up to eight output pixels of a row
/// are computed together (one accumulator each, a window row's three weights in registers), window
/// rows outside the image are left out at compile time, and the columns at the left and right edges
/// skip their outside taps.
template <class A>
void depthwise_image(const float* in, const conv_geom& g, const float* wpacked, float* out, const epilogue_k& ep,
                     std::size_t oy_begin = 0, std::size_t oy_end = static_cast<std::size_t>(-1), std::size_t tile = 0,
                     std::size_t pair = static_cast<std::size_t>(-1)) {
  oy_end = std::min(oy_end, g.out_h);
  constexpr std::size_t w = width<A>;
  const std::size_t c = g.in_c, cpad = round_up<A>(c);
  const std::ptrdiff_t pad_t = static_cast<std::ptrdiff_t>(g.pad_top), pad_l = static_cast<std::ptrdiff_t>(g.pad_left);
  const std::ptrdiff_t in_h = static_cast<std::ptrdiff_t>(g.in_h);
  std::size_t ox_lo, ox_hi;
  impl::window_interior(g.out_w, g.stride_w, g.pad_left, g.kw, g.in_w, ox_lo, ox_hi);
  const std::size_t tmax = tile != 0 ? tile : depthwise_tile_width<A>(g.in_w, c, g.stride_w);
  const std::size_t s = g.stride_h;
  const bool pairs = g.kh == 3 && g.kw == 3 && (s == 1 || s == 2) && g.stride_w == s && tmax >= 4;
  const std::size_t pmax =
      !pairs ? 0 : pair != static_cast<std::size_t>(-1) ? pair : depthwise_pair_width<A>(g.in_w, c, g.stride_w);
  for (std::size_t oy = oy_begin; oy < oy_end; ++oy) {
    const std::ptrdiff_t y0 = static_cast<std::ptrdiff_t>(oy * g.stride_h) - pad_t;
    float* dst_row = out + oy * g.out_w * c;
    if (g.kh != 3 || g.kw != 3) {
      for (std::size_t ch = 0; ch < cpad; ch += w)
        for (std::size_t ox = 0; ox < g.out_w; ++ox)
          store_upto<A>(dst_row + ox * c + ch,
                        apply<A>(ep, impl::depthwise_pixel<A>(in, g, wpacked, ch, y0,
                                                                static_cast<std::ptrdiff_t>(ox * g.stride_w) - pad_l), ch),
                        c - ch);
      continue;
    }
    // two rows at once where both windows lie inside the image
    if (pmax != 0 && oy + 1 < oy_end && y0 >= 0 && y0 + static_cast<std::ptrdiff_t>(s + 3) <= in_h) {
      const float* rows[5];
      for (std::size_t r = 0; r < s + 3; ++r) rows[r] = in + (static_cast<std::size_t>(y0) + r) * g.in_w * c;
      float* dst_next = dst_row + g.out_w * c;
      if (s == 1)
        impl::depthwise3x3_row2<A, 1>(rows, wpacked, g, ox_lo, ox_hi, tmax, pmax, dst_row, dst_next, ep);
      else
        impl::depthwise3x3_row2<A, 2>(rows, wpacked, g, ox_lo, ox_hi, tmax, pmax, dst_row, dst_next, ep);
      ++oy;
      continue;
    }
    // the window rows [r_lo, r_hi) of this output row that lie inside the image
    std::size_t r_lo = 0, r_hi = 3;
    while (r_lo < 3 && y0 + static_cast<std::ptrdiff_t>(r_lo) < 0) ++r_lo;
    while (r_hi > r_lo && y0 + static_cast<std::ptrdiff_t>(r_hi) - 1 >= in_h) --r_hi;
    const float* rows[3] = {in, in, in};  // rows outside the image are never read
    for (std::size_t r = r_lo; r < r_hi; ++r)
      rows[r] = in + (static_cast<std::size_t>(y0 + static_cast<std::ptrdiff_t>(r)) * g.in_w) * c;
    if (r_lo == 0 && r_hi == 3)
      impl::depthwise3x3_row_any_stride<A, 0, 3>(rows, wpacked, g, ox_lo, ox_hi, tmax, dst_row, ep);
    else if (r_lo == 1 && r_hi == 3)
      impl::depthwise3x3_row_any_stride<A, 1, 2>(rows, wpacked, g, ox_lo, ox_hi, tmax, dst_row, ep);
    else if (r_lo == 0 && r_hi == 2)
      impl::depthwise3x3_row_any_stride<A, 0, 2>(rows, wpacked, g, ox_lo, ox_hi, tmax, dst_row, ep);
    else if (r_lo == 1 && r_hi == 2)
      impl::depthwise3x3_row_any_stride<A, 1, 1>(rows, wpacked, g, ox_lo, ox_hi, tmax, dst_row, ep);
    else  // a window that sees at most one row from its edge: rare shapes, the general path
      for (std::size_t ch = 0; ch < cpad; ch += w)
        for (std::size_t ox = 0; ox < g.out_w; ++ox)
          store_upto<A>(dst_row + ox * c + ch,
                        apply<A>(ep, impl::depthwise_pixel<A>(in, g, wpacked, ch, y0,
                                                                static_cast<std::ptrdiff_t>(ox * g.stride_w) - pad_l), ch),
                        c - ch);
  }
}

}  // namespace kernels
}  // namespace detail
}  // namespace lmtcnn
