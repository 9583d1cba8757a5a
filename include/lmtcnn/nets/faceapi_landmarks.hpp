// face-api.js's 68-point face landmark networks as lmtcnn graphs, over the tensor names of their
// TensorFlow.js weight manifests (model/face_landmark_68_model and face_landmark_68_tiny_model):
// on a 112x112 RGB face crop less the mean RGB, divided by 255, dense blocks of depthwise-separable
// convolutions (the first convolution of the first block a standard 3x3 one), each block halving the
// side with its first convolution (stride 2) and summing the outputs of the convolutions before each
// later one:
//   out1 = relu(conv0(x)); out2 = sep1(out1); out3 = sep2(relu(out1 + out2));
//   [out4 = sep3(relu(out1 + out2 + out3));] block = relu(out1 + out2 + out3 [+ out4])
// The full net has four blocks of four convolutions (32, 64, 128, 256 channels) and a 7x7 average
// pool; the tiny one three blocks of three (32, 64, 128) and a 14x14 average pool. A dense layer
// gives 136 values: x0, y0, x1, y1, ... of the 68 points relative to the square crop (0..1).
#pragma once

#include <string>
#include <vector>

#include "lmtcnn/nets/faceapi.hpp"

namespace lmtcnn {

/// Mean RGB the landmark nets subtract before dividing by 255.
inline constexpr std::array<double, 3> faceapi_landmark_mean = {122.782, 117.001, 104.298};

/// Which of face-api.js's landmark nets.
enum class faceapi_landmark_kind { full, tiny };

namespace detail {
inline int landmark_blocks(faceapi_landmark_kind k) { return k == faceapi_landmark_kind::full ? 4 : 3; }
inline int landmark_convs(faceapi_landmark_kind k) { return k == faceapi_landmark_kind::full ? 4 : 3; }
}  // namespace detail

/// Weight tensors of a landmark net.
inline std::vector<tensor_spec> faceapi_landmark_tensors(faceapi_landmark_kind kind) {
  std::vector<tensor_spec> t;
  index_t cin = 3;
  for (int b = 0; b < detail::landmark_blocks(kind); ++b) {
    const index_t c = index_t(32) << b;
    for (int k = 0; k < detail::landmark_convs(kind); ++k) {
      const std::string p = "dense" + std::to_string(b) + "/conv" + std::to_string(k);
      const index_t in = k == 0 ? cin : c;
      if (b == 0 && k == 0) {
        t.push_back({p + "/filters", {3, 3, in, c}});
      } else {
        t.push_back({p + "/depthwise_filter", {3, 3, in, 1}});
        t.push_back({p + "/pointwise_filter", {1, 1, in, c}});
      }
      t.push_back({p + "/bias", {c}});
    }
    cin = c;
  }
  t.push_back({"fc/weights", {cin, 136}});
  t.push_back({"fc/bias", {136}});
  return t;
}

/// A landmark net's graph on 112x112x3 RGB in 0..255. Output: landmarks [n, 136].
LMTCNN_GRAPH_BUILDER inline graph faceapi_landmark_graph(faceapi_landmark_kind kind) {
  detail::graph_builder b({112, 112, 3});
  std::uint32_t x = b.add("input/normalize", op_kind::channel_normalize, {0}, {}, {},
                          detail::normalize_params(faceapi_landmark_mean, 255.0));
  auto sep = [&](const std::string& p, std::uint32_t in, index_t stride) LMTCNN_GRAPH_BUILDER {
    const std::uint32_t d = b.add(p + "/depthwise", op_kind::depthwise_conv2d, {in}, {p + "/depthwise_filter", ""},
                                  conv_attrs::ints(stride, stride, padding::same, activation::none));
    return b.add(p + "/pointwise", op_kind::pointwise_conv2d, {d}, {p + "/pointwise_filter", p + "/bias"},
                 conv_attrs::ints(1, 1, padding::same, activation::none));
  };
  const int convs = detail::landmark_convs(kind);
  for (int blk = 0; blk < detail::landmark_blocks(kind); ++blk) {
    const std::string s = "dense" + std::to_string(blk);
    std::uint32_t out1;
    if (blk == 0)
      out1 = b.add(s + "/conv0", op_kind::conv2d, {x}, {s + "/conv0/filters", s + "/conv0/bias"},
                   conv_attrs::ints(2, 2, padding::same, activation::relu));
    else
      out1 = b.add(s + "/conv0/relu", op_kind::relu, {sep(s + "/conv0", x, 2)});
    // sum = out1 + out2 + ... as the JavaScript nests it: out1 + (out2 + (out3 + out4))
    std::vector<std::uint32_t> outs = {out1};
    std::uint32_t in = out1;
    for (int k = 1; k < convs; ++k) {
      outs.push_back(sep(s + "/conv" + std::to_string(k), in, 1));
      std::uint32_t sum = outs.back();
      for (int j = static_cast<int>(outs.size()) - 2; j >= 0; --j)
        sum = b.add(s + "/add" + std::to_string(k) + "_" + std::to_string(j), op_kind::add,
                    {outs[static_cast<std::size_t>(j)], sum});
      in = b.add(s + "/relu" + std::to_string(k), op_kind::relu, {sum});
    }
    x = in;
  }
  const index_t side = kind == faceapi_landmark_kind::full ? 7 : 14;
  x = b.add("avg_pool", op_kind::pool_avg, {x}, {}, pool_attrs::ints(side, side, 2, 2, padding::valid));
  x = b.add("fc", op_kind::fully_connected, {x}, {"fc/weights", "fc/bias"}, dense_attrs::ints(activation::none));
  return b.finish({{"landmarks", x}});
}

}  // namespace lmtcnn
