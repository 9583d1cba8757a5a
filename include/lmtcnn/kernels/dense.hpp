// lmtcnn SIMD kernels: fully connected layers, on TensorFlow's [k, m] weights in place or on
// weights packed into column blocks. Contracts as in common.hpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "lmtcnn/core/precision.hpp"
#include "lmtcnn/kernels/common.hpp"

namespace lmtcnn {
namespace detail {
namespace kernels {

// ---- fully connected -----------------------------------------------------------------------------
// out[j] = epilogue(sum_i x[i] * wt[i * m + j]) for one input row x of k floats, weights [k, m]
// row-major (TensorFlow's layout, used in place). The weights are streamed once, in memory order,
// four rows at a time (one contiguous stream); out accumulates in place (it stays in L1), so out
// must hold round_up(m) floats of room (tensor slack covers it).

namespace impl {
/// B input rows at once (B <= 4): every weight vector loaded feeds B accumulators.
template <class A, std::size_t B>
void dense_group(const float* x, std::size_t ldx, std::size_t k, const float* wt, std::size_t ldw, std::size_t m,
                 float* out, std::size_t ldo, const epilogue_k& ep) {
  constexpr std::size_t w = width<A>;
  const std::size_t mv = m / w * w;  // columns covered by whole vectors
  for (std::size_t b = 0; b < B; ++b) std::fill(out + b * ldo, out + b * ldo + m, 0.f);
  std::size_t i = 0;
  for (; i + 4 <= k; i += 4) {
    const float *r0 = wt + i * ldw, *r1 = r0 + ldw, *r2 = r1 + ldw, *r3 = r2 + ldw;
    for (std::size_t j = 0; j < mv; j += w) {
      const vf<A> w0 = vf<A>::load_unaligned(r0 + j), w1 = vf<A>::load_unaligned(r1 + j),
                  w2 = vf<A>::load_unaligned(r2 + j), w3 = vf<A>::load_unaligned(r3 + j);
#pragma GCC unroll 4
      for (std::size_t b = 0; b < B; ++b) {
        const float* xb = x + b * ldx + i;
        float* ob = out + b * ldo + j;
        vf<A> acc = vf<A>::load_unaligned(ob);
        acc = xsimd::fma(vf<A>(xb[0]), w0, acc);
        acc = xsimd::fma(vf<A>(xb[1]), w1, acc);
        acc = xsimd::fma(vf<A>(xb[2]), w2, acc);
        acc = xsimd::fma(vf<A>(xb[3]), w3, acc);
        acc.store_unaligned(ob);
      }
    }
    for (std::size_t b = 0; b < B; ++b) {
      const float* xb = x + b * ldx + i;
      float* ob = out + b * ldo;
      for (std::size_t j = mv; j < m; ++j) ob[j] += xb[0] * r0[j] + xb[1] * r1[j] + xb[2] * r2[j] + xb[3] * r3[j];
    }
  }
  for (; i < k; ++i) {
    const float* r = wt + i * ldw;
    for (std::size_t b = 0; b < B; ++b) {
      const vf<A> xi(x[b * ldx + i]);
      float* ob = out + b * ldo;
      for (std::size_t j = 0; j < mv; j += w)
        xsimd::fma(xi, vf<A>::load_unaligned(r + j), vf<A>::load_unaligned(ob + j)).store_unaligned(ob + j);
      for (std::size_t j = mv; j < m; ++j) ob[j] += x[b * ldx + i] * r[j];
    }
  }
  for (std::size_t b = 0; b < B; ++b) {
    float* ob = out + b * ldo;
    for (std::size_t j = 0; j < m; j += w) store_upto<A>(ob + j, apply<A>(ep, vf<A>::load_unaligned(ob + j), j), m - j);
  }
}
}  // namespace impl

/// nb input rows (row b at x + b * ldx) times the columns [0, m) of weights whose rows are ldw floats
/// apart (ldw >= m: a column range of a wider layer) into out + b * ldo. The weights are streamed
/// once per four input rows. ep's per-channel arrays are indexed from this range's first column.
/// Reads up to one vector past column m of out (room as above; a column range ending before the
/// layer's last column must therefore end at a multiple of the vector width).
template <class A>
void dense_rows(const float* x, std::size_t nb, std::size_t ldx, std::size_t k, const float* wt, std::size_t ldw,
                std::size_t m, float* out, std::size_t ldo, const epilogue_k& ep) {
  std::size_t b = 0;
  for (; b + 4 <= nb; b += 4) impl::dense_group<A, 4>(x + b * ldx, ldx, k, wt, ldw, m, out + b * ldo, ldo, ep);
  switch (nb - b) {
    case 3: impl::dense_group<A, 3>(x + b * ldx, ldx, k, wt, ldw, m, out + b * ldo, ldo, ep); break;
    case 2: impl::dense_group<A, 2>(x + b * ldx, ldx, k, wt, ldw, m, out + b * ldo, ldo, ep); break;
    case 1: impl::dense_group<A, 1>(x + b * ldx, ldx, k, wt, ldw, m, out + b * ldo, ldo, ep); break;
    default: break;
  }
}

/// One input row: dense_rows with nb = 1 over all m columns.
template <class A>
void dense_row(const float* x, std::size_t k, const float* wt, std::size_t m, float* out, const epilogue_k& ep) {
  impl::dense_group<A, 1>(x, k, k, wt, m, m, out, m, ep);
}

// ---- fully connected on packed weights ------------------------------------------------------------
// The weights [k, m] repacked once into column blocks of dense_block_vectors vectors: block by
// block, each block row after row (the last block as many vectors as its columns need, zero-padded).
// Each block's accumulators stay in registers and every column's sum over k runs in one chain, in
// an order fixed by k and the path (same results, whatever the grouping, batch or thread split):
// that of dense_row where a block row is one 64-byte line (AVX2, SSE, NEON) and dense_group_blocks
// blocks are read together (one sequential stream from memory reaches ~16 GB/s on a Zen 3 core, four
// interleaved ones ~22 GB/s); on AVX-512, one block at a time, dense_streams' order.

/// Reading order of a block's rows where one block is read at a time (AVX-512, and the bf16 dot
/// kernels), in rows of pairs of k (the float32 kernel takes a pair's two rows one after the other,
/// then an odd k's last): dense_streams(pairs) runs of seg = pairs / runs each, interleaved (pair i of
/// every run, then pair i + 1), then the pairs past runs * seg in order. The order depends on k alone,
/// so the results do not depend on the batch or thread split, and the float32 and widened bf16 sums
/// take the same order. One sequential stream from memory reaches ~24 GB/s on a Zen 4 core, six
/// interleaved ones ~28 (bench_layers full1: float32 1.32 -> 1.00 ms, bf16 dot 0.645 -> 0.52).
constexpr std::size_t dense_streams(std::size_t rows) {
  return rows >= 2048 ? std::min<std::size_t>(6, rows / 1024) : 1;
}

/// f(row) for the rows [0, rows) in dense_streams' order.
template <class F>
LMTCNN_ALWAYS_INLINE void for_dense_rows(std::size_t rows, F&& f) {
  const std::size_t runs = dense_streams(rows), seg = rows / runs;
  for (std::size_t i = 0; i < seg; ++i)
    for (std::size_t r = 0; r < runs; ++r) f(r * seg + i);
  for (std::size_t i = runs * seg; i < rows; ++i) f(i);
}

/// Vectors per column block: 8 where a vector holds 16 floats (AVX-512), else one 64-byte line.
template <class A>
constexpr std::size_t dense_block_vectors() {
  return width<A> >= 16 ? 8 : 16 / width<A>;
}

/// Column blocks read together for B input rows: as many as fill 8 accumulators (1 on AVX-512,
/// whose block reads its own rows as several streams, dense_streams).
template <class A, std::size_t B>
constexpr std::size_t dense_group_blocks() {
  if constexpr (width<A> >= 16) return 1;
  else return std::max<std::size_t>(1, 8 / (dense_block_vectors<A>() * B));
}

/// Column blocks of m columns.
template <class A>
constexpr std::size_t dense_blocks(std::size_t m) {
  const std::size_t bw = dense_block_vectors<A>() * width<A>;
  return (m + bw - 1) / bw;
}

/// Floats pack_dense writes for k x m.
template <class A>
constexpr std::size_t packed_dense_size(std::size_t k, std::size_t m) {
  const std::size_t bw = dense_block_vectors<A>() * width<A>;
  return k * (m / bw * bw + round_up<A>(m % bw));
}

template <class A>
void pack_dense(const float* wt, std::size_t k, std::size_t m, float* dst) {
  const std::size_t bw = dense_block_vectors<A>() * width<A>;
  for (std::size_t j0 = 0; j0 < m; j0 += bw) {
    const std::size_t cols = std::min(bw, m - j0), padded_cols = std::min(bw, round_up<A>(cols));
    for (std::size_t i = 0; i < k; ++i, dst += padded_cols) {
      for (std::size_t u = 0; u < cols; ++u) dst[u] = wt[i * m + j0 + u];
      for (std::size_t u = cols; u < padded_cols; ++u) dst[u] = 0.f;
    }
  }
}

// bf16 pairs (the widened bf16 precision; kernels/bf16.hpp's dot mode uses the same layout with
// blocks of 128 columns): the same column blocks, but each block row holds two rows of k, column j's
// bf16 of k and k + 1 side by side in one 32-bit word (the second zero past k), half the bytes of
// the float32 layout to stream. In the kernel, word << 16 and word & 0xffff0000 are those two bf16
// as float32, exactly.

/// 32-bit words of a bf16 pair row of k values.
constexpr std::size_t bf16_pair_words(std::size_t k) { return (k + 1) / 2; }

/// Words pack_dense_pairs writes for k x m in blocks of bw columns, the last padded to a multiple of vec.
constexpr std::size_t packed_dense_pair_words(std::size_t k, std::size_t m, std::size_t bw, std::size_t vec) {
  return bf16_pair_words(k) * (m / bw * bw + (m % bw + vec - 1) / vec * vec);
}

inline void pack_dense_pairs(const float* wt, std::size_t k, std::size_t m, std::size_t bw, std::size_t vec,
                             std::uint32_t* dst) {
  const std::size_t kp_count = bf16_pair_words(k);
  for (std::size_t j0 = 0; j0 < m; j0 += bw) {
    const std::size_t cols = std::min(bw, m - j0), padded = (cols + vec - 1) / vec * vec;
    for (std::size_t kp = 0; kp < kp_count; ++kp, dst += padded)
      for (std::size_t u = 0; u < padded; ++u) {
        const std::size_t k0 = 2 * kp, k1 = k0 + 1;
        const std::uint32_t lo = u < cols ? bf16_bits(wt[k0 * m + j0 + u]) : 0u;
        const std::uint32_t hi = u < cols && k1 < k ? bf16_bits(wt[k1 * m + j0 + u]) : 0u;
        dst[u] = lo | (hi << 16);
      }
  }
}

/// Words pack_dense_bf16_widened writes for k x m on path A.
template <class A>
constexpr std::size_t packed_dense_bf16_widened_words(std::size_t k, std::size_t m) {
  return packed_dense_pair_words(k, m, dense_block_vectors<A>() * width<A>, width<A>);
}

/// The weights as bf16 pairs in path A's column blocks, for dense_packed<A, true>.
template <class A>
void pack_dense_bf16_widened(const float* wt, std::size_t k, std::size_t m, std::uint32_t* dst) {
  pack_dense_pairs(wt, k, m, dense_block_vectors<A>() * width<A>, width<A>, dst);
}

namespace impl {
/// G neighbouring blocks of V vectors each (G > 1: all whole, one block's size apart) from column
/// col0, ncols of them real, for B input rows; p: the first block's rows. P: the weights are bf16
/// pairs (pack_dense_pairs) and each input value is rounded to bf16 (the widened bf16 precision); the
/// products still enter each column's one chain in the order of k, so the sums are those of float32
/// weights rounded to bf16.
template <class A, std::size_t V, std::size_t B, std::size_t G, bool P = false>
void dense_block(const float* x, std::size_t ldx, std::size_t k, const float* p, float* out, std::size_t ldo,
                 const epilogue_k& ep, std::size_t col0, std::size_t ncols) {
  constexpr std::size_t w = width<A>;
  vf<A> acc[B][G][V];
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t g = 0; g < G; ++g)
      for (std::size_t u = 0; u < V; ++u) acc[b][g][u] = vf<A>(0.f);
  if constexpr (!P) {
    const std::size_t block_floats = V * w * k;
    auto row = [&](std::size_t i) {
      const float* q = p + i * (V * w);
      vf<A> xb[B];
      for (std::size_t b = 0; b < B; ++b) xb[b] = vf<A>(x[b * ldx + i]);
#pragma GCC unroll 8
      for (std::size_t g = 0; g < G; ++g)
#pragma GCC unroll 8
        for (std::size_t u = 0; u < V; ++u) {
          const vf<A> wv = vf<A>::load_aligned(q + g * block_floats + u * w);
          for (std::size_t b = 0; b < B; ++b) acc[b][g][u] = xsimd::fma(xb[b], wv, acc[b][g][u]);
        }
    };
    if constexpr (G == 1 && width<A> >= 16) {  // in pairs of rows, as the bf16 pairs below
      for_dense_rows(k / 2, [&](std::size_t kp) {
        row(2 * kp);
        row(2 * kp + 1);
      });
      if (k % 2) row(k - 1);
    } else {
      for (std::size_t i = 0; i < k; ++i) row(i);
    }
  } else {
    using vu = xsimd::batch<std::uint32_t, A>;
    const std::size_t block_words = V * w * bf16_pair_words(k), whole = k / 2;
    const auto* words = reinterpret_cast<const std::uint32_t*>(p);
    const vu high(0xffff0000u);
    // the pair of k from i (row i / 2): both halves (Two) or, for an odd k's last, the first only
    auto step = [&](std::size_t i, auto two) {
      const std::uint32_t* q = words + i / 2 * (V * w);
      constexpr bool Two = decltype(two)::value;
      vf<A> x0[B], x1[B];
      for (std::size_t b = 0; b < B; ++b) {
        x0[b] = vf<A>(round_to_bf16(x[b * ldx + i]));
        if constexpr (Two) x1[b] = vf<A>(round_to_bf16(x[b * ldx + i + 1]));
      }
#pragma GCC unroll 8
      for (std::size_t g = 0; g < G; ++g)
#pragma GCC unroll 8
        for (std::size_t u = 0; u < V; ++u) {
          const vu wv = vu::load_aligned(q + g * block_words + u * w);
          const vf<A> lo = xsimd::bitwise_cast<vf<A>>(wv << 16), hi = xsimd::bitwise_cast<vf<A>>(wv & high);
          for (std::size_t b = 0; b < B; ++b) {
            acc[b][g][u] = xsimd::fma(x0[b], lo, acc[b][g][u]);
            if constexpr (Two) acc[b][g][u] = xsimd::fma(x1[b], hi, acc[b][g][u]);
          }
        }
    };
    if constexpr (G == 1 && width<A> >= 16) for_dense_rows(whole, [&](std::size_t kp) { step(2 * kp, std::true_type{}); });
    else for (std::size_t kp = 0; kp < whole; ++kp) step(2 * kp, std::true_type{});
    if (k % 2) step(k - 1, std::false_type{});
  }
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t g = 0; g < G; ++g)
      for (std::size_t u = 0; u < V && (g * V + u) * w < ncols; ++u) {
        const std::size_t col = (g * V + u) * w;
        store_upto<A>(out + b * ldo + col, apply<A>(ep, acc[b][g][u], col0 + col), ncols - col);
      }
}

/// G blocks (G > 1: whole ones) for nb input rows: two rows at a time, in subgroups as
/// dense_group_blocks allows.
template <class A, std::size_t V, std::size_t G, bool P = false>
void dense_block_rows(const float* x, std::size_t nb, std::size_t ldx, std::size_t k, const float* p, float* out,
                      std::size_t ldo, const epilogue_k& ep, std::size_t col0, std::size_t ncols) {
  constexpr std::size_t G2 = std::min(G, dense_group_blocks<A, 2>()), bw = V * width<A>;
  static_assert(G % G2 == 0, "a group of blocks splits into whole subgroups for two rows");
  const std::size_t block = bw * (P ? bf16_pair_words(k) : k);  // floats (or words) per block
  std::size_t b = 0;
  for (; b + 2 <= nb; b += 2)
    for (std::size_t g = 0; g < G; g += G2)
      dense_block<A, V, 2, G2, P>(x + b * ldx, ldx, k, p + g * block, out + b * ldo + g * bw, ldo, ep, col0 + g * bw,
                                  std::min(ncols - g * bw, G2 * bw));
  if (b < nb) dense_block<A, V, 1, G, P>(x + b * ldx, ldx, k, p, out + b * ldo, ldo, ep, col0, ncols);
}
}  // namespace impl

/// out[b][j] = epilogue(sum_i x[b][i] * wt[i][j]) for nb input rows (x + b * ldx, out + b * ldo),
/// weights packed by pack_dense (64-byte aligned), column blocks [block_begin, block_end) only, so
/// threads can share a layer. Writes only the m columns; reads no input past k. P: the weights packed
/// by pack_dense_bf16_widened instead, the inputs rounded to bf16 as they are read.
template <class A, bool P = false>
void dense_packed(const float* x, std::size_t nb, std::size_t ldx, std::size_t k, const float* packed, std::size_t m,
                  float* out, std::size_t ldo, const epilogue_k& ep, std::size_t block_begin, std::size_t block_end) {
  constexpr std::size_t w = width<A>, nv = dense_block_vectors<A>(), bw = nv * w, G = dense_group_blocks<A, 1>();
  for (std::size_t blk = block_begin; blk < block_end;) {
    const std::size_t col0 = blk * bw, ncols = std::min(bw, m - col0), vecs = (ncols + w - 1) / w;
    const float* p = packed + col0 * (P ? bf16_pair_words(k) : k);  // every block before this one is whole
    float* o = out + col0;
    if constexpr (G > 1) {
      if (blk + G <= block_end && col0 + G * bw <= m) {  // G whole blocks
        impl::dense_block_rows<A, nv, G, P>(x, nb, ldx, k, p, o, ldo, ep, col0, G * bw);
        blk += G;
        continue;
      }
    }
    switch (vecs) {
      case 1: impl::dense_block_rows<A, 1, 1, P>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      case 2: impl::dense_block_rows<A, std::min<std::size_t>(2, nv), 1, P>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      case 3: impl::dense_block_rows<A, std::min<std::size_t>(3, nv), 1, P>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      case 4: impl::dense_block_rows<A, std::min<std::size_t>(4, nv), 1, P>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      default:
        if constexpr (nv == 8) {
          switch (vecs) {
            case 5: impl::dense_block_rows<A, 5, 1, P>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
            case 6: impl::dense_block_rows<A, 6, 1, P>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
            case 7: impl::dense_block_rows<A, 7, 1, P>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
            default: impl::dense_block_rows<A, 8, 1, P>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
          }
        }
        break;
    }
    ++blk;
  }
}

}  // namespace kernels
}  // namespace detail
}  // namespace lmtcnn
