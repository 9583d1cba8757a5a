// lmtcnn network graphs: a network as a list of layers over named weight tensors, the shape check
// that proves a graph and its weights fit together.
//
// Values are numbered: 0 is the network input, k is the output of node k-1. A node reads earlier
// values only, so the node list is already in execution order. The ops and their parameters:
// graph/ops.hpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lmtcnn/core/geometry.hpp"
#include "lmtcnn/core/tensor.hpp"
#include "lmtcnn/graph/ops.hpp"

/// Marks functions that build graphs from small constant lists: GCC 12's SLP vectoriser, with
/// AVX-512 enabled, merges such lists wrongly (a {1, 1, 1, 0} became {1, 1, 1, 1}); these functions
/// are not hot, so it is turned off for them.
#if defined(__GNUC__) && !defined(__clang__)
#define LMTCNN_GRAPH_BUILDER __attribute__((optimize("no-tree-slp-vectorize")))
#else
#define LMTCNN_GRAPH_BUILDER
#endif

namespace lmtcnn {

/// A whole network: its input, its layers and its named outputs.
struct graph {
  std::string input_name = "input";
  shape input_dims;  ///< [h,w,c] of one image; the batch size is free
  std::vector<graph_node> nodes;
  std::vector<std::pair<std::string, std::uint32_t>> outputs;  ///< name, value id
};

namespace detail {

inline void graph_check(bool ok, const graph_node& n, const std::string& msg) {
  if (!ok) throw shape_error("layer '" + n.name + "' (" + to_string(n.op) + "): " + msg);
}

}  // namespace detail

/// The most values one layer's output may hold for one image (2^28: 1 GiB of float).
inline constexpr index_t max_activation_elements = index_t(1) << 28;

namespace detail {

/// What a shape rule sees of one node: the node, its input shapes and its weights' shapes.
struct shape_context {
  const graph_node& node;
  const shape& in;                ///< first input
  const std::vector<shape>& values;  ///< every value computed so far
  std::vector<shape> tensors;     ///< weights' shapes (rank 0 for an absent optional one)
  std::vector<bool> present;

  void check(bool ok, const std::string& msg) const { graph_check(ok, node, msg); }
  void need_nhwc() const { check(in.rank() == 4, "input " + in.str() + " is not NHWC"); }
  /// An optional per-channel tensor i holds c values when present.
  void channel_vector(std::size_t i, index_t c) const {
    if (i < tensors.size() && present[i])
      check(tensors[i] == shape{c}, "tensor '" + node.tensors[i] + "' " + tensors[i].str() + " should be [" +
                                        std::to_string(c) + "]");
  }
  /// An activation number the kernels know; leaky ReLU needs its alpha among the floats.
  void activation(std::int64_t act) const {
    check(act >= 0 && act <= 3, "unknown activation " + std::to_string(act));
    if (act == 2) check(!node.floats.empty(), "leaky ReLU needs its alpha");
  }
  /// The output rows and columns of a window over the input; checks the window's parameters.
  std::pair<index_t, index_t> window(index_t kh, index_t kw, index_t sh, index_t sw, std::int64_t pad) const {
    check(kh >= 1 && kw >= 1 && kh <= 1024 && kw <= 1024 && sh >= 1 && sw >= 1 && sh <= 1024 && sw <= 1024 &&
              (pad == 0 || pad == 1),
          "bad window, stride or padding");
    const padding p = pad ? padding::same : padding::valid;
    const index_t oh = window_axis(in[1], kh, sh, p).out, ow = window_axis(in[2], kw, sw, p).out;
    check(oh > 0 && ow > 0, "input " + in.str() + " is smaller than its window");
    return {oh, ow};
  }
};

inline shape same_nhwc_shape(const shape_context& x) {
  x.need_nhwc();
  return x.in;
}

inline shape channel_normalize_shape(const shape_context& x) {
  x.need_nhwc();
  x.check(x.node.floats.size() == static_cast<std::size_t>(2 * x.in[3]),
          "needs a mean and a divisor per channel of " + x.in.str());
  const channel_normalize_attrs a = channel_normalize_attrs::decode(x.node);
  for (std::size_t c = 0; c < a.channels; ++c) x.check(a.divisor[c] != 0.0, "divisor is zero");
  return x.in;
}

inline shape conv_shape(const shape_context& x) {
  x.need_nhwc();
  const shape& f = x.tensors[0];
  const shape& in = x.in;
  x.check(f.rank() == 4, "filter " + f.str() + " is not [kh,kw,cin,cout]");
  const conv_attrs a = conv_attrs::decode(x.node);
  x.activation(a.act);
  const auto [oh, ow] = x.window(f[0], f[1], a.stride_h, a.stride_w, a.pad);
  index_t cout = f[3];
  if (x.node.op == op_kind::depthwise_conv2d) {
    x.check(f[2] == in[3] && f[3] == 1, "filter " + f.str() + " does not fit input " + in.str() + " (want [kh,kw,c,1])");
    cout = in[3];
  } else {
    x.check(f[2] == in[3], "filter " + f.str() + " does not fit input " + in.str());
    if (x.node.op == op_kind::pointwise_conv2d) x.check(f[0] == 1 && f[1] == 1, "filter " + f.str() + " is not 1x1");
  }
  x.channel_vector(1, cout);
  return {in[0], oh, ow, cout};
}

inline shape batch_norm_shape(const shape_context& x) {
  x.need_nhwc();
  const batch_norm_attrs a = batch_norm_attrs::decode(x.node);
  x.check(a.mode == 0 || a.mode == 1, "unknown batch norm mode");
  if (!a.batch_statistics()) x.check(x.present[0] && x.present[1], "needs moving mean and variance");
  for (std::size_t i = 0; i < 4; ++i) x.channel_vector(i, x.in[3]);
  x.check(a.eps >= 0.0, "eps is negative");
  return x.in;
}

inline shape lrn_shape(const shape_context& x) {
  x.need_nhwc();
  const lrn_attrs a = lrn_attrs::decode(x.node);
  x.check(a.depth_radius >= 0 && a.depth_radius <= 4096, "bad depth radius");
  return x.in;
}

inline shape pool_shape(const shape_context& x) {
  x.need_nhwc();
  const pool_attrs p = pool_attrs::decode(x.node);
  const auto [oh, ow] = x.window(p.window_h, p.window_w, p.stride_h, p.stride_w, p.pad);
  return {x.in[0], oh, ow, x.in[3]};
}

inline shape dense_shape(const shape_context& x) {
  const shape& in = x.in;
  x.check(in.rank() == 2 || in.rank() == 4, "input " + in.str() + " is not [n,k] or NHWC");
  const shape& w = x.tensors[0];
  const index_t k = in.elements() / (in[0] == 0 ? 1 : in[0]);
  x.check(w.rank() == 2 && w[0] == k,
          "weights " + w.str() + " do not fit input " + in.str() + " (flattened to " + std::to_string(k) + ")");
  x.activation(dense_attrs::decode(x.node).act);
  x.channel_vector(1, w[1]);
  return {in[0], w[1]};
}

inline shape add_shape(const shape_context& x) {
  const shape& b = x.values[x.node.inputs[1]];
  x.check(x.in == b && x.in.rank() == 4, "inputs " + x.in.str() + " and " + b.str() + " differ");
  return x.in;
}

inline shape softmax_shape(const shape_context& x) {
  x.check(x.in.rank() == 2, "input " + x.in.str() + " is not [n,classes]");
  return x.in;
}

/// The output shape of a node whose counts infer_shapes has checked.
inline shape output_shape(const shape_context& x) {
  switch (family_of(x.node.op)) {
    case op_family::standardize:
    case op_family::relu: return same_nhwc_shape(x);
    case op_family::channel_normalize: return channel_normalize_shape(x);
    case op_family::conv:
    case op_family::depthwise: return conv_shape(x);
    case op_family::batch_norm: return batch_norm_shape(x);
    case op_family::lrn: return lrn_shape(x);
    case op_family::pool: return pool_shape(x);
    case op_family::dense: return dense_shape(x);
    case op_family::add: return add_shape(x);
    case op_family::softmax: return softmax_shape(x);
  }
  return {};
}

/// Checks a node's counts of inputs, tensors and parameters against the op table.
inline void check_arity(const graph_node& node, std::size_t values) {
  graph_check(is_known(node.op), node, "unknown op");
  const op_arity a = find_op(node.op)->arity;
  graph_check(node.inputs.size() == a.inputs, node,
              "takes " + std::to_string(a.inputs) + " inputs, has " + std::to_string(node.inputs.size()));
  for (std::uint32_t id : node.inputs)
    graph_check(id < values, node, "reads value " + std::to_string(id) + ", which is not computed yet");
  graph_check(node.tensors.size() >= a.min_tensors && node.tensors.size() <= a.max_tensors, node,
              "has " + std::to_string(node.tensors.size()) + " tensors");
  graph_check(node.ints.size() == a.ints, node,
              "takes " + std::to_string(a.ints) + " integer parameters, has " + std::to_string(node.ints.size()));
  graph_check(node.floats.size() >= a.min_floats, node, "lacks float parameters");
}

}  // namespace detail

/// Checks a graph against the shapes of its weights (lookup(name, found) returns a shape and sets
/// found) and returns the shape of every value for a batch of n. No value may hold more than
/// max_activation_elements per image. Throws shape_error naming the layer on anything that does not fit.
template <class Lookup>
std::vector<shape> infer_shapes(const graph& g, index_t n, Lookup lookup) {
  if (g.input_dims.rank() != 3)
    throw shape_error("graph input '" + g.input_name + "' " + g.input_dims.str() + " should be [h,w,c]");
  std::vector<shape> v;
  v.push_back({n, g.input_dims[0], g.input_dims[1], g.input_dims[2]});
  for (const graph_node& node : g.nodes) {
    detail::check_arity(node, v.size());
    detail::shape_context x{node, v[node.inputs[0]], v, {}, {}};
    for (const std::string& name : node.tensors) {  // "" = absent
      x.present.push_back(!name.empty());
      bool found = false;
      x.tensors.push_back(name.empty() ? shape{} : lookup(name, found));
      if (!name.empty()) detail::graph_check(found, node, "refers to tensor '" + name + "', which is not there");
    }
    const shape out = detail::output_shape(x);
    detail::graph_check(out.rank() == 0 || out[0] <= 0 || out.elements() / out[0] <= max_activation_elements, node,
                        "output " + out.str() + " holds more than " + std::to_string(max_activation_elements) +
                            " values per image");
    v.push_back(out);
  }
  for (const auto& [name, id] : g.outputs)
    if (id >= v.size()) throw shape_error("graph output '" + name + "' refers to value " + std::to_string(id) + ", which does not exist");
  if (g.outputs.empty()) throw shape_error("graph has no outputs");
  return v;
}

/// One weight tensor a network needs: its name and shape.
struct tensor_spec {
  std::string name;
  shape dims;
  bool required = true;  ///< false: used when present (checked), not needed
};

/// Every way a set of named tensor shapes differs from what specs ask, in spec order, then the
/// unexpected ones in the set's order: "missing tensor 'n' [..]", "tensor 'n' has shape [..],
/// expected [..]", "unexpected tensor 'n' [..]". Empty when the set fits.
inline std::vector<std::string> tensor_set_problems(const std::vector<tensor_spec>& specs,
                                                    const std::vector<std::pair<std::string, shape>>& have) {
  std::vector<std::string> problems;
  auto find = [&](const std::string& name) {
    return std::find_if(have.begin(), have.end(), [&](const auto& h) { return h.first == name; });
  };
  for (const tensor_spec& spec : specs) {
    const auto it = find(spec.name);
    if (it == have.end()) {
      if (spec.required) problems.push_back("missing tensor '" + spec.name + "' " + spec.dims.str());
    } else if (it->second != spec.dims) {
      problems.push_back("tensor '" + spec.name + "' has shape " + it->second.str() + ", expected " + spec.dims.str());
    }
  }
  for (const auto& h : have)
    if (std::none_of(specs.begin(), specs.end(), [&](const tensor_spec& s) { return s.name == h.first; }))
      problems.push_back("unexpected tensor '" + h.first + "' " + h.second.str());
  return problems;
}

/// Multiply-accumulates of one node for its output shape out, whose first tensor has shape w:
/// convolutions and dense layers; 0 for other ops.
inline index_t multiply_accumulates(const graph_node& node, const shape& out, const shape& w) {
  switch (family_of(node.op)) {
    case op_family::conv: return out.elements() * w[0] * w[1] * w[2];
    case op_family::depthwise: return out.elements() * w[0] * w[1];
    case op_family::dense: return out.elements() * w[0];
    default: return 0;
  }
}

namespace detail {
/// Checks an input [n,h,w,c] (n >= 1) against a graph's input; throws shape_error naming the input
/// and both shapes.
inline void check_input(const graph& g, const shape& input) {
  const shape& d = g.input_dims;
  if (input.rank() != 4 || input[1] != d[0] || input[2] != d[1] || input[3] != d[2] || input[0] < 1)
    throw shape_error("layer '" + g.input_name + "': got " + input.str() + ", expected [n," + std::to_string(d[0]) +
                      "," + std::to_string(d[1]) + "," + std::to_string(d[2]) + "]");
}
}  // namespace detail

}  // namespace lmtcnn
