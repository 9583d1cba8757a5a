// lmtcnn graph_net: runs a graph on the scalar reference ops, the oracle the SIMD engine is checked
// against and the path of non-float element types.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lmtcnn/core/precision.hpp"
#include "lmtcnn/graph/graph.hpp"
#include "lmtcnn/reference/ops.hpp"

namespace lmtcnn {

/// Runs a graph on the scalar reference ops. The weights are looked up by name at construction;
/// forward() is const and allocates its activations, so one graph_net may serve several threads.
/// A float network in bf16 precision (core/precision.hpp) rounds the weights and inputs of its
/// convolutions (standard and pointwise) and fully connected layers to bf16.
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

  /// Switches the arithmetic (float networks only; others stay as they are).
  void set_precision(precision p) {
    rounded_.clear();
    prec_ = std::is_same_v<T, float> ? p : precision::fp32;
    if (prec_ != precision::bf16) return;
    for (const graph_node& n : graph_.nodes)
      if (rounds_in_bf16(n)) {
        const std::string name = family_of(n.op) == op_family::dense ? dense_attrs::decode(n).weights
                                                                      : conv_attrs::decode(n).filter;
        if (!rounded_.count(name)) rounded_.emplace(name, rounded(views_.at(name)));
      }
  }
  precision arithmetic() const { return prec_; }

  /// Runs the network on input [n,h,w,c]; returns the named outputs.
  std::map<std::string, tensor<T>> forward(tensor_view<const T> input) const {
    tensor<T> first = copy_input(input);
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

  /// The input, checked against the graph's, as a contiguous tensor.
  tensor<T> copy_input(tensor_view<const T> input) const {
    detail::check_input(graph_, input.shape());
    tensor<T> t(input.shape());
    const tensor_view<T> dst = t.view();
    for (index_t b = 0; b < input.dim(0); ++b)
      for (index_t y = 0; y < input.dim(1); ++y)
        for (index_t x = 0; x < input.dim(2); ++x)
          for (index_t c = 0; c < input.dim(3); ++c) dst(b, y, x, c) = input(b, y, x, c);
    return t;
  }

  tensor_view<const T> w(const std::string& name) const {
    if (name.empty()) return {};
    return views_.at(name);
  }

  /// A multiplied weight: rounded to bf16 in that precision.
  tensor_view<const T> wm(const std::string& name) const {
    const auto it = rounded_.find(name);
    return it != rounded_.end() ? it->second.view() : w(name);
  }

  /// Whether node n multiplies in bf16 in that precision: a convolution (not depthwise) or fully
  /// connected layer with bf16_multiplies of its sums' length.
  bool rounds_in_bf16(const graph_node& n) const {
    if (n.op != op_kind::conv2d && n.op != op_kind::pointwise_conv2d && family_of(n.op) != op_family::dense) return false;
    const shape& d = views_.at(n.tensors.at(0)).shape();
    const index_t reduction = family_of(n.op) == op_family::dense ? d[0] : d[0] * d[1] * d[2];
    return bf16_multiplies(static_cast<std::size_t>(reduction));
  }

  static tensor<T> rounded(tensor_view<const T> v) {
    tensor<T> t(v.shape());
    for (index_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(round_to_bf16(static_cast<float>(v.data()[i])));
    return t;
  }

  static epilogue<T> make_epilogue(const tensor_view<const T>& bias, activation act) {
    epilogue<T> ep;
    ep.bias = bias;
    ep.relu = act == activation::relu || act == activation::relu6;
    ep.cap = act == activation::relu6 ? 6.0 : 0.0;
    return ep;
  }

  /// Leaky ReLU in place: max(x, 0) + alpha * min(x, 0).
  static void leaky(tensor<T>& t, double alpha) {
    for (T& v : t)
      if (v < T(0)) v = static_cast<T>(static_cast<accum_t<T>>(v) * alpha);
  }

  void run_node(const graph_node& node, const std::vector<tensor<T>>& values, tensor<T>& out) const {
    tensor<T> in_rounded;  // the multiplied input, in bf16 precision
    if (prec_ == precision::bf16 && rounds_in_bf16(node)) in_rounded = rounded(values[node.inputs[0]].view());
    const tensor_view<const T> in = in_rounded.size() ? in_rounded.view() : values[node.inputs[0]].view();
    switch (family_of(node.op)) {
      case op_family::standardize: detail::ref::standardize_per_image<T>(in, out.view()); break;
      case op_family::channel_normalize: {
        const channel_normalize_attrs a = channel_normalize_attrs::decode(node);
        const tensor_view<T> dst = out.view();
        detail::ref::impl::for_each_nhwc(in.shape(), [&](index_t n, index_t y, index_t x, index_t ch) {
          const auto k = static_cast<std::size_t>(ch);
          dst(n, y, x, ch) = static_cast<T>((static_cast<accum_t<T>>(in(n, y, x, ch)) - a.mean[k]) / a.divisor[k]);
        });
        break;
      }
      case op_family::conv:
      case op_family::depthwise: {
        const conv_attrs a = conv_attrs::decode(node);
        const epilogue<T> ep = make_epilogue(w(a.bias), a.activation());
        if (node.op == op_kind::conv2d) detail::ref::conv2d<T>(in, wm(a.filter), a.params(), out.view(), ep);
        if (node.op == op_kind::depthwise_conv2d) detail::ref::depthwise_conv2d<T>(in, w(a.filter), a.params(), out.view(), ep);
        if (node.op == op_kind::pointwise_conv2d) detail::ref::pointwise_conv2d<T>(in, wm(a.filter), a.params(), out.view(), ep);
        if (a.activation() == activation::leaky_relu) leaky(out, a.alpha);
        break;
      }
      case op_family::batch_norm: {
        const batch_norm_attrs a = batch_norm_attrs::decode(node);
        const T eps = static_cast<T>(a.eps);
        if (!a.batch_statistics())
          detail::ref::batch_norm<T>(in, w(a.mean), w(a.variance), w(a.gamma), w(a.beta), eps, out.view());
        else
          detail::ref::batch_norm_batch_statistics<T>(in, w(a.gamma), w(a.beta), eps, out.view());
        break;
      }
      case op_family::lrn: {
        const lrn_attrs a = lrn_attrs::decode(node);
        detail::ref::lrn<T>(in, {a.depth_radius, a.bias, a.alpha, a.beta}, out.view());
        break;
      }
      case op_family::pool: {
        const pool_attrs a = pool_attrs::decode(node);
        if (a.max)
          detail::ref::pool_max<T>(in, a.params(), out.view());
        else
          detail::ref::pool_avg<T>(in, a.params(), out.view());
        break;
      }
      case op_family::dense: {
        const dense_attrs a = dense_attrs::decode(node);
        detail::ref::fully_connected<T>(in, wm(a.weights), out.view(), make_epilogue(w(a.bias), a.activation()));
        if (a.activation() == activation::leaky_relu) leaky(out, a.alpha);
        break;
      }
      case op_family::add: detail::ref::add<T>(in, values[node.inputs[1]].view(), out.view()); break;
      case op_family::relu: detail::ref::relu<T>(in, out.view(), node.op == op_kind::relu6 ? 6.0 : 0.0); break;
      case op_family::softmax: detail::ref::softmax<T>(in, out.view()); break;
    }
  }

  graph graph_;
  std::map<std::string, tensor_view<const T>> views_;
  std::shared_ptr<const void> owner_;  ///< keeps the weights' storage alive
  precision prec_ = precision::fp32;
  std::map<std::string, tensor<T>> rounded_;  ///< bf16: the multiplied weights, rounded
};

}  // namespace lmtcnn
