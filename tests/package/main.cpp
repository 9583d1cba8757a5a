// Uses the installed (or add_subdirectory'd) headers through the public API: a one-layer network (a 2x2
// max pool with stride 2) built as a graph and run by lmtcnn::model, on the SIMD engine and on the
// reference.
#include <lmtcnn/lmtcnn.hpp>

#include <cstdio>

int main() {
  lmtcnn::graph g;
  g.input_dims = {2, 2, 1};
  g.nodes = {{"pool", lmtcnn::op_kind::pool_max, {0}, {}, lmtcnn::pool_attrs::ints(2, 2, 2, 2, lmtcnn::padding::valid), {}}};
  g.outputs = {{"max", 1}};
  const lmtcnn::model<float> net(g, lmtcnn::tensor_map<float>{});
  const lmtcnn::tensor<float> in({1, 2, 2, 1}, {1.f, 4.f, 3.f, 2.f});
  const float simd = net.forward(in.view()).at("max")[0];
  const float reference = net.forward_reference(in.view()).at("max")[0];
  std::printf("max = %g (reference %g)\n", static_cast<double>(simd), static_cast<double>(reference));
  return simd == 4.f && reference == 4.f ? 0 : 1;
}
