// face-api.js's SSD MobileNetV1 face detector as an lmtcnn graph, over the tensor names of its
// TensorFlow.js weight manifest (model/ssd_mobilenetv1_model-weights_manifest.json):
//   - MobileNetV1 (width 1.0) on 512x512 RGB scaled to -1..1: a 3x3 stride-2 convolution, then 13
//     depthwise-separable pairs, each depthwise 3x3 followed by a batch norm with stored statistics
//     (epsilon 0.001) and ReLU6, each pointwise 1x1 with a bias (its folded batch norm) and ReLU6;
//     the depthwise layers 2, 4, 6 and 12 have stride 2;
//   - eight more 1x1 / 3x3 (stride 2) convolutions with ReLU6 giving feature maps of 8, 4, 2, 1 cells;
//   - six box predictors (1x1 convolutions with bias) on the maps of 32, 16, 8, 4, 2 and 1 cells, 3
//     anchors on the first and 6 on the others: 5,118 anchors in all, each with 4 box encodings
//     (ty, tx, th, tw) and 3 class logits (background, face, unused by face-api.js).
// The graph's outputs are the twelve predictor maps; the prior boxes (Output/extra_dim) travel in the
// file beside them and face/ssd_detector.hpp decodes the boxes.
#pragma once

#include <string>
#include <vector>

#include "lmtcnn/nets/faceapi.hpp"

namespace lmtcnn {

/// The input side of face-api.js's SSD MobileNetV1.
inline constexpr index_t faceapi_ssd_input_size = 512;
/// Anchors the six box predictors have per cell, and the total over their maps at input 512.
inline constexpr index_t faceapi_ssd_anchors[6] = {3, 6, 6, 6, 6, 6};
inline constexpr index_t faceapi_ssd_prior_count = 5118;
/// Name of the prior boxes tensor ([1, 5118, 4]: ymin, xmin, ymax, xmax relative to the input).
inline const char* const faceapi_ssd_priors = "Output/extra_dim";

namespace detail {

/// Channels of MobileNetV1's pointwise layers 0..13 and of the prediction layers' convolutions 0..7.
inline constexpr index_t ssd_mobilenet_width[14] = {32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024};
inline constexpr index_t ssd_prediction_width[8] = {256, 512, 128, 256, 128, 256, 64, 128};
/// Channels of the six maps the box predictors read.
inline constexpr index_t ssd_predictor_input[6] = {512, 1024, 512, 256, 256, 128};

/// Manifest constants of the exported TensorFlow graph that the forward pass does not use.
inline std::vector<std::string> faceapi_ssd_unused_constants() {
  std::vector<std::string> n = {"Postprocessor/Slice/begin", "Postprocessor/Slice/size", "Preprocessor/mul/x",
                                "Preprocessor/ResizeImage/size", "Preprocessor/sub/y", "concat_1/axis",
                                "Prediction/BoxPredictor_0/strided_slice/stack",
                                "Prediction/BoxPredictor_0/strided_slice/stack_1", "Postprocessor/stack/1",
                                "Prediction/BoxPredictor_0/stack/3", "Prediction/BoxPredictor_0/stack_1/2"};
  for (int i = 0; i < 6; ++i) n.push_back("Prediction/BoxPredictor_" + std::to_string(i) + "/stack_1/1");
  return n;
}

}  // namespace detail

/// Weight tensors of the SSD MobileNetV1 (with the prior boxes).
inline std::vector<tensor_spec> faceapi_ssd_tensors() {
  std::vector<tensor_spec> t;
  const auto* w = detail::ssd_mobilenet_width;
  t.push_back({"MobilenetV1/Conv2d_0_pointwise/weights", {3, 3, 3, w[0]}});
  t.push_back({"MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset", {w[0]}});
  for (int i = 1; i <= 13; ++i) {
    const std::string d = "MobilenetV1/Conv2d_" + std::to_string(i) + "_depthwise";
    const std::string p = "MobilenetV1/Conv2d_" + std::to_string(i) + "_pointwise";
    t.push_back({d + "/depthwise_weights", {3, 3, w[i - 1], 1}});
    for (const char* s : {"/BatchNorm/gamma", "/BatchNorm/beta", "/BatchNorm/moving_mean", "/BatchNorm/moving_variance"})
      t.push_back({d + s, {w[i - 1]}});
    t.push_back({p + "/weights", {1, 1, w[i - 1], w[i]}});
    t.push_back({p + "/convolution_bn_offset", {w[i]}});
  }
  index_t cin = w[13];
  for (int i = 0; i < 8; ++i) {
    const std::string p = "Prediction/Conv2d_" + std::to_string(i) + "_pointwise";
    const index_t k = i % 2 ? 3 : 1, cout = detail::ssd_prediction_width[i];
    t.push_back({p + "/weights", {k, k, cin, cout}});
    t.push_back({p + "/convolution_bn_offset", {cout}});
    cin = cout;
  }
  for (int i = 0; i < 6; ++i) {
    const std::string p = "Prediction/BoxPredictor_" + std::to_string(i);
    const index_t c = detail::ssd_predictor_input[i], a = faceapi_ssd_anchors[i];
    t.push_back({p + "/BoxEncodingPredictor/weights", {1, 1, c, 4 * a}});
    t.push_back({p + "/BoxEncodingPredictor/biases", {4 * a}});
    t.push_back({p + "/ClassPredictor/weights", {1, 1, c, 3 * a}});
    t.push_back({p + "/ClassPredictor/biases", {3 * a}});
  }
  t.push_back({faceapi_ssd_priors, {1, faceapi_ssd_prior_count, 4}});
  return t;
}

/// The SSD MobileNetV1 graph on s x s x 3 RGB in 0..255 (face-api.js: s = 512; the prior boxes fit
/// that size only). Outputs box_encodings_<k> [n, h, w, 4 * anchors] and class_logits_<k> [n, h, w,
/// 3 * anchors] for the predictors k = 0..5.
LMTCNN_GRAPH_BUILDER inline graph faceapi_ssd_graph(index_t s = faceapi_ssd_input_size) {
  detail::graph_builder b({s, s, 3});
  // x / 127.5 - 1
  std::uint32_t x = b.add("input/normalize", op_kind::channel_normalize, {0}, {}, {},
                          channel_normalize_attrs::floats({127.5, 127.5, 127.5}, {127.5, 127.5, 127.5}));
  auto conv = [&](const std::string& name, std::uint32_t in, const std::string& p, index_t stride) LMTCNN_GRAPH_BUILDER {
    return b.add(name, op_kind::conv2d, {in}, {p + "/weights", p + "/convolution_bn_offset"},
                 conv_attrs::ints(stride, stride, padding::same, activation::relu6));
  };
  x = conv("MobilenetV1/Conv2d_0", x, "MobilenetV1/Conv2d_0_pointwise", 2);
  std::uint32_t conv11 = 0;
  for (int i = 1; i <= 13; ++i) {
    const std::string d = "MobilenetV1/Conv2d_" + std::to_string(i) + "_depthwise";
    const index_t stride = i == 2 || i == 4 || i == 6 || i == 12 ? 2 : 1;
    x = b.add(d, op_kind::depthwise_conv2d, {x}, {d + "/depthwise_weights", ""},
              conv_attrs::ints(stride, stride, padding::same, activation::none));
    batch_norm_attrs bn{d + "/BatchNorm/moving_mean", d + "/BatchNorm/moving_variance", d + "/BatchNorm/gamma",
                        d + "/BatchNorm/beta", 0, 0.0010000000474974513};  // float32(0.001), as the JavaScript has it
    x = b.add(d + "/BatchNorm", op_kind::batch_norm, {x}, {bn.mean, bn.variance, bn.gamma, bn.beta}, bn.ints(), bn.floats());
    x = b.add(d + "/relu6", op_kind::relu6, {x});
    const std::string p = "MobilenetV1/Conv2d_" + std::to_string(i) + "_pointwise";
    x = b.add(p, op_kind::pointwise_conv2d, {x}, {p + "/weights", p + "/convolution_bn_offset"},
              conv_attrs::ints(1, 1, padding::same, activation::relu6));
    if (i == 11) conv11 = x;
  }
  std::uint32_t maps[6] = {conv11, x, 0, 0, 0, 0};
  for (int i = 0; i < 8; ++i) {
    const std::string p = "Prediction/Conv2d_" + std::to_string(i) + "_pointwise";
    x = conv(p, x, p, i % 2 ? 2 : 1);
    if (i % 2) maps[2 + i / 2] = x;
  }
  std::vector<std::pair<std::string, std::uint32_t>> outputs;
  for (int k = 0; k < 6; ++k) {
    const std::string p = "Prediction/BoxPredictor_" + std::to_string(k);
    const std::uint32_t box = b.add(p + "/BoxEncodingPredictor", op_kind::pointwise_conv2d, {maps[k]},
                                    {p + "/BoxEncodingPredictor/weights", p + "/BoxEncodingPredictor/biases"},
                                    conv_attrs::ints(1, 1, padding::same, activation::none));
    const std::uint32_t cls = b.add(p + "/ClassPredictor", op_kind::pointwise_conv2d, {maps[k]},
                                    {p + "/ClassPredictor/weights", p + "/ClassPredictor/biases"},
                                    conv_attrs::ints(1, 1, padding::same, activation::none));
    outputs.emplace_back("box_encodings_" + std::to_string(k), box);
    outputs.emplace_back("class_logits_" + std::to_string(k), cls);
  }
  return b.finish(std::move(outputs));
}

}  // namespace lmtcnn
