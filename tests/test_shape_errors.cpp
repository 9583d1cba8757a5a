// Wrong shapes give a shape_error that names the op or layer and both shapes, never a crash.
#include <doctest/doctest.h>

#include <string>

#include "test_util.hpp"

#include "lmtcnn/reference/ops.hpp"

using namespace lmtcnn;
namespace ref = lmtcnn::detail::ref;
using lmtcnn_test::has;
using lmtcnn_test::message_of;


TEST_CASE("ops name the mismatched shapes") {
  const tensor<float> x({1, 8, 8, 3});
  tensor<float> y({1, 2, 2, 96});

  std::string m = message_of([&] {
    ref::conv2d<float>(x.view(), tensor<float>({7, 7, 4, 96}).view(), {4, 4, padding::valid}, y.view());
  });
  CHECK(has(m, "conv2d"));
  CHECK(has(m, "[7,7,4,96]"));
  CHECK(has(m, "[1,8,8,3]"));

  m = message_of([&] {
    ref::conv2d<float>(x.view(), tensor<float>({7, 7, 3, 96}).view(), {4, 4, padding::valid}, y.view());
  });
  CHECK(has(m, "output [1,2,2,96] should be [1,1,1,96]"));  // (8 - 7) / 4 + 1 = 1

  m = message_of([&] {
    ref::conv2d<float>(x.view(), tensor<float>({9, 9, 3, 1}).view(), {1, 1, padding::valid}, y.view());
  });
  CHECK(has(m, "smaller than the 9x9 window"));

  m = message_of([&] {
    ref::depthwise_conv2d<float>(x.view(), tensor<float>({3, 3, 4, 1}).view(), {}, y.view());
  });
  CHECK(has(m, "depthwise_conv2d"));
  CHECK(has(m, "[3,3,4,1]"));

  m = message_of([&] {
    ref::pointwise_conv2d<float>(x.view(), tensor<float>({3, 3, 3, 4}).view(), {}, y.view());
  });
  CHECK(has(m, "pointwise_conv2d"));
  CHECK(has(m, "not 1x1"));

  m = message_of([&] {
    tensor<float> out({1, 5});
    ref::fully_connected<float>(x.view(), tensor<float>({100, 5}).view(), out.view());
  });
  CHECK(has(m, "[100,5]"));
  CHECK(has(m, "flattens to 192"));

  m = message_of([&] {
    tensor<float> out(x.shape());
    ref::batch_norm<float>(x.view(), tensor<float>({4}).view(), tensor<float>({3}).view(), {}, {}, 1e-3f,
                           out.view());
  });
  CHECK(has(m, "mean [4] does not match 3 channels"));

  m = message_of([&] {
    tensor<float> out({1, 8, 8, 3});
    ref::add<float>(x.view(), tensor<float>({1, 8, 8, 4}).view(), out.view());
  });
  CHECK(has(m, "[1,8,8,3] and [1,8,8,4]"));

  m = message_of([&] {
    tensor<float> out({1, 3, 3, 3});
    ref::pool_max<float>(x.view(), {3, 3, 2, 2, padding::same}, out.view());
  });
  CHECK(has(m, "output [1,3,3,3] should be [1,4,4,3]"));

  m = message_of([&] {
    epilogue<float> ep;
    const tensor<float> bias({5});
    ep.bias = bias.view();
    tensor<float> out({1, 8, 8, 3});
    ref::apply_epilogue<float>(x.view(), ep, out.view());
  });
  CHECK(has(m, "bias [5] does not match 3 channels"));

  m = message_of([&] { ref::relu<float>(tensor<float>({8, 3}).view(), tensor<float>({8, 3}).view()); });
  CHECK(has(m, "not NHWC"));
}
