// Uses the installed (or add_subdirectory'd) headers through the public API: a one-layer network (a 2x2
// max pool with stride 2) built as a graph and run by lmtcnn::model, on the SIMD engine of every path
// this CPU runs (with the target's run-time dispatch, several) and on the reference.
#include <lmtcnn/lmtcnn.hpp>

#include <cstdio>
#include <string>

static int run() {
  lmtcnn::graph g;
  g.input_dims = {2, 2, 1};
  g.nodes = {{"pool", lmtcnn::op_kind::pool_max, {0}, {}, lmtcnn::pool_attrs::ints(2, 2, 2, 2, lmtcnn::padding::valid), {}}};
  g.outputs = {{"max", 1}};
  const lmtcnn::tensor<float> in({1, 2, 2, 1}, {1.f, 4.f, 3.f, 2.f});
  // made on the best path this CPU runs among those built (throws when it runs none of them)
  const lmtcnn::model<float> first(g, lmtcnn::tensor_map<float>{});
  bool ok = !lmtcnn::simd_paths().empty() && first.forward(in.view()).at("max")[0] == 4.f;
  for (const std::string& path : lmtcnn::simd_paths()) {
    lmtcnn::set_simd_path(path);
    const lmtcnn::model<float> net(g, lmtcnn::tensor_map<float>{});
    const float simd = net.forward(in.view()).at("max")[0];
    const float reference = net.forward_reference(in.view()).at("max")[0];
    std::printf("%s (%s): max = %g (reference %g)\n", path.c_str(), net.engine()->arch_name(), static_cast<double>(simd),
                static_cast<double>(reference));
    ok = ok && simd == 4.f && reference == 4.f;
  }
  std::string names;
  for (const std::string& path : lmtcnn::simd_paths()) names += (names.empty() ? "" : ", ") + path;
  if (ok) std::printf("ok (paths: %s)\n", names.c_str());
  return ok ? 0 : 1;
}

int main() {
  try {
    return run();
  } catch (const lmtcnn::error& e) {  // e.g. a CPU that runs none of the paths the program was built with
    std::printf("lmtcnn: %s\n", e.what());
    return 2;
  }
}
