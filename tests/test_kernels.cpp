// Every SIMD kernel against the scalar reference, for every architecture this build can run
// (AVX-512, AVX2+FMA, SSE4.2 on x86; NEON on AArch64), on awkward shapes: channels below, at, above
// and not a multiple of the vector width, odd image sizes, every padding case, strides 1, 2 and 4,
// and the real layer shapes of LMTCNN and the face-api.js networks. Tolerances grow with the
// reduction length. Seeds are fixed; a failure prints the shape and the arch.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>
#include <tuple>
#include <type_traits>

#include "lmtcnn/engine.hpp"
#include "lmtcnn/nets/faceapi.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"
#include "lmtcnn/seeded.hpp"
#include "test_archs.hpp"

using namespace lmtcnn;

namespace {

using lmtcnn_test::archs;

std::uint64_t seed_counter = 1;

tensor<float> rnd(const shape& s, double lo = -1, double hi = 1) {
  return seeded::uniform<float>(s, 20261129, "t" + std::to_string(seed_counter++), lo, hi);
}

/// |got - want| <= tol * (1 + sqrt(reduction)) * (1 + |want|) for every element.
void check_close(const tensor<float>& got, const tensor<float>& want, double reduction, const std::string& what,
                 double tol = 4e-6) {
  REQUIRE_MESSAGE(got.shape() == want.shape(), what);
  double worst = 0;
  index_t at = 0;
  for (index_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    const double allowed = tol * (1 + std::sqrt(reduction)) * (1 + std::abs(w));
    const double diff = std::abs(g - w);
    const double excess = diff == 0 ? 0 : diff / allowed;
    if (!(excess <= worst)) {  // also catches NaN
      worst = std::isnan(excess) ? 1e30 : excess;
      at = i;
    }
  }
  CHECK_MESSAGE(worst <= 1.0, what << ": element " << at << " got " << got[at] << " want " << want[at]);
}

/// Pads a per-channel vector to whole GEMM panels, as the engine does.
template <class A>
tensor<float> padded(const tensor<float>& v, float fill) {
  const std::size_t n = static_cast<std::size_t>(v.size()), w = 2 * kernels::width<A>;
  tensor<float> t({static_cast<index_t>((n + w - 1) / w * w)});
  for (index_t i = 0; i < t.size(); ++i) t[i] = i < v.size() ? v[i] : fill;
  return t;
}

kernels::conv_geom geom_of(const shape& in, const shape& out, index_t kh, index_t kw, index_t sh, index_t sw,
                           padding p) {
  auto u = [](index_t v) { return static_cast<std::size_t>(v); };
  return kernels::conv_geometry(u(in[1]), u(in[2]), u(in[3]), u(out[3]), u(kh), u(kw), u(sh), u(sw), p);
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("GEMM / pointwise convolution with every epilogue", A, gemm_id) {
  constexpr index_t w = static_cast<index_t>(kernels::width<A>);
  const index_t mr = static_cast<index_t>(kernels::gemm_mr<A>());
  for (index_t m : {index_t(1), index_t(5), mr, mr + 1, index_t(29)})
    for (index_t k : {1, 3, 17, 96})
      for (index_t n : {index_t(1), index_t(3), w - 1, w, w + 1, 2 * w, 2 * w + 3, index_t(50)}) {
        if (n < 1) continue;
        const std::string what = std::string(A::name()) + " m=" + std::to_string(m) + " k=" + std::to_string(k) +
                                 " n=" + std::to_string(n);
        const tensor<float> x = rnd({1, 1, m, k}), f = rnd({1, 1, k, n}), b = rnd({n}), sc = rnd({n}, 0.5, 1.5),
                            sh = rnd({n});
        for (int act = 0; act <= 2; ++act) {
          epilogue<float> ep;
          ep.bias = b.view();
          ep.relu = act == 1;
          ep.scale = sc.view();
          ep.shift = sh.view();
          tensor<float> want({1, 1, m, n});
          if (act == 2) {  // leaky: reference = conv + bias, then x<0 ? 0.1x : x, then affine
            epilogue<float> e0;
            e0.bias = b.view();
            ref::pointwise_conv2d<float>(x.view(), f.view(), {}, want.view(), e0);
            for (float& v : want) v = v < 0 ? v * 0.1f : v;
            epilogue<float> e1;
            e1.scale = sc.view();
            e1.shift = sh.view();
            ref::apply_epilogue<float>(tensor<float>(want).view(), e1, want.view());
          } else {
            ref::pointwise_conv2d<float>(x.view(), f.view(), {}, want.view(), ep);
          }
          tensor<float> packed({static_cast<index_t>(kernels::packed_gemm_b_size<A>(k, n))}), got({1, 1, m, n}),
              scratch({mr * k});
          kernels::pack_gemm_b<A>(f.data(), k, n, n, packed.data());
          const tensor<float> pb = padded<A>(b, 0), ps = padded<A>(sc, 1), ph = padded<A>(sh, 0);
          kernels::epilogue_k ek;
          ek.bias = pb.data();
          ek.activation = static_cast<kernels::act>(act);
          ek.alpha = 0.1f;
          ek.scale = ps.data();
          ek.shift = ph.data();
          kernels::gemm<A>(x.data(), m, k, k, packed.data(), n, got.data(), n, ek, scratch.data());
          check_close(got, want, static_cast<double>(k), what + " act=" + std::to_string(act));
        }
      }
}

TEST_CASE_TEMPLATE_DEFINE("standard convolution: kernels 1/3/7, strides 1/2/4, VALID and SAME, odd sizes", A, conv_id) {
  struct c_case {
    index_t h, w, cin, cout, k, s;
  };
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  const c_case cases[] = {{7, 9, 3, 5, 3, 1},      {11, 5, 1, vw + 1, 3, 2}, {9, 9, 3, 2 * vw, 7, 4},
                          {13, 10, 5, vw - 1, 7, 4}, {6, 6, 2, 3, 1, 2},       {5, 4, 3, 96, 3, 2},
                          {227, 227, 3, 96, 7, 4},  // LMTCNN conv1
                          {112, 112, 3, 32, 3, 2},  // face-api conv_in
                          {34, 34, 3, 16, 3, 1}};   // tiny face detector conv0 (smaller input)
  for (const c_case& c : cases)
    for (padding p : {padding::valid, padding::same}) {
      const std::string what = std::string(A::name()) + " conv " + std::to_string(c.h) + "x" + std::to_string(c.w) +
                               "x" + std::to_string(c.cin) + " k" + std::to_string(c.k) + " s" + std::to_string(c.s) +
                               " ->" + std::to_string(c.cout) + " " + to_string(p);
      const tensor<float> x = rnd({2, c.h, c.w, c.cin}), f = rnd({c.k, c.k, c.cin, c.cout}), b = rnd({c.cout});
      const conv2d_params prm{c.s, c.s, p};
      const shape os = ref::conv2d_output_shape(x.shape(), f.shape(), prm);
      epilogue<float> ep;
      ep.bias = b.view();
      ep.relu = true;
      tensor<float> want(os), got(os);
      ref::conv2d<float>(x.view(), f.view(), prm, want.view(), ep);
      const index_t kk = c.k * c.k * c.cin;
      tensor<float> packed({static_cast<index_t>(kernels::packed_gemm_b_size<A>(static_cast<std::size_t>(kk),
                                                                                 static_cast<std::size_t>(c.cout)))});
      kernels::pack_gemm_b<A>(f.data(), static_cast<std::size_t>(kk), static_cast<std::size_t>(c.cout),
                              static_cast<std::size_t>(c.cout), packed.data());
      const kernels::conv_geom g = geom_of(x.shape(), os, c.k, c.k, c.s, c.s, p);
      tensor<float> scratch({static_cast<index_t>(kernels::conv2d_scratch_size<A>(g))});
      const tensor<float> pb = padded<A>(b, 0);
      kernels::epilogue_k ek;
      ek.bias = pb.data();
      ek.activation = kernels::act::relu;
      for (index_t n = 0; n < 2; ++n)
        kernels::conv2d_image<A>(x.data() + n * c.h * c.w * c.cin, g, packed.data(),
                                 got.data() + n * os[1] * os[2] * os[3], ek, scratch.data());
      check_close(got, want, static_cast<double>(kk), what);
    }
}

/// One depthwise layer on the kernel against the reference (bias, ReLU, per-channel affine).
template <class A>
void check_depthwise(index_t c, index_t h, index_t wd, index_t k, index_t s, padding p) {
  const std::string what = std::string(A::name()) + " dw c=" + std::to_string(c) + " " + std::to_string(h) +
                           "x" + std::to_string(wd) + " k" + std::to_string(k) + " s" + std::to_string(s) +
                           " " + to_string(p);
  const tensor<float> x = rnd({1, h, wd, c}), f = rnd({k, k, c, 1}), b = rnd({c}), sc = rnd({c}, 0.5, 2),
                      sh = rnd({c});
  const conv2d_params prm{s, s, p};
  const shape os = ref::depthwise_conv2d_output_shape(x.shape(), f.shape(), prm);
  epilogue<float> ep;
  ep.bias = b.view();
  ep.relu = true;
  ep.scale = sc.view();
  ep.shift = sh.view();
  tensor<float> want(os), got(os);
  ref::depthwise_conv2d<float>(x.view(), f.view(), prm, want.view(), ep);
  tensor<float> packed({k * k * static_cast<index_t>(kernels::round_up<A>(static_cast<std::size_t>(c)))});
  kernels::pack_depthwise<A>(f.data(), static_cast<std::size_t>(k * k), static_cast<std::size_t>(c),
                             packed.data());
  const tensor<float> pb = padded<A>(b, 0), ps = padded<A>(sc, 1), ph = padded<A>(sh, 0);
  kernels::epilogue_k ek;
  ek.bias = pb.data();
  ek.activation = kernels::act::relu;
  ek.scale = ps.data();
  ek.shift = ph.data();
  const kernels::conv_geom g = geom_of(x.shape(), os, k, k, s, s, p);
  kernels::depthwise_image<A>(x.data(), g, packed.data(), got.data(), ek);
  check_close(got, want, static_cast<double>(k * k), what);
  // in bands of output rows, as the engine's threads run it: bands of one row, a band that starts at
  // the top edge's neighbour, and bands that start and end at odd rows
  if (g.out_h < 3) return;
  tensor<float> banded(os);
  const std::size_t cuts[] = {0, 1, 2, g.out_h / 2 | 1, g.out_h};
  for (std::size_t i = 0; i + 1 < std::size(cuts); ++i)
    if (cuts[i] < cuts[i + 1])
      kernels::depthwise_image<A>(x.data(), g, packed.data(), banded.data(), ek, cuts[i], cuts[i + 1]);
  check_close(banded, want, static_cast<double>(k * k), what + " in bands");
}

TEST_CASE_TEMPLATE_DEFINE("depthwise convolution: channels around the vector width, strides, padding", A, dw_id) {
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  for (index_t c : {index_t(1), index_t(3), vw - 1, vw, vw + 1, 2 * vw + 5, index_t(96)})
    for (const auto& [h, wd] : {std::pair<index_t, index_t>{5, 7}, {1, 1}, {2, 3}, {27, 27}, {14, 13}})
      for (index_t k : {3, 5})
        for (index_t s : {1, 2, 4})
          for (padding p : {padding::valid, padding::same}) {
            if (c < 1 || (p == padding::valid && (h < k || wd < k))) continue;
            check_depthwise<A>(c, h, wd, k, s, p);
          }
}

// Where a tile's input pixels would crowd an L1 cache set, the kernel takes narrower tiles
// (depthwise_tile_width): these layers run in tiles of 8, 4 and 2 pixels at both strides (the test
// checks that each occurs), and 200 and 520 channels are not multiples of 16.
TEST_CASE_TEMPLATE_DEFINE("depthwise convolution: wide layers, whose tiles narrow where their pixels share cache sets",
                          A, dw_wide_id) {
  struct layer { index_t c, h, wd; };
  bool seen[3][9] = {};  // [stride][tile width]
  for (const layer& l : {layer{200, 27, 27}, layer{200, 14, 13}, layer{256, 27, 27}, layer{256, 14, 13},
                         layer{512, 27, 27}, layer{512, 14, 13}, layer{520, 27, 27}, layer{1024, 7, 9}})
    for (index_t s : {1, 2}) {
      const std::size_t t = kernels::depthwise_tile_width<A>(static_cast<std::size_t>(l.wd),
                                                             static_cast<std::size_t>(l.c), static_cast<std::size_t>(s));
      REQUIRE((t == 2 || t == 4 || t == 8));
      seen[s][t] = true;
      for (padding p : {padding::valid, padding::same}) check_depthwise<A>(l.c, l.h, l.wd, 3, s, p);
    }
  for (index_t s : {1, 2})
    for (std::size_t t : {2, 4, 8}) {
      INFO(std::string(A::name()), " stride ", s, ": some layer runs in tiles of ", t);
      CHECK(seen[s][t]);
    }
}

TEST_CASE_TEMPLATE_DEFINE("max and average pooling: windows over the edges, strides, channels", A, pool_id) {
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  for (index_t c : {index_t(1), index_t(3), vw, vw + 1, index_t(96)})
    for (const auto& [h, wd] : {std::pair<index_t, index_t>{7, 7}, {5, 8}, {56, 56}, {27, 27}, {207, 13}})
      for (const auto& [k, s] : {std::pair<index_t, index_t>{3, 2}, {2, 2}, {2, 1}, {7, 2}, {3, 1}})
        for (padding p : {padding::valid, padding::same}) {
          if (p == padding::valid && (h < k || wd < k)) continue;
          const pool2d_params prm{k, k, s, s, p};
          const tensor<float> x = rnd({2, h, wd, c}, -3, -1);  // all negative: -inf padding matters
          const shape os = ref::pool2d_output_shape(x.shape(), prm);
          const kernels::conv_geom g = geom_of(x.shape(), os, k, k, s, s, p);
          for (bool is_max : {true, false}) {
            tensor<float> want(os), got(os);
            if (is_max)
              ref::pool_max<float>(x.view(), prm, want.view());
            else
              ref::pool_avg<float>(x.view(), prm, want.view());
            for (index_t n = 0; n < 2; ++n) {
              const float* src = x.data() + n * h * wd * c;
              float* dst = got.data() + n * os[1] * os[2] * c;
              if (is_max)
                kernels::pool_image<A, true>(src, g, dst);
              else
                kernels::pool_image<A, false>(src, g, dst);
            }
            check_close(got, want, static_cast<double>(k * k),
                        std::string(A::name()) + (is_max ? " max" : " avg") + " pool c=" + std::to_string(c) + " " +
                            std::to_string(h) + "x" + std::to_string(wd) + " k" + std::to_string(k) + " s" +
                            std::to_string(s) + " " + to_string(p));
          }
        }
}

TEST_CASE_TEMPLATE_DEFINE("LRN: window clipped at both ends, radius 0..5, beta 0.75 and 0.5", A, lrn_id) {
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  for (index_t c : {index_t(1), index_t(3), index_t(11), index_t(12), vw + 1, index_t(96)})
    for (index_t r : {0, 1, 5})
      for (double beta : {0.75, 0.5}) {
        const tensor<float> x = rnd({1, 3, 5, c}, -4, 4);
        const ref::lrn_params prm{r, 1.0, 1e-2, beta};
        tensor<float> want(x.shape()), got(x.shape());
        ref::lrn<float>(x.view(), prm, want.view());
        tensor<float> scratch({static_cast<index_t>(kernels::lrn_scratch_size<A>(static_cast<std::size_t>(c),
                                                                                 static_cast<std::size_t>(r)))});
        kernels::lrn_pixels<A>(x.data(), 15, static_cast<std::size_t>(c), static_cast<std::size_t>(r), 1.f, 1e-2f,
                               static_cast<float>(beta), got.data(), scratch.data());
        check_close(got, want, static_cast<double>(2 * r + 1),
                    std::string(A::name()) + " lrn c=" + std::to_string(c) + " r=" + std::to_string(r));
      }
}

TEST_CASE_TEMPLATE_DEFINE("fully connected: column counts around the block, LMTCNN's full1", A, fc_id) {
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  const index_t block = 4 * vw;
  struct f_case {
    index_t k, m;
  };
  const f_case cases[] = {{1, 1},         {7, 3},         {100, vw},     {100, vw + 1}, {33, block - 1},
                          {33, block},    {33, block + 3}, {512, 512},   {512, 8},      {512, 2},
                          {13824, 512}};  // LMTCNN full1
  for (const f_case& c : cases) {
    const tensor<float> x = rnd({2, c.k}), wt = rnd({c.k, c.m}, -0.05, 0.05), b = rnd({c.m});
    epilogue<float> ep;
    ep.bias = b.view();
    ep.relu = true;
    tensor<float> want({2, c.m}), got({2, c.m});
    ref::fully_connected<float>(x.view(), wt.view(), want.view(), ep);
    const tensor<float> pb = padded<A>(b, 0);
    kernels::epilogue_k ek;
    ek.bias = pb.data();
    ek.activation = kernels::act::relu;
    for (index_t n = 0; n < 2; ++n)
      kernels::dense_row<A>(x.data() + n * c.k, static_cast<std::size_t>(c.k), wt.data(), static_cast<std::size_t>(c.m),
                            got.data() + n * c.m, ek);
    check_close(got, want, static_cast<double>(c.k),
                std::string(A::name()) + " fc k=" + std::to_string(c.k) + " m=" + std::to_string(c.m));
  }
}

TEST_CASE_TEMPLATE_DEFINE("fully connected, several rows at once and column ranges", A, fc_rows_id) {
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  struct f_case {
    index_t k, m;
  };
  const f_case cases[] = {{1, 1}, {7, 3}, {9, vw + 5}, {30, 3 * vw + 1}, {515, 64}, {20, 8 * vw}, {21, 9 * vw + 3},
                          {40, 20 * vw - 1}};
  for (const f_case& c : cases)
    for (index_t rows : {index_t(1), index_t(2), index_t(3), index_t(4), index_t(5), index_t(9)}) {
      const tensor<float> x = rnd({rows, c.k}), wt = rnd({c.k, c.m}, -0.05, 0.05), b = rnd({c.m});
      epilogue<float> ep;
      ep.bias = b.view();
      tensor<float> want({rows, c.m}), got({rows, c.m});
      ref::fully_connected<float>(x.view(), wt.view(), want.view(), ep);
      const tensor<float> pb = padded<A>(b, 0);
      // columns in ranges ending at multiples of 16 (the engine's split), the last one at m
      for (index_t j0 = 0; j0 < c.m; j0 += 16) {
        const index_t j1 = std::min(c.m, j0 + 16 * (1 + j0 % 3));
        kernels::epilogue_k ek;
        ek.bias = pb.data() + j0;
        kernels::dense_rows<A>(x.data(), static_cast<std::size_t>(rows), static_cast<std::size_t>(c.k),
                               static_cast<std::size_t>(c.k), wt.data() + j0, static_cast<std::size_t>(c.m),
                               static_cast<std::size_t>(j1 - j0), got.data() + j0, static_cast<std::size_t>(c.m), ek);
        j0 = j1 - 16;
      }
      check_close(got, want, static_cast<double>(c.k),
                  std::string(A::name()) + " fc rows=" + std::to_string(rows) + " k=" + std::to_string(c.k) +
                      " m=" + std::to_string(c.m));
      // packed weights, the column blocks one call at a time (as threads take them)
      tensor<float> packed({static_cast<index_t>(kernels::packed_dense_size<A>(static_cast<std::size_t>(c.k),
                                                                                 static_cast<std::size_t>(c.m)))});
      kernels::pack_dense<A>(wt.data(), static_cast<std::size_t>(c.k), static_cast<std::size_t>(c.m), packed.data());
      tensor<float> got_p({rows, c.m});
      kernels::epilogue_k ek;
      ek.bias = pb.data();
      for (std::size_t blk = 0; blk < kernels::dense_blocks<A>(static_cast<std::size_t>(c.m)); ++blk)
        kernels::dense_packed<A>(x.data(), static_cast<std::size_t>(rows), static_cast<std::size_t>(c.k),
                                 static_cast<std::size_t>(c.k), packed.data(), static_cast<std::size_t>(c.m),
                                 got_p.data(), static_cast<std::size_t>(c.m), ek, blk, blk + 1);
      check_close(got_p, want, static_cast<double>(c.k),
                  std::string(A::name()) + " packed fc rows=" + std::to_string(rows) + " k=" + std::to_string(c.k) +
                      " m=" + std::to_string(c.m));
      // ranges of three blocks and all blocks in one call (blocks read in groups, leftovers alone):
      // every column's sum runs in the same order, so the results are the same to the bit
      const std::size_t nblocks = kernels::dense_blocks<A>(static_cast<std::size_t>(c.m));
      for (std::size_t span : {std::size_t(3), nblocks}) {
        tensor<float> got_g({rows, c.m});
        for (std::size_t b0 = 0; b0 < nblocks; b0 += span)
          kernels::dense_packed<A>(x.data(), static_cast<std::size_t>(rows), static_cast<std::size_t>(c.k),
                                   static_cast<std::size_t>(c.k), packed.data(), static_cast<std::size_t>(c.m),
                                   got_g.data(), static_cast<std::size_t>(c.m), ek, b0, std::min(nblocks, b0 + span));
        check_close(got_g, got_p, 1,
                    std::string(A::name()) + " packed fc, blocks " + std::to_string(span) + " at a time, rows=" +
                        std::to_string(rows) + " k=" + std::to_string(c.k) + " m=" + std::to_string(c.m),
                    0);
      }
    }
}

TEST_CASE_TEMPLATE_DEFINE("fully connected on packed weights: LMTCNN full1's reduction length", A, fc_long_id) {
  // k = 13824 (full1), m = 200: groups of blocks and a partial last block, one and two rows at once
  const index_t k = 13824, m = 200;
  for (index_t rows : {index_t(1), index_t(2), index_t(3)}) {
    const tensor<float> x = rnd({rows, k}), wt = rnd({k, m}, -0.05, 0.05), b = rnd({m});
    epilogue<float> ep;
    ep.bias = b.view();
    ep.relu = true;
    tensor<float> want({rows, m}), got({rows, m});
    ref::fully_connected<float>(x.view(), wt.view(), want.view(), ep);
    tensor<float> packed({static_cast<index_t>(kernels::packed_dense_size<A>(static_cast<std::size_t>(k),
                                                                             static_cast<std::size_t>(m)))});
    kernels::pack_dense<A>(wt.data(), static_cast<std::size_t>(k), static_cast<std::size_t>(m), packed.data());
    const tensor<float> pb = padded<A>(b, 0);
    kernels::epilogue_k ek;
    ek.bias = pb.data();
    ek.activation = kernels::act::relu;
    kernels::dense_packed<A>(x.data(), static_cast<std::size_t>(rows), static_cast<std::size_t>(k),
                             static_cast<std::size_t>(k), packed.data(), static_cast<std::size_t>(m), got.data(),
                             static_cast<std::size_t>(m), ek, 0, kernels::dense_blocks<A>(static_cast<std::size_t>(m)));
    check_close(got, want, static_cast<double>(k), std::string(A::name()) + " full1-length fc rows=" + std::to_string(rows));
  }
}

TEST_CASE_TEMPLATE_DEFINE("element-wise and statistics kernels", A, misc_id) {
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  for (index_t n : {index_t(1), vw - 1, vw, vw + 1, index_t(1000)}) {
    if (n < 1) continue;
    const tensor<float> a = rnd({1, 1, 1, n}), b = rnd({1, 1, 1, n});
    tensor<float> want(a.shape()), got(a.shape());
    ref::relu<float>(a.view(), want.view());
    kernels::relu_n<A>(a.data(), got.data(), static_cast<std::size_t>(n));
    check_close(got, want, 1, std::string(A::name()) + " relu n=" + std::to_string(n), 0);
    ref::add<float>(a.view(), b.view(), want.view());
    kernels::add_n<A>(a.data(), b.data(), got.data(), static_cast<std::size_t>(n));
    check_close(got, want, 1, std::string(A::name()) + " add n=" + std::to_string(n), 0);
  }
  for (index_t m : {index_t(1), index_t(2), index_t(8), vw + 3}) {
    const tensor<float> x = rnd({3, m}, -10, 10);
    tensor<float> want(x.shape()), got(x.shape());
    ref::softmax<float>(x.view(), want.view());
    kernels::softmax_rows<A>(x.data(), 3, static_cast<std::size_t>(m), got.data());
    check_close(got, want, static_cast<double>(m), std::string(A::name()) + " softmax m=" + std::to_string(m));
  }
}

TEST_CASE_TEMPLATE_DEFINE("whole networks through the engine equal the reference graph", A, net_id) {
  struct net_case {
    std::string name;
    graph g;
    tensor_map<float> w;
    index_t batch;
  };
  std::vector<net_case> cases;
  for (lmtcnn_variant v : {lmtcnn_variant::v1_1, lmtcnn_variant::v2_1})
    for (batch_norm_mode m : {batch_norm_mode::moving_average, batch_norm_mode::batch_statistics})
      cases.push_back({std::string(to_string(v)) + " " + to_string(m), lmtcnn_graph(v, m),
                       lmtcnn_seeded_weights<float>(v, 7), 2});
  auto seeded_for = [](const std::vector<tensor_spec>& specs) {
    tensor_map<float> w;
    for (const tensor_spec& s : specs) {
      const double fan = s.dims.rank() >= 2 ? static_cast<double>(s.dims.elements() / s.dims[s.dims.rank() - 1]) : 16.0;
      const double r = std::sqrt(3.0 / fan);
      w.emplace(s.name, seeded::uniform<float>(s.dims, 9, s.name, -r, r));
    }
    return w;
  };
  cases.push_back({"face-api AgeGenderNet", faceapi_age_gender_graph(256), seeded_for(faceapi_age_gender_tensors()), 2});
  cases.push_back({"face-api tiny_face_detector at 96", faceapi_tiny_face_detector_graph(96),
                   seeded_for(faceapi_tiny_face_detector_tensors()), 1});
  for (const net_case& c : cases) {
    const shape& d = c.g.input_dims;
    const tensor<float> input = seeded::pixels<float>({c.batch, d[0], d[1], d[2]}, 3, "input");
    const auto want = graph_net<float>(c.g, c.w).forward(input.view());
    const auto got = engine_net<A>(c.g, c.w).forward(input.view());
    for (const auto& [name, t] : want)
      check_close(got.at(name), t, 512, std::string(A::name()) + " " + c.name + " output " + name, 2e-5);
  }
}

TEST_CASE_TEMPLATE_DEFINE("engine: any thread count gives the same bits; batches and a reused workspace agree", A, threads_id) {
  struct net_case {
    std::string name;
    graph g;
    tensor_map<float> w;
  };
  std::vector<net_case> cases;
  for (batch_norm_mode m : {batch_norm_mode::moving_average, batch_norm_mode::batch_statistics})
    cases.push_back({std::string("LMTCNN-1-1 ") + to_string(m), lmtcnn_graph(lmtcnn_variant::v1_1, m),
                     lmtcnn_seeded_weights<float>(lmtcnn_variant::v1_1, 5)});
  tensor_map<float> fw;
  for (const tensor_spec& s : faceapi_age_gender_tensors())
    fw.emplace(s.name, seeded::uniform<float>(s.dims, 4, s.name, -0.1, 0.1));
  cases.push_back({"face-api AgeGenderNet", faceapi_age_gender_graph(256), fw});
  tensor_map<float> dw;  // no dense layer: a batch runs image by image all the way
  for (const tensor_spec& s : faceapi_tiny_face_detector_tensors())
    dw.emplace(s.name, seeded::uniform<float>(s.dims, 6, s.name, -0.2, 0.2));
  cases.push_back({"tiny face detector at 64", faceapi_tiny_face_detector_graph(64), dw});
  thread_pool two(2), three(3);
  for (const net_case& c : cases) {
    const engine_net<A> net(c.g, c.w);
    const shape& d = c.g.input_dims;
    const tensor<float> batch = seeded::pixels<float>({3, d[0], d[1], d[2]}, 11, "input");
    const auto serial = net.forward(batch.view());
    const auto want_ref = graph_net<float>(c.g, c.w).forward(batch.view());
    for (const auto& [name, t] : want_ref)
      check_close(serial.at(name), t, 512, std::string(A::name()) + " " + c.name + " batch 3 " + name, 2e-5);
    typename engine_net<A>::workspace ws;
    for (thread_pool* pool : {&two, &three, static_cast<thread_pool*>(nullptr)}) {
      const std::string what = std::string(A::name()) + " " + c.name + " threads " +
                                std::to_string(pool ? pool->size() : 1u);
      // the batch of 3 in one call, in the caller's workspace
      const auto got = net.forward(batch.view(), ws, pool);
      for (const auto& [name, t] : serial) {
        REQUIRE(got.at(name).shape() == t.shape());
        CHECK_MESSAGE(std::equal(t.data(), t.data() + t.size(), got.at(name).data()), what << " batch 3 " << name);
      }
      if (c.name.find("batch_statistics") != std::string::npos) continue;  // statistics depend on the batch
      // each image alone, through the same workspace (re-planned for batch 1)
      for (index_t b = 0; b < 3; ++b) {
        const tensor_view<const float> one(batch.data() + b * d.elements(), shape{1, d[0], d[1], d[2]});
        const auto alone = pool ? net.forward(one, *pool) : net.forward(one, ws);
        // equal up to rounding: a batch's dense layers take two images per pass over the weights,
        // and the compiler may contract a*b+c differently there on architectures without FMA
        for (const auto& [name, t] : serial) {
          const index_t per = t.size() / 3;
          tensor<float> part({1, per});
          std::copy(t.data() + b * per, t.data() + (b + 1) * per, part.data());
          tensor<float> mine({1, per});
          std::copy(alone.at(name).data(), alone.at(name).data() + per, mine.data());
          check_close(mine, part, 1, what + " image " + std::to_string(b) + " alone, " + name, 1e-6);
        }
      }
    }
    // the arena reuses buffers: smaller than all activations of a batch-1 call side by side
    std::size_t all = 0;
    const auto shapes = infer_shapes(c.g, 1, [&](const std::string& t, bool& found) {
      found = c.w.count(t) != 0;
      return found ? c.w.at(t).shape() : shape{};
    });
    for (const shape& s : shapes) all += static_cast<std::size_t>(s.elements()) * sizeof(float);
    const std::size_t arena = net.arena_bytes(1);
    MESSAGE(c.name << ": arena " << arena << " bytes for activations of " << all << " bytes");
    CHECK(arena > 0);
    CHECK(arena < all);
    // a batch of 4 holds at least its 4 inputs; the layers run image by image before the first
    // dense layer need room for one image only, so less than 4 times a single image's arena
    const std::size_t input_bytes = static_cast<std::size_t>(shapes[0].elements()) * sizeof(float);
    const std::size_t arena4 = net.arena_bytes(4);
    MESSAGE(c.name << ": arena " << arena4 << " bytes for a batch of 4");
    CHECK(arena4 >= arena);
    CHECK(arena4 >= 4 * input_bytes);
    CHECK(arena4 < 4 * arena);
  }
}

TEST_CASE("architectures under test") {
  const std::string list = lmtcnn_test::arch_names(static_cast<archs*>(nullptr));
  MESSAGE("SIMD architectures tested: " << list << "; the engine's default: " << std::string(simd_arch::name()));
  CHECK(!list.empty());
}

TEST_CASE_TEMPLATE_APPLY(gemm_id, archs);
TEST_CASE_TEMPLATE_APPLY(conv_id, archs);
TEST_CASE_TEMPLATE_APPLY(dw_id, archs);
TEST_CASE_TEMPLATE_APPLY(dw_wide_id, archs);
TEST_CASE_TEMPLATE_APPLY(pool_id, archs);
TEST_CASE_TEMPLATE_APPLY(lrn_id, archs);
TEST_CASE_TEMPLATE_APPLY(fc_id, archs);
TEST_CASE_TEMPLATE_APPLY(fc_rows_id, archs);
TEST_CASE_TEMPLATE_APPLY(fc_long_id, archs);
TEST_CASE_TEMPLATE_APPLY(misc_id, archs);
TEST_CASE_TEMPLATE_APPLY(net_id, archs);
TEST_CASE_TEMPLATE_APPLY(threads_id, archs);
