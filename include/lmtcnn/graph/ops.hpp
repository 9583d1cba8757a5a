// lmtcnn op table: every op a graph may hold, its number in the weight file, its family, how many
// inputs, weight tensors, integer and float parameters it takes, and the typed attributes decoded
// from (and encoded into) a node. Nothing outside this header reads a node's parameters by position.
//
// Adding an op: a row in LMTCNN_OP_TABLE (a new number; numbers are never reused), its attribute
// struct below if it has parameters, its shape rule (graph.hpp), its reference op (reference/) and
// graph_net's call of it, its prepared layer (engine/layers_*.hpp), and their tests.
//
// Per-op conventions (the same in memory and in the weight file, see weights_tools/FORMAT.md):
//   op                 inputs  tensors                              ints                              floats
//   standardize        1       -                                    -                                 -
//   channel_normalize  1       -                                    -                                 mean[c].., divisor[c]..
//   conv2d             1       filter [kh,kw,ci,co], bias?          stride_h, stride_w, pad, act      leaky alpha (act 2)
//   depthwise_conv2d   1       filter [kh,kw,c,1], bias?            stride_h, stride_w, pad, act      leaky alpha (act 2)
//   pointwise_conv2d   1       filter [1,1,ci,co], bias?            stride_h, stride_w, pad, act      leaky alpha (act 2)
//   batch_norm         1       mean?, variance?, gamma?, beta?      mode (0 moving, 1 batch stats)    eps
//   lrn                1       -                                    depth_radius                      bias, alpha, beta
//   pool_max/pool_avg  1       -                                    wh, ww, stride_h, stride_w, pad   -
//   fully_connected    1       weights [k,m], bias?                 act                               leaky alpha (act 2)
//   add                2       -                                    -                                 -
//   relu, softmax      1       -                                    -                                 -
// pad: 0 VALID, 1 SAME. act: 0 none, 1 ReLU, 2 leaky ReLU, 3 ReLU6 (min(max(x, 0), 6)). An absent optional tensor is "".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lmtcnn/core/geometry.hpp"

namespace lmtcnn {

//        number  name               family             inputs tensors  ints floats(min)
#define LMTCNN_OP_TABLE(X)                                                  \
  X(1,  standardize,       standardize,       1, 0, 0, 0, 0)               \
  X(2,  channel_normalize, channel_normalize, 1, 0, 0, 0, 2)               \
  X(3,  conv2d,            conv,              1, 1, 2, 4, 0)               \
  X(4,  depthwise_conv2d,  depthwise,         1, 1, 2, 4, 0)               \
  X(5,  pointwise_conv2d,  conv,              1, 1, 2, 4, 0)               \
  X(6,  batch_norm,        batch_norm,        1, 4, 4, 1, 1)               \
  X(7,  lrn,               lrn,               1, 0, 0, 1, 3)               \
  X(8,  pool_max,          pool,              1, 0, 0, 5, 0)               \
  X(9,  pool_avg,          pool,              1, 0, 0, 5, 0)               \
  X(10, fully_connected,   dense,             1, 1, 2, 1, 0)               \
  X(11, add,               add,               2, 0, 0, 0, 0)               \
  X(12, relu,              relu,              1, 0, 0, 0, 0)               \
  X(13, softmax,           softmax,           1, 0, 0, 0, 0)               \
  X(14, relu6,             relu,              1, 0, 0, 0, 0)

enum class op_kind : std::uint32_t {
#define LMTCNN_OP_ENUM(id, name, family, ...) name = id,
  LMTCNN_OP_TABLE(LMTCNN_OP_ENUM)
#undef LMTCNN_OP_ENUM
};

/// Ops that share a shape rule, a reference call and a prepared layer: the ops of one family differ
/// only in a flag their attributes carry (pointwise is conv2d with a 1x1 filter, max or average pool).
enum class op_family { standardize, channel_normalize, conv, depthwise, batch_norm, lrn, pool, dense, add, relu, softmax };

/// The counts of inputs, tensors, ints and floats an op takes (floats: minimum).
struct op_arity {
  std::size_t inputs, min_tensors, max_tensors, ints, min_floats;
};

namespace detail {

struct op_info {
  op_kind kind;
  const char* name;
  op_family family;
  op_arity arity;
};

inline constexpr op_info op_table[] = {
#define LMTCNN_OP_INFO(id, name, family, in, tmin, tmax, ints, fmin) \
  {op_kind::name, #name, op_family::family, {in, tmin, tmax, ints, fmin}},
    LMTCNN_OP_TABLE(LMTCNN_OP_INFO)
#undef LMTCNN_OP_INFO
};

/// The table row of op k, or null for a number no op has (e.g. from a corrupted file).
inline const op_info* find_op(op_kind k) {
  for (const op_info& o : op_table)
    if (o.kind == k) return &o;
  return nullptr;
}

}  // namespace detail

inline bool is_known(op_kind k) { return detail::find_op(k) != nullptr; }

inline const char* to_string(op_kind k) {
  const detail::op_info* o = detail::find_op(k);
  return o ? o->name : "unknown";
}

/// The family of a known op.
inline op_family family_of(op_kind k) { return detail::find_op(k)->family; }

/// One layer.
struct graph_node {
  std::string name;
  op_kind op = op_kind::relu;
  std::vector<std::uint32_t> inputs;  ///< value ids
  std::vector<std::string> tensors;   ///< weight names, "" for an absent optional one
  std::vector<std::int64_t> ints;
  std::vector<double> floats;
};

// ---- typed attributes --------------------------------------------------------------------------
// decode(node) reads a node that infer_shapes has accepted (arity checked); encode() writes the ints
// and floats a node of that op stores.

namespace detail {
inline std::string tensor_at(const graph_node& n, std::size_t i) { return i < n.tensors.size() ? n.tensors[i] : ""; }
inline padding padding_of(std::int64_t v) { return v ? padding::same : padding::valid; }
inline std::int64_t padding_code(padding p) { return p == padding::same ? 1 : 0; }
}  // namespace detail

/// conv2d, depthwise_conv2d, pointwise_conv2d.
struct conv_attrs {
  std::string filter, bias;  ///< bias "" when absent
  index_t stride_h = 1, stride_w = 1;
  std::int64_t pad = 0;  ///< 0 VALID, 1 SAME (checked by infer_shapes)
  std::int64_t act = 0;  ///< an activation number (checked by infer_shapes)
  double alpha = 0;      ///< leaky ReLU slope

  conv2d_params params() const { return {stride_h, stride_w, detail::padding_of(pad)}; }
  lmtcnn::activation activation() const { return static_cast<lmtcnn::activation>(act); }
  static conv_attrs decode(const graph_node& n) {
    conv_attrs a;
    a.filter = n.tensors[0];
    a.bias = detail::tensor_at(n, 1);
    a.stride_h = n.ints[0];
    a.stride_w = n.ints[1];
    a.pad = n.ints[2];
    a.act = n.ints[3];
    a.alpha = a.act == static_cast<std::int64_t>(activation::leaky_relu) && !n.floats.empty() ? n.floats[0] : 0.0;
    return a;
  }
  /// The ints of a convolution node.
  static std::vector<std::int64_t> ints(index_t stride_h, index_t stride_w, padding pad, lmtcnn::activation a) {
    return {stride_h, stride_w, detail::padding_code(pad), static_cast<std::int64_t>(a)};
  }
};

/// pool_max, pool_avg.
struct pool_attrs {
  index_t window_h = 1, window_w = 1, stride_h = 1, stride_w = 1;
  std::int64_t pad = 0;  ///< 0 VALID, 1 SAME (checked by infer_shapes)
  bool max = true;

  pool2d_params params() const { return {window_h, window_w, stride_h, stride_w, detail::padding_of(pad)}; }
  static pool_attrs decode(const graph_node& n) {
    return {n.ints[0], n.ints[1], n.ints[2], n.ints[3], n.ints[4], n.op == op_kind::pool_max};
  }
  /// The ints of a pooling node.
  static std::vector<std::int64_t> ints(index_t window_h, index_t window_w, index_t stride_h, index_t stride_w,
                                        padding pad) {
    return {window_h, window_w, stride_h, stride_w, detail::padding_code(pad)};
  }
};

/// batch_norm: stored statistics (mean and variance tensors) or those of the batch.
struct batch_norm_attrs {
  std::string mean, variance, gamma, beta;  ///< "" when absent
  std::int64_t mode = 0;                     ///< 0 stored statistics, 1 batch statistics
  double eps = 0;

  bool batch_statistics() const { return mode != 0; }
  static batch_norm_attrs decode(const graph_node& n) {
    return {n.tensors[0], n.tensors[1], n.tensors[2], n.tensors[3], n.ints[0], n.floats[0]};
  }
  std::vector<std::int64_t> ints() const { return {mode}; }
  std::vector<double> floats() const { return {eps}; }
};

/// lrn: TensorFlow's tf.nn.lrn.
struct lrn_attrs {
  std::int64_t depth_radius = 5;
  double bias = 1, alpha = 1, beta = 0.5;

  static lrn_attrs decode(const graph_node& n) { return {n.ints[0], n.floats[0], n.floats[1], n.floats[2]}; }
  std::vector<std::int64_t> ints() const { return {depth_radius}; }
  std::vector<double> floats() const { return {bias, alpha, beta}; }
};

/// fully_connected.
struct dense_attrs {
  std::string weights, bias;  ///< bias "" when absent
  std::int64_t act = 0;
  double alpha = 0;

  lmtcnn::activation activation() const { return static_cast<lmtcnn::activation>(act); }
  static dense_attrs decode(const graph_node& n) {
    dense_attrs a;
    a.weights = n.tensors[0];
    a.bias = detail::tensor_at(n, 1);
    a.act = n.ints[0];
    a.alpha = a.act == static_cast<std::int64_t>(activation::leaky_relu) && !n.floats.empty() ? n.floats[0] : 0.0;
    return a;
  }
  /// The ints of a fully connected node.
  static std::vector<std::int64_t> ints(lmtcnn::activation a) { return {static_cast<std::int64_t>(a)}; }
};

/// channel_normalize: (x - mean[c]) / divisor[c]; floats hold c means, then c divisors.
struct channel_normalize_attrs {
  const double* mean = nullptr;
  const double* divisor = nullptr;
  std::size_t channels = 0;

  static channel_normalize_attrs decode(const graph_node& n) {
    const std::size_t c = n.floats.size() / 2;
    return {n.floats.data(), n.floats.data() + c, c};
  }
  /// The floats of a channel_normalize node: the means, then the divisors.
  static std::vector<double> floats(const std::vector<double>& mean, const std::vector<double>& divisor) {
    std::vector<double> f(mean);
    f.insert(f.end(), divisor.begin(), divisor.end());
    return f;
  }
};

}  // namespace lmtcnn
