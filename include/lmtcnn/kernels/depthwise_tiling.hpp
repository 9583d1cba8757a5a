// lmtcnn SIMD kernels: how wide the depthwise kernel's tiles are, from the L1 cache's geometry.
#pragma once

#include <cstddef>

#include "lmtcnn/kernels/common.hpp"

namespace lmtcnn {
namespace detail {
namespace kernels {

namespace impl {

/// Whether the cache lines one channel block of a tile reads, `cols` columns of `rows` input rows,
/// put at most 9 into any set of a 64-set, 8-way L1 (depthwise_tile_width).
template <class A>
inline bool depthwise_lines_fit(std::size_t in_w, std::size_t c, std::size_t cols, std::size_t rows) {
  constexpr std::size_t line = 64, sets = 64, ways = 8, vbytes = width<A> * sizeof(float);
  unsigned char count[sets] = {};
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t i = 0; i < cols; ++i) {
      const std::size_t first = (r * in_w + i) * c * sizeof(float), last = first + vbytes - 1;
      for (std::size_t l = first / line; l <= last / line; ++l)
        if (++count[l % sets] > ways + 1) return false;
    }
  return true;
}

}  // namespace impl

/// The widest tile, 8, 4 or 2 output pixels, that depthwise_image takes for a 3x3 layer of c channels
/// on rows in_w pixels wide at horizontal stride `stride`. A tile reads one vector of channels from
/// each of its 3 x (stride * (t - 1) + 3) input pixels per channel block; the next block reads the
/// vectors just after them, mostly in the same cache lines, so those lines must last in L1 from one
/// block to the next. Lines a multiple of 4 KB apart share one set of the 64-set, 8-way L1 of current
/// x86 cores, and when c * 4 bytes is a multiple of 1 KB (256, 512, 1024 channels) a tile's pixels
/// crowd into a few sets: too many there and they evict each other before the next block reads them
/// again. So the tile is the widest whose lines of one block put at most 9 into any set, counted from
/// their distances alone (so the choice, and the result's rounding, do not depend on where the image
/// lies). Measured on Zen 3, in alternating runs, against the next narrower tile: 9 in a set was no
/// slower (0.94-0.95), 13 or more slower (1.10-1.51: 512 channels at stride 2 in tiles of 8 or 4).
/// Where no set is crowded, layers of 320-960 channels took 0.72-0.94 of the time in the wider tiles
/// than in the narrower ones an earlier rule gave them ("the tile's input must fit in L1").
template <class A>
inline std::size_t depthwise_tile_width(std::size_t in_w, std::size_t c, std::size_t stride) {
  for (std::size_t t : {std::size_t(8), std::size_t(4)})
    if (impl::depthwise_lines_fit<A>(in_w, c, stride * (t - 1) + 3, 3)) return t;
  return 2;
}

/// The widest tile, 8 or 4, of two output rows at once (stride 1 or 2 both ways) that depthwise_image
/// takes for a 3x3 layer of c channels on rows in_w pixels wide, or 0: rows are not paired. A pair
/// loads the stride + 3 input rows of both windows once, where two single rows load 6. It is never
/// wider than a single row's tile (depthwise_tile_width; on Zen 4 a 256-channel pair of 8 at stride 2,
/// where single rows take 4, took 1.1 times as long as a pair of 4). Where a vector is a whole number of
/// cache lines and so is every pixel (AVX-512, c a multiple of 16), no block reads a line another block
/// reads, and that is the only limit (measured on Zen 4, against single rows: 0.79-0.96 of the time,
/// 0.85 for 576 channels at stride 2). Elsewhere the next block reads the vectors just after this
/// block's, in the same lines, and the pair's lines must fit the L1's sets as a single row's must (on
/// AVX2 a 256-channel pair that did not fit took 1.24 times as long as single rows).
template <class A>
inline std::size_t depthwise_pair_width(std::size_t in_w, std::size_t c, std::size_t stride) {
  if (stride != 1 && stride != 2) return 0;
  constexpr std::size_t line = 64, vbytes = width<A> * sizeof(float);
  const bool whole_lines = vbytes % line == 0 && c * sizeof(float) % line == 0;
  const std::size_t tmax = depthwise_tile_width<A>(in_w, c, stride);
  for (std::size_t t : {std::size_t(8), std::size_t(4)})
    if (t <= tmax && (whole_lines || impl::depthwise_lines_fit<A>(in_w, c, stride * (t - 1) + 3, stride + 3)))
      return t;
  return 0;
}

}  // namespace kernels
}  // namespace detail
}  // namespace lmtcnn
