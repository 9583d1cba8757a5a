// face-api.js networks as lmtcnn graphs, over the tensor names of their TensorFlow.js weight
// manifests (npm @vladmandic/face-api, model/*-weights_manifest.json):
//   - AgeGenderNet: a TinyXception backbone (2 middle blocks) with an age regression head and a
//     gender softmax head, on a 112x112 RGB face crop;
//   - tiny_face_detector: Tiny-YOLOv2 style with depthwise-separable convolutions and leaky ReLU,
//     whose output holds 5 anchors x (x, y, w, h, score) per cell of a 13x13 grid at input 416.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lmtcnn/graph/graph.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"

namespace lmtcnn {

/// Mean RGB the AgeGenderNet subtracts; it then divides by 256 (training convention) or 255 (the fork).
inline constexpr std::array<double, 3> faceapi_age_gender_mean = {122.782, 117.001, 104.298};
/// Mean RGB the tiny face detector subtracts before dividing by 255.
inline constexpr std::array<double, 3> faceapi_tiny_face_detector_mean = {117.001, 114.697, 97.404};

namespace detail {

/// Builds a graph node by node; each add returns the id of the value it makes.
class graph_builder {
 public:
  explicit graph_builder(shape input_dims) { g_.input_dims = std::move(input_dims); }
  LMTCNN_GRAPH_BUILDER std::uint32_t add(std::string name, op_kind op, std::vector<std::uint32_t> inputs,
                    std::vector<std::string> tensors = {}, std::vector<std::int64_t> ints = {},
                    std::vector<double> floats = {}) {
    g_.nodes.push_back({std::move(name), op, std::move(inputs), std::move(tensors), std::move(ints), std::move(floats)});
    return static_cast<std::uint32_t>(g_.nodes.size());
  }
  graph finish(std::vector<std::pair<std::string, std::uint32_t>> outputs) {
    g_.outputs = std::move(outputs);
    return std::move(g_);
  }

 private:
  graph g_;
};

inline std::vector<double> normalize_params(const std::array<double, 3>& mean, double divisor) {
  return channel_normalize_attrs::floats({mean[0], mean[1], mean[2]}, {divisor, divisor, divisor});
}

}  // namespace detail

/// Weight tensors of the AgeGenderNet (421,731 parameters in 51 tensors).
inline std::vector<tensor_spec> faceapi_age_gender_tensors() {
  std::vector<tensor_spec> t = {{"entry_flow/conv_in/filters", {3, 3, 3, 32}}, {"entry_flow/conv_in/bias", {32}}};
  auto sep = [&](const std::string& s, index_t cin, index_t cout) LMTCNN_GRAPH_BUILDER {
    t.push_back({s + "/depthwise_filter", {3, 3, cin, 1}});
    t.push_back({s + "/pointwise_filter", {1, 1, cin, cout}});
    t.push_back({s + "/bias", {cout}});
  };
  auto reduction = [&](const std::string& s, index_t cin, index_t cout) LMTCNN_GRAPH_BUILDER {
    sep(s + "/separable_conv0", cin, cout);
    sep(s + "/separable_conv1", cout, cout);
    t.push_back({s + "/expansion_conv/filters", {1, 1, cin, cout}});
    t.push_back({s + "/expansion_conv/bias", {cout}});
  };
  reduction("entry_flow/reduction_block_0", 32, 64);
  reduction("entry_flow/reduction_block_1", 64, 128);
  for (const char* b : {"middle_flow/main_block_0", "middle_flow/main_block_1"})
    for (const char* c : {"/separable_conv0", "/separable_conv1", "/separable_conv2"}) sep(std::string(b) + c, 128, 128);
  reduction("exit_flow/reduction_block", 128, 256);
  sep("exit_flow/separable_conv", 256, 512);
  t.push_back({"fc/age/weights", {512, 1}});
  t.push_back({"fc/age/bias", {1}});
  t.push_back({"fc/gender/weights", {512, 2}});
  t.push_back({"fc/gender/bias", {2}});
  return t;
}

/// The AgeGenderNet graph on 112x112x3 RGB in 0..255. Outputs: age [n,1] (years),
/// gender_logits [n,2] and gender_probs [n,2] (p_male, p_female).
LMTCNN_GRAPH_BUILDER inline graph faceapi_age_gender_graph(double divisor = 256.0) {
  detail::graph_builder b({112, 112, 3});
  const std::uint32_t in = b.add("input/normalize", op_kind::channel_normalize, {0}, {}, {},
                                 detail::normalize_params(faceapi_age_gender_mean, divisor));
  // separable conv: depthwise 3x3 (no bias) then pointwise 1x1 + bias
  auto sep = [&](const std::string& s, std::uint32_t x, activation act) LMTCNN_GRAPH_BUILDER {
    const std::uint32_t d = b.add(s + "/depthwise", op_kind::depthwise_conv2d, {x}, {s + "/depthwise_filter", ""},
                                  conv_attrs::ints(1, 1, padding::same, activation::none));
    return b.add(s + "/pointwise", op_kind::pointwise_conv2d, {d}, {s + "/pointwise_filter", s + "/bias"},
                 conv_attrs::ints(1, 1, padding::same, act));
  };
  auto relu_of = [&](const std::string& s, std::uint32_t x) LMTCNN_GRAPH_BUILDER { return b.add(s, op_kind::relu, {x}); };
  auto reduction = [&](const std::string& s, std::uint32_t x, bool activate_input) LMTCNN_GRAPH_BUILDER {
    std::uint32_t a = activate_input ? relu_of(s + "/relu_in", x) : x;
    a = sep(s + "/separable_conv0", a, activation::none);
    a = sep(s + "/separable_conv1", relu_of(s + "/separable_conv0/relu", a), activation::none);
    a = b.add(s + "/max_pool", op_kind::pool_max, {a}, {}, pool_attrs::ints(3, 3, 2, 2, padding::same));
    const std::uint32_t e = b.add(s + "/expansion_conv", op_kind::pointwise_conv2d, {x},
                                  {s + "/expansion_conv/filters", s + "/expansion_conv/bias"}, conv_attrs::ints(2, 2, padding::same, activation::none));
    return b.add(s + "/add", op_kind::add, {a, e});
  };
  std::uint32_t x = b.add("entry_flow/conv_in", op_kind::conv2d, {in},
                          {"entry_flow/conv_in/filters", "entry_flow/conv_in/bias"}, conv_attrs::ints(2, 2, padding::same, activation::relu));
  x = reduction("entry_flow/reduction_block_0", x, false);
  x = reduction("entry_flow/reduction_block_1", x, true);
  for (const char* blk : {"middle_flow/main_block_0", "middle_flow/main_block_1"}) {
    const std::string s = blk;
    std::uint32_t a = sep(s + "/separable_conv0", relu_of(s + "/relu_in", x), activation::none);
    a = sep(s + "/separable_conv1", relu_of(s + "/separable_conv0/relu", a), activation::none);
    a = sep(s + "/separable_conv2", relu_of(s + "/separable_conv1/relu", a), activation::none);
    x = b.add(s + "/add", op_kind::add, {a, x});
  }
  x = reduction("exit_flow/reduction_block", x, true);
  x = sep("exit_flow/separable_conv", x, activation::relu);
  x = b.add("avg_pool", op_kind::pool_avg, {x}, {}, pool_attrs::ints(7, 7, 2, 2, padding::valid));
  const std::uint32_t age = b.add("fc/age", op_kind::fully_connected, {x}, {"fc/age/weights", "fc/age/bias"},
                                       dense_attrs::ints(activation::none));
  const std::uint32_t gender =
      b.add("fc/gender", op_kind::fully_connected, {x}, {"fc/gender/weights", "fc/gender/bias"}, dense_attrs::ints(activation::none));
  const std::uint32_t gender_p = b.add("fc/gender/softmax", op_kind::softmax, {gender});
  return b.finish({{"age", age}, {"gender_logits", gender}, {"gender_probs", gender_p}});
}

/// Weight tensors of the tiny face detector.
inline std::vector<tensor_spec> faceapi_tiny_face_detector_tensors() {
  std::vector<tensor_spec> t = {{"conv0/filters", {3, 3, 3, 16}}, {"conv0/bias", {16}}};
  const index_t widths[] = {16, 32, 64, 128, 256, 512};
  for (int i = 1; i <= 5; ++i) {
    const std::string s = "conv" + std::to_string(i);
    t.push_back({s + "/depthwise_filter", {3, 3, widths[i - 1], 1}});
    t.push_back({s + "/pointwise_filter", {1, 1, widths[i - 1], widths[i]}});
    t.push_back({s + "/bias", {widths[i]}});
  }
  t.push_back({"conv8/filters", {1, 1, 512, 25}});
  t.push_back({"conv8/bias", {25}});
  return t;
}

/// The tiny face detector graph on input_size x input_size x 3 RGB in 0..255 (input_size a multiple
/// of 32). Output: boxes [n, input_size/32, input_size/32, 25], 5 anchors x (tx, ty, tw, th, score logit).
LMTCNN_GRAPH_BUILDER inline graph faceapi_tiny_face_detector_graph(index_t input_size = 416) {
  const double alpha = 0.10000000149011612;  // float32(0.1), as the JavaScript passes it
  detail::graph_builder b({input_size, input_size, 3});
  std::uint32_t x = b.add("input/normalize", op_kind::channel_normalize, {0}, {}, {},
                          detail::normalize_params(faceapi_tiny_face_detector_mean, 255.0));
  x = b.add("conv0", op_kind::conv2d, {x}, {"conv0/filters", "conv0/bias"}, conv_attrs::ints(1, 1, padding::valid, activation::leaky_relu), {alpha});
  for (int i = 1; i <= 5; ++i) {
    const std::string s = "conv" + std::to_string(i);
    x = b.add("pool" + std::to_string(i - 1), op_kind::pool_max, {x}, {}, pool_attrs::ints(2, 2, 2, 2, padding::same));
    x = b.add(s + "/depthwise", op_kind::depthwise_conv2d, {x}, {s + "/depthwise_filter", ""}, conv_attrs::ints(1, 1, padding::same, activation::none));
    x = b.add(s + "/pointwise", op_kind::pointwise_conv2d, {x}, {s + "/pointwise_filter", s + "/bias"},
              conv_attrs::ints(1, 1, padding::valid, activation::leaky_relu), {alpha});
  }
  x = b.add("pool5", op_kind::pool_max, {x}, {}, pool_attrs::ints(2, 2, 1, 1, padding::same));
  x = b.add("conv8", op_kind::pointwise_conv2d, {x}, {"conv8/filters", "conv8/bias"}, conv_attrs::ints(1, 1, padding::valid, activation::none));
  return b.finish({{"boxes", x}});
}

}  // namespace lmtcnn
