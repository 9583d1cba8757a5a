// A small network using most ops (normalise, conv, depthwise, batch norm, max pool, dense, softmax)
// with seeded weights: shared by the weight-file tests and the fuzzers' seed generator.
#pragma once

#include "lmtcnn/graph/graph.hpp"
#include "lmtcnn/core/seeded.hpp"

namespace lmtcnn_test {

inline lmtcnn::graph small_graph() {
  using lmtcnn::op_kind;
  lmtcnn::graph g;
  g.input_dims = {5, 7, 3};
  g.nodes = {
      {"norm", op_kind::channel_normalize, {0}, {}, {}, {100, 110, 120, 255, 255, 255}},
      {"conv", op_kind::conv2d, {1}, {"conv/w", "conv/b"}, {1, 1, 1, 1}, {}},
      {"dw", op_kind::depthwise_conv2d, {2}, {"dw/w", ""}, {2, 2, 1, 2}, {0.1}},
      {"bn", op_kind::batch_norm, {3}, {"bn/mean", "bn/var", "", "bn/beta"}, {0}, {1e-3}},
      {"pool", op_kind::pool_max, {4}, {}, {2, 2, 2, 2, 1}, {}},
      {"fc", op_kind::fully_connected, {5}, {"fc/w", "fc/b"}, {0}, {}},
      {"softmax", op_kind::softmax, {6}, {}, {}, {}},
  };
  g.outputs = {{"logits", 6}, {"probs", 7}};
  return g;
}

inline lmtcnn::tensor_map<float> small_weights() {
  using lmtcnn::seeded::uniform;
  lmtcnn::tensor_map<float> w;
  w.emplace("conv/w", uniform<float>({3, 3, 3, 4}, 5, "conv/w", -0.5, 0.5));
  w.emplace("conv/b", uniform<float>({4}, 5, "conv/b", -0.5, 0.5));
  w.emplace("dw/w", uniform<float>({3, 3, 4, 1}, 5, "dw/w", -0.5, 0.5));
  w.emplace("bn/mean", uniform<float>({4}, 5, "bn/mean", 0, 0.5));
  w.emplace("bn/var", uniform<float>({4}, 5, "bn/var", 0.5, 1));
  w.emplace("bn/beta", uniform<float>({4}, 5, "bn/beta", -0.5, 0.5));
  w.emplace("fc/w", uniform<float>({2 * 2 * 4, 3}, 5, "fc/w", -0.5, 0.5));
  w.emplace("fc/b", uniform<float>({3}, 5, "fc/b", -0.5, 0.5));
  return w;
}

}  // namespace lmtcnn_test
