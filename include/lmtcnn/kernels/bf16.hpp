// lmtcnn SIMD kernels: the bf16 precision (core/precision.hpp) of GEMM, convolution and fully
// connected layers.
//
// Two ways, chosen per layer when a network is prepared (bf16_mode):
// - widened (every path): the weights are rounded to bf16 and kept as float32 in the ordinary packed
//   layouts; each tile of input rows is rounded into scratch (round_rows) and the float32 kernels run
//   on it. The fully connected kernel rounds each input value as it broadcasts it.
// - dot (x86-64 AVX-512 with AVX512_BF16, checked at run time): the weights are packed as pairs of
//   bf16 (two consecutive k of one output column in one 32-bit word), the input rows are converted
//   into the same pairs, and vdpbf16ps adds both products of a pair into each float32 accumulator.
//   These functions carry the avx512bf16 target themselves, so the AVX-512 path's translation unit
//   needs no extra flags; they are called only after cpu_has_avx512_bf16().
#pragma once

#include <cstdint>

#include "lmtcnn/core/precision.hpp"
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

/// 32-bit words of a bf16 pair row of k values.
constexpr std::size_t bf16_pair_words(std::size_t k) { return (k + 1) / 2; }

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

// Fully connected: the weights [k, m] in column blocks of 8 vectors (128 columns; the last as many
// vectors as its columns need), block after block; in a block, for each pair of k, its vectors of 16
// words (column j's two bf16 of k and k + 1).

/// Words pack_dense_bf16 writes for k x m.
constexpr std::size_t packed_dense_bf16_words(std::size_t k, std::size_t m) {
  return bf16_pair_words(k) * (m / 128 * 128 + (m % 128 + 15) / 16 * 16);
}

inline void pack_dense_bf16(const float* wt, std::size_t k, std::size_t m, std::uint32_t* dst) {
  const std::size_t kp_count = bf16_pair_words(k);
  for (std::size_t j0 = 0; j0 < m; j0 += 128) {
    const std::size_t cols = std::min<std::size_t>(128, m - j0), padded = (cols + 15) / 16 * 16;
    for (std::size_t kp = 0; kp < kp_count; ++kp, dst += padded)
      for (std::size_t u = 0; u < padded; ++u) {
        const std::size_t k0 = 2 * kp, k1 = k0 + 1;
        const std::uint32_t lo = u < cols ? bf16_bits(wt[k0 * m + j0 + u]) : 0u;
        const std::uint32_t hi = u < cols && k1 < k ? bf16_bits(wt[k1 * m + j0 + u]) : 0u;
        dst[u] = lo | (hi << 16);
      }
  }
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

/// The 12 x 32 tile: rows at a + r * lda (pair words), one b panel, kp_count pairs.
LMTCNN_TARGET_BF16 inline void gemm_bf16_tile(const std::uint32_t* a, std::size_t lda, const std::uint32_t* bpanel,
                                              std::size_t kp_count, float* const* out, std::size_t m, std::size_t col,
                                              std::size_t ncols, const epilogue_k& ep) {
  using A = xsimd::avx512f;
  constexpr std::size_t mr = 12;
  static_assert(gemm_mr<A>() == mr, "the bf16 tile has the float32 tile's rows");
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
  vf<A> v0[mr], v1[mr];
#pragma GCC unroll 16
  for (std::size_t r = 0; r < mr; ++r) {
    v0[r] = vf<A>(acc0[r]);
    v1[r] = vf<A>(acc1[r]);
  }
  gemm_tile_store<A>(v0, v1, out, m, col, ncols, ep);
}

/// Fully connected, one block of V vectors (16 columns each) from column col0, ncols of them real,
/// for B input rows; p: the block's packed words.
template <std::size_t V, std::size_t B>
LMTCNN_TARGET_BF16 void dense_bf16_block(const float* x, std::size_t ldx, std::size_t k, const std::uint32_t* p,
                                         float* out, std::size_t ldo, const epilogue_k& ep, std::size_t col0,
                                         std::size_t ncols) {
  using A = xsimd::avx512f;
  __m512 acc[B][V];
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t u = 0; u < V; ++u) acc[b][u] = _mm512_setzero_ps();
  const std::size_t kp_count = bf16_pair_words(k), whole = k / 2;
  for (std::size_t kp = 0; kp < kp_count; ++kp, p += V * 16) {
    __m512bh xb[B];
    for (std::size_t b = 0; b < B; ++b) {
      const float* xr = x + b * ldx + 2 * kp;
      const std::uint32_t pair = bf16_bits(xr[0]) | (kp < whole ? static_cast<std::uint32_t>(bf16_bits(xr[1])) << 16 : 0u);
      xb[b] = (__m512bh)_mm512_set1_epi32(static_cast<int>(pair));
    }
#pragma GCC unroll 8
    for (std::size_t u = 0; u < V; ++u) {
      const __m512bh wv = (__m512bh)_mm512_load_si512(p + u * 16);
      for (std::size_t b = 0; b < B; ++b) acc[b][u] = _mm512_dpbf16_ps(acc[b][u], xb[b], wv);
    }
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
