// LMTCNN-1-1 and LMTCNN-2-1 (Lee, Chan, Chen, Chen, MIPR 2018): joint age-group and gender
// classification with depthwise-separable convolutions, built from weights under their TensorFlow
// checkpoint names and run through model (the SIMD engine for float, the scalar reference otherwise).
//
// Layer order, exactly as the original TensorFlow graph (scope multitaskdpcnn/):
//   standardize per image -> conv1 7x7/4 VALID +bias ReLU -> pool1 max 3x3/2 VALID
//   -> norm1 LRN (radius 5, bias 1, alpha 1e-4, beta 0.75)
//   -> convdp1: depthwise 3x3/1 SAME +bias ReLU, BN, pointwise +bias ReLU, BN
//   -> convdp2: depthwise 3x3/2 SAME +bias ReLU, BN, pointwise ->384 +bias ReLU, BN
//   -> pool3 max 3x3/2 VALID, flatten (h,w,c) -> full1 +bias ReLU -> full2 +bias ReLU
//   -> ageoutput (8 logits) and genderoutput (2 logits), softmax each.
// Batch norm has no gamma, eps 1e-3, and comes AFTER the ReLU.
#pragma once

#include <array>
#include <map>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lmtcnn/engine/model.hpp"
#include "lmtcnn/graph/graph.hpp"
#include "lmtcnn/core/seeded.hpp"
#include "lmtcnn/core/tensor.hpp"
#include "lmtcnn/core/thread_pool.hpp"

namespace lmtcnn {

/// LMTCNN-1-1 has a 256-wide first pointwise conv, LMTCNN-2-1 a 512-wide one; all else is equal.
enum class lmtcnn_variant { v1_1, v2_1 };

/// How batch norm gets its statistics.
enum class batch_norm_mode {
  moving_average,    ///< the checkpoint's moving mean and variance (standard inference)
  batch_statistics,  ///< mean and variance of the current batch, as LMTCNN's original graph computes
};

inline const char* to_string(lmtcnn_variant v) { return v == lmtcnn_variant::v1_1 ? "LMTCNN-1-1" : "LMTCNN-2-1"; }
inline const char* to_string(batch_norm_mode m) {
  return m == batch_norm_mode::moving_average ? "moving_average" : "batch_statistics";
}

/// Adience age groups, in the order of the age head's outputs.
inline constexpr std::array<const char*, 8> lmtcnn_age_groups = {"0-2",   "4-6",   "8-12",  "15-20",
                                                                  "25-32", "38-43", "48-53", "60-100"};
/// Gender labels, in the order of the gender head's outputs (index 0 = male).
inline constexpr std::array<const char*, 2> lmtcnn_genders = {"male", "female"};

struct lmtcnn_options {
  batch_norm_mode bn_mode = batch_norm_mode::batch_statistics;
  /// Expected variant; when unset it is recognised from the weights' shapes.
  std::optional<lmtcnn_variant> variant;
};

/// Outputs for a batch of n images.
template <class T>
struct lmtcnn_output {
  tensor<T> age_logits;     ///< [n,8]
  tensor<T> age_probs;      ///< [n,8], softmax of age_logits; order of lmtcnn_age_groups
  tensor<T> gender_logits;  ///< [n,2]
  tensor<T> gender_probs;   ///< [n,2], [p_male, p_female]
};

/// The variant whose first pointwise filter has this shape, if any.
inline std::optional<lmtcnn_variant> lmtcnn_variant_of(const shape& convdp1_pointwise_weights) {
  const shape& s = convdp1_pointwise_weights;
  if (s.rank() == 4 && s[0] == 1 && s[1] == 1 && s[2] == 96 && s[3] == 256) return lmtcnn_variant::v1_1;
  if (s.rank() == 4 && s[0] == 1 && s[1] == 1 && s[2] == 96 && s[3] == 512) return lmtcnn_variant::v2_1;
  return std::nullopt;
}

/// LMTCNN's layer graph over its checkpoint tensor names (the same for both variants: the widths
/// come from the weights). Outputs: age_logits, gender_logits, age_probs, gender_probs.
LMTCNN_GRAPH_BUILDER inline graph lmtcnn_graph(lmtcnn_variant, batch_norm_mode mode) {
  const std::string s = "multitaskdpcnn/";
  graph g;
  g.input_dims = {227, 227, 3};
  auto add = [&](std::string name, op_kind op, std::vector<std::string> tensors, std::vector<std::int64_t> ints,
                 std::vector<double> floats, std::uint32_t input) LMTCNN_GRAPH_BUILDER {
    g.nodes.push_back({std::move(name), op, {input}, std::move(tensors), std::move(ints), std::move(floats)});
    return static_cast<std::uint32_t>(g.nodes.size());  // id of the value just made
  };
  auto bn = [&](const std::string& scope, std::uint32_t x) LMTCNN_GRAPH_BUILDER {
    const bool moving = mode == batch_norm_mode::moving_average;
    return add(s + scope, op_kind::batch_norm,
               {moving ? s + scope + "/moving_mean" : "", moving ? s + scope + "/moving_variance" : "", "",
                s + scope + "/beta"},
               batch_norm_attrs{"", "", "", "", moving ? 0 : 1, 1e-3}.ints(), {1e-3}, x);
  };
  std::uint32_t x = add("input/standardize", op_kind::standardize, {}, {}, {}, 0);
  x = add(s + "conv1", op_kind::conv2d, {s + "conv1/weights", s + "conv1/biases"}, conv_attrs::ints(4, 4, padding::valid, activation::relu), {}, x);
  x = add(s + "pool1", op_kind::pool_max, {}, pool_attrs::ints(3, 3, 2, 2, padding::valid), {}, x);
  x = add(s + "norm1", op_kind::lrn, {}, lrn_attrs{5, 1.0, 1e-4, 0.75}.ints(), lrn_attrs{5, 1.0, 1e-4, 0.75}.floats(), x);
  for (const auto& [block, stride] : {std::pair<const char*, std::int64_t>{"convdp1", 1}, {"convdp2", 2}}) {
    const std::string b = s + block;
    x = add(b + "/depthwise_conv", op_kind::depthwise_conv2d,
            {b + "/depthwise_conv/depthwise_weights", b + "/depthwise_conv/biases"}, conv_attrs::ints(stride, stride, padding::same, activation::relu), {}, x);
    x = bn(std::string(block) + "/dw_batch_norm", x);
    x = add(b + "/pointwise_conv", op_kind::pointwise_conv2d,
            {b + "/pointwise_conv/weights", b + "/pointwise_conv/biases"}, conv_attrs::ints(1, 1, padding::valid, activation::relu), {}, x);
    x = bn(std::string(block) + "/pw_batch_norm", x);
  }
  x = add(s + "pool3", op_kind::pool_max, {}, pool_attrs::ints(3, 3, 2, 2, padding::valid), {}, x);
  x = add(s + "full1", op_kind::fully_connected, {s + "full1/weights", s + "full1/biases"}, dense_attrs::ints(activation::relu), {}, x);
  x = add(s + "full2", op_kind::fully_connected, {s + "full2/weights", s + "full2/biases"}, dense_attrs::ints(activation::relu), {}, x);
  const std::uint32_t age = add("ageoutput", op_kind::fully_connected,
                                {"ageoutput/ageweights", "ageoutput/agebiases"}, dense_attrs::ints(activation::none), {}, x);
  const std::uint32_t gender = add("genderoutput", op_kind::fully_connected,
                                   {"genderoutput/genderweights", "genderoutput/genderbiases"}, dense_attrs::ints(activation::none), {}, x);
  const std::uint32_t age_p = add("ageoutput/softmax", op_kind::softmax, {}, {}, {}, age);
  const std::uint32_t gender_p = add("genderoutput/softmax", op_kind::softmax, {}, {}, {}, gender);
  g.outputs = {{"age_logits", age}, {"gender_logits", gender}, {"age_probs", age_p}, {"gender_probs", gender_p}};
  return g;
}

template <class T>
class lmtcnn_net {
 public:
  static constexpr index_t input_size = 227;
  static constexpr T batch_norm_eps = T(1e-3);

  /// Names and shapes of every weight tensor of a variant (TensorFlow checkpoint names and layouts).
  static std::vector<tensor_spec> expected_tensors(lmtcnn_variant v, batch_norm_mode m) {
    const index_t pw1 = v == lmtcnn_variant::v1_1 ? 256 : 512;
    const std::string s = "multitaskdpcnn/";
    std::vector<tensor_spec> t = {
        {s + "conv1/weights", {7, 7, 3, 96}},
        {s + "conv1/biases", {96}},
        {s + "convdp1/depthwise_conv/depthwise_weights", {3, 3, 96, 1}},
        {s + "convdp1/depthwise_conv/biases", {96}},
        {s + "convdp1/pointwise_conv/weights", {1, 1, 96, pw1}},
        {s + "convdp1/pointwise_conv/biases", {pw1}},
        {s + "convdp2/depthwise_conv/depthwise_weights", {3, 3, pw1, 1}},
        {s + "convdp2/depthwise_conv/biases", {pw1}},
        {s + "convdp2/pointwise_conv/weights", {1, 1, pw1, 384}},
        {s + "convdp2/pointwise_conv/biases", {384}},
        {s + "full1/weights", {6 * 6 * 384, 512}},
        {s + "full1/biases", {512}},
        {s + "full2/weights", {512, 512}},
        {s + "full2/biases", {512}},
        {"ageoutput/ageweights", {512, 8}},
        {"ageoutput/agebiases", {8}},
        {"genderoutput/genderweights", {512, 2}},
        {"genderoutput/genderbiases", {2}},
    };
    const bool moving = m == batch_norm_mode::moving_average;
    const std::pair<const char*, index_t> norms[] = {
        {"convdp1/dw_batch_norm/", 96}, {"convdp1/pw_batch_norm/", pw1},
        {"convdp2/dw_batch_norm/", pw1}, {"convdp2/pw_batch_norm/", 384}};
    for (const auto& [scope, c] : norms) {
      t.push_back({s + scope + "beta", {c}});
      t.push_back({s + scope + "moving_mean", {c}, moving});
      t.push_back({s + scope + "moving_variance", {c}, moving});
    }
    return t;
  }

  /// Trainable parameters (the moving statistics not counted, as the paper counts them).
  static index_t parameter_count(lmtcnn_variant v) {
    index_t n = 0;
    for (const tensor_spec& t : expected_tensors(v, batch_norm_mode::batch_statistics))
      if (t.required) n += t.dims.elements();
    return n;
  }

  /// Multiply-accumulates for one image in the convolutions and dense layers.
  static index_t multiply_accumulates(lmtcnn_variant v) {
    const index_t pw1 = v == lmtcnn_variant::v1_1 ? 256 : 512;
    const index_t c1 = detail::window_axis(input_size, 7, 4, padding::valid).out;  // 56
    const index_t p1 = detail::window_axis(c1, 3, 2, padding::valid).out;           // 27
    const index_t d2 = detail::window_axis(p1, 3, 2, padding::same).out;            // 14
    const index_t p3 = detail::window_axis(d2, 3, 2, padding::valid).out;           // 6
    return c1 * c1 * 96 * 7 * 7 * 3 + p1 * p1 * 96 * 9 + p1 * p1 * 96 * pw1 + d2 * d2 * pw1 * 9 +
           d2 * d2 * pw1 * 384 + p3 * p3 * 384 * 512 + 512 * 512 + 512 * (8 + 2);
  }

  /// Builds the network from weights under their checkpoint names. Throws shape_error naming every
  /// missing, unexpected or mis-shaped tensor (with expected and actual shapes).
  explicit lmtcnn_net(const tensor_map<T>& weights, lmtcnn_options options = {})
      : variant_(recognise_variant(weights, options.variant)),
        bn_mode_(options.bn_mode),
        model_(lmtcnn_graph(variant_, bn_mode_), checked_weights(weights, variant_, bn_mode_)) {}

  lmtcnn_variant variant() const { return variant_; }
  batch_norm_mode bn_mode() const { return bn_mode_; }
  std::string name() const { return to_string(variant_); }
  /// The model it runs: its precision (arithmetic()), its engine's path and bf16 way (engine()).
  const model<T>& net_model() const { return model_; }

  /// Runs the network on input [n,227,227,3] RGB (any pixel scale; each image is standardised first).
  /// In batch_statistics mode the batch norm statistics are those of the whole batch. float networks
  /// run on the SIMD engine (unless built with LMTCNN_FORCE_REFERENCE), others on the reference ops.
  lmtcnn_output<T> forward(tensor_view<const T> input) const {
    check(input);
    return outputs(model_.forward(input));
  }

  /// The same with each layer split across the threads of pool (the SIMD engine only; the
  /// reference path runs on the calling thread). Results are bitwise those of forward().
  lmtcnn_output<T> forward(tensor_view<const T> input, thread_pool& pool) const {
    check(input);
    return outputs(model_.forward(input, pool));
  }

  /// The same on the scalar reference ops.
  lmtcnn_output<T> forward_reference(tensor_view<const T> input) const {
    check(input);
    return outputs(model_.forward_reference(input));
  }

  /// The layer graph this network runs.
  const graph& net_graph() const { return model_.net_graph(); }

 private:
  void check(tensor_view<const T> input) const {
    if (input.rank() != 4 || input.dim(1) != input_size || input.dim(2) != input_size || input.dim(3) != 3 ||
        input.dim(0) < 1)
      throw shape_error(name() + " layer 'input': got " + input.shape().str() + ", expected [n,227,227,3]");
  }

  static lmtcnn_output<T> outputs(std::map<std::string, tensor<T>> out) {
    lmtcnn_output<T> r;
    r.age_logits = std::move(out.at("age_logits"));
    r.age_probs = std::move(out.at("age_probs"));
    r.gender_logits = std::move(out.at("gender_logits"));
    r.gender_probs = std::move(out.at("gender_probs"));
    return r;
  }

  static tensor_map<T> checked_weights(const tensor_map<T>& weights, lmtcnn_variant v, batch_norm_mode m) {
    const std::vector<tensor_spec> specs = expected_tensors(v, m);
    std::vector<std::pair<std::string, shape>> have;
    for (const auto& [name, t] : weights) have.emplace_back(name, t.shape());
    std::string problems;
    for (const std::string& p : tensor_set_problems(specs, have)) problems += "\n  " + p;
    if (!problems.empty()) throw shape_error(std::string(to_string(v)) + " weights:" + problems);
    tensor_map<T> kept;
    for (const tensor_spec& spec : specs)
      if (const auto it = weights.find(spec.name); it != weights.end()) kept.emplace(spec.name, it->second);
    return kept;
  }

  static lmtcnn_variant recognise_variant(const tensor_map<T>& weights, std::optional<lmtcnn_variant> expected) {
    const std::string key = "multitaskdpcnn/convdp1/pointwise_conv/weights";
    const auto it = weights.find(key);
    if (it == weights.end()) {
      if (expected) return *expected;  // the missing tensor is then reported with the others
      throw shape_error("LMTCNN weights: missing tensor '" + key + "', which tells LMTCNN-1-1 from LMTCNN-2-1");
    }
    std::optional<lmtcnn_variant> found = lmtcnn_variant_of(it->second.shape());
    if (!found)
      throw shape_error("LMTCNN weights: tensor '" + key + "' has shape " + it->second.shape().str() +
                        ", expected [1,1,96,256] (LMTCNN-1-1) or [1,1,96,512] (LMTCNN-2-1)");
    if (expected && *expected != *found)
      throw shape_error(std::string("LMTCNN weights: expected ") + to_string(*expected) + " but tensor '" + key +
                        "' " + it->second.shape().str() + " is " + to_string(*found));
    return *found;
  }

  lmtcnn_variant variant_;
  batch_norm_mode bn_mode_;
  model<T> model_;
};

/// Untrained LMTCNN weights from lmtcnn::seeded, for benchmarks and demos: filters uniform in
/// +-2^round(log2(sqrt(3 / fan_in))), biases and betas in +-1/8, moving means in [0, 1/2),
/// moving variances in [1/2, 1). Includes the moving statistics, so either batch-norm mode runs.
template <class T>
tensor_map<T> lmtcnn_seeded_weights(lmtcnn_variant v, std::uint64_t seed) {
  tensor_map<T> w;
  for (const tensor_spec& t : lmtcnn_net<T>::expected_tensors(v, batch_norm_mode::moving_average)) {
    const auto ends_with = [&](const char* suffix) {
      const std::string sfx(suffix);
      return t.name.size() >= sfx.size() && t.name.compare(t.name.size() - sfx.size(), sfx.size(), sfx) == 0;
    };
    double lo = -0.125, hi = 0.125;
    if (ends_with("moving_mean")) {
      lo = 0.0, hi = 0.5;
    } else if (ends_with("moving_variance")) {
      lo = 0.5, hi = 1.0;
    } else if (t.dims.rank() >= 2) {
      index_t fan_in = 1;
      for (int i = 0; i + 1 < t.dims.rank(); ++i) fan_in *= t.dims[i];
      if (ends_with("depthwise_weights")) fan_in = t.dims[0] * t.dims[1];
      hi = std::exp2(std::round(std::log2(std::sqrt(3.0 / static_cast<double>(fan_in)))));
      lo = -hi;
    }
    w.emplace(t.name, seeded::uniform<T>(t.dims, seed, t.name, lo, hi));
  }
  return w;
}

}  // namespace lmtcnn
