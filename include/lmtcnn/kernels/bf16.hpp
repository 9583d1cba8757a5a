// lmtcnn SIMD kernels: the bf16 precision (core/precision.hpp) of GEMM, convolution and fully
// connected layers.
//
// Two ways, chosen per layer when a network is prepared (bf16_mode):
// - widened (every path): convolutions keep their weights rounded to bf16 as float32 in the ordinary
//   packed layouts; each tile of input rows is rounded into scratch (round_rows) and the float32
//   kernels run on it. Fully connected layers, which stream their weights from memory, keep them as
//   bf16 pairs (kernels/dense.hpp) and widen them in registers; the kernel rounds each input value as
//   it broadcasts it.
// - dot (x86-64 AVX-512 with AVX512_BF16, checked at run time): the weights are packed as pairs of
//   bf16 (two consecutive k of one output column in one 32-bit word), the input rows are converted
//   into the same pairs, and vdpbf16ps adds both products of a pair into each float32 accumulator.
//   These functions carry the avx512bf16 target themselves, so the AVX-512 path's translation unit
//   needs no extra flags; they are called only after cpu_has_avx512_bf16().
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "lmtcnn/core/precision.hpp"
#include "lmtcnn/kernels/conv.hpp"
#include "lmtcnn/kernels/dense.hpp"
#include "lmtcnn/kernels/gemm.hpp"

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define LMTCNN_HAVE_BF16_DOT 1
#define LMTCNN_TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#else
#define LMTCNN_HAVE_BF16_DOT 0
#endif

namespace lmtcnn {
namespace detail {
namespace kernels {

/// How a layer multiplies: float32, bf16 operands widened to float32, or AVX512_BF16 dot products.
enum class bf16_mode { off, widened, dot };

/// Whether the CPU has AVX512_BF16 (CPUID leaf 7, sub-leaf 1, EAX bit 5). The AVX-512 path that asks
/// has already checked AVX512F and that the OS saves its registers.
inline bool cpu_has_avx512_bf16() {
#if LMTCNN_HAVE_BF16_DOT
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
  return (a >> 5) & 1u;
#else
  return false;
#endif
}

/// x rounded to bf16 (as core/precision.hpp's round_to_bf16), whole vectors.
template <class A>
LMTCNN_ALWAYS_INLINE vf<A> round_bf16(vf<A> x) {
  using vu = xsimd::batch<std::uint32_t, A>;
  const vu u = xsimd::bitwise_cast<vu>(x);
  const vu r = (u + vu(0x7fffu) + ((u >> 16) & vu(1u))) & vu(0xffff0000u);
  const vu quiet = (u | vu(0x00400000u)) & vu(0xffff0000u);
  return xsimd::select(xsimd::isnan(x), xsimd::bitwise_cast<vf<A>>(quiet), xsimd::bitwise_cast<vf<A>>(r));
}

/// Rounds mr rows (rows[r], k floats each) into dst, row r at dst + r * k.
template <class A>
void round_rows(const float* const* rows, std::size_t k, float* dst) {
  constexpr std::size_t mr = gemm_mr<A>(), w = width<A>;
  for (std::size_t r = 0; r < mr; ++r) {
    const float* s = rows[r];
    float* d = dst + r * k;
    std::size_t i = 0;
    for (; i + w <= k; i += w) round_bf16<A>(vf<A>::load_unaligned(s + i)).store_unaligned(d + i);
    for (; i < k; ++i) d[i] = round_to_bf16(s[i]);
  }
}

/// The widened GEMM of up to mr rows (rows[r] for r < m; the rest may repeat row 0) against b packed
/// by pack_gemm_b from bf16-rounded weights: the rows rounded into scratch (mr * k floats), then the
/// float32 tiles.
template <class A>
void gemm_block_widened(const float* const* rows, std::size_t m, std::size_t k, const float* bpacked, std::size_t n,
                        float* const* out, const epilogue_k& ep, float* scratch) {
  constexpr std::size_t mr = gemm_mr<A>(), nr = gemm_nr<A>();
  const float* r8[mr];
  for (std::size_t r = 0; r < mr; ++r) r8[r] = rows[r < m ? r : 0];
  round_rows<A>(r8, k, scratch);
  for (std::size_t p = 0; p < n; p += nr)
    gemm_tile_with<A>([scratch, k](std::size_t kk, std::size_t r) { return scratch[r * k + kk]; }, bpacked + p * k,
                      k, out, m, p, std::min(nr, n - p), ep);
}

// ---- AVX512_BF16 dot products ---------------------------------------------------------------------
// GEMM: b packed in panels of 32 columns (two vectors); panel p holds, for each pair of k (kp), 64
// bf16: column j's b[2kp][j] and b[2kp+1][j] side by side (zero past n and past k). A tile's rows are
// converted to words of two bf16 (k and k + 1; zero past k), row r at r * row_words.

/// Words pack_gemm_b_bf16 writes for k x n.
constexpr std::size_t packed_gemm_b_bf16_words(std::size_t k, std::size_t n) {
  return (n + 31) / 32 * 32 * bf16_pair_words(k);
}

inline void pack_gemm_b_bf16(const float* b, std::size_t k, std::size_t n, std::size_t ldb, std::uint32_t* dst) {
  const std::size_t kp_count = bf16_pair_words(k);
  for (std::size_t p = 0; p < n; p += 32)
    for (std::size_t kp = 0; kp < kp_count; ++kp, dst += 32)
      for (std::size_t j = 0; j < 32; ++j) {
        const std::size_t col = p + j, k0 = 2 * kp, k1 = k0 + 1;
        const std::uint32_t lo = col < n ? bf16_bits(b[k0 * ldb + col]) : 0u;
        const std::uint32_t hi = col < n && k1 < k ? bf16_bits(b[k1 * ldb + col]) : 0u;
        dst[j] = lo | (hi << 16);
      }
}

// Fully connected: kernels/dense.hpp's bf16 pairs in column blocks of 8 vectors of 16 words (128
// columns; the last as many vectors as its columns need).

/// Words pack_dense_bf16 writes for k x m.
constexpr std::size_t packed_dense_bf16_words(std::size_t k, std::size_t m) {
  return packed_dense_pair_words(k, m, 128, 16);
}

inline void pack_dense_bf16(const float* wt, std::size_t k, std::size_t m, std::uint32_t* dst) {
  pack_dense_pairs(wt, k, m, 128, 16, dst);
}

// Standard convolution in dot mode: the reduction runs over window rows padded to an even length
// (span2 = kw * in_c rounded up to even: a zero weight after each odd-length row), so a pair never
// straddles two window rows. Interior tiles then read their pairs in place from a bf16 copy of the
// input rows the tile band needs; the rest gather their windows (gather_patch with row_span).

/// Window row length padded to even.
constexpr std::size_t conv_bf16_span(const conv_geom& g) { return (g.kw * g.in_c + 1) / 2 * 2; }

/// Words of the packed filter, and floats of scratch a worker needs.
inline std::size_t packed_conv_bf16_words(const conv_geom& g) {
  return packed_gemm_b_bf16_words(g.kh * conv_bf16_span(g), g.out_c);
}
inline std::size_t conv_bf16_scratch_floats(const conv_geom& g) {
  const std::size_t k2 = g.kh * conv_bf16_span(g);
  return (g.in_h * g.in_w * g.in_c + 64) / 2 + 12 * k2 + 12 * k2 / 2 + 64;
}

/// Packs filter [kh,kw,cin,cout] for conv2d_image_bf16_dot.
inline void pack_conv_bf16(const float* f, const conv_geom& g, std::uint32_t* dst) {
  const std::size_t span = g.kw * g.in_c, span2 = conv_bf16_span(g), n = g.out_c;
  std::vector<float> padded(g.kh * span2 * n, 0.f);
  for (std::size_t ky = 0; ky < g.kh; ++ky)
    std::copy_n(f + ky * span * n, span * n, padded.data() + ky * span2 * n);
  pack_gemm_b_bf16(padded.data(), g.kh * span2, n, n, dst);
}

/// Column blocks of a fully connected layer in bf16 dot mode.
constexpr std::size_t dense_bf16_blocks(std::size_t m) { return (m + 127) / 128; }

// Defined where the translation unit targets AVX-512 (the AVX-512 path's), the only path that uses them.
#if LMTCNN_HAVE_BF16_DOT && defined(__AVX512F__)
namespace impl {
/// One row of k floats into bf16 pair words (zero past k).
LMTCNN_TARGET_BF16 inline void row_to_bf16_pairs(const float* row, std::size_t k, std::uint32_t* dst) {
  std::size_t i = 0;
  for (; i + 32 <= k; i += 32, dst += 16)
    _mm512_storeu_si512(dst, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + i + 16), _mm512_loadu_ps(row + i)));
  if (i < k) {
    const std::size_t rest = k - i;
    const __mmask16 lo = static_cast<__mmask16>(rest >= 16 ? 0xffffu : (1u << rest) - 1u);
    const __mmask16 hi = static_cast<__mmask16>(rest >= 32 ? 0xffffu : rest > 16 ? (1u << (rest - 16)) - 1u : 0u);
    const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, row + i + 16), _mm512_maskz_loadu_ps(lo, row + i));
    const std::size_t words = (rest + 1) / 2;
    _mm512_mask_storeu_epi32(dst, static_cast<__mmask16>(words >= 16 ? 0xffffu : (1u << words) - 1u), v);
  }
}

/// A 12 x 32 tile's accumulators through the float32 epilogue and store.
LMTCNN_TARGET_BF16 LMTCNN_ALWAYS_INLINE void store_bf16_tile(__m512 (&acc0)[12], __m512 (&acc1)[12], float* const* out,
                                                             std::size_t m, std::size_t col, std::size_t ncols,
                                                             const epilogue_k& ep) {
  using A = xsimd::avx512f;
  vf<A> v0[12], v1[12];
#pragma GCC unroll 16
  for (std::size_t r = 0; r < 12; ++r) {
    v0[r] = vf<A>(acc0[r]);
    v1[r] = vf<A>(acc1[r]);
  }
  gemm_tile_store<A>(v0, v1, out, m, col, ncols, ep);
}

/// The 12 x 32 tile: rows at a + r * lda (pair words), one b panel, kp_count pairs.
LMTCNN_TARGET_BF16 inline void gemm_bf16_tile(const std::uint32_t* a, std::size_t lda, const std::uint32_t* bpanel,
                                              std::size_t kp_count, float* const* out, std::size_t m, std::size_t col,
                                              std::size_t ncols, const epilogue_k& ep) {
  constexpr std::size_t mr = 12;
  static_assert(gemm_mr<xsimd::avx512f>() == mr, "the bf16 tile has the float32 tile's rows");
  __m512 acc0[mr], acc1[mr];
#pragma GCC unroll 16
  for (std::size_t r = 0; r < mr; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (std::size_t kp = 0; kp < kp_count; ++kp, bpanel += 32) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512(bpanel);
    const __m512bh b1 = (__m512bh)_mm512_load_si512(bpanel + 16);
#pragma GCC unroll 16
    for (std::size_t r = 0; r < mr; ++r) {
      const __m512bh ar = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[r * lda + kp]));
      acc0[r] = _mm512_dpbf16_ps(acc0[r], ar, b0);
      acc1[r] = _mm512_dpbf16_ps(acc1[r], ar, b1);
    }
  }
  store_bf16_tile(acc0, acc1, out, m, col, ncols, ep);
}

/// Fully connected, one block of V vectors (16 columns each) from column col0, ncols of them real,
/// for B input rows; p: the block's packed words, its pair rows read in dense_streams' order. The
/// inputs are converted to pair words a chunk of every run at a time on the stack (vector
/// conversions, then one broadcast per pair and row).
template <std::size_t V, std::size_t B>
LMTCNN_TARGET_BF16 void dense_bf16_block(const float* x, std::size_t ldx, std::size_t k, const std::uint32_t* p,
                                         float* out, std::size_t ldo, const epilogue_k& ep, std::size_t col0,
                                         std::size_t ncols) {
  using A = xsimd::avx512f;
  constexpr std::size_t chunk = 64, max_runs = 6, row = V * 16;
  static_assert(dense_streams(~std::size_t(0)) <= max_runs, "room for every run's chunk");
  alignas(64) std::uint32_t xw[max_runs][B][chunk];
  __m512 acc[B][V];
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t u = 0; u < V; ++u) acc[b][u] = _mm512_setzero_ps();
  // pairs [kp0, kp0 + n) of every input row into xw[r]
  auto convert = [&](std::size_t r, std::size_t kp0, std::size_t n) {
    for (std::size_t b = 0; b < B; ++b) row_to_bf16_pairs(x + b * ldx + 2 * kp0, std::min(2 * n, k - 2 * kp0), xw[r][b]);
  };
  const std::size_t kp_count = bf16_pair_words(k), runs = dense_streams(kp_count), seg = kp_count / runs;
  // seg rows of every run interleaved, then the rest (in order, as run 0). Each row's address is
  // computed in place: a table of the runs' first rows per chunk measured 5-10 % slower on full1.
  for (std::size_t i0 = 0, tail = runs * seg; i0 < seg || tail < kp_count;) {
    const bool interleaved = i0 < seg;
    const std::size_t n = interleaved ? std::min(chunk, seg - i0) : std::min(chunk, kp_count - tail);
    const std::size_t nr = interleaved ? runs : 1;
    for (std::size_t r = 0; r < nr; ++r) convert(r, interleaved ? r * seg + i0 : tail, n);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t r = 0; r < nr; ++r) {
        const std::uint32_t* q = p + (interleaved ? r * seg + i0 + i : tail + i) * row;
        __m512bh xb[B];
        for (std::size_t b = 0; b < B; ++b) xb[b] = (__m512bh)_mm512_set1_epi32(static_cast<int>(xw[r][b][i]));
#pragma GCC unroll 8
        for (std::size_t u = 0; u < V; ++u) {
          const __m512bh wv = (__m512bh)_mm512_load_si512(q + u * 16);
          for (std::size_t b = 0; b < B; ++b) acc[b][u] = _mm512_dpbf16_ps(acc[b][u], xb[b], wv);
        }
      }
    if (interleaved) i0 += n;
    else tail += n;
  }
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t u = 0; u < V && u * 16 < ncols; ++u)
      store_upto<A>(out + b * ldo + u * 16, apply<A>(ep, vf<A>(acc[b][u]), col0 + u * 16), ncols - u * 16);
}

template <std::size_t V>
LMTCNN_TARGET_BF16 void dense_bf16_rows(const float* x, std::size_t nb, std::size_t ldx, std::size_t k,
                                        const std::uint32_t* p, float* out, std::size_t ldo, const epilogue_k& ep,
                                        std::size_t col0, std::size_t ncols) {
  std::size_t b = 0;
  for (; b + 2 <= nb; b += 2) dense_bf16_block<V, 2>(x + b * ldx, ldx, k, p, out + b * ldo, ldo, ep, col0, ncols);
  if (b < nb) dense_bf16_block<V, 1>(x + b * ldx, ldx, k, p, out + b * ldo, ldo, ep, col0, ncols);
}
}  // namespace impl

/// The dot GEMM of up to 12 rows (rows[r] for r < m) against b packed by pack_gemm_b_bf16: the rows
/// converted into scratch (12 * bf16_pair_words(k) words), then one tile per panel.
LMTCNN_TARGET_BF16 inline void gemm_block_bf16_dot(const float* const* rows, std::size_t m, std::size_t k,
                                                   const std::uint32_t* bpacked, std::size_t n, float* const* out,
                                                   const epilogue_k& ep, float* scratch) {
  const std::size_t words = bf16_pair_words(k);
  auto* a = reinterpret_cast<std::uint32_t*>(scratch);
  for (std::size_t r = 0; r < 12; ++r) impl::row_to_bf16_pairs(rows[r < m ? r : 0], k, a + r * words);
  for (std::size_t p = 0; p < n; p += 32)
    impl::gemm_bf16_tile(a, words, bpacked + p * words, words, out, m, p, std::min<std::size_t>(32, n - p), ep);
}

namespace impl {
/// One pair of k for the first R of the 12 rows of a window tile (mask: which halves of the pair
/// word count).
template <std::size_t R>
LMTCNN_TARGET_BF16 LMTCNN_ALWAYS_INLINE void window_step(__m512 (&acc0)[12], __m512 (&acc1)[12],
                                                         const std::uint32_t*& bpanel, const std::uint16_t* const* rows,
                                                         std::size_t j, std::uint32_t mask) {
  const __m512bh b0 = (__m512bh)_mm512_load_si512(bpanel);
  const __m512bh b1 = (__m512bh)_mm512_load_si512(bpanel + 16);
  bpanel += 32;
#pragma GCC unroll 16
  for (std::size_t r = 0; r < R; ++r) {
    std::uint32_t word;
    std::memcpy(&word, rows[r] + 2 * j, sizeof word);
    const __m512bh ar = (__m512bh)_mm512_set1_epi32(static_cast<int>(word & mask));
    acc0[r] = _mm512_dpbf16_ps(acc0[r], ar, b0);
    acc1[r] = _mm512_dpbf16_ps(acc1[r], ar, b1);
  }
}

/// The R x 32 tile (R <= 12) over windows read in place from the bf16 image: tile row r's window
/// starts at a + r * lda (elements), window rows row_stride apart, each span elements long (the last
/// pair of an odd span has its second half masked to zero).
template <std::size_t R>
LMTCNN_TARGET_BF16 inline void gemm_bf16_tile_window(const std::uint16_t* a, std::size_t lda, std::size_t kh,
                                                     std::size_t span, std::size_t row_stride,
                                                     const std::uint32_t* bpanel, float* const* out, std::size_t col,
                                                     std::size_t ncols, const epilogue_k& ep) {
  constexpr std::size_t mr = 12;
  static_assert(R > 0 && R <= mr, "a tile has at most 12 rows");
  __m512 acc0[mr], acc1[mr];
#pragma GCC unroll 16
  for (std::size_t r = 0; r < mr; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  const std::size_t whole = span / 2;
  for (std::size_t ky = 0; ky < kh; ++ky) {
    const std::uint16_t* rows[mr];
#pragma GCC unroll 16
    for (std::size_t r = 0; r < R; ++r) rows[r] = a + r * lda + ky * row_stride;
    for (std::size_t j = 0; j < whole; ++j) window_step<R>(acc0, acc1, bpanel, rows, j, 0xffffffffu);
    if (span % 2) window_step<R>(acc0, acc1, bpanel, rows, whole, 0x0000ffffu);
  }
  store_bf16_tile(acc0, acc1, out, R, col, ncols, ep);
}

/// n floats into bf16 (round to nearest even), 32 at a time.
LMTCNN_TARGET_BF16 inline void floats_to_bf16(const float* src, std::size_t n, std::uint16_t* dst) {
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32)
    _mm512_storeu_si512(dst + i, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i)));
  for (; i < n; ++i) dst[i] = bf16_bits(src[i]);
}
}  // namespace impl

/// Standard convolution of one image in dot mode, output rows [oy_begin, oy_end); bpacked from
/// pack_conv_bf16; scratch: conv_bf16_scratch_floats(g) floats.
LMTCNN_TARGET_BF16 inline void conv2d_image_bf16_dot(const float* in, const conv_geom& g, const std::uint32_t* bpacked,
                                                     float* out, const epilogue_k& ep, float* scratch,
                                                     std::size_t oy_begin, std::size_t oy_end) {
  constexpr std::size_t mr = 12;
  oy_end = std::min(oy_end, g.out_h);
  if (oy_begin >= oy_end) return;
  const std::size_t span = g.kw * g.in_c, span2 = conv_bf16_span(g), k2 = g.kh * span2, words = k2 / 2;
  const std::size_t row_elems = g.in_w * g.in_c;
  auto* img = reinterpret_cast<std::uint16_t*>(scratch);  // the image's layout; only the band's rows filled
  float* rows = scratch + (g.in_h * g.in_w * g.in_c + 64) / 2;
  auto* pairs = reinterpret_cast<std::uint32_t*>(rows + mr * k2);
  // the input rows of this band's windows
  const std::ptrdiff_t first = static_cast<std::ptrdiff_t>(oy_begin * g.stride_h) - static_cast<std::ptrdiff_t>(g.pad_top);
  const std::ptrdiff_t last = static_cast<std::ptrdiff_t>((oy_end - 1) * g.stride_h + g.kh) - static_cast<std::ptrdiff_t>(g.pad_top);
  const std::size_t iy0 = static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, first));
  const std::size_t iy1 = static_cast<std::size_t>(std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(g.in_h), last));
  if (iy0 < iy1) impl::floats_to_bf16(in + iy0 * row_elems, (iy1 - iy0) * row_elems, img + iy0 * row_elems);
  img[iy1 * row_elems] = 0;  // the one element an odd span's last pair may read past the band (masked off)
  float* outs[mr];
  conv2d_tiles<mr, 4>(
      g, oy_begin, oy_end,
      [&](std::size_t oy, std::size_t ox, std::size_t wy, std::size_t wx, std::size_t n) {
        for (std::size_t r = 0; r < n; ++r) outs[r] = out + (oy * g.out_w + ox + r) * g.out_c;
        const std::uint16_t* a = img + wy * row_elems + wx * g.in_c;
        auto tile = [&](auto tile_rows) {  // 12 rows, or a narrower last tile of a row
          for (std::size_t p = 0; p < g.out_c; p += 32)
            impl::gemm_bf16_tile_window<decltype(tile_rows)::value>(a, g.stride_w * g.in_c, g.kh, span, row_elems,
                                                               bpacked + p * words, outs, p,
                                                               std::min<std::size_t>(32, g.out_c - p), ep);
        };
        if (n == 12)
          tile(std::integral_constant<std::size_t, 12>());
        else if (n == 8)
          tile(std::integral_constant<std::size_t, 8>());
        else
          tile(std::integral_constant<std::size_t, 4>());
      },
      [&](const std::size_t* pixel, std::size_t m) {
        for (std::size_t r = 0; r < mr; ++r) {
          const std::size_t p = pixel[r < m ? r : 0];
          outs[r] = out + p * g.out_c;
          if (r < m) gather_patch(in, g, p, rows + r * k2, span2);
          impl::row_to_bf16_pairs(rows + (r < m ? r : 0) * k2, k2, pairs + r * words);
        }
        for (std::size_t p = 0; p < g.out_c; p += 32)
          impl::gemm_bf16_tile(pairs, words, bpacked + p * words, words, outs, m, p, std::min<std::size_t>(32, g.out_c - p), ep);
      });
}

/// Fully connected in dot mode: out[b][j] = epilogue(sum_i x[b][i] * wt[i][j]) for nb input rows,
/// weights packed by pack_dense_bf16 (64-byte aligned), column blocks [block_begin, block_end) only.
LMTCNN_TARGET_BF16 inline void dense_bf16_packed(const float* x, std::size_t nb, std::size_t ldx, std::size_t k,
                                                 const std::uint32_t* packed, std::size_t m, float* out, std::size_t ldo,
                                                 const epilogue_k& ep, std::size_t block_begin, std::size_t block_end) {
  const std::size_t kp_count = bf16_pair_words(k);
  for (std::size_t blk = block_begin; blk < block_end; ++blk) {
    const std::size_t col0 = blk * 128, ncols = std::min<std::size_t>(128, m - col0), vecs = (ncols + 15) / 16;
    const std::uint32_t* p = packed + col0 * kp_count;  // every block before this one is whole
    float* o = out + col0;
    switch (vecs) {
      case 1: impl::dense_bf16_rows<1>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      case 2: impl::dense_bf16_rows<2>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      case 3: impl::dense_bf16_rows<3>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      case 4: impl::dense_bf16_rows<4>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      case 5: impl::dense_bf16_rows<5>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      case 6: impl::dense_bf16_rows<6>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      case 7: impl::dense_bf16_rows<7>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      default: impl::dense_bf16_rows<8>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
    }
  }
}
#endif  // LMTCNN_HAVE_BF16_DOT && __AVX512F__

}  // namespace kernels
}  // namespace detail
}  // namespace lmtcnn
