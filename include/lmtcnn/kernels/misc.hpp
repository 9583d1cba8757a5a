// lmtcnn SIMD kernels: LRN, fully connected, and the element-wise and statistics kernels
// (ReLU, residual add, per-channel affine and normalisation, batch statistics, per-image
// standardisation, softmax). Contracts as in common.hpp; each says what it reads and writes.
#pragma once

#include <cmath>
#include <limits>

#include "lmtcnn/kernels/common.hpp"

namespace lmtcnn {
namespace kernels {

// ---- LRN across channels -------------------------------------------------------------------------
// out[c] = in[c] / (bias + alpha * sum of in[c']^2, |c'-c| <= radius)^beta, per pixel of c channels.
// scratch: round_up(c) + 2 * round_up(radius) + width floats. beta 0.75 (LMTCNN) uses two square
// roots instead of pow.

template <class A>
constexpr std::size_t lrn_scratch_size(std::size_t c, std::size_t radius) {
  return round_up<A>(c) + 2 * round_up<A>(radius) + width<A>;
}

template <class A>
void lrn_pixels(const float* in, std::size_t pixels, std::size_t c, std::size_t radius, float bias, float alpha,
                float beta, float* out, float* scratch) {
  constexpr std::size_t w = width<A>;
  const std::size_t lead = round_up<A>(radius);
  std::fill(scratch, scratch + lrn_scratch_size<A>(c, radius), 0.f);
  float* sq = scratch + lead;  // sq[-lead .. c + lead) valid, zero outside [0, c)
  const bool three_quarters = beta == 0.75f;
  for (std::size_t p = 0; p < pixels; ++p) {
    const float* x = in + p * c;
    const std::size_t cv = c / w * w;  // channels covered by whole vectors
    for (std::size_t ch = 0; ch < cv; ch += w) {
      const vf<A> v = vf<A>::load_unaligned(x + ch);
      (v * v).store_unaligned(sq + ch);
    }
    for (std::size_t ch = cv; ch < c; ++ch) sq[ch] = x[ch] * x[ch];  // sq stays zero past c
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
      vf<A> denom;
      if (three_quarters) {
        const vf<A> r = xsimd::sqrt(s);
        denom = r * xsimd::sqrt(r);
      } else {
        denom = xsimd::pow(s, vf<A>(beta));
      }
      store_upto<A>(out + p * c + ch, vf<A>::load_unaligned(x + ch) / denom, c - ch);
    }
  }
}

// ---- fully connected -----------------------------------------------------------------------------
// out[j] = epilogue(sum_i x[i] * wt[i * m + j]) for one input row x of k floats, weights [k, m]
// row-major (TensorFlow's layout, used in place). The weights are streamed once, in memory order,
// four rows at a time (one contiguous stream); out accumulates in place (it stays in L1), so out
// must hold round_up(m) floats of room (tensor slack covers it).

namespace detail {
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
}  // namespace detail

/// nb input rows (row b at x + b * ldx) times the columns [0, m) of weights whose rows are ldw floats
/// apart (ldw >= m: a column range of a wider layer) into out + b * ldo. The weights are streamed
/// once per four input rows. ep's per-channel arrays are indexed from this range's first column.
/// Reads up to one vector past column m of out (room as above; a column range ending before the
/// layer's last column must therefore end at a multiple of the vector width).
template <class A>
void dense_rows(const float* x, std::size_t nb, std::size_t ldx, std::size_t k, const float* wt, std::size_t ldw,
                std::size_t m, float* out, std::size_t ldo, const epilogue_k& ep) {
  std::size_t b = 0;
  for (; b + 4 <= nb; b += 4) detail::dense_group<A, 4>(x + b * ldx, ldx, k, wt, ldw, m, out + b * ldo, ldo, ep);
  switch (nb - b) {
    case 3: detail::dense_group<A, 3>(x + b * ldx, ldx, k, wt, ldw, m, out + b * ldo, ldo, ep); break;
    case 2: detail::dense_group<A, 2>(x + b * ldx, ldx, k, wt, ldw, m, out + b * ldo, ldo, ep); break;
    case 1: detail::dense_group<A, 1>(x + b * ldx, ldx, k, wt, ldw, m, out + b * ldo, ldo, ep); break;
    default: break;
  }
}

/// One input row: dense_rows with nb = 1 over all m columns.
template <class A>
void dense_row(const float* x, std::size_t k, const float* wt, std::size_t m, float* out, const epilogue_k& ep) {
  detail::dense_group<A, 1>(x, k, k, wt, m, m, out, m, ep);
}

// ---- fully connected on packed weights ------------------------------------------------------------
// The weights [k, m] repacked once into column blocks of dense_block_vectors vectors: block by
// block, each block row after row (the last block as many vectors as its columns need, zero-padded).
// Each block's accumulators stay in registers and every column's sum over k runs in one chain in
// the order of dense_row (same results, whatever the grouping, batch or thread split). Where a block
// row is one 64-byte line (AVX2, SSE, NEON), dense_group_blocks blocks are read together: one
// sequential stream from memory reaches ~16 GB/s on a Zen 3 core, four interleaved ones ~22 GB/s.

/// Vectors per column block: 8 where a vector holds 16 floats (AVX-512), else one 64-byte line.
template <class A>
constexpr std::size_t dense_block_vectors() {
  return width<A> >= 16 ? 8 : 16 / width<A>;
}

/// Column blocks read together for B input rows: as many as fill 8 accumulators (1 on AVX-512,
/// whose one stream of 512-byte rows already meets the memory bandwidth).
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
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t u = 0; u < padded_cols; ++u) *dst++ = u < cols ? wt[i * m + j0 + u] : 0.f;
  }
}

namespace detail {
/// G neighbouring blocks of V vectors each (G > 1: all whole, bw * k floats apart) from column col0,
/// ncols of them real, for B input rows; p: the first block's k rows.
template <class A, std::size_t V, std::size_t B, std::size_t G>
void dense_block(const float* x, std::size_t ldx, std::size_t k, const float* p, float* out, std::size_t ldo,
                 const epilogue_k& ep, std::size_t col0, std::size_t ncols) {
  constexpr std::size_t w = width<A>;
  const std::size_t block_floats = V * w * k;
  vf<A> acc[B][G][V];
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t g = 0; g < G; ++g)
      for (std::size_t u = 0; u < V; ++u) acc[b][g][u] = vf<A>(0.f);
  for (std::size_t i = 0; i < k; ++i, p += V * w) {
    vf<A> xb[B];
    for (std::size_t b = 0; b < B; ++b) xb[b] = vf<A>(x[b * ldx + i]);
#pragma GCC unroll 8
    for (std::size_t g = 0; g < G; ++g)
#pragma GCC unroll 8
      for (std::size_t u = 0; u < V; ++u) {
        const vf<A> wv = vf<A>::load_aligned(p + g * block_floats + u * w);
        for (std::size_t b = 0; b < B; ++b) acc[b][g][u] = xsimd::fma(xb[b], wv, acc[b][g][u]);
      }
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
template <class A, std::size_t V, std::size_t G>
void dense_block_rows(const float* x, std::size_t nb, std::size_t ldx, std::size_t k, const float* p, float* out,
                      std::size_t ldo, const epilogue_k& ep, std::size_t col0, std::size_t ncols) {
  constexpr std::size_t G2 = std::min(G, dense_group_blocks<A, 2>()), bw = V * width<A>;
  static_assert(G % G2 == 0, "a group of blocks splits into whole subgroups for two rows");
  std::size_t b = 0;
  for (; b + 2 <= nb; b += 2)
    for (std::size_t g = 0; g < G; g += G2)
      dense_block<A, V, 2, G2>(x + b * ldx, ldx, k, p + g * bw * k, out + b * ldo + g * bw, ldo, ep, col0 + g * bw,
                               std::min(ncols - g * bw, G2 * bw));
  if (b < nb) dense_block<A, V, 1, G>(x + b * ldx, ldx, k, p, out + b * ldo, ldo, ep, col0, ncols);
}
}  // namespace detail

/// out[b][j] = epilogue(sum_i x[b][i] * wt[i][j]) for nb input rows (x + b * ldx, out + b * ldo),
/// weights packed by pack_dense (64-byte aligned), column blocks [block_begin, block_end) only, so
/// threads can share a layer. Writes only the m columns; reads no input past k.
template <class A>
void dense_packed(const float* x, std::size_t nb, std::size_t ldx, std::size_t k, const float* packed, std::size_t m,
                  float* out, std::size_t ldo, const epilogue_k& ep, std::size_t block_begin, std::size_t block_end) {
  constexpr std::size_t w = width<A>, nv = dense_block_vectors<A>(), bw = nv * w, G = dense_group_blocks<A, 1>();
  for (std::size_t blk = block_begin; blk < block_end;) {
    const std::size_t col0 = blk * bw, ncols = std::min(bw, m - col0), vecs = (ncols + w - 1) / w;
    const float* p = packed + col0 * k;  // every block before this one is whole
    float* o = out + col0;
    if constexpr (G > 1) {
      if (blk + G <= block_end && col0 + G * bw <= m) {  // G whole blocks
        detail::dense_block_rows<A, nv, G>(x, nb, ldx, k, p, o, ldo, ep, col0, G * bw);
        blk += G;
        continue;
      }
    }
    switch (vecs) {
      case 1: detail::dense_block_rows<A, 1, 1>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      case 2: detail::dense_block_rows<A, std::min<std::size_t>(2, nv), 1>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      case 3: detail::dense_block_rows<A, std::min<std::size_t>(3, nv), 1>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      case 4: detail::dense_block_rows<A, std::min<std::size_t>(4, nv), 1>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
      default:
        if constexpr (nv == 8) {
          switch (vecs) {
            case 5: detail::dense_block_rows<A, 5, 1>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
            case 6: detail::dense_block_rows<A, 6, 1>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
            case 7: detail::dense_block_rows<A, 7, 1>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
            default: detail::dense_block_rows<A, 8, 1>(x, nb, ldx, k, p, o, ldo, ep, col0, ncols); break;
          }
        }
        break;
    }
    ++blk;
  }
}

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

/// out = a + b (residual add); out may be a or b.
template <class A>
void add_n(const float* a, const float* b, float* out, std::size_t n) {
  constexpr std::size_t w = width<A>;
  std::size_t i = 0;
  for (; i + w <= n; i += w)
    (vf<A>::load_unaligned(a + i) + vf<A>::load_unaligned(b + i)).store_unaligned(out + i);
  for (; i < n; ++i) out[i] = a[i] + b[i];
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

/// Per-channel sum and sum of squared deviations from `center` over `pixels` pixels of c channels,
/// accumulated in float vectors over blocks of 256 pixels and in double across blocks.
/// sum and sq hold c doubles each and are added to.
template <class A>
void channel_moments(const float* in, std::size_t pixels, std::size_t c, const float* center, double* sum,
                     double* sq) {
  constexpr std::size_t w = width<A>;
  alignas(64) float s[w], q[w];
  for (std::size_t ch = 0; ch < c; ch += w) {
    const std::size_t lanes = std::min(w, c - ch);
    const vf<A> mu = center ? vf<A>::load_unaligned(center + ch) : vf<A>(0.f);
    for (std::size_t p0 = 0; p0 < pixels; p0 += 256) {
      vf<A> vs(0.f), vq(0.f);
      for (std::size_t p = p0; p < std::min(pixels, p0 + 256); ++p) {
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
}  // namespace lmtcnn
