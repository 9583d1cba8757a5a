// The scalar reference ops against small cases worked out by hand (the expected numbers in the
// comments), plus Eigen as an independent check of the matrix-shaped layers.
#include <doctest/doctest.h>

// first, so that the intrinsics headers Eigen also includes come in with their warnings confined
#include "lmtcnn/core/simd.hpp"

#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <vector>

#include "lmtcnn/io/resize.hpp"
#include "lmtcnn/reference/ops.hpp"
#include "lmtcnn/core/seeded.hpp"

using namespace lmtcnn;
namespace ref = lmtcnn::detail::ref;

namespace {

template <class T>
void check_values(const tensor<T>& t, const std::vector<double>& expected, double tol = 1e-12) {
  REQUIRE(t.size() == static_cast<index_t>(expected.size()));
  for (index_t i = 0; i < t.size(); ++i) {
    INFO("element " << i);
    CHECK(static_cast<double>(t[i]) == doctest::Approx(expected[static_cast<std::size_t>(i)]).epsilon(tol));
  }
}

/// Tensor of the given shape holding 1, 2, 3, ... in row-major order.
tensor<double> iota(const shape& s, double first = 1.0) {
  tensor<double> t(s);
  for (index_t i = 0; i < t.size(); ++i) t[i] = first + static_cast<double>(i);
  return t;
}

}  // namespace

TEST_CASE("window geometry: VALID and TF-SAME") {
  // conv1 of LMTCNN: 227 -> 56 under 7x7 stride 4 VALID
  CHECK(detail::window_axis(227, 7, 4, padding::valid).out == 56);
  CHECK(detail::window_axis(2, 3, 1, padding::valid).out == 0);
  // convdp2: 27 -> 14 under 3x3 stride 2 SAME, one cell of padding each side
  detail::axis_geometry g = detail::window_axis(27, 3, 2, padding::same);
  CHECK(g.out == 14);
  CHECK(g.pad_before == 1);
  CHECK(g.pad_after == 1);
  // odd total padding: the extra cell goes after (bottom / right)
  g = detail::window_axis(4, 3, 2, padding::same);
  CHECK(g.out == 2);
  CHECK(g.pad_before == 0);
  CHECK(g.pad_after == 1);
  g = detail::window_axis(10, 7, 4, padding::same);
  CHECK(g.out == 3);
  CHECK(g.pad_before == 2);
  CHECK(g.pad_after == 3);
  // a 1x1 stride-2 window needs no padding
  g = detail::window_axis(56, 1, 2, padding::same);
  CHECK(g.out == 28);
  CHECK(g.pad_before + g.pad_after == 0);
}

TEST_CASE("conv2d: VALID 2x2 on 3x3") {
  const tensor<double> x = iota({1, 3, 3, 1});        // 1 2 3 / 4 5 6 / 7 8 9
  const tensor<double> f({2, 2, 1, 1}, {1, 2, 3, 4});  // [[1,2],[3,4]]
  tensor<double> y({1, 2, 2, 1});
  ref::conv2d<double>(x.view(), f.view(), {1, 1, padding::valid}, y.view());
  // 1*1+2*2+4*3+5*4 = 37, 2+6+15+24 = 47, 4+10+21+32 = 67, 5+12+24+36 = 77
  check_values(y, {37, 47, 67, 77});
}

TEST_CASE("conv2d: SAME stride 2 pads the odd cell at the bottom and right") {
  const tensor<double> x = iota({1, 4, 4, 1});  // 1..16
  tensor<double> f({3, 3, 1, 1});
  for (double& v : f) v = 1;
  tensor<double> y({1, 2, 2, 1});
  ref::conv2d<double>(x.view(), f.view(), {2, 2, padding::same}, y.view());
  // (0,0): rows 0-2 x cols 0-2 = 1+2+3+5+6+7+9+10+11 = 54
  // (0,1): rows 0-2 x cols 2-3 = 3+4+7+8+11+12 = 45
  // (1,0): rows 2-3 x cols 0-2 = 9+10+11+13+14+15 = 72
  // (1,1): rows 2-3 x cols 2-3 = 11+12+15+16 = 54
  check_values(y, {54, 45, 72, 54});
}

TEST_CASE("conv2d: stride 4, VALID and SAME with uneven padding") {
  tensor<double> x({1, 9, 9, 1});
  for (index_t i = 0; i < 9; ++i)
    for (index_t j = 0; j < 9; ++j) x(0, i, j, 0) = static_cast<double>(9 * i + j);
  tensor<double> f({3, 3, 1, 1});
  for (double& v : f) v = 1;
  tensor<double> y({1, 2, 2, 1});
  ref::conv2d<double>(x.view(), f.view(), {4, 4, padding::valid}, y.view());
  // sum of 9i+j over a 3x3 block at (r, c) = 27*(3r+3) + 3*(3c+3): (0,0) 90, (0,4) 126, (4,0) 414, (4,4) 450
  check_values(y, {90, 126, 414, 450});

  // 1x10 row, 1x7 window, stride 4 SAME: out 3, pad 2 left and 3 right
  const tensor<double> row = iota({1, 1, 10, 1});  // 1..10
  tensor<double> f7({1, 7, 1, 1});
  for (double& v : f7) v = 1;
  tensor<double> r({1, 1, 3, 1});
  ref::conv2d<double>(row.view(), f7.view(), {1, 4, padding::same}, r.view());
  // cols -2..4 -> 1..5 = 15; cols 2..8 -> 3..9 = 42; cols 6..12 -> 7..10 = 34
  check_values(r, {15, 42, 34});
}

TEST_CASE("conv2d: channels mix, and the epilogue runs bias, ReLU, scale, shift in that order") {
  const tensor<double> x({1, 1, 1, 2}, {1, 2});
  const tensor<double> f({1, 1, 2, 3}, {1, 2, 3, 4, 5, 6});  // rows: input channel, cols: output
  tensor<double> y({1, 1, 1, 3});
  ref::conv2d<double>(x.view(), f.view(), {}, y.view());
  check_values(y, {9, 12, 15});  // 1*1+2*4, 1*2+2*5, 1*3+2*6

  const tensor<double> bias({3}, {1, -20, 0}), scale({3}, {2, 2, 0.5}), shift({3}, {0, 1, 1});
  epilogue<double> ep;
  ep.bias = bias.view();
  ep.relu = true;
  ep.scale = scale.view();
  ep.shift = shift.view();
  ref::conv2d<double>(x.view(), f.view(), {}, y.view(), ep);
  // 9+1=10 -> 10 -> 20 -> 20;  12-20=-8 -> 0 -> 0 -> 1;  15 -> 15 -> 7.5 -> 8.5
  check_values(y, {20, 1, 8.5});

  epilogue<double> six;  // bias then ReLU6: 9+1=10 -> 6; 12-20=-8 -> 0; 15 -> 6
  six.bias = bias.view();
  six.relu = true;
  six.cap = 6;
  ref::conv2d<double>(x.view(), f.view(), {}, y.view(), six);
  check_values(y, {6, 0, 6});
  six.bias = tensor_view<const double>();
  ref::conv2d<double>(tensor<double>({1, 1, 1, 2}, {0.5, 0.25}).view(), f.view(), {}, y.view(), six);
  check_values(y, {1.5, 2.25, 3});  // below the cap: unchanged

  tensor<double> z({1, 1, 1, 3});
  ref::apply_epilogue<double>(tensor<double>({1, 1, 1, 3}, {9, 12, 15}).view(), ep, z.view());
  check_values(z, {20, 1, 8.5});
}

TEST_CASE("depthwise_conv2d: each channel has its own filter; SAME pads after") {
  // channel 0: 1 2 / 3 4, channel 1: 10 20 / 30 40
  const tensor<double> x({1, 2, 2, 2}, {1, 10, 2, 20, 3, 30, 4, 40});
  // channel 0 filter all ones; channel 1 filter [[1,0],[0,1]]
  const tensor<double> f({2, 2, 2, 1}, {1, 1, 1, 0, 1, 0, 1, 1});
  tensor<double> v({1, 1, 1, 2});
  ref::depthwise_conv2d<double>(x.view(), f.view(), {1, 1, padding::valid}, v.view());
  check_values(v, {10, 50});
  tensor<double> s({1, 2, 2, 2});
  ref::depthwise_conv2d<double>(x.view(), f.view(), {1, 1, padding::same}, s.view());
  // 2x2 window over 2x2 SAME: one cell of padding after. ch0: 10, 2+4=6, 3+4=7, 4;
  // ch1: 10+40=50, 20 (+pad), 30 (+pad), 40
  check_values(s, {10, 50, 6, 20, 7, 30, 4, 40});
}

TEST_CASE("depthwise_conv2d: 3x3 stride 2 SAME pads one cell on each side of a 3x3 image") {
  const tensor<double> x = iota({1, 3, 3, 1});
  tensor<double> f({3, 3, 1, 1});
  for (double& v : f) v = 1;
  tensor<double> y({1, 2, 2, 1});
  const tensor<double> bias({1}, {-13});
  epilogue<double> ep;
  ep.bias = bias.view();
  ep.relu = true;
  ref::depthwise_conv2d<double>(x.view(), f.view(), {2, 2, padding::same}, y.view(), ep);
  // windows rows/cols -1..1 and 1..3: 1+2+4+5 = 12, 2+3+5+6 = 16, 4+5+7+8 = 24, 5+6+8+9 = 28; -13, ReLU
  check_values(y, {0, 3, 11, 15});
}

TEST_CASE("pointwise_conv2d: 1x1 channel mixing, and stride 2 sampling") {
  const tensor<double> x({1, 1, 2, 2}, {1, 2, 3, 4});
  const tensor<double> f({1, 1, 2, 2}, {1, 0, 1, -1});
  tensor<double> y({1, 1, 2, 2});
  ref::pointwise_conv2d<double>(x.view(), f.view(), {}, y.view());
  check_values(y, {3, -2, 7, -4});

  const tensor<double> img = iota({1, 3, 3, 1}, 0.0);  // 0..8
  const tensor<double> one({1, 1, 1, 1}, {1});
  tensor<double> s({1, 2, 2, 1});
  ref::pointwise_conv2d<double>(img.view(), one.view(), {2, 2, padding::same}, s.view());
  check_values(s, {0, 2, 6, 8});
}

TEST_CASE("batch_norm with stored statistics, with and without gamma") {
  const tensor<double> x({1, 1, 2, 2}, {1, 2, 3, 4});  // pixel 0: [1,2], pixel 1: [3,4]
  const tensor<double> mean({2}, {1, 2}), var({2}, {3, 3}), gamma({2}, {2, 1}), beta({2}, {0, 10});
  tensor<double> y({1, 1, 2, 2});
  ref::batch_norm<double>(x.view(), mean.view(), var.view(), gamma.view(), beta.view(), 1.0, y.view());
  // sqrt(3 + 1) = 2: pixel 0 -> 0, 10; pixel 1 -> (2/2)*2 + 0 = 2, (2/2)*1 + 10 = 11
  check_values(y, {0, 10, 2, 11});
  ref::batch_norm<double>(x.view(), mean.view(), var.view(), {}, beta.view(), 1.0, y.view());
  check_values(y, {0, 10, 1, 11});
}

TEST_CASE("batch_norm_batch_statistics: mean and biased variance over the whole batch, per channel") {
  // two images of 1x2, two channels: channel 0 holds 1,3 | 5,7; channel 1 holds 2,2 | 2,2
  const tensor<double> x({2, 1, 2, 2}, {1, 2, 3, 2, 5, 2, 7, 2});
  const tensor<double> beta({2}, {0, 0.5});
  tensor<double> y(x.shape());
  ref::batch_norm_batch_statistics<double>(x.view(), {}, beta.view(), 4.0, y.view());
  // channel 0: mean 4, biased variance (9+1+1+9)/4 = 5, sqrt(5+4) = 3 -> -1, -1/3, 1/3, 1
  // channel 1: constant -> 0 + beta
  check_values(y, {-1, 0.5, -1.0 / 3, 0.5, 1.0 / 3, 0.5, 1, 0.5});
  // in place gives the same
  tensor<double> z = x;
  ref::batch_norm_batch_statistics<double>(z.view(), {}, beta.view(), 4.0, z.view());
  check_values(z, {-1, 0.5, -1.0 / 3, 0.5, 1.0 / 3, 0.5, 1, 0.5});
}

TEST_CASE("lrn: the window is clipped at the first and last channels") {
  const tensor<double> x({1, 1, 1, 4}, {1, 2, 3, 4});
  tensor<double> y({1, 1, 1, 4});
  ref::lrn<double>(x.view(), {1, 1.0, 1.0, 1.0}, y.view());
  // sums of squares: c0 1+4 = 5, c1 1+4+9 = 14, c2 4+9+16 = 29, c3 9+16 = 25
  check_values(y, {1.0 / 6, 2.0 / 15, 3.0 / 30, 4.0 / 26});
  ref::lrn<double>(x.view(), {1, 1.0, 1.0, 0.5}, y.view());
  check_values(y, {1 / std::sqrt(6.0), 2 / std::sqrt(15.0), 3 / std::sqrt(30.0), 4 / std::sqrt(26.0)});

  // LMTCNN's norm1: radius 5 (11 channels), bias 1, alpha 1e-4 (not divided by 11), beta 0.75
  const tensor<double> c12 = iota({1, 1, 1, 12});  // 1..12
  tensor<double> z({1, 1, 1, 12});
  ref::lrn<double>(c12.view(), {5, 1.0, 1e-4, 0.75}, z.view());
  // first: 1+4+9+16+25+36 = 91; sixth (value 6): 1..11 squared = 506; last: 7..12 squared = 559
  CHECK(z[0] == doctest::Approx(1 / std::pow(1.0091, 0.75)).epsilon(1e-14));
  CHECK(z[5] == doctest::Approx(6 / std::pow(1.0506, 0.75)).epsilon(1e-14));
  CHECK(z[11] == doctest::Approx(12 / std::pow(1.0559, 0.75)).epsilon(1e-14));
}

TEST_CASE("pool_max: padded cells are -inf, so an all-negative image keeps its values") {
  tensor<double> x({1, 3, 3, 1});
  for (index_t i = 0; i < 9; ++i) x[i] = -static_cast<double>(i + 1);  // -1 .. -9
  tensor<double> y({1, 2, 2, 1});
  ref::pool_max<double>(x.view(), {2, 2, 2, 2, padding::same}, y.view());
  // windows hang over the bottom and right edges: max(-1,-2,-4,-5), max(-3,-6), max(-7,-8), -9
  check_values(y, {-1, -3, -7, -9});

  tensor<double> v({1, 5, 5, 1});
  for (index_t i = 0; i < 25; ++i) v[i] = static_cast<double>(i);  // 5i + j
  tensor<double> w({1, 2, 2, 1});
  ref::pool_max<double>(v.view(), {3, 3, 2, 2, padding::valid}, w.view());
  check_values(w, {12, 14, 22, 24});
}

TEST_CASE("pool_avg: counts only the cells inside the image") {
  const tensor<double> x = iota({1, 3, 3, 1});
  tensor<double> y({1, 2, 2, 1});
  ref::pool_avg<double>(x.view(), {2, 2, 2, 2, padding::same}, y.view());
  // (1+2+4+5)/4 = 3, (3+6)/2 = 4.5, (7+8)/2 = 7.5, 9/1
  check_values(y, {3, 4.5, 7.5, 9});
  tensor<double> g({1, 1, 1, 1});
  ref::pool_avg<double>(x.view(), {3, 3, 1, 1, padding::valid}, g.view());
  check_values(g, {5});  // global average
}

TEST_CASE("fully_connected: NHWC input is flattened in (h, w, c) order") {
  const tensor<double> x({1, 2, 1, 2}, {1, 2, 3, 4});
  const tensor<double> w({4, 2}, {1, 0, 0, 1, 1, 1, 2, -1});
  tensor<double> y({1, 2});
  ref::fully_connected<double>(x.view(), w.view(), y.view());
  check_values(y, {12, 1});  // 1+3+8, 2+3-4
  const tensor<double> bias({2}, {0, -5});
  epilogue<double> ep;
  ep.bias = bias.view();
  ep.relu = true;
  ref::fully_connected<double>(x.view(), w.view(), y.view(), ep);
  check_values(y, {12, 0});
}

TEST_CASE("fully_connected and pointwise_conv2d agree with Eigen's matrix product") {
  const index_t rows = 7, k = 37, m = 19;
  const tensor<double> x = seeded::uniform<double>({rows, k}, 1, "x", -1, 1);
  const tensor<double> w = seeded::uniform<double>({k, m}, 1, "w", -1, 1);
  const tensor<double> b = seeded::uniform<double>({m}, 1, "b", -1, 1);
  using matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const matrix> ex(x.data(), rows, k), ew(w.data(), k, m);
  const Eigen::Map<const Eigen::RowVectorXd> eb(b.data(), m);
  const matrix expected = ((ex * ew).rowwise() + eb).cwiseMax(0.0);

  epilogue<double> ep;
  ep.bias = b.view();
  ep.relu = true;
  tensor<double> y({rows, m});
  ref::fully_connected<double>(x.view(), w.view(), y.view(), ep);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < m; ++j) CHECK(y(i, j) == doctest::Approx(expected(i, j)).epsilon(1e-12));

  // The same product as a 1x1 convolution over a 1 x 7 image with 37 channels.
  tensor<double> img = x;
  img.reshape({1, 1, rows, k});
  tensor<double> w4 = w;
  w4.reshape({1, 1, k, m});
  tensor<double> z({1, 1, rows, m});
  ref::pointwise_conv2d<double>(img.view(), w4.view(), {}, z.view(), ep);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < m; ++j) CHECK(z(0, 0, i, j) == doctest::Approx(expected(i, j)).epsilon(1e-12));
}

TEST_CASE("relu and residual add") {
  const tensor<double> a({1, 1, 2, 2}, {-1, 2, -3, 4}), b({1, 1, 2, 2}, {10, 20, 30, 40});
  tensor<double> y(a.shape());
  ref::relu<double>(a.view(), y.view());
  check_values(y, {0, 2, 0, 4});
  ref::relu<double>(tensor<double>({1, 1, 2, 2}, {-1, 6.5, 5.75, 6}).view(), y.view(), 6.0);  // ReLU6
  check_values(y, {0, 6, 5.75, 6});
  ref::add<double>(a.view(), b.view(), y.view());
  check_values(y, {9, 22, 27, 44});
}

TEST_CASE("softmax: exact small case, and no overflow for large logits") {
  const tensor<double> x({2, 3}, {0, std::log(2.0), std::log(3.0), 1000, 1000, -1000});
  tensor<double> y({2, 3});
  ref::softmax<double>(x.view(), y.view());
  check_values(y, {1.0 / 6, 2.0 / 6, 3.0 / 6, 0.5, 0.5, 0.0}, 1e-14);
  tensor<float> xf({1, 2}, {100.f, 0.f}), yf({1, 2});
  ref::softmax<float>(xf.view(), yf.view());
  CHECK(std::isfinite(yf[0]));
  CHECK(yf[0] == 1.f);
}

TEST_CASE("standardize_per_image: each image on its own, std floored at 1/sqrt(N)") {
  // image 0: 1,2,3,4 -> mean 2.5, population std sqrt(1.25)
  // image 1: 0,0,0,0.1 -> mean 0.025, std 0.0433 < 1/sqrt(4) = 0.5, so divided by 0.5
  const tensor<double> x({2, 1, 2, 2}, {1, 2, 3, 4, 0, 0, 0, 0.1});
  tensor<double> y(x.shape());
  ref::standardize_per_image<double>(x.view(), y.view());
  const double s = std::sqrt(1.25);
  check_values(y, {-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, -0.05, -0.05, -0.05, 0.15});
}

TEST_CASE("resize_bilinear_legacy: corner-aligned sampling, neighbours clamped at the far edge") {
  const tensor<double> x({1, 2, 2, 1}, {0, 10, 20, 30});
  tensor<double> up({1, 4, 4, 1});
  resize_bilinear_legacy<double>(x.view(), up.view());
  // sources 0, 0.5, 1, 1.5 on each axis; 1.5 has both neighbours at 1 (clamped)
  check_values(up, {0, 5, 10, 10, 10, 15, 20, 20, 20, 25, 30, 30, 20, 25, 30, 30});

  // downscaling 4 -> 2 samples pixels 0 and 2 exactly (no area averaging in the legacy mode)
  const tensor<double> big = iota({1, 4, 4, 1});  // 1..16
  tensor<double> down({1, 2, 2, 1});
  resize_bilinear_legacy<double>(big.view(), down.view());
  check_values(down, {1, 3, 9, 11});

  // 3 -> 2: sources 0 and 1.5, i.e. halfway between pixels 1 and 2; channels interpolate separately
  const tensor<double> rgb({1, 1, 3, 2}, {0, 100, 10, 200, 30, 400});
  tensor<double> r({1, 1, 2, 2});
  resize_bilinear_legacy<double>(rgb.view(), r.view());
  check_values(r, {0, 100, 20, 300});
}
