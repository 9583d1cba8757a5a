// lmtcnn prepared layers: make_layer builds the layer of a graph node for one SIMD architecture A
// from the families in layers_weighted.hpp and layers_per_channel.hpp (their common part:
// layer_base.hpp).
#pragma once

#include <memory>

#include "lmtcnn/engine/layer_base.hpp"
#include "lmtcnn/engine/layers_per_channel.hpp"
#include "lmtcnn/engine/layers_weighted.hpp"

namespace lmtcnn {
namespace detail {

/// The prepared layer of a node whose shapes infer_shapes has checked.
/// bf16: the mode of the layers that multiply in bf16 (convolutions but depthwise, fully connected).
template <class A>
std::unique_ptr<layer<A>> make_layer(const graph_node& node, const shape& in, const shape& out, const weight_views& w,
                                     kernels::bf16_mode bf16 = kernels::bf16_mode::off) {
  switch (family_of(node.op)) {
    case op_family::standardize: return std::make_unique<standardize_layer<A>>(node, in, out, w);
    case op_family::channel_normalize: return std::make_unique<channel_normalize_layer<A>>(node, in, out, w);
    case op_family::conv: return std::make_unique<conv_layer<A>>(node, in, out, w, bf16);
    case op_family::depthwise: return std::make_unique<depthwise_layer<A>>(node, in, out, w);
    case op_family::batch_norm: return std::make_unique<batch_norm_layer<A>>(node, in, out, w);
    case op_family::lrn: return std::make_unique<lrn_layer<A>>(node, in, out, w);
    case op_family::pool: return std::make_unique<pool_layer<A>>(node, in, out, w);
    case op_family::dense: return std::make_unique<dense_layer<A>>(node, in, out, w, bf16);
    case op_family::add: return std::make_unique<add_layer<A>>(node, in, out, w);
    case op_family::relu: return std::make_unique<relu_layer<A>>(node, in, out, w);
    case op_family::softmax: return std::make_unique<softmax_layer<A>>(node, in, out, w);
  }
  return nullptr;
}

}  // namespace detail
}  // namespace lmtcnn
