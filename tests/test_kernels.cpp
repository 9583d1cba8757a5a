// Every SIMD kernel against the scalar reference, for the architecture this file is compiled for
// (one executable per path with run-time dispatch: AVX-512, AVX2+FMA, SSE4.2, SSE2; NEON on AArch64;
// see test_archs.hpp), on awkward shapes: channels below, at, above
// and not a multiple of the vector width, odd image sizes, every padding case, strides 1, 2 and 4,
// and the real layer shapes of LMTCNN and the face-api.js networks. Tolerances grow with the
// reduction length. Seeds are fixed; a failure prints the shape and the arch.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <cmath>
#include <iterator>
#include <string>
#include <tuple>
#include <type_traits>

#include "lmtcnn/engine/engine.hpp"
#include "lmtcnn/nets/faceapi.hpp"
#include "lmtcnn/nets/faceapi_landmarks.hpp"
#include "lmtcnn/nets/faceapi_ssd.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"
#include "lmtcnn/core/seeded.hpp"
#include "kernel_checks.hpp"
#include "test_archs.hpp"

using namespace lmtcnn;
namespace kernels = lmtcnn::detail::kernels;
namespace ref = lmtcnn::detail::ref;

namespace {

using lmtcnn_test::archs;
using lmtcnn_test::check_close;
using lmtcnn_test::epilogue_case;
using lmtcnn_test::epilogue_cases;
using lmtcnn_test::epilogue_data;
using lmtcnn_test::measured;
using lmtcnn_test::odd_ld;
using lmtcnn_test::poisoned;

// Tolerances, as multiples of (1 + sqrt(reduction)) * (1 + |want|): about ten times the largest error
// measured on AVX-512, AVX2 and SSE4.2 (AMD Zen 5) and NEON (qemu), which each test case reports.
constexpr double tol_gemm = 3e-6;         // GEMM and pointwise (measured 2.8e-7)
constexpr double tol_conv = 4e-6;         // standard convolution (4.1e-7)
constexpr double tol_depthwise = 1.5e-6;  // (1.6e-7)
constexpr double tol_pool = 6e-7;         // average pooling (5.6e-8; max pooling is exact)
constexpr double tol_lrn = 1.5e-6;        // (1.0e-7 on NEON, 1.3e-7 on x86; the pow path 4.4e-7 at 1e17)
constexpr double tol_dense = 1e-6;        // (1.1e-7)
constexpr double tol_softmax = 8e-7;      // softmax and the per-channel kernels (8.3e-8 on NEON, 5.3e-8 on x86)
// whole networks, engine against the reference graph, the reduction term fixed at 512 (1.5e-7)
constexpr double tol_network = 1.5e-6;

std::uint64_t seed_counter = 1;

tensor<float> rnd(const shape& s, double lo = -1, double hi = 1) {
  return seeded::uniform<float>(s, 20261129, "t" + std::to_string(seed_counter++), lo, hi);
}

/// A rows x cols matrix stored with row stride ld, the floats between rows random too (a kernel that
/// mixes up the stride reads them); the first rows*ld floats of a tensor with slack after them.
tensor<float> strided(const tensor<float>& m, std::size_t rows, std::size_t cols, std::size_t ld) {
  tensor<float> t = rnd({static_cast<index_t>(rows * ld)}, -1, 1);
  for (std::size_t r = 0; r < rows; ++r) std::copy(m.data() + r * cols, m.data() + (r + 1) * cols, t.data() + r * ld);
  return t;
}

/// Floats of padding after n per-channel values, to whole GEMM panels (as the engine pads them).
template <class A>
std::size_t panel_pad(index_t n) {
  const std::size_t w = 2 * kernels::width<A>, u = static_cast<std::size_t>(n);
  return (u + w - 1) / w * w - u;
}

kernels::conv_geom geom_of(const shape& in, const shape& out, index_t kh, index_t kw, index_t sh, index_t sw,
                           padding p) {
  auto u = [](index_t v) { return static_cast<std::size_t>(v); };
  return kernels::conv_geometry(u(in[1]), u(in[2]), u(in[3]), u(out[3]), u(kh), u(kw), u(sh), u(sw), p);
}

std::string dims(std::initializer_list<index_t> v) {
  std::string s;
  for (index_t x : v) s += (s.empty() ? "" : "x") + std::to_string(x);
  return s;
}

/// Output rows cut into bands as the engine's threads take them: the first row alone, the second
/// alone, up to an odd middle row, the rest (empty bands left out).
std::vector<std::pair<std::size_t, std::size_t>> bands(std::size_t n) {
  const std::size_t cuts[] = {0, std::min<std::size_t>(1, n), std::min<std::size_t>(2, n), std::max<std::size_t>(std::min(n, n / 2 | 1), std::min<std::size_t>(2, n)), n};
  std::vector<std::pair<std::size_t, std::size_t>> b;
  for (std::size_t i = 0; i + 1 < std::size(cuts); ++i)
    if (cuts[i] < cuts[i + 1]) b.emplace_back(cuts[i], cuts[i + 1]);
  return b;
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("GEMM / pointwise convolution: every epilogue, odd leading dimensions, row bands", A, gemm_id) {
  constexpr index_t w = static_cast<index_t>(kernels::width<A>);
  const index_t mr = static_cast<index_t>(kernels::gemm_mr<A>());
  for (index_t m : {index_t(1), index_t(5), mr, mr + 1, index_t(29)})
    for (index_t k : {1, 3, 17, 96})
      for (index_t n : {index_t(1), index_t(3), w - 1, w, w + 1, 2 * w, 2 * w + 3, index_t(50)}) {
        if (n < 1) continue;
        const tensor<float> x = rnd({1, 1, m, k}), f = rnd({1, 1, k, n});
        tensor<float> raw({1, 1, m, n});
        ref::pointwise_conv2d<float>(x.view(), f.view(), {}, raw.view());
        const epilogue_data ed(n, panel_pad<A>(n), "gemm" + std::to_string(n));
        for (bool dense : {true, false}) {
          // a, b and out with row strides equal to their widths, or odd and larger
          const std::size_t lda = dense ? std::size_t(k) : odd_ld(std::size_t(k));
          const std::size_t ldb = dense ? std::size_t(n) : odd_ld(std::size_t(n));
          const std::size_t ldc = dense ? std::size_t(n) : odd_ld(std::size_t(n));
          const tensor<float> a = strided(x, std::size_t(m), std::size_t(k), lda);
          const tensor<float> b = strided(f, std::size_t(k), std::size_t(n), ldb);
          tensor<float> packed({static_cast<index_t>(kernels::packed_gemm_b_size<A>(std::size_t(k), std::size_t(n)))}),
              scratch({mr * k});
          kernels::pack_gemm_b<A>(b.data(), std::size_t(k), std::size_t(n), ldb, packed.data());
          for (const epilogue_case& e : epilogue_cases) {
            const std::string what = std::string(A::name()) + " gemm m=" + std::to_string(m) + " k=" +
                                     std::to_string(k) + " n=" + std::to_string(n) + " lda=" + std::to_string(lda) +
                                     " ldb=" + std::to_string(ldb) + " ldc=" + std::to_string(ldc) + " " + e.name;
            poisoned out(std::size_t(m), std::size_t(n), ldc);
            if (dense) {
              kernels::gemm<A>(a.data(), std::size_t(m), std::size_t(k), lda, packed.data(), std::size_t(n), out.data(),
                               ldc, ed.kernel(e), scratch.data());
            } else {  // in bands of rows ending at multiples of mr, as the engine's threads take them
              for (index_t r0 = 0; r0 < m; r0 += mr * (1 + r0 % 2)) {
                const index_t r1 = std::min(m, r0 + mr * (1 + r0 % 2));
                kernels::gemm<A>(a.data() + std::size_t(r0) * lda, std::size_t(r1 - r0), std::size_t(k), lda,
                                 packed.data(), std::size_t(n), out.data() + std::size_t(r0) * ldc, ldc, ed.kernel(e),
                                 scratch.data());
              }
            }
            out.check_canaries(what);
            check_close(out.result(raw.shape()), ed.apply(raw, e), static_cast<double>(k), what, tol_gemm);
          }
        }
      }
  measured.report(std::string(A::name()) + " gemm", tol_gemm);
}

TEST_CASE_TEMPLATE_DEFINE("pointwise convolution with strides: rows read in place, pixel bands", A, pw_strided_id) {
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  struct p_case {
    index_t h, w, cin, cout, sh, sw;
  };
  const p_case cases[] = {{7, 9, 3, 5, 2, 2},  {11, 5, vw + 1, vw - 1 > 0 ? vw - 1 : 1, 2, 2}, {8, 8, 17, 2 * vw + 3, 2, 2},
                          {9, 6, 4, 7, 3, 3},  {9, 8, 5, 7, 2, 1}, {10, 11, 3, vw + 1, 1, 3},  // strides unequal
                          {56, 56, 32, 64, 2, 2},  // face-api reduction_block_0 expansion_conv
                          {14, 14, 128, 256, 2, 2}};  // its exit flow's
  for (const p_case& c : cases)
    for (padding p : {padding::valid, padding::same}) {
      const tensor<float> x = rnd({1, c.h, c.w, c.cin}), f = rnd({1, 1, c.cin, c.cout});
      const conv2d_params prm{c.sh, c.sw, p};
      const shape os = ref::conv2d_output_shape(x.shape(), f.shape(), prm);
      tensor<float> raw(os);
      ref::pointwise_conv2d<float>(x.view(), f.view(), prm, raw.view());
      tensor<float> packed({static_cast<index_t>(kernels::packed_gemm_b_size<A>(std::size_t(c.cin), std::size_t(c.cout)))});
      kernels::pack_gemm_b<A>(f.data(), std::size_t(c.cin), std::size_t(c.cout), std::size_t(c.cout), packed.data());
      const kernels::conv_geom g = geom_of(x.shape(), os, 1, 1, c.sh, c.sw, p);
      tensor<float> scratch({static_cast<index_t>(kernels::gemm_mr<A>()) * c.cin});
      const epilogue_data ed(c.cout, panel_pad<A>(c.cout), "pws" + std::to_string(c.cout));
      const std::size_t pixels = g.out_h * g.out_w;
      for (const epilogue_case& e : epilogue_cases) {
        const std::string what = std::string(A::name()) + " strided pointwise " + dims({c.h, c.w, c.cin}) + " s" +
                                 dims({c.sh, c.sw}) + " ->" + std::to_string(c.cout) + " " + to_string(p) + " " + e.name;
        poisoned out(1, static_cast<std::size_t>(os.elements()));
        // pixels in bands as the engine splits them (multiples of mr, and an odd pixel count)
        const std::size_t mr = kernels::gemm_mr<A>();
        const std::size_t cut1 = std::min(pixels, mr), cut2 = std::min(pixels, 2 * mr + 1);
        for (const auto& [b0, b1] : {std::pair{std::size_t(0), cut1}, {cut1, cut2}, {cut2, pixels}})
          kernels::pointwise_strided_image<A>(x.data(), g, packed.data(), out.data(), ed.kernel(e), scratch.data(), b0, b1);
        out.check_canaries(what);
        check_close(out.result(os), ed.apply(raw, e), static_cast<double>(c.cin), what, tol_gemm);
      }
    }
  measured.report(std::string(A::name()) + " strided pointwise", tol_gemm);
}

TEST_CASE_TEMPLATE_DEFINE("standard convolution: kernels 1/3/7, strides 1/2/4, VALID and SAME, every epilogue, row bands",
                          A, conv_id) {
  struct c_case {
    index_t h, w, cin, cout, k, s;
    index_t kw = 0, sw = 0;  // window width and horizontal stride when they differ from k and s
  };
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  const c_case cases[] = {{7, 9, 3, 5, 3, 1},      {11, 5, 1, vw + 1, 3, 2}, {9, 9, 3, 2 * vw, 7, 4},
                          {13, 10, 5, vw - 1, 7, 4}, {6, 6, 2, 3, 1, 2},       {5, 4, 3, 96, 3, 2},
                          {9, 12, 3, 5, 3, 2, 5, 1}, {10, 13, 2, vw + 1, 2, 1, 3, 3},  // unequal windows and strides
                          {227, 227, 3, 96, 7, 4},  // LMTCNN conv1 (rows of 56: a last tile of 8 on AVX-512)
                          {9, 55, 3, vw + 5, 7, 4},  // rows of 13 windows: a last tile of one pixel's quantum
                          {112, 112, 3, 32, 3, 2},  // face-api conv_in
                          {34, 34, 3, 16, 3, 1},    // tiny face detector conv0 (smaller input)
                          // one vector of output channels or less, rows of several narrow tiles
                          {5, 61, 5, vw - 3, 3, 1}, {6, 80, 3, vw, 3, 2}, {4, 53, 2, 1, 2, 1}};
  for (const c_case& c : cases)
    for (padding p : {padding::valid, padding::same}) {
      const index_t kw = c.kw ? c.kw : c.k, sw = c.sw ? c.sw : c.s;
      const std::string shape_name = std::string(A::name()) + " conv " + dims({c.h, c.w, c.cin}) + " k" +
                                     dims({c.k, kw}) + " s" + dims({c.s, sw}) + " ->" + std::to_string(c.cout) + " " +
                                     to_string(p);
      const tensor<float> x = rnd({2, c.h, c.w, c.cin}), f = rnd({c.k, kw, c.cin, c.cout});
      const conv2d_params prm{c.s, sw, p};
      const shape os = ref::conv2d_output_shape(x.shape(), f.shape(), prm);
      tensor<float> raw(os);
      ref::conv2d<float>(x.view(), f.view(), prm, raw.view());
      const index_t kk = c.k * kw * c.cin;
      tensor<float> packed({static_cast<index_t>(kernels::packed_gemm_b_size<A>(static_cast<std::size_t>(kk),
                                                                                 static_cast<std::size_t>(c.cout)))});
      kernels::pack_gemm_b<A>(f.data(), static_cast<std::size_t>(kk), static_cast<std::size_t>(c.cout),
                              static_cast<std::size_t>(c.cout), packed.data());
      const kernels::conv_geom g = geom_of(x.shape(), os, c.k, kw, c.s, sw, p);
      tensor<float> scratch({static_cast<index_t>(kernels::conv2d_scratch_size<A>(g))});
      const epilogue_data ed(c.cout, panel_pad<A>(c.cout), "conv" + std::to_string(c.cout));
      const std::size_t in_img = g.in_h * g.in_w * g.in_c, out_img = g.out_h * g.out_w * g.out_c;
      for (const epilogue_case& e : epilogue_cases) {
        poisoned out(1, static_cast<std::size_t>(os.elements()));
        for (std::size_t n = 0; n < 2; ++n)
          kernels::conv2d_image<A>(x.data() + n * in_img, g, packed.data(), out.data() + n * out_img, ed.kernel(e),
                                   scratch.data());
        out.check_canaries(shape_name + " " + e.name);
        const tensor<float> want = ed.apply(raw, e);
        check_close(out.result(os), want, static_cast<double>(kk), shape_name + " " + e.name, tol_conv);
        if (e.affine && e.bias) {  // in bands of output rows, as the engine's threads run it
          poisoned banded(1, static_cast<std::size_t>(os.elements()));
          for (std::size_t n = 0; n < 2; ++n)
            for (const auto& [r0, r1] : bands(g.out_h))
              kernels::conv2d_image<A>(x.data() + n * in_img, g, packed.data(), banded.data() + n * out_img,
                                       ed.kernel(e), scratch.data(), r0, r1);
          banded.check_canaries(shape_name + " in bands");
          check_close(banded.result(os), want, static_cast<double>(kk), shape_name + " in bands", tol_conv);
        }
      }
    }
  measured.report(std::string(A::name()) + " conv", tol_conv);
}

/// One depthwise layer on the kernel against the reference, with every epilogue, whole and in bands
/// of output rows (bands of one row, a band that starts at the top edge's neighbour, and bands that
/// start and end at odd rows).
template <class A>
void check_depthwise(index_t c, index_t h, index_t wd, index_t k, index_t s, padding p, index_t sw = 0) {
  if (sw == 0) sw = s;  // the horizontal stride, when it differs
  const std::string shape_name = std::string(A::name()) + " dw c=" + std::to_string(c) + " " + dims({h, wd}) + " k" +
                                 std::to_string(k) + " s" + dims({s, sw}) + " " + to_string(p);
  const tensor<float> x = rnd({1, h, wd, c}), f = rnd({k, k, c, 1});
  const conv2d_params prm{s, sw, p};
  const shape os = ref::depthwise_conv2d_output_shape(x.shape(), f.shape(), prm);
  tensor<float> raw(os);
  ref::depthwise_conv2d<float>(x.view(), f.view(), prm, raw.view());
  tensor<float> packed({k * k * static_cast<index_t>(kernels::round_up<A>(static_cast<std::size_t>(c)))});
  kernels::pack_depthwise<A>(f.data(), static_cast<std::size_t>(k * k), static_cast<std::size_t>(c), packed.data());
  const epilogue_data ed(c, panel_pad<A>(c), "dw" + std::to_string(c));
  const kernels::conv_geom g = geom_of(x.shape(), os, k, k, s, sw, p);
  const std::size_t size = static_cast<std::size_t>(os.elements());
  for (const epilogue_case& e : epilogue_cases) {
    poisoned out(1, size);
    kernels::depthwise_image<A>(x.data(), g, packed.data(), out.data(), ed.kernel(e));
    out.check_canaries(shape_name + " " + e.name);
    const tensor<float> want = ed.apply(raw, e);
    check_close(out.result(os), want, static_cast<double>(k * k), shape_name + " " + e.name, tol_depthwise);
    if (e.affine && e.bias && g.out_h >= 3) {
      poisoned banded(1, size);
      for (const auto& [r0, r1] : bands(g.out_h))
        kernels::depthwise_image<A>(x.data(), g, packed.data(), banded.data(), ed.kernel(e), r0, r1);
      banded.check_canaries(shape_name + " in bands");
      const tensor<float> whole = out.result(os), parts = banded.result(os);
      check_close(parts, want, static_cast<double>(k * k), shape_name + " in bands", tol_depthwise);
      // bands pair other rows than the whole image does (two rows at a time): each pixel's sum keeps
      // its order, so the bits match those of the whole run
      INFO(shape_name, ": in bands, to the bit as the whole image");
      CHECK(std::memcmp(whole.data(), parts.data(), size * sizeof(float)) == 0);
    }
  }
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
  // unequal strides: the 3x3 rows at horizontal strides 1, 2 and 3 under vertical strides 2 and 1
  for (index_t c : {index_t(3), vw + 1})
    for (padding p : {padding::valid, padding::same})
      for (const auto& [s, sw] : {std::pair<index_t, index_t>{2, 1}, {1, 2}, {2, 3}})
        for (index_t k : {3, 5}) check_depthwise<A>(c, 11, 12, k, s, p, sw);
  measured.report(std::string(A::name()) + " depthwise", tol_depthwise);
}

// Where a tile's input pixels would crowd an L1 cache set, the kernel takes narrower tiles
// (depthwise_tile_width) and pairs of rows narrower or none (depthwise_pair_width): these layers run
// in tiles of 8, 4 and 2 pixels at both strides and in pairs of 8, 4 and none (the test checks that each
// occurs), and 200 and 520 channels are not multiples of 16.
TEST_CASE_TEMPLATE_DEFINE("depthwise convolution: wide layers, whose tiles narrow where their pixels share cache sets",
                          A, dw_wide_id) {
  struct layer { index_t c, h, wd; };
  bool seen[3][9] = {};  // [stride][tile width]
  bool seen_pair[9] = {};  // [pair width]
  for (const layer& l : {layer{200, 27, 27}, layer{200, 14, 13}, layer{256, 27, 27}, layer{256, 14, 13},
                         layer{512, 27, 27}, layer{512, 14, 13}, layer{520, 27, 27}, layer{1024, 7, 9}})
    for (index_t s : {1, 2}) {
      const std::size_t t = kernels::depthwise_tile_width<A>(static_cast<std::size_t>(l.wd),
                                                             static_cast<std::size_t>(l.c), static_cast<std::size_t>(s));
      const std::size_t pw = kernels::depthwise_pair_width<A>(static_cast<std::size_t>(l.wd),
                                                              static_cast<std::size_t>(l.c), static_cast<std::size_t>(s));
      REQUIRE((t == 2 || t == 4 || t == 8));
      REQUIRE((pw == 0 || pw == 4 || pw == 8));
      seen[s][t] = true;
      seen_pair[pw] = true;
      for (padding p : {padding::valid, padding::same}) check_depthwise<A>(l.c, l.h, l.wd, 3, s, p);
    }
  for (index_t s : {1, 2})
    for (std::size_t t : {2, 4, 8}) {
      INFO(std::string(A::name()), " stride ", s, ": some layer runs in tiles of ", t);
      CHECK(seen[s][t]);
    }
  for (std::size_t pw : {0, 4, 8}) {
    INFO(std::string(A::name()), ": some layer runs in pairs of rows of ", pw);
    CHECK(seen_pair[pw]);
  }
  measured.report(std::string(A::name()) + " wide depthwise", tol_depthwise);
}

TEST_CASE_TEMPLATE_DEFINE("max and average pooling: windows over the edges, strides, channels, row bands", A, pool_id) {
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
            const std::string what = std::string(A::name()) + (is_max ? " max" : " avg") + " pool c=" +
                                     std::to_string(c) + " " + dims({h, wd}) + " k" + std::to_string(k) + " s" +
                                     std::to_string(s) + " " + to_string(p);
            tensor<float> want(os);
            if (is_max)
              ref::pool_max<float>(x.view(), prm, want.view());
            else
              ref::pool_avg<float>(x.view(), prm, want.view());
            poisoned out(1, static_cast<std::size_t>(os.elements()));
            for (index_t n = 0; n < 2; ++n) {
              const float* src = x.data() + n * h * wd * c;
              float* dst = out.data() + n * os[1] * os[2] * c;
              // the first image whole, the second in bands of output rows (as the engine's threads run it)
              for (const auto& [r0, r1] : n == 0 ? std::vector<std::pair<std::size_t, std::size_t>>{{0, g.out_h}}
                                                 : bands(g.out_h)) {
                if (is_max)
                  kernels::pool_image<A, true>(src, g, dst, r0, r1);
                else
                  kernels::pool_image<A, false>(src, g, dst, r0, r1);
              }
            }
            out.check_canaries(what);
            check_close(out.result(os), want, static_cast<double>(k * k), what, tol_pool);
          }
        }
  // unequal windows and strides
  for (padding p : {padding::valid, padding::same}) {
    const tensor<float> x = rnd({1, 11, 12, vw + 1}, -3, -1);
    for (const pool2d_params& prm : {pool2d_params{3, 2, 2, 1, p}, pool2d_params{2, 3, 1, 2, p}}) {
      const shape os = ref::pool2d_output_shape(x.shape(), prm);
      const kernels::conv_geom g = geom_of(x.shape(), os, prm.window_h, prm.window_w, prm.stride_h, prm.stride_w, p);
      for (bool is_max : {true, false}) {
        tensor<float> want(os);
        poisoned out(1, static_cast<std::size_t>(os.elements()));
        if (is_max) {
          ref::pool_max<float>(x.view(), prm, want.view());
          kernels::pool_image<A, true>(x.data(), g, out.data());
        } else {
          ref::pool_avg<float>(x.view(), prm, want.view());
          kernels::pool_image<A, false>(x.data(), g, out.data());
        }
        const std::string what = std::string(A::name()) + (is_max ? " max" : " avg") + " pool k" +
                                 dims({prm.window_h, prm.window_w}) + " s" + dims({prm.stride_h, prm.stride_w}) + " " +
                                 to_string(p);
        out.check_canaries(what);
        check_close(out.result(os), want, 6, what, tol_pool);
      }
    }
  }
  measured.report(std::string(A::name()) + " pooling", tol_pool);
}

TEST_CASE_TEMPLATE_DEFINE("LRN: window clipped at both ends, radius 0..5, beta 0.75 and 0.5, pixel bands", A, lrn_id) {
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  for (index_t c : {index_t(1), index_t(3), index_t(11), index_t(12), vw + 1, index_t(96)})
    for (index_t r : {0, 1, 5})
      for (double beta : {0.75, 0.5}) {
        const tensor<float> x = rnd({1, 3, 5, c}, -4, 4);
        const ref::lrn_params prm{r, 1.0, 1e-2, beta};
        tensor<float> want(x.shape());
        ref::lrn<float>(x.view(), prm, want.view());
        tensor<float> scratch({static_cast<index_t>(kernels::lrn_scratch_size<A>(static_cast<std::size_t>(c),
                                                                                 static_cast<std::size_t>(r)))});
        poisoned out(1, static_cast<std::size_t>(x.size()));
        // pixels in bands, as the engine's threads take them
        const std::size_t uc = static_cast<std::size_t>(c);
        for (const auto& [p0, p1] : bands(15))
          kernels::lrn_pixels<A>(x.data() + p0 * uc, p1 - p0, uc, static_cast<std::size_t>(r), 1.f, 1e-2f,
                                 static_cast<float>(beta), out.data() + p0 * uc, scratch.data());
        const std::string what = std::string(A::name()) + " lrn c=" + std::to_string(c) + " r=" + std::to_string(r) +
                                 " beta=" + std::to_string(beta);
        out.check_canaries(what);
        check_close(out.result(x.shape()), want, static_cast<double>(2 * r + 1), what, tol_lrn);
      }
  // activations of every magnitude, down to squares that underflow and up to squares that overflow
  // float (the reference sums them wider). There beta 0.75 takes the window's sum as FLT_MAX and
  // stays within the tolerance; the pow path (any other beta) divides by infinity and gives 0, so
  // it is held to finite squares only.
  for (double scale : {1e-25, 1e-3, 1e17, 1e19, 3e19})
    for (double beta : {0.75, 0.5}) {
      if (scale > 1e18 && beta != 0.75) continue;
      const index_t c = 96, r = 5;
      tensor<float> x = rnd({1, 2, 3, c}, -4, 4);
      for (index_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(x[i] * scale);
      const ref::lrn_params prm{r, 1.0, 1e-4, beta};
      tensor<float> want(x.shape());
      ref::lrn<float>(x.view(), prm, want.view());
      const std::size_t uc = static_cast<std::size_t>(c), ur = static_cast<std::size_t>(r);
      tensor<float> scratch({static_cast<index_t>(kernels::lrn_scratch_size<A>(uc, ur))});
      poisoned out(1, static_cast<std::size_t>(x.size()));
      kernels::lrn_pixels<A>(x.data(), 6, uc, ur, static_cast<float>(prm.bias), static_cast<float>(prm.alpha),
                             static_cast<float>(beta), out.data(), scratch.data());
      const std::string what = std::string(A::name()) + " lrn, inputs scaled by " + std::to_string(scale) +
                               ", beta=" + std::to_string(beta);
      out.check_canaries(what);
      check_close(out.result(x.shape()), want, 11, what, tol_lrn);
    }
  measured.report(std::string(A::name()) + " lrn", tol_lrn);
}

TEST_CASE_TEMPLATE_DEFINE("fully connected, one row: column counts around the block, LMTCNN's full1, every epilogue",
                          A, fc_id) {
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  const index_t block = 4 * vw;
  struct f_case {
    index_t k, m;
  };
  const f_case cases[] = {{1, 1},         {7, 3},         {100, vw},     {100, vw + 1}, {33, block - 1},
                          {33, block},    {33, block + 3}, {512, 512},   {512, 8},      {512, 2},
                          {13824, 512}};  // LMTCNN full1
  for (const f_case& c : cases) {
    const tensor<float> x = rnd({2, c.k}), wt = rnd({c.k, c.m}, -0.05, 0.05);
    tensor<float> raw({2, c.m});
    ref::fully_connected<float>(x.view(), wt.view(), raw.view());
    const epilogue_data ed(c.m, panel_pad<A>(c.m), "fc" + std::to_string(c.m));
    for (const epilogue_case& e : epilogue_cases) {
      if (c.k == 13824 && !(e.bias && e.affine)) continue;  // full1's length: one epilogue suffices
      const std::string what = std::string(A::name()) + " fc k=" + std::to_string(c.k) + " m=" + std::to_string(c.m) +
                               " " + e.name;
      poisoned out(2, std::size_t(c.m));
      for (index_t n = 0; n < 2; ++n)
        kernels::dense_row<A>(x.data() + n * c.k, static_cast<std::size_t>(c.k), wt.data(),
                              static_cast<std::size_t>(c.m), out.data() + n * c.m, ed.kernel(e));
      out.check_canaries(what);
      check_close(out.result({2, c.m}), ed.apply(raw, e), static_cast<double>(c.k), what, tol_dense);
    }
  }
  measured.report(std::string(A::name()) + " fc", tol_dense);
}

TEST_CASE_TEMPLATE_DEFINE("fully connected, several rows at once: column ranges, packed blocks, odd leading dimensions",
                          A, fc_rows_id) {
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  struct f_case {
    index_t k, m;
  };
  const f_case cases[] = {{1, 1}, {7, 3}, {9, vw + 5}, {30, 3 * vw + 1}, {515, 64}, {20, 8 * vw}, {21, 9 * vw + 3},
                          {40, 20 * vw - 1}, {4103, 2 * vw + 3}};  // the last: interleaved runs, a pair past them, odd k
  int round = 0;
  for (const f_case& c : cases)
    for (index_t rows : {index_t(1), index_t(2), index_t(3), index_t(4), index_t(5), index_t(9)}) {
      const std::size_t k = std::size_t(c.k), m = std::size_t(c.m), nb = std::size_t(rows);
      const tensor<float> x0 = rnd({rows, c.k}), wt0 = rnd({c.k, c.m}, -0.05, 0.05);
      tensor<float> raw({rows, c.m});
      ref::fully_connected<float>(x0.view(), wt0.view(), raw.view());
      const epilogue_data ed(c.m, panel_pad<A>(c.m), "fcr" + std::to_string(c.m));
      // inputs, weights and outputs with row strides equal to their widths, or odd and larger
      const bool dense = round++ % 2 == 0;
      const std::size_t ldx = dense ? k : odd_ld(k), ldw = dense ? m : odd_ld(m), ldo = dense ? m : odd_ld(m);
      const tensor<float> x = strided(x0, nb, k, ldx), wt = strided(wt0, k, m, ldw);
      tensor<float> packed({static_cast<index_t>(kernels::packed_dense_size<A>(k, m))});
      kernels::pack_dense<A>(wt0.data(), k, m, packed.data());
      const std::size_t nblocks = kernels::dense_blocks<A>(m);
      // the widened bf16 kernel on bf16 pairs, and the float32 one on the same values rounded first
      tensor<float> pairs({static_cast<index_t>(kernels::packed_dense_bf16_widened_words<A>(k, m))});
      kernels::pack_dense_bf16_widened<A>(wt0.data(), k, m, reinterpret_cast<std::uint32_t*>(pairs.data()));
      tensor<float> wt_r = wt0, x_r = x, packed_r({static_cast<index_t>(kernels::packed_dense_size<A>(k, m))});
      for (float& v : wt_r) v = round_to_bf16(v);
      for (float& v : x_r) v = round_to_bf16(v);
      kernels::pack_dense<A>(wt_r.data(), k, m, packed_r.data());
      for (const epilogue_case& e : epilogue_cases) {
        const std::string what = std::string(A::name()) + " fc rows=" + std::to_string(rows) + " k=" +
                                 std::to_string(c.k) + " m=" + std::to_string(c.m) + " ldx=" + std::to_string(ldx) +
                                 " ldw=" + std::to_string(ldw) + " ldo=" + std::to_string(ldo) + " " + e.name;
        const tensor<float> want = ed.apply(raw, e);
        // unpacked weights, columns in ranges ending at multiples of 16 (the last one at m)
        poisoned got(nb, m, ldo);
        for (std::size_t j0 = 0; j0 < m; j0 += 16) {
          const std::size_t j1 = std::min(m, j0 + 16 * (1 + j0 % 3));
          kernels::dense_rows<A>(x.data(), nb, ldx, k, wt.data() + j0, ldw, j1 - j0, got.data() + j0, ldo,
                                 ed.kernel(e, static_cast<index_t>(j0)));
          j0 = j1 - 16;
        }
        got.check_canaries(what);
        check_close(got.result({rows, c.m}), want, static_cast<double>(c.k), what, tol_dense);
        // packed weights, the column blocks one call at a time (as threads take them)
        poisoned got_p(nb, m, ldo);
        for (std::size_t blk = 0; blk < nblocks; ++blk)
          kernels::dense_packed<A>(x.data(), nb, ldx, k, packed.data(), m, got_p.data(), ldo, ed.kernel(e), blk, blk + 1);
        got_p.check_canaries(what + " packed");
        const tensor<float> one_by_one = got_p.result({rows, c.m});
        check_close(one_by_one, want, static_cast<double>(c.k), what + " packed", tol_dense);
        // ranges of three blocks and all blocks in one call (blocks read in groups, leftovers alone):
        // every column's sum runs in the same order, so the results are the same to the bit
        for (std::size_t span : {std::size_t(3), nblocks}) {
          poisoned got_g(nb, m, ldo);
          for (std::size_t b0 = 0; b0 < nblocks; b0 += span)
            kernels::dense_packed<A>(x.data(), nb, ldx, k, packed.data(), m, got_g.data(), ldo, ed.kernel(e), b0,
                                     std::min(nblocks, b0 + span));
          got_g.check_canaries(what + " packed, " + std::to_string(span) + " blocks a call");
          const tensor<float> g = got_g.result({rows, c.m});
          CHECK_MESSAGE(std::equal(g.begin(), g.end(), one_by_one.begin()),
                        what << " packed, " << span << " blocks a call: not the bits of one block a call");
        }
        // bf16 pairs widened: the bits of float32 on rounded weights and inputs (each column's products
        // in the same order), one block a call and all in one
        poisoned want_r(nb, m, ldo);
        kernels::dense_packed<A>(x_r.data(), nb, ldx, k, packed_r.data(), m, want_r.data(), ldo, ed.kernel(e), 0, nblocks);
        const tensor<float> rounded = want_r.result({rows, c.m});
        for (std::size_t span : {std::size_t(1), nblocks}) {
          poisoned got_w(nb, m, ldo);
          for (std::size_t b0 = 0; b0 < nblocks; b0 += span)
            kernels::dense_packed<A, true>(x.data(), nb, ldx, k, pairs.data(), m, got_w.data(), ldo, ed.kernel(e), b0,
                                           std::min(nblocks, b0 + span));
          got_w.check_canaries(what + " bf16 pairs");
          const tensor<float> g = got_w.result({rows, c.m});
          CHECK_MESSAGE(std::equal(g.begin(), g.end(), rounded.begin()),
                        what << " bf16 pairs, " << span << " blocks a call: not the bits of float32 on rounded values");
        }
      }
    }
  measured.report(std::string(A::name()) + " fc rows", tol_dense);
}

TEST_CASE_TEMPLATE_DEFINE("fully connected on packed weights: LMTCNN full1's reduction length", A, fc_long_id) {
  // k = 13824 (full1), m = 200: groups of blocks and a partial last block, one and two rows at once
  const index_t k = 13824, m = 200;
  const epilogue_data ed(m, panel_pad<A>(m), "full1");
  const epilogue_case& e = epilogue_cases[std::size(epilogue_cases) - 1];
  for (index_t rows : {index_t(1), index_t(2), index_t(3)}) {
    const tensor<float> x = rnd({rows, k}), wt = rnd({k, m}, -0.05, 0.05);
    tensor<float> raw({rows, m});
    ref::fully_connected<float>(x.view(), wt.view(), raw.view());
    tensor<float> packed({static_cast<index_t>(kernels::packed_dense_size<A>(static_cast<std::size_t>(k),
                                                                             static_cast<std::size_t>(m)))});
    kernels::pack_dense<A>(wt.data(), static_cast<std::size_t>(k), static_cast<std::size_t>(m), packed.data());
    poisoned out{std::size_t(rows), std::size_t(m)};
    kernels::dense_packed<A>(x.data(), static_cast<std::size_t>(rows), static_cast<std::size_t>(k),
                             static_cast<std::size_t>(k), packed.data(), static_cast<std::size_t>(m), out.data(),
                             static_cast<std::size_t>(m), ed.kernel(e), 0,
                             kernels::dense_blocks<A>(static_cast<std::size_t>(m)));
    const std::string what = std::string(A::name()) + " full1-length fc rows=" + std::to_string(rows);
    out.check_canaries(what);
    check_close(out.result({rows, m}), ed.apply(raw, e), static_cast<double>(k), what, tol_dense);
  }
  measured.report(std::string(A::name()) + " full1-length fc", tol_dense);
}

TEST_CASE_TEMPLATE_DEFINE("element-wise, per-channel and statistics kernels", A, misc_id) {
  constexpr index_t vw = static_cast<index_t>(kernels::width<A>);
  for (index_t n : {index_t(1), vw - 1, vw, vw + 1, index_t(1000)}) {
    if (n < 1) continue;
    const tensor<float> a = rnd({1, 1, 1, n}), b = rnd({1, 1, 1, n});
    const std::size_t un = static_cast<std::size_t>(n);
    tensor<float> want(a.shape());
    ref::relu<float>(a.view(), want.view());
    poisoned got(1, un);
    kernels::relu_n<A>(a.data(), got.data(), un);
    got.check_canaries(std::string(A::name()) + " relu n=" + std::to_string(n));
    const tensor<float> r = got.result(a.shape());
    CHECK_MESSAGE(std::equal(want.begin(), want.end(), r.begin()), A::name() << " relu n=" << n);
    tensor<float> big(a.shape());  // -10..10: both ends of ReLU6 are reached
    for (index_t i = 0; i < n; ++i) big[i] = 10.f * a[i];
    ref::relu<float>(big.view(), want.view(), 6.0);
    poisoned got6(1, un);
    kernels::relu6_n<A>(big.data(), got6.data(), un);
    got6.check_canaries(std::string(A::name()) + " relu6 n=" + std::to_string(n));
    const tensor<float> r6 = got6.result(a.shape());
    CHECK_MESSAGE(std::equal(want.begin(), want.end(), r6.begin()), A::name() << " relu6 n=" << n);
    ref::add<float>(a.view(), b.view(), want.view());
    poisoned sum(1, un);
    kernels::add_n<A>(a.data(), b.data(), sum.data(), un);
    sum.check_canaries(std::string(A::name()) + " add n=" + std::to_string(n));
    const tensor<float> t = sum.result(a.shape());
    CHECK_MESSAGE(std::equal(want.begin(), want.end(), t.begin()), A::name() << " add n=" << n);
    // a ReLU or ReLU6 taken into the add (the engine folds one that follows it): add, then the
    // reference's ReLU; values -20..20 reach both ends of ReLU6
    for (const activation act : {activation::relu, activation::relu6}) {
      ref::add<float>(big.view(), b.view(), want.view());
      tensor<float> want_act(a.shape());
      ref::relu<float>(want.view(), want_act.view(), act == activation::relu6 ? 6.0 : 0.0);
      poisoned fused(1, un);
      kernels::add_n<A>(big.data(), b.data(), fused.data(), un, act);
      fused.check_canaries(std::string(A::name()) + " add+relu n=" + std::to_string(n));
      const tensor<float> f = fused.result(a.shape());
      CHECK_MESSAGE(std::equal(want_act.begin(), want_act.end(), f.begin()),
                    A::name() << " add+relu" << (act == activation::relu6 ? "6" : "") << " n=" << n);
    }
  }
  for (index_t m : {index_t(1), index_t(2), index_t(8), vw + 3}) {
    const tensor<float> x = rnd({3, m}, -10, 10);
    tensor<float> want(x.shape());
    ref::softmax<float>(x.view(), want.view());
    poisoned got(3, static_cast<std::size_t>(m));
    kernels::softmax_rows<A>(x.data(), 3, static_cast<std::size_t>(m), got.data());
    got.check_canaries(std::string(A::name()) + " softmax m=" + std::to_string(m));
    check_close(got.result(x.shape()), want, static_cast<double>(m), std::string(A::name()) + " softmax m=" + std::to_string(m),
                tol_softmax);
  }
  // per pixel of c channels: x * scale + shift (batch norm folded), (x - mean) / divisor (input
  // normalisation), and per-channel sums of deviations (batch statistics), against double arithmetic
  for (index_t c : {index_t(1), index_t(3), vw, vw + 1, 2 * vw + 5}) {
    const std::size_t uc = static_cast<std::size_t>(c), pixels = 300;  // more than one 256-pixel block
    const tensor<float> x = rnd({1, 1, 300, c}, -5, 5);
    const epilogue_data ed(c, kernels::round_up<A>(uc) - uc, "pc" + std::to_string(c));
    const std::string what = std::string(A::name()) + " c=" + std::to_string(c);
    tensor<float> want_affine(x.shape()), want_norm(x.shape());
    for (index_t i = 0; i < x.size(); ++i) {
      const index_t ch = i % c;
      want_affine[i] = static_cast<float>(double(x[i]) * ed.scale[ch] + ed.shift[ch]);
      want_norm[i] = static_cast<float>((double(x[i]) - ed.shift[ch]) / ed.scale[ch]);
    }
    poisoned affine(1, static_cast<std::size_t>(x.size())), norm(1, static_cast<std::size_t>(x.size()));
    kernels::affine_pixels<A>(x.data(), pixels, uc, ed.scale.data(), ed.shift.data(), affine.data());
    kernels::normalize_pixels<A>(x.data(), pixels, uc, ed.shift.data(), ed.scale.data(), norm.data());
    affine.check_canaries(what + " affine_pixels");
    norm.check_canaries(what + " normalize_pixels");
    check_close(affine.result(x.shape()), want_affine, 1, what + " affine_pixels", tol_softmax);
    check_close(norm.result(x.shape()), want_norm, 1, what + " normalize_pixels", tol_softmax);
    for (bool centred : {false, true}) {
      std::vector<double> sum(uc + 1, 0.0), sq(uc + 1, 0.0), want_sum(uc, 0.0), want_sq(uc, 0.0);
      sum[uc] = sq[uc] = 12345;  // past the channels: must stay
      kernels::channel_moments<A>(x.data(), pixels, uc, centred ? ed.shift.data() : nullptr, sum.data(), sq.data());
      for (index_t i = 0; i < x.size(); ++i) {
        const double d = double(x[i]) - (centred ? double(ed.shift[i % c]) : 0.0);
        want_sum[static_cast<std::size_t>(i % c)] += d;
        want_sq[static_cast<std::size_t>(i % c)] += d * d;
      }
      for (std::size_t ch = 0; ch < uc; ++ch) {
        INFO(what, " channel_moments", centred ? " centred" : "", " channel ", ch);
        // float vectors over blocks of 256 pixels: a few float roundings of sums of up to 256 terms
        CHECK(std::abs(sum[ch] - want_sum[ch]) <= 1e-6 * 256 * 5 * 2);
        CHECK(std::abs(sq[ch] - want_sq[ch]) <= 1e-6 * want_sq[ch]);
      }
      CHECK(sum[uc] == 12345);
      CHECK(sq[uc] == 12345);
    }
  }
  measured.report(std::string(A::name()) + " softmax and per-channel", tol_softmax);
}

TEST_CASE("bf16 rounding: ties to even, NaN and infinity, by hand; whole vectors as the scalar") {
  CHECK(round_to_bf16(1.0f) == 1.0f);
  CHECK(round_to_bf16(1.0f + 1.0f / 256) == 1.0f);                  // a tie: to the even 1.0
  CHECK(round_to_bf16(1.0f + 3.0f / 256) == 1.0f + 1.0f / 64);      // a tie: to the even 1 + 2/128
  CHECK(round_to_bf16(1.0f + 1.0f / 256 + 1.0f / 65536) == 1.0f + 1.0f / 128);  // above the tie: up
  CHECK(round_to_bf16(-2.99f) == -2.984375f);                       // steps of 1/64 in [2, 4)
  CHECK(round_to_bf16(0.1f) == 0.10009765625f);                     // 0x3DCD
  CHECK(std::isinf(round_to_bf16(3.4028235e38f)));                  // past bf16's largest: infinity
  CHECK(std::isinf(round_to_bf16(-std::numeric_limits<float>::infinity())));
  CHECK(std::isnan(round_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  const std::uint32_t payload_nan = 0x7f800001u;  // a signalling NaN whose payload is all in the low half
  float snan;
  std::memcpy(&snan, &payload_nan, sizeof snan);
  CHECK(std::isnan(round_to_bf16(snan)));
  CHECK(bf16_bits(1.0f) == 0x3f80);
}

TEST_CASE_TEMPLATE_DEFINE("bf16: vector rounding equals the scalar on every kind of float", A, bf16_round_id) {
  constexpr std::size_t w = kernels::width<A>;
  std::uint64_t x = 88172645463325252ull;
  std::size_t mismatches = 0;
  for (int it = 0; it < 4096; ++it) {
    alignas(64) float in[w], out[w];
    for (std::size_t j = 0; j < w; ++j) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::uint32_t u = static_cast<std::uint32_t>(x);
      if (it % 4 == 1) u = (u & 0x8000ffffu) | 0x3f800000u;  // near 1: ties and carries
      if (it % 4 == 2) u = (u & 0x807fffffu) | (it % 8 == 2 ? 0x7f800000u : 0u);  // NaN/inf, subnormal
      std::memcpy(&in[j], &u, sizeof u);
    }
    kernels::round_bf16<A>(kernels::vf<A>::load_aligned(in)).store_aligned(out);
    for (std::size_t j = 0; j < w; ++j) {
      const float want = round_to_bf16(in[j]);
      const bool same = std::isnan(want) ? std::isnan(out[j]) : std::memcmp(&want, &out[j], sizeof want) == 0;
      mismatches += same ? 0 : 1;
    }
  }
  CHECK_MESSAGE(mismatches == 0, std::string(A::name()));
}

namespace {
/// One convolution or fully connected node over seeded weights, for the bf16 layer tests.
struct bf16_layer_case {
  std::string what;
  graph g;
  tensor_map<float> w;
  index_t batch;
};

bf16_layer_case bf16_conv_case(index_t h, index_t wd, index_t cin, index_t cout, index_t k, index_t stride, padding pad,
                               activation act, bool bias, index_t batch) {
  graph g;
  g.input_dims = {h, wd, cin};
  const op_kind op = k == 1 ? op_kind::pointwise_conv2d : op_kind::conv2d;
  g.nodes = {{"conv", op, {0}, {"f", bias ? "b" : ""}, {stride, stride, pad == padding::same ? 1 : 0, static_cast<std::int64_t>(act)},
              act == activation::leaky_relu ? std::vector<double>{0.2} : std::vector<double>{}}};
  g.outputs = {{"out", 1}};
  tensor_map<float> w;
  w.emplace("f", rnd({k, k, cin, cout}, -0.5, 0.5));
  if (bias) w.emplace("b", rnd({cout}, -0.5, 0.5));
  return {dims({h, wd, cin}) + " -> " + std::to_string(cout) + " k" + std::to_string(k) + " s" + std::to_string(stride) +
              " " + to_string(pad) + " act" + std::to_string(static_cast<int>(act)) + " batch " + std::to_string(batch),
          std::move(g), std::move(w), batch};
}

bf16_layer_case bf16_dense_case(index_t k, index_t m, activation act, bool bias, index_t batch) {
  graph g;
  g.input_dims = {1, 1, k};
  g.nodes = {{"fc", op_kind::fully_connected, {0}, {"f", bias ? "b" : ""}, {static_cast<std::int64_t>(act)},
              act == activation::leaky_relu ? std::vector<double>{0.2} : std::vector<double>{}}};
  g.outputs = {{"out", 1}};
  tensor_map<float> w;
  w.emplace("f", rnd({k, m}, -0.5, 0.5));
  if (bias) w.emplace("b", rnd({m}, -0.5, 0.5));
  return {"dense " + std::to_string(k) + " -> " + std::to_string(m) + " act" + std::to_string(static_cast<int>(act)) +
              " batch " + std::to_string(batch),
          std::move(g), std::move(w), batch};
}
}  // namespace

TEST_CASE_TEMPLATE_DEFINE("bf16: convolutions and fully connected layers equal the bf16 reference, both ways, any threads",
                          A, bf16_layer_id) {
  std::vector<bf16_layer_case> cases;
  // pointwise: reductions odd and even around 64 (63 stays float32), columns around the 32-wide panel
  for (index_t cin : {63, 64, 65, 127, 200})
    for (index_t cout : {1, 15, 17, 32, 33, 100})
      cases.push_back(bf16_conv_case(5, 7, cin, cout, 1, cin % 2 ? 1 : 2, padding::valid,
                                     cout % 2 ? activation::relu : activation::relu6, cout != 15, cin == 65 ? 3 : 1));
  // standard convolution: LMTCNN's conv1 (7x7x3, stride 4), 3x3 windows over odd channel counts,
  // every padding case, strides 1/2/4
  cases.push_back(bf16_conv_case(31, 29, 3, 96, 7, 4, padding::valid, activation::relu, true, 2));
  cases.push_back(bf16_conv_case(31, 29, 3, 17, 7, 4, padding::same, activation::none, true, 1));
  // rows wide enough for whole tiles of 12 windows read in place (odd and even window rows)
  cases.push_back(bf16_conv_case(35, 101, 3, 96, 7, 4, padding::valid, activation::relu, true, 2));
  cases.push_back(bf16_conv_case(35, 101, 3, 40, 7, 4, padding::same, activation::relu6, false, 1));
  // rows of 20 and of 13 windows: the last tile of a row 8 and 4 windows wide
  cases.push_back(bf16_conv_case(11, 83, 3, 96, 7, 4, padding::valid, activation::relu, true, 1));
  cases.push_back(bf16_conv_case(11, 55, 3, 40, 7, 4, padding::valid, activation::relu, true, 1));
  for (index_t cin : {8, 13})
    for (padding pad : {padding::valid, padding::same})
      cases.push_back(bf16_conv_case(7, 43, cin, 33, 3, cin == 8 ? 1 : 2, pad, activation::relu, true, 1));
  for (padding pad : {padding::valid, padding::same})
    for (index_t stride : {1, 2})
      for (index_t cin : {3, 8, 13})
        cases.push_back(bf16_conv_case(9, 11, cin, cin == 13 ? 33 : 16, 3, stride, pad, activation::leaky_relu,
                                       cin != 8, 1));
  // fully connected: reductions around 64 and LMTCNN's full1 and full2, columns around a block
  for (index_t k : {63, 64, 65, 301})
    for (index_t m : {1, 3, 16, 17, 127, 128, 129, 300})
      cases.push_back(bf16_dense_case(k, m, m % 2 ? activation::relu : activation::none, m != 16,
                                      m == 129 ? 5 : m == 17 ? 2 : 1));
  cases.push_back(bf16_dense_case(9216, 512, activation::relu, true, 3));
  cases.push_back(bf16_dense_case(6147, 129, activation::relu, true, 3));  // runs of pairs, pairs past them, odd k
  cases.push_back(bf16_dense_case(512, 8, activation::none, true, 2));

  thread_pool pool(3);
  std::size_t differing = 0;  // cases where bf16 visibly differs from float32 (the test can tell them apart)
  for (const bf16_layer_case& c : cases) {
    const shape& d = c.g.input_dims;
    const tensor<float> input = rnd({c.batch, d[0], d[1], d[2]}, -1, 1);
    graph_net<float> ref(c.g, c.w);
    const tensor<float> fp32 = ref.forward(input.view()).at("out");
    ref.set_precision(precision::bf16);
    const tensor<float> want = ref.forward(input.view()).at("out");
    double gap = 0;
    for (index_t i = 0; i < want.size(); ++i) gap = std::max(gap, std::abs(double(want[i]) - double(fp32[i])));
    const index_t k = c.g.nodes[0].op == op_kind::fully_connected ? d[2] : c.w.at("f").dim(0) * c.w.at("f").dim(1) * d[2];
    if (bf16_multiplies(static_cast<std::size_t>(k))) differing += gap > 1e-4 ? 1 : 0;
    else CHECK_MESSAGE(gap == 0, c.what << ": a reduction of " << k << " stays float32");
    for (bool dot : {true, false}) {
      const engine_net<A> e(c.g, c.w, precision::bf16, dot);
      const std::string what = std::string(A::name()) + (e.bf16_dot_products() ? " dot " : " widened ") + c.what;
      check_close(e.forward(input.view()).at("out"), want, static_cast<double>(k), what, tol_gemm);
      engine_workspace ws;
      const tensor<float> threaded = e.forward(input.view(), ws, &pool).at("out");
      check_close(threaded, want, static_cast<double>(k), what + " threads 3", tol_gemm);
    }
  }
  CHECK(differing > cases.size() / 2);
  measured.report(std::string(A::name()) + " bf16 layers", tol_gemm);
}

TEST_CASE_TEMPLATE_DEFINE("bf16: whole networks on the engine follow the bf16 reference and stay near float32", A,
                          bf16_net_id) {
  for (lmtcnn_variant v : {lmtcnn_variant::v1_1, lmtcnn_variant::v2_1}) {
    const graph g = lmtcnn_graph(v, batch_norm_mode::moving_average);
    const tensor_map<float> w = lmtcnn_seeded_weights<float>(v, 7);
    const shape& d = g.input_dims;
    const tensor<float> input = seeded::pixels<float>({2, d[0], d[1], d[2]}, 3, "input");
    graph_net<float> ref(g, w);
    const auto fp32 = ref.forward(input.view());
    ref.set_precision(precision::bf16);
    const auto want = ref.forward(input.view());
    for (bool allow_dot : {true, false}) {
      const engine_net<A> e(g, w, precision::bf16, allow_dot);
      const bool dot = e.bf16_dot_products();
      const auto got = e.forward(input.view());
      for (const auto& [name, t] : want) {
        if (name.find("prob") == std::string::npos) continue;
        double to_ref = 0, to_fp32 = 0;
        for (index_t i = 0; i < t.size(); ++i) {
          to_ref = std::max(to_ref, std::abs(double(got.at(name)[i]) - double(t[i])));
          to_fp32 = std::max(to_fp32, std::abs(double(got.at(name)[i]) - double(fp32.at(name)[i])));
        }
        // activations rounded at a bf16 boundary may round the other way: a few bf16 steps
        const std::string what = std::string(A::name()) + (dot ? " dot " : " widened ") + to_string(v) + " " + name;
        CHECK_MESSAGE(to_ref <= 2e-3, what << " vs the bf16 reference " << to_ref);
        CHECK_MESSAGE(to_fp32 <= 5e-3, what << " vs float32 " << to_fp32);
        MESSAGE(what << ": max |p diff| to the bf16 reference " << to_ref << ", to float32 " << to_fp32);
      }
    }
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
      const bool variance = s.name.find("variance") != std::string::npos;  // batch norm: positive
      w.emplace(s.name, seeded::uniform<float>(s.dims, 9, s.name, variance ? 0.5 : -r, variance ? 1.5 : r));
    }
    return w;
  };
  cases.push_back({"face-api AgeGenderNet", faceapi_age_gender_graph(256), seeded_for(faceapi_age_gender_tensors()), 2});
  // batch norm folded into a depthwise layer with its ReLU6 after it; ReLU6 in convolution epilogues
  cases.push_back({"face-api SSD MobileNetV1 at 64", faceapi_ssd_graph(64), seeded_for(faceapi_ssd_tensors()), 2});
  cases.push_back({"face-api face_landmark_68", faceapi_landmark_graph(faceapi_landmark_kind::full),
                   seeded_for(faceapi_landmark_tensors(faceapi_landmark_kind::full)), 2});
  cases.push_back({"face-api face_landmark_68_tiny", faceapi_landmark_graph(faceapi_landmark_kind::tiny),
                   seeded_for(faceapi_landmark_tensors(faceapi_landmark_kind::tiny)), 1});
  cases.push_back({"face-api tiny_face_detector at 96", faceapi_tiny_face_detector_graph(96),
                   seeded_for(faceapi_tiny_face_detector_tensors()), 1});
  for (const net_case& c : cases) {
    const shape& d = c.g.input_dims;
    const tensor<float> input = seeded::pixels<float>({c.batch, d[0], d[1], d[2]}, 3, "input");
    const auto want = graph_net<float>(c.g, c.w).forward(input.view());
    const auto got = engine_net<A>(c.g, c.w).forward(input.view());
    for (const auto& [name, t] : want)
      check_close(got.at(name), t, 512, std::string(A::name()) + " " + c.name + " output " + name, tol_network);
  }
  measured.report(std::string(A::name()) + " whole networks", tol_network);
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
      check_close(serial.at(name), t, 512, std::string(A::name()) + " " + c.name + " batch 3 " + name, tol_network);
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
  measured.report(std::string(A::name()) + " whole networks in batches", tol_network);
}

TEST_CASE_TEMPLATE_DEFINE("engine: a pooling taken into the convolution before it equals the reference graph", A,
                          pool_fold_id) {
  // conv -> pool [-> ReLU or batch norm after the pool]: odd and even sizes, VALID and SAME, max and
  // average, the narrow convolution (one vector of channels) and the wide, standard and pointwise;
  // and poolings the convolution must leave alone (overlapping windows, an input also read elsewhere)
  struct fold_case {
    index_t h, w, cin, cout, k, stride;
    padding conv_pad;
    op_kind pool;
    index_t window, pool_stride;
    padding pool_pad;
    int after;  // 0 nothing, 1 ReLU, 2 batch norm (scale of both signs), 3 the conv output also summed in
    bool folds;
  };
  const index_t vw = static_cast<index_t>(kernels::width<A>);
  const fold_case cases[] = {
      {13, 11, 3, vw, 3, 1, padding::same, op_kind::pool_max, 2, 2, padding::same, 0, true},
      {13, 11, 3, vw + 5, 3, 1, padding::same, op_kind::pool_max, 2, 2, padding::same, 1, true},
      {17, 19, 4, 2 * vw + 3, 3, 2, padding::valid, op_kind::pool_avg, 2, 2, padding::valid, 0, true},
      {17, 19, 4, 2 * vw + 3, 3, 2, padding::valid, op_kind::pool_avg, 2, 2, padding::same, 1, true},
      {9, 7, 5, 3 * vw - 1, 1, 1, padding::valid, op_kind::pool_max, 2, 2, padding::valid, 1, true},
      {9, 7, 5, 3 * vw - 1, 1, 1, padding::valid, op_kind::pool_max, 2, 2, padding::same, 2, true},
      {10, 40, 6, 7, 1, 1, padding::valid, op_kind::pool_avg, 2, 2, padding::same, 2, true},
      {64, 64, 3, vw, 3, 1, padding::same, op_kind::pool_max, 2, 2, padding::same, 1, true},  // several bands
      {11, 11, 3, vw + 1, 3, 1, padding::same, op_kind::pool_max, 3, 2, padding::same, 0, false},
      {11, 11, 3, vw + 1, 3, 1, padding::same, op_kind::pool_max, 2, 2, padding::same, 3, false}};
  thread_pool two(2), three(3);
  for (const fold_case& c : cases) {
   for (bool whole_batch : {false, true}) {
    // whole_batch: a batch norm on the batch's statistics first, so the layers after it run the
    // batch at once (else a batch runs image by image)
    graph g;
    g.input_dims = {c.h, c.w, c.cin};
    const std::uint32_t x0 = whole_batch ? 1 : 0;  // the convolution's input
    if (whole_batch) g.nodes.push_back({"bn0", op_kind::batch_norm, {0}, {"", "", "g0", "b0"}, {1}, {1e-3}});
    const op_kind conv = c.k == 1 ? op_kind::pointwise_conv2d : op_kind::conv2d;
    g.nodes.push_back({"conv", conv, {x0}, {"f", "b"}, {c.stride, c.stride, c.conv_pad == padding::same ? 1 : 0,
                                                        static_cast<std::int64_t>(activation::leaky_relu)}, {0.1}});
    const std::vector<std::int64_t> pool_ints = pool_attrs::ints(c.window, c.window, c.pool_stride, c.pool_stride, c.pool_pad);
    g.nodes.push_back({"pool", c.pool, {x0 + 1}, {}, pool_ints, {}});
    if (c.after == 1) g.nodes.push_back({"relu", op_kind::relu, {x0 + 2}, {}, {}, {}});
    if (c.after == 2) g.nodes.push_back({"bn", op_kind::batch_norm, {x0 + 2}, {"m", "v", "gamma", "beta"}, {0}, {1e-3}});
    if (c.after == 3) {  // the convolution's output read by the pooling and by a sum after it
      g.nodes.push_back({"pool2", c.pool, {x0 + 1}, {}, pool_ints, {}});
      g.nodes.push_back({"sum", op_kind::add, {x0 + 2, x0 + 3}, {}, {}, {}});
    }
    g.outputs = {{"out", static_cast<std::uint32_t>(g.nodes.size())}};
    tensor_map<float> w;
    w.emplace("g0", rnd({c.cin}, 0.5, 1.5));
    w.emplace("b0", rnd({c.cin}, -0.5, 0.5));
    w.emplace("f", rnd({c.k, c.k, c.cin, c.cout}, -0.5, 0.5));
    w.emplace("b", rnd({c.cout}, -0.5, 0.5));
    w.emplace("m", rnd({c.cout}, -0.5, 0.5));
    w.emplace("v", rnd({c.cout}, 0.5, 1.5));
    w.emplace("gamma", rnd({c.cout}, -1.5, 1.5));
    w.emplace("beta", rnd({c.cout}, -0.5, 0.5));
    const std::string what = std::string(A::name()) + " " + dims({c.h, c.w, c.cin}) + " k" + std::to_string(c.k) + " s" +
                             std::to_string(c.stride) + " -> " + std::to_string(c.cout) +
                             (c.pool == op_kind::pool_max ? " max " : " avg ") + std::to_string(c.window) + "/" +
                             std::to_string(c.pool_stride) + " " + to_string(c.pool_pad) + " after " + std::to_string(c.after) +
                             (whole_batch ? " whole batch" : "");
    const tensor<float> x = rnd({3, c.h, c.w, c.cin});
    const engine_net<A> net(g, w);
    const auto want = graph_net<float>(g, w).forward(x.view());
    const auto serial = net.forward(x.view());
    check_close(serial.at("out"), want.at("out"), static_cast<double>(c.k * c.k * c.cin), what, tol_conv);
    typename engine_net<A>::workspace ws;
    for (thread_pool* pool : {&two, &three}) {
      const auto got = net.forward(x.view(), ws, pool);
      const tensor<float>& t = serial.at("out");
      CHECK_MESSAGE(std::equal(t.data(), t.data() + t.size(), got.at("out").data()), what << " threads " << pool->size());
    }
    // taken in, the convolution's own output never has a buffer: the arena of a batch-1 call is
    // smaller than that output and the convolution's input side by side (the graph's input, or the
    // batch norm's output, which may take the graph input's place). Telling only where the input is
    // the smaller: else the graph's input and the batch norm's output side by side are larger still.
    const index_t conv_h = c.conv_pad == padding::same ? (c.h + c.stride - 1) / c.stride : (c.h - c.k) / c.stride + 1;
    const index_t conv_w = c.conv_pad == padding::same ? (c.w + c.stride - 1) / c.stride : (c.w - c.k) / c.stride + 1;
    const std::size_t side_by_side = static_cast<std::size_t>(c.h * c.w * c.cin + conv_h * conv_w * c.cout) * sizeof(float);
    INFO(what << ": arena " << net.arena_bytes(1) << " bytes, input and convolution output " << side_by_side);
    if (c.h * c.w * c.cin < conv_h * conv_w * c.cout) CHECK((net.arena_bytes(1) < side_by_side) == c.folds);
   }
  }
  measured.report(std::string(A::name()) + " pooling folds", tol_conv);
}

TEST_CASE_TEMPLATE_DEFINE("engine: per-image standardisation in parts, any channel count, any thread count", A,
                          standardize_id) {
  // images of 1 block of 256 (wide) pixels up to more blocks than parts; channel counts that pack into
  // wide pixels with pixels left over, and wider ones; pixel values 0..255, whose mean is far from
  // zero (the moments are taken around an estimate of it); every thread count gives the same bits
  const index_t vw = static_cast<index_t>(kernels::width<A>);
  const shape cases[] = {{5, 7, 1}, {227, 227, 3}, {301, 299, 3}, {64, 63, 5}, {33, 35, vw + 1}, {40, 41, 2 * vw}};
  thread_pool two(2), three(3);
  for (const shape& d : cases) {
    graph g;
    g.input_dims = d;
    g.nodes.push_back({"std", op_kind::standardize, {0}, {}, {}, {}});
    g.outputs = {{"out", 1}};
    const tensor<float> x = rnd({2, d[0], d[1], d[2]}, 0, 255);
    const std::string what = std::string(A::name()) + " standardize " + d.str();
    const engine_net<A> net(g, {});
    const auto serial = net.forward(x.view());
    check_close(serial.at("out"), graph_net<float>(g, {}).forward(x.view()).at("out"), 1, what, tol_softmax);
    typename engine_net<A>::workspace ws;
    for (thread_pool* pool : {&two, &three}) {
      const auto got = net.forward(x.view(), ws, pool);
      const tensor<float>& t = serial.at("out");
      CHECK_MESSAGE(std::equal(t.data(), t.data() + t.size(), got.at("out").data()), what << " threads " << pool->size());
    }
  }
  measured.report(std::string(A::name()) + " standardisation", tol_softmax);
}

TEST_CASE("the engine a model gets on this file's path is this file's engine, bit for bit") {
  // With run-time dispatch the model's engine comes from the build's unit for the path (compiled apart,
  // with the same flags as this file); without it, from the compile-time path.
  const std::string path = lmtcnn::detail::simd_path_name<simd_arch>();
  MESSAGE("this file's path: " << path << " (" << simd_arch::name() << "); this CPU runs: " << [] {
    std::string s;
    for (const auto& p : simd_paths()) s += p + " ";
    return s;
  }());
  set_simd_path(path);
  CHECK(simd_path() == path);
  struct net_case {
    graph g;
    tensor_map<float> w;
  };
  std::vector<net_case> cases;
  cases.push_back({lmtcnn_graph(lmtcnn_variant::v2_1, batch_norm_mode::moving_average),
                   lmtcnn_seeded_weights<float>(lmtcnn_variant::v2_1, 3)});
  tensor_map<float> fw;
  for (const tensor_spec& t : faceapi_age_gender_tensors())
    fw.emplace(t.name, seeded::uniform<float>(t.dims, 4, t.name, -0.1, 0.1));
  cases.push_back({faceapi_age_gender_graph(256), fw});
  for (const net_case& c : cases) {
    const model<float> m(c.g, c.w);
    REQUIRE(m.engine() != nullptr);
    CHECK(std::string(m.engine()->arch_name()) == simd_arch::name());
    const shape& d = c.g.input_dims;
    const tensor<float> input = seeded::pixels<float>({2, d[0], d[1], d[2]}, 8, "input");
    const auto want = engine_net<simd_arch>(c.g, c.w).forward(input.view());
    const auto got = m.forward(input.view());
    for (const auto& [name, t] : want) {
      REQUIRE(got.at(name).shape() == t.shape());
      CHECK_MESSAGE(std::equal(t.data(), t.data() + t.size(), got.at(name).data()), path << " output " << name);
    }
  }
  set_simd_path("");
  CHECK_THROWS_WITH_AS(set_simd_path("avx9"), doctest::Contains("'avx9' is no SIMD path of this program"), error);
}

TEST_CASE_TEMPLATE_APPLY(gemm_id, archs);
TEST_CASE_TEMPLATE_APPLY(pw_strided_id, archs);
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
TEST_CASE_TEMPLATE_APPLY(bf16_round_id, archs);
TEST_CASE_TEMPLATE_APPLY(bf16_layer_id, archs);
TEST_CASE_TEMPLATE_APPLY(bf16_net_id, archs);
TEST_CASE_TEMPLATE_APPLY(threads_id, archs);
TEST_CASE_TEMPLATE_APPLY(pool_fold_id, archs);
TEST_CASE_TEMPLATE_APPLY(standardize_id, archs);
