// lmtcnn-inspect: prints what a weight file holds (metadata, the graph with every layer's output
// shape, the tensors, the totals) and runs its self-test.
#include <cinttypes>
#include <cstdio>
#include <exception>
#include <set>
#include <string>

#include "lmtcnn/model.hpp"

namespace {

const char* usage_text =
    "usage: lmtcnn-inspect FILE [--no-self-test]\n"
    "\n"
    "Checks an lmtcnn weight file and prints its metadata, its graph with every layer's output\n"
    "shape and multiply-accumulates, its tensors with sizes and checksums, and the totals; then\n"
    "runs the self-test the file carries (--no-self-test skips it).\n"
    "Exit code 0 when the file is sound and its self-test passes; otherwise 1 with a one-line reason\n"
    "(2 for a usage error).\n";

std::string value_text(const lmtcnn::meta_value& v) {
  using k = lmtcnn::meta_value::kind;
  std::string s;
  switch (v.type) {
    case k::text: return "\"" + v.s + "\"";
    case k::integer: return std::to_string(v.i);
    case k::real: {
      char b[64];
      std::snprintf(b, sizeof b, "%.9g", v.d);
      return b;
    }
    case k::texts:
      for (const std::string& t : v.ss) s += (s.empty() ? "" : ", ") + ("\"" + t + "\"");
      return "[" + s + "]";
    case k::reals:
      for (double d : v.ds) {
        char b[64];
        std::snprintf(b, sizeof b, "%.9g", d);
        s += (s.empty() ? "" : ", ") + std::string(b);
      }
      return "[" + s + "]";
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  bool self_test = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(usage_text, stdout);
      return 0;
    } else if (a == "--no-self-test") {
      self_test = false;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "lmtcnn-inspect: unknown option '%s' (see --help)\n", a.c_str());
      return 2;
    } else if (path.empty()) {
      path = a;
    } else {
      std::fprintf(stderr, "lmtcnn-inspect: one FILE only (see --help)\n");
      return 2;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "lmtcnn-inspect: no FILE given (see --help)\n");
    return 2;
  }
  try {
    const lmtcnn::weights_file f = lmtcnn::weights_file::load(path);
    std::printf("file: %s (%" PRIu64 " bytes, format version %u)\n", path.c_str(), f.file_bytes(),
                lmtcnn::format::version);
    std::printf("\nmetadata:\n");
    for (const auto& [key, v] : f.meta()) std::printf("  %-22s %s\n", key.c_str(), value_text(v).c_str());

    const lmtcnn::graph& g = f.net_graph();
    const auto shapes = lmtcnn::infer_shapes(g, 1, [&](const std::string& t, bool& found) {
      const lmtcnn::tensor_entry* e = f.find(t);
      found = e != nullptr;
      return found ? e->dims : lmtcnn::shape{};
    });
    std::printf("\ngraph: input '%s' %s\n", g.input_name.c_str(), shapes[0].str().c_str());
    std::printf("  %-3s %-52s %-18s %-18s %12s %14s\n", "#", "layer", "op", "output", "parameters", "MACs");
    std::set<std::string> used;
    std::int64_t total_params = 0, total_macs = 0;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      const lmtcnn::graph_node& n = g.nodes[i];
      const lmtcnn::shape& out = shapes[i + 1];
      const lmtcnn::shape& in = shapes[n.inputs[0]];
      std::int64_t params = 0, macs = 0;
      for (const std::string& t : n.tensors)
        if (!t.empty()) {
          params += f.find(t)->dims.elements();
          if (used.insert(t).second) total_params += f.find(t)->dims.elements();
        }
      if (!n.tensors.empty() && !n.tensors[0].empty()) {
        const lmtcnn::shape& w = f.find(n.tensors[0])->dims;
        switch (n.op) {
          case lmtcnn::op_kind::conv2d:
          case lmtcnn::op_kind::pointwise_conv2d: macs = out.elements() * w[0] * w[1] * w[2]; break;
          case lmtcnn::op_kind::depthwise_conv2d: macs = out.elements() * w[0] * w[1]; break;
          case lmtcnn::op_kind::fully_connected: macs = out.elements() * w[0]; break;
          default: break;
        }
      }
      (void)in;
      total_macs += macs;
      std::printf("  %-3zu %-52s %-18s %-18s %12" PRId64 " %14" PRId64 "\n", i + 1, n.name.c_str(),
                  lmtcnn::to_string(n.op), out.str().c_str(), params, macs);
    }
    std::printf("  outputs:");
    for (const auto& [name, id] : g.outputs) std::printf(" %s %s", name.c_str(), shapes[id].str().c_str());
    std::printf("\n\ntensors:\n  %-58s %-18s %12s  %s\n", "name", "shape", "bytes", "checksum");
    std::uint64_t bytes = 0;
    for (const lmtcnn::tensor_entry& e : f.tensors()) {
      std::printf("  %-58s %-18s %12" PRIu64 "  %016" PRIx64 "\n", e.name.c_str(), e.dims.str().c_str(), e.bytes,
                  e.checksum);
      bytes += e.bytes;
    }
    std::printf("\ntotals: %zu layers, %zu tensors (%" PRIu64 " bytes), %" PRId64
                " parameters used by the graph, %" PRId64 " multiply-accumulates per image\n",
                g.nodes.size(), f.tensors().size(), bytes, total_params, total_macs);
    if (!f.self_test()) {
      std::printf("self-test: none in this file\n");
    } else if (!self_test) {
      std::printf("self-test: skipped\n");
    } else {
      const lmtcnn::model<float> m(lmtcnn::weights_file::load(path));
      const lmtcnn::self_test_report r = m.self_test();
      std::printf("self-test: passed, %zu values, max |diff| %.3g (worst output '%s'; expected values from %s)\n",
                  r.values, r.max_abs_diff, r.worst_output.c_str(), f.self_test()->origin.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lmtcnn-inspect: %s\n", e.what());
    return 1;
  }
  return 0;
}
