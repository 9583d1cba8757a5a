// lmtcnn network graphs: a network as a list of layers over named weight tensors, the shape check
// that proves a graph and its weights fit together, and graph_net, which runs a graph.
//
// Values are numbered: 0 is the network input, k is the output of node k-1. A node reads earlier
// values only, so the node list is already in execution order. Per-op conventions (the same in
// memory and in the weight file, see weights_tools/FORMAT.md):
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
// pad: 0 VALID, 1 SAME. act: 0 none, 1 ReLU, 2 leaky ReLU. An absent optional tensor is "".
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lmtcnn/reference/ops.hpp"
#include "lmtcnn/core/tensor.hpp"

/// Marks functions that build graphs from small constant lists: GCC 12's SLP vectoriser, with
/// AVX-512 enabled, merges such lists wrongly (a {1, 1, 1, 0} became {1, 1, 1, 1}); these functions
/// are not hot, so it is turned off for them.
#if defined(__GNUC__) && !defined(__clang__)
#define LMTCNN_GRAPH_BUILDER __attribute__((optimize("no-tree-slp-vectorize")))
#else
#define LMTCNN_GRAPH_BUILDER
#endif

namespace lmtcnn {

enum class op_kind : std::uint32_t {
  standardize = 1,
  channel_normalize = 2,
  conv2d = 3,
  depthwise_conv2d = 4,
  pointwise_conv2d = 5,
  batch_norm = 6,
  lrn = 7,
  pool_max = 8,
  pool_avg = 9,
  fully_connected = 10,
  add = 11,
  relu = 12,
  softmax = 13,
};

inline const char* to_string(op_kind k) {
  switch (k) {
    case op_kind::standardize: return "standardize";
    case op_kind::channel_normalize: return "channel_normalize";
    case op_kind::conv2d: return "conv2d";
    case op_kind::depthwise_conv2d: return "depthwise_conv2d";
    case op_kind::pointwise_conv2d: return "pointwise_conv2d";
    case op_kind::batch_norm: return "batch_norm";
    case op_kind::lrn: return "lrn";
    case op_kind::pool_max: return "pool_max";
    case op_kind::pool_avg: return "pool_avg";
    case op_kind::fully_connected: return "fully_connected";
    case op_kind::add: return "add";
    case op_kind::relu: return "relu";
    case op_kind::softmax: return "softmax";
  }
  return "unknown";
}

inline bool is_known(op_kind k) {
  return static_cast<std::uint32_t>(k) >= 1 && static_cast<std::uint32_t>(k) <= 13;
}

/// Activation after a convolution or dense layer.
enum class activation : std::int64_t { none = 0, relu = 1, leaky_relu = 2 };

/// One layer.
struct graph_node {
  std::string name;
  op_kind op = op_kind::relu;
  std::vector<std::uint32_t> inputs;  ///< value ids
  std::vector<std::string> tensors;   ///< weight names, "" for an absent optional one
  std::vector<std::int64_t> ints;
  std::vector<double> floats;
};

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

/// The counts of inputs, tensors, ints and floats each op takes (floats: minimum).
struct op_arity {
  std::size_t inputs, min_tensors, max_tensors, ints, min_floats;
};

inline op_arity arity(const graph_node& n) {
  switch (n.op) {
    case op_kind::standardize: return {1, 0, 0, 0, 0};
    case op_kind::channel_normalize: return {1, 0, 0, 0, 2};
    case op_kind::conv2d:
    case op_kind::depthwise_conv2d:
    case op_kind::pointwise_conv2d: return {1, 1, 2, 4, 0};
    case op_kind::batch_norm: return {1, 4, 4, 1, 1};
    case op_kind::lrn: return {1, 0, 0, 1, 3};
    case op_kind::pool_max:
    case op_kind::pool_avg: return {1, 0, 0, 5, 0};
    case op_kind::fully_connected: return {1, 1, 2, 1, 0};
    case op_kind::add: return {2, 0, 0, 0, 0};
    case op_kind::relu:
    case op_kind::softmax: return {1, 0, 0, 0, 0};
  }
  return {0, 0, 0, 0, 0};
}

}  // namespace detail

/// Checks a graph against the shapes of its weights (lookup(name) returns a shape, or a rank-0
/// empty shape with `found` false) and returns the shape of every value for a batch of n.
/// No value may hold more than max_activation_elements per image.
/// Throws shape_error naming the layer on anything that does not fit.
/// The most values one layer's output may hold for one image (2^28: 1 GiB of float).
inline constexpr index_t max_activation_elements = index_t(1) << 28;

template <class Lookup>
std::vector<shape> infer_shapes(const graph& g, index_t n, Lookup lookup) {
  if (g.input_dims.rank() != 3)
    throw shape_error("graph input '" + g.input_name + "' " + g.input_dims.str() + " should be [h,w,c]");
  std::vector<shape> v;
  v.push_back({n, g.input_dims[0], g.input_dims[1], g.input_dims[2]});
  for (const graph_node& node : g.nodes) {
    detail::graph_check(is_known(node.op), node, "unknown op");
    const detail::op_arity a = detail::arity(node);
    detail::graph_check(node.inputs.size() == a.inputs, node,
                        "takes " + std::to_string(a.inputs) + " inputs, has " + std::to_string(node.inputs.size()));
    for (std::uint32_t id : node.inputs)
      detail::graph_check(id < v.size(), node, "reads value " + std::to_string(id) + ", which is not computed yet");
    detail::graph_check(node.tensors.size() >= a.min_tensors && node.tensors.size() <= a.max_tensors, node,
                        "has " + std::to_string(node.tensors.size()) + " tensors");
    detail::graph_check(node.ints.size() == a.ints, node,
                        "takes " + std::to_string(a.ints) + " integer parameters, has " +
                            std::to_string(node.ints.size()));
    detail::graph_check(node.floats.size() >= a.min_floats, node, "lacks float parameters");

    // Shapes of the weights ("" = absent).
    std::vector<shape> ts;
    std::vector<bool> present;
    for (const std::string& name : node.tensors) {
      present.push_back(!name.empty());
      if (name.empty()) {
        ts.emplace_back();
        continue;
      }
      bool found = false;
      ts.push_back(lookup(name, found));
      detail::graph_check(found, node, "refers to tensor '" + name + "', which is not there");
    }
    const shape& in = v[node.inputs[0]];
    auto need_nhwc = [&] { detail::graph_check(in.rank() == 4, node, "input " + in.str() + " is not NHWC"); };
    auto channel_vector = [&](std::size_t i, index_t c) {
      if (i < ts.size() && present[i])
        detail::graph_check(ts[i] == shape{c}, node,
                            "tensor '" + node.tensors[i] + "' " + ts[i].str() + " should be [" + std::to_string(c) + "]");
    };
    auto check_act = [&](std::int64_t act) {
      detail::graph_check(act >= 0 && act <= 2, node, "unknown activation " + std::to_string(act));
      if (act == 2) detail::graph_check(!node.floats.empty(), node, "leaky ReLU needs its alpha");
    };
    auto check_window = [&](std::int64_t kh, std::int64_t kw, std::int64_t sh, std::int64_t sw, std::int64_t pad) {
      detail::graph_check(kh >= 1 && kw >= 1 && kh <= 1024 && kw <= 1024 && sh >= 1 && sw >= 1 && sh <= 1024 &&
                              sw <= 1024 && (pad == 0 || pad == 1),
                          node, "bad window, stride or padding");
      const padding p = pad ? padding::same : padding::valid;
      const index_t oh = window_axis(in[1], kh, sh, p).out, ow = window_axis(in[2], kw, sw, p).out;
      detail::graph_check(oh > 0 && ow > 0, node, "input " + in.str() + " is smaller than its window");
      return std::pair<index_t, index_t>(oh, ow);
    };

    shape out;
    switch (node.op) {
      case op_kind::standardize:
      case op_kind::relu:
        need_nhwc();
        out = in;
        break;
      case op_kind::channel_normalize:
        need_nhwc();
        detail::graph_check(node.floats.size() == static_cast<std::size_t>(2 * in[3]), node,
                            "needs a mean and a divisor per channel of " + in.str());
        for (index_t c = 0; c < in[3]; ++c)
          detail::graph_check(node.floats[static_cast<std::size_t>(in[3] + c)] != 0.0, node, "divisor is zero");
        out = in;
        break;
      case op_kind::conv2d:
      case op_kind::depthwise_conv2d:
      case op_kind::pointwise_conv2d: {
        need_nhwc();
        const shape& f = ts[0];
        detail::graph_check(f.rank() == 4, node, "filter " + f.str() + " is not [kh,kw,cin,cout]");
        check_act(node.ints[3]);
        const auto [oh, ow] = check_window(f[0], f[1], node.ints[0], node.ints[1], node.ints[2]);
        index_t cout = f[3];
        if (node.op == op_kind::depthwise_conv2d) {
          detail::graph_check(f[2] == in[3] && f[3] == 1, node,
                              "filter " + f.str() + " does not fit input " + in.str() + " (want [kh,kw,c,1])");
          cout = in[3];
        } else {
          detail::graph_check(f[2] == in[3], node, "filter " + f.str() + " does not fit input " + in.str());
          if (node.op == op_kind::pointwise_conv2d)
            detail::graph_check(f[0] == 1 && f[1] == 1, node, "filter " + f.str() + " is not 1x1");
        }
        channel_vector(1, cout);
        out = {in[0], oh, ow, cout};
        break;
      }
      case op_kind::batch_norm:
        need_nhwc();
        detail::graph_check(node.ints[0] == 0 || node.ints[0] == 1, node, "unknown batch norm mode");
        if (node.ints[0] == 0) detail::graph_check(present[0] && present[1], node, "needs moving mean and variance");
        for (std::size_t i = 0; i < 4; ++i) channel_vector(i, in[3]);
        detail::graph_check(node.floats[0] >= 0.0, node, "eps is negative");
        out = in;
        break;
      case op_kind::lrn:
        need_nhwc();
        detail::graph_check(node.ints[0] >= 0 && node.ints[0] <= 4096, node, "bad depth radius");
        out = in;
        break;
      case op_kind::pool_max:
      case op_kind::pool_avg: {
        need_nhwc();
        const auto [oh, ow] = check_window(node.ints[0], node.ints[1], node.ints[2], node.ints[3], node.ints[4]);
        out = {in[0], oh, ow, in[3]};
        break;
      }
      case op_kind::fully_connected: {
        detail::graph_check(in.rank() == 2 || in.rank() == 4, node, "input " + in.str() + " is not [n,k] or NHWC");
        const shape& w = ts[0];
        const index_t k = in.elements() / (in[0] == 0 ? 1 : in[0]);
        detail::graph_check(w.rank() == 2 && w[0] == k, node,
                            "weights " + w.str() + " do not fit input " + in.str() + " (flattened to " +
                                std::to_string(k) + ")");
        check_act(node.ints[0]);
        channel_vector(1, w[1]);
        out = {in[0], w[1]};
        break;
      }
      case op_kind::add: {
        const shape& b = v[node.inputs[1]];
        detail::graph_check(in == b && in.rank() == 4, node, "inputs " + in.str() + " and " + b.str() + " differ");
        out = in;
        break;
      }
      case op_kind::softmax:
        detail::graph_check(in.rank() == 2, node, "input " + in.str() + " is not [n,classes]");
        out = in;
        break;
    }
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

/// Checks an input [n,h,w,c] against a graph's input and copies it into a contiguous tensor (whose
/// slack the kernels may read into). Throws shape_error naming the input and both shapes.
template <class T>
tensor<T> graph_input(const graph& g, tensor_view<const T> input) {
  const shape& d = g.input_dims;
  if (input.rank() != 4 || input.dim(1) != d[0] || input.dim(2) != d[1] || input.dim(3) != d[2] || input.dim(0) < 1)
    throw shape_error("layer '" + g.input_name + "': got " + input.shape().str() + ", expected [n," +
                      std::to_string(d[0]) + "," + std::to_string(d[1]) + "," + std::to_string(d[2]) + "]");
  tensor<T> t(input.shape());
  const tensor_view<T> dst = t.view();
  for (index_t b = 0; b < input.dim(0); ++b)
    for (index_t y = 0; y < input.dim(1); ++y)
      for (index_t x = 0; x < input.dim(2); ++x)
        for (index_t c = 0; c < input.dim(3); ++c) dst(b, y, x, c) = input(b, y, x, c);
  return t;
}

/// Runs a graph on the scalar reference ops. The weights are looked up by name at construction;
/// forward() is const and allocates its activations, so one graph_net may serve several threads.
template <class T>
class graph_net {
 public:
  /// weights: name -> tensor; checked against the graph (throws shape_error naming the layer).
  graph_net(graph g, tensor_map<T> weights) : graph_(std::move(g)) {
    auto owned = std::make_shared<tensor_map<T>>(std::move(weights));
    for (const auto& [name, t] : *owned) views_.emplace(name, t.view());
    owner_ = std::move(owned);
    check();
  }

  /// Weights that live elsewhere (e.g. in a loaded weight file), kept alive by owner.
  graph_net(graph g, std::map<std::string, tensor_view<const T>> weights, std::shared_ptr<const void> owner)
      : graph_(std::move(g)), views_(std::move(weights)), owner_(std::move(owner)) {
    check();
  }

  const graph& net_graph() const { return graph_; }
  /// The weights by name, and what keeps their storage alive.
  const std::map<std::string, tensor_view<const T>>& weights() const { return views_; }
  const std::shared_ptr<const void>& owner() const { return owner_; }

  /// Runs the network on input [n,h,w,c]; returns the named outputs.
  std::map<std::string, tensor<T>> forward(tensor_view<const T> input) const {
    tensor<T> first = graph_input(graph_, input);
    const std::vector<shape> shapes = infer_shapes(graph_, input.dim(0), lookup());
    std::vector<tensor<T>> values(shapes.size());
    values[0] = std::move(first);
    // The last use of every value, so activations are freed as soon as they are dead.
    std::vector<std::size_t> last_use(shapes.size(), 0);
    for (std::size_t i = 0; i < graph_.nodes.size(); ++i)
      for (std::uint32_t id : graph_.nodes[i].inputs) last_use[id] = i;
    for (const auto& o : graph_.outputs) last_use[o.second] = graph_.nodes.size();

    for (std::size_t i = 0; i < graph_.nodes.size(); ++i) {
      const graph_node& node = graph_.nodes[i];
      tensor<T>& out = values[i + 1];
      out = tensor<T>(shapes[i + 1]);
      try {
        run_node(node, values, out);
      } catch (const shape_error& e) {
        throw shape_error("layer '" + node.name + "': " + e.what());
      }
      for (std::uint32_t id : node.inputs)
        if (last_use[id] == i) values[id] = tensor<T>();
    }
    std::map<std::string, tensor<T>> result;
    for (const auto& [name, id] : graph_.outputs) result.emplace(name, values[id]);
    return result;
  }

 private:
  auto lookup() const {
    return [this](const std::string& name, bool& found) {
      const auto it = views_.find(name);
      found = it != views_.end();
      return found ? it->second.shape() : shape{};
    };
  }

  void check() const { infer_shapes(graph_, 1, lookup()); }

  tensor_view<const T> w(const std::string& name) const {
    if (name.empty()) return {};
    return views_.at(name);
  }

  static epilogue<T> make_epilogue(const tensor_view<const T>& bias, std::int64_t act) {
    epilogue<T> ep;
    ep.bias = bias;
    ep.relu = act == static_cast<std::int64_t>(activation::relu);
    return ep;
  }

  /// Leaky ReLU in place: max(x, 0) + alpha * min(x, 0).
  static void leaky(tensor<T>& t, double alpha) {
    for (T& v : t)
      if (v < T(0)) v = static_cast<T>(static_cast<accum_t<T>>(v) * alpha);
  }

  void run_node(const graph_node& node, const std::vector<tensor<T>>& values, tensor<T>& out) const {
    const tensor<T>& in = values[node.inputs[0]];
    switch (node.op) {
      case op_kind::standardize: ref::standardize_per_image<T>(in.view(), out.view()); break;
      case op_kind::channel_normalize: {
        const index_t c = in.dim(3);
        const tensor_view<const T> src = in.view();
        const tensor_view<T> dst = out.view();
        ref::detail::for_each_nhwc(in.shape(), [&](index_t n, index_t y, index_t x, index_t ch) {
          const auto k = static_cast<std::size_t>(ch);
          dst(n, y, x, ch) = static_cast<T>((static_cast<accum_t<T>>(src(n, y, x, ch)) - node.floats[k]) /
                                            node.floats[static_cast<std::size_t>(c) + k]);
        });
        break;
      }
      case op_kind::conv2d:
      case op_kind::depthwise_conv2d:
      case op_kind::pointwise_conv2d: {
        const conv2d_params p{node.ints[0], node.ints[1], node.ints[2] ? padding::same : padding::valid};
        const epilogue<T> ep = make_epilogue(node.tensors.size() > 1 ? w(node.tensors[1]) : tensor_view<const T>(),
                                             node.ints[3]);
        if (node.op == op_kind::conv2d) ref::conv2d<T>(in.view(), w(node.tensors[0]), p, out.view(), ep);
        if (node.op == op_kind::depthwise_conv2d)
          ref::depthwise_conv2d<T>(in.view(), w(node.tensors[0]), p, out.view(), ep);
        if (node.op == op_kind::pointwise_conv2d)
          ref::pointwise_conv2d<T>(in.view(), w(node.tensors[0]), p, out.view(), ep);
        if (node.ints[3] == static_cast<std::int64_t>(activation::leaky_relu)) leaky(out, node.floats[0]);
        break;
      }
      case op_kind::batch_norm: {
        const T eps = static_cast<T>(node.floats[0]);
        if (node.ints[0] == 0)
          ref::batch_norm<T>(in.view(), w(node.tensors[0]), w(node.tensors[1]), w(node.tensors[2]),
                             w(node.tensors[3]), eps, out.view());
        else
          ref::batch_norm_batch_statistics<T>(in.view(), w(node.tensors[2]), w(node.tensors[3]), eps, out.view());
        break;
      }
      case op_kind::lrn:
        ref::lrn<T>(in.view(), {node.ints[0], node.floats[0], node.floats[1], node.floats[2]}, out.view());
        break;
      case op_kind::pool_max:
      case op_kind::pool_avg: {
        const pool2d_params p{node.ints[0], node.ints[1], node.ints[2], node.ints[3],
                              node.ints[4] ? padding::same : padding::valid};
        if (node.op == op_kind::pool_max)
          ref::pool_max<T>(in.view(), p, out.view());
        else
          ref::pool_avg<T>(in.view(), p, out.view());
        break;
      }
      case op_kind::fully_connected: {
        const epilogue<T> ep = make_epilogue(node.tensors.size() > 1 ? w(node.tensors[1]) : tensor_view<const T>(),
                                             node.ints[0]);
        ref::fully_connected<T>(in.view(), w(node.tensors[0]), out.view(), ep);
        if (node.ints[0] == static_cast<std::int64_t>(activation::leaky_relu)) leaky(out, node.floats[0]);
        break;
      }
      case op_kind::add: ref::add<T>(in.view(), values[node.inputs[1]].view(), out.view()); break;
      case op_kind::relu: ref::relu<T>(in.view(), out.view()); break;
      case op_kind::softmax: ref::softmax<T>(in.view(), out.view()); break;
    }
  }

  graph graph_;
  std::map<std::string, tensor_view<const T>> views_;
  std::shared_ptr<const void> owner_;  ///< keeps the weights' storage alive
};

}  // namespace lmtcnn
