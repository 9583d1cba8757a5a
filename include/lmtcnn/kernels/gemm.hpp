// lmtcnn SIMD kernels: register-blocked GEMM, the core of pointwise (1x1) and standard convolution.
//
// Computes out[r][c] = epilogue(sum_k a[r][k] * b[k][c]) for m rows, n columns and a reduction of k.
// Contract:
//   - b is packed once (pack_gemm_b) into panels of nr = 2 vectors of columns: panel p holds, for each
//     k, nr floats (columns p*nr .. p*nr+nr-1, zero past n). Epilogue arrays are padded to the panels.
//   - a tile of up to mr rows is packed k-major into a caller scratch of mr*k floats (pack_gemm_a, or
//     written directly by an im2col gather), so the inner loop reads one pointer.
//   - out rows are given as pointers (any row stride); only columns < n are written.
#pragma once

#include "lmtcnn/kernels/common.hpp"

namespace lmtcnn {
namespace detail {
namespace kernels {

/// Rows of a GEMM tile: as many as the registers hold next to 2 accumulator vectors per row.
template <class A>
constexpr std::size_t gemm_mr() {
  if constexpr (width<A> >= 16) return 12;  // 24 of 32 zmm accumulate
  else if constexpr (width<A> == 8) return 6;  // 12 of 16 ymm
  else if constexpr (vector_registers<A>() == 32) return 8;  // AArch64: 16 of 32 q
  else return 4;  // 8 of 16 xmm
}

/// The step of narrower tiles' rows (a divisor of gemm_mr): a convolution row's last tile takes the
/// rest of the row rounded up to it (conv2d_tiles).
template <class A>
constexpr std::size_t gemm_mr_quantum() {
  if constexpr (gemm_mr<A>() % 4 == 0) return 4;
  else if constexpr (gemm_mr<A>() % 2 == 0) return 2;
  else return gemm_mr<A>();
}

/// Columns of a GEMM panel: two vectors.
template <class A>
constexpr std::size_t gemm_nr() {
  return 2 * width<A>;
}

/// Floats pack_gemm_b writes for k x n.
template <class A>
constexpr std::size_t packed_gemm_b_size(std::size_t k, std::size_t n) {
  return (n + gemm_nr<A>() - 1) / gemm_nr<A>() * gemm_nr<A>() * k;
}

/// Packs b (k x n, row stride ldb) into panels; dst holds packed_gemm_b_size floats.
template <class A>
void pack_gemm_b(const float* b, std::size_t k, std::size_t n, std::size_t ldb, float* dst) {
  constexpr std::size_t nr = gemm_nr<A>();
  for (std::size_t p = 0; p < n; p += nr) {
    const std::size_t valid = std::min(nr, n - p);  // the rest of the panel is zero padding
    for (std::size_t kk = 0; kk < k; ++kk, dst += nr) {
      for (std::size_t j = 0; j < valid; ++j) dst[j] = b[kk * ldb + p + j];
      for (std::size_t j = valid; j < nr; ++j) dst[j] = 0.f;
    }
  }
}

/// Packs up to mr rows (each k floats) k-major into scratch (mr*k floats); missing rows repeat row 0.
template <class A>
void pack_gemm_a(const float* const* rows, std::size_t m, std::size_t k, float* scratch) {
  constexpr std::size_t mr = gemm_mr<A>();
  for (std::size_t kk = 0; kk < k; ++kk)
    for (std::size_t r = 0; r < mr; ++r) scratch[kk * mr + r] = rows[r < m ? r : 0][kk];
}

/// A tile's epilogue and store: m rows and ncols (<= nr) columns starting at column col of each out
/// row. The loops over rows are unrolled with constant indices, so the accumulators stay in
/// registers.
template <class A>
LMTCNN_ALWAYS_INLINE void gemm_tile_store(vf<A> (&acc0)[gemm_mr<A>()], vf<A> (&acc1)[gemm_mr<A>()], float* const* out,
                                          std::size_t m, std::size_t col, std::size_t ncols, const epilogue_k& ep) {
  constexpr std::size_t mr = gemm_mr<A>(), w = width<A>;
  apply_n<A>(ep, acc0, col);  // every row of the tile shares the columns' epilogue vectors
  apply_n<A>(ep, acc1, col + w);
  if (ncols == 2 * w) {
#pragma GCC unroll 16
    for (std::size_t r = 0; r < mr; ++r)
      if (r < m) {
        acc0[r].store_unaligned(out[r] + col);
        acc1[r].store_unaligned(out[r] + col + w);
      }
  } else {
#pragma GCC unroll 16
    for (std::size_t r = 0; r < mr; ++r)
      if (r < m) {
        store_upto<A>(out[r] + col, acc0[r], ncols);
        if (ncols > w) store_upto<A>(out[r] + col + w, acc1[r], ncols - w);
      }
  }
}

/// One k step of a tile: the b panel's two vectors at b times a_at(r) for rows r < R, into the
/// accumulators (zeroed by the caller). a_at is inlined.
template <class A, std::size_t R = gemm_mr<A>(), class AAt>
LMTCNN_ALWAYS_INLINE void gemm_tile_step(vf<A> (&acc0)[gemm_mr<A>()], vf<A> (&acc1)[gemm_mr<A>()], const float* b,
                                         AAt a_at) {
  constexpr std::size_t mr = R;
  const vf<A> b0 = vf<A>::load_aligned(b);
  const vf<A> b1 = vf<A>::load_aligned(b + width<A>);
#pragma GCC unroll 16
  for (std::size_t r = 0; r < mr; ++r) {
    const vf<A> ar(a_at(r));
    acc0[r] = xsimd::fma(ar, b0, acc0[r]);
    acc1[r] = xsimd::fma(ar, b1, acc1[r]);
  }
}

/// One mr x nr tile: a (element (kk, r) read through a_at) times one b panel, epilogue, store of m
/// rows and ncols (<= nr) columns starting at column col of each out row. a_at is inlined; its
/// forms below read a packed tile or evenly spaced rows in place.
template <class A, class AAt>
inline void gemm_tile_with(AAt a_at, const float* bpanel, std::size_t k, float* const* out, std::size_t m,
                           std::size_t col, std::size_t ncols, const epilogue_k& ep) {
  constexpr std::size_t mr = gemm_mr<A>(), w = width<A>;
  vf<A> acc0[mr] = {}, acc1[mr] = {};  // value-initialised: zeros
  for (std::size_t kk = 0; kk < k; ++kk)
    gemm_tile_step<A>(acc0, acc1, bpanel + kk * 2 * w, [&](std::size_t r) { return a_at(kk, r); });
  gemm_tile_store<A>(acc0, acc1, out, m, col, ncols, ep);
}

/// A tile of R (<= gemm_mr, by default all) convolution windows read in place: tile row r starts at
/// a + r * lda; the window has kh rows of span contiguous floats, row_stride apart; k = kh * span.
/// Each row's pointer is fixed over a window row and one index steps along it, so every element is
/// one load. Each output's sum runs over k in the same order whatever R is.
template <class A, std::size_t R = gemm_mr<A>()>
inline void gemm_tile_window(const float* a, std::size_t lda, std::size_t kh, std::size_t span, std::size_t row_stride,
                             const float* bpanel, float* const* out, std::size_t col, std::size_t ncols,
                             const epilogue_k& ep) {
  constexpr std::size_t mr = gemm_mr<A>(), w = width<A>;
  static_assert(R > 0 && R <= mr, "a tile has at most gemm_mr rows");
  vf<A> acc0[mr] = {}, acc1[mr] = {};  // value-initialised: zeros (rows from R on unused)
  const float* b = bpanel;
  for (std::size_t ky = 0; ky < kh; ++ky) {
    const float* rows[R];
#pragma GCC unroll 16
    for (std::size_t r = 0; r < R; ++r) rows[r] = a + r * lda + ky * row_stride;
    for (std::size_t i = 0; i < span; ++i, b += 2 * w)
      gemm_tile_step<A, R>(acc0, acc1, b, [&](std::size_t r) { return rows[r][i]; });
  }
  gemm_tile_store<A>(acc0, acc1, out, R, col, ncols, ep);
}

/// Rows of the narrow tile, for layers of at most one vector of output columns: twice gemm_mr, one
/// accumulator vector each.
template <class A>
constexpr std::size_t gemm_mr_narrow() {
  return 2 * gemm_mr<A>();
}

/// gemm_tile_window for at most one vector of columns (ncols <= width): gemm_mr_narrow rows, the
/// first vector of each k's panel row. Each output's sum runs over k in the same order as in the
/// two-vector tile, so the results are the same. L: lda known when compiled (0: lda_rt), so each
/// row's element is a constant offset from one pointer (x86 has too few registers for 24 offsets).
template <class A, std::size_t L = 0>
inline void gemm_tile_window_narrow(const float* a, std::size_t lda_rt, std::size_t kh, std::size_t span,
                                    std::size_t row_stride, const float* bpanel, float* const* out, std::size_t ncols,
                                    const epilogue_k& ep) {
  constexpr std::size_t mr = gemm_mr_narrow<A>(), w = width<A>;
  const std::size_t lda = L != 0 ? L : lda_rt;
  vf<A> acc[mr] = {};  // value-initialised: zeros
  const float* b = bpanel;
  for (std::size_t ky = 0; ky < kh; ++ky) {
    const float* row = a + ky * row_stride;
    for (std::size_t i = 0; i < span; ++i, b += 2 * w) {
      const vf<A> bv = vf<A>::load_aligned(b);
      const float* p = opaque(row + i);
#pragma GCC unroll 32
      for (std::size_t r = 0; r < mr; ++r) acc[r] = xsimd::fma(vf<A>(p[r * lda]), bv, acc[r]);
    }
  }
  apply_n<A>(ep, acc, 0);
  if (ncols == w) {
#pragma GCC unroll 32
    for (std::size_t r = 0; r < mr; ++r) acc[r].store_unaligned(out[r]);
  } else {
#pragma GCC unroll 32
    for (std::size_t r = 0; r < mr; ++r) store_upto<A>(out[r], acc[r], ncols);
  }
}

/// A packed tile: k-major, mr values per k.
template <class A>
inline void gemm_tile(const float* apack, const float* bpanel, std::size_t k, float* const* out, std::size_t m,
                      std::size_t col, std::size_t ncols, const epilogue_k& ep) {
  gemm_tile_with<A>([apack](std::size_t kk, std::size_t r) { return apack[kk * gemm_mr<A>() + r]; }, bpanel, k, out,
                    m, col, ncols, ep);
}

/// A whole tile read in place: row r of the tile is a + r * lda (rows evenly spaced).
template <class A>
inline void gemm_tile_strided(const float* a, std::size_t lda, const float* bpanel, std::size_t k, float* const* out,
                              std::size_t col, std::size_t ncols, const epilogue_k& ep) {
  gemm_tile_with<A>([a, lda](std::size_t kk, std::size_t r) { return a[r * lda + kk]; }, bpanel, k, out,
                    gemm_mr<A>(), col, ncols, ep);
}

/// All n columns for one block of m <= mr rows whose a tile is already packed.
template <class A>
void gemm_block_packed(const float* apack, std::size_t m, std::size_t k, const float* bpacked, std::size_t n,
                       float* const* out, const epilogue_k& ep) {
  constexpr std::size_t nr = gemm_nr<A>();
  for (std::size_t p = 0; p < n; p += nr)
    gemm_tile<A>(apack, bpacked + p * k, k, out, m, p, std::min(nr, n - p), ep);
}

/// out rows = epilogue(rows x b) for m <= mr rows given by pointers; scratch holds mr*k floats.
template <class A>
void gemm_block(const float* const* rows, std::size_t m, std::size_t k, const float* bpacked, std::size_t n,
                float* const* out, const epilogue_k& ep, float* scratch) {
  pack_gemm_a<A>(rows, m, k, scratch);
  gemm_block_packed<A>(scratch, m, k, bpacked, n, out, ep);
}

/// A whole matrix: a (m x k, row stride lda) times packed b into out (row stride ldo). Whole tiles
/// read a in place; the last, partial tile is packed into scratch (mr*k floats).
template <class A>
void gemm(const float* a, std::size_t m, std::size_t k, std::size_t lda, const float* bpacked, std::size_t n,
          float* out, std::size_t ldo, const epilogue_k& ep, float* scratch) {
  constexpr std::size_t mr = gemm_mr<A>(), nr = gemm_nr<A>();
  const float* rows[mr];
  float* outs[mr];
  for (std::size_t i = 0; i < m; i += mr) {
    const std::size_t mm = std::min(mr, m - i);
    for (std::size_t r = 0; r < mr; ++r) {
      rows[r] = a + (i + (r < mm ? r : 0)) * lda;
      outs[r] = out + (i + (r < mm ? r : 0)) * ldo;
    }
    if (mm == mr) {
      for (std::size_t p = 0; p < n; p += nr)
        gemm_tile_strided<A>(rows[0], lda, bpacked + p * k, k, outs, p, std::min(nr, n - p), ep);
    } else {
      gemm_block<A>(rows, mm, k, bpacked, n, outs, ep, scratch);
    }
  }
}

}  // namespace kernels
}  // namespace detail
}  // namespace lmtcnn
