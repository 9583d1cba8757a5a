// lmtcnn-inspect: prints what a weight file holds (metadata, the graph with every layer's output
// shape, the tensors, the totals) and runs its self-test; with --bench, times the network instead.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "lmtcnn/core/bytes.hpp"
#include "lmtcnn/engine/model.hpp"
#include "lmtcnn/core/seeded.hpp"
#include "lmtcnn/core/thread_pool.hpp"

namespace {

const char* usage_text =
    "usage: lmtcnn-inspect FILE [--no-self-test]\n"
    "       lmtcnn-inspect FILE --bench [--threads N] [--runs R] [--batch B] [--warmup W] [--layers]\n"
    "                                   [--precision fp32|bf16]\n"
    "\n"
    "Checks an lmtcnn weight file and prints its metadata, its graph with every layer's output\n"
    "shape and multiply-accumulates, its tensors with sizes and checksums, and the totals; then\n"
    "runs the self-test the file carries (--no-self-test skips it).\n"
    "\n"
    "--bench times the whole network instead: W warm-up calls (default 5), then R timed calls\n"
    "(default 50) on a batch of B seeded images (default 1) with N threads (default 1), and prints\n"
    "one JSON line: file, network, simd_path (LMTCNN_ISA=avx2, for example, picks a lower one),\n"
    "arch (its xsimd name), batch, threads, runs, median_ms, min_ms, mean_ms,\n"
    "images_per_s (at the median), gflops (at the median) and arena_bytes (activation memory).\n"
    "--precision bf16 runs the convolutions and fully connected layers on bf16 operands (default\n"
    "fp32; the variable LMTCNN_PRECISION does the same); \"precision\" says which, and \"bf16_dot\"\n"
    "whether the CPU's AVX512_BF16 instructions ran them (false: bf16 values widened to float32).\n"
    "--layers adds \"layers\": per layer its name, op, median ms over R more (profiled) calls,\n"
    "GFLOP/s and share of the summed layer times.\n"
    "Exit code 0 when the file is sound and its self-test passes; otherwise 1 with a one-line reason\n"
    "(2 for a usage error).\n";

/// Multiply-accumulates of one layer per image (convolutions and dense layers; 0 otherwise).
std::int64_t layer_macs(const lmtcnn::graph_node& n, const lmtcnn::shape& out, const lmtcnn::weights_file& f) {
  if (n.tensors.empty() || n.tensors[0].empty()) return 0;
  return lmtcnn::multiply_accumulates(n, out, f.find(n.tensors[0])->dims);
}

std::string json_string(const std::string& s) { return lmtcnn::detail::json_quote(s); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct bench_options {
  unsigned threads = 1;
  int runs = 50, batch = 1, warmup = 5;
  bool layers = false;
};

/// Times the network of the file at path; prints one JSON line.
void bench(const std::string& path, const bench_options& o) {
  using clock = std::chrono::steady_clock;
  const auto file = std::make_shared<const lmtcnn::weights_file>(lmtcnn::weights_file::load(path));
  const lmtcnn::weights_file& f = *file;
  const lmtcnn::model<float> m(file);
  const lmtcnn::graph& g = m.net_graph();
  const lmtcnn::shape& d = g.input_dims;
  const lmtcnn::tensor<float> input = lmtcnn::seeded::pixels<float>({o.batch, d[0], d[1], d[2]}, 1, "input");
  lmtcnn::thread_pool pool(o.threads);
  std::vector<double> ms;
  std::string arch = "reference", simd_path = "none", layers;
  bool bf16_dot = false;
  std::size_t arena = 0;
  std::int64_t macs = 0;
  const auto shapes = lmtcnn::infer_shapes(g, 1, [&](const std::string& t, bool& found) {
    const lmtcnn::tensor_entry* e = f.find(t);
    found = e != nullptr;
    return found ? e->dims : lmtcnn::shape{};
  });
  for (std::size_t i = 0; i < g.nodes.size(); ++i) macs += layer_macs(g.nodes[i], shapes[i + 1], f);
  const double flops = 2.0 * static_cast<double>(macs) * o.batch;
#ifndef LMTCNN_FORCE_REFERENCE
  const lmtcnn::simd_engine* e = m.engine();
  arch = e->arch_name();
  simd_path = lmtcnn::simd_path();
  bf16_dot = e->bf16_dot_products();
  if (m.arithmetic() == lmtcnn::precision::bf16 && !bf16_dot)
    std::fprintf(stderr, "lmtcnn-inspect: no AVX512_BF16 on the %s path of this CPU: bf16 operands are widened to float32\n",
                 simd_path.c_str());
  lmtcnn::simd_engine::workspace ws;
  lmtcnn::thread_pool* p = o.threads > 1 ? &pool : nullptr;
  for (int r = 0; r < o.warmup; ++r) e->forward(input.view(), ws, p);
  for (int r = 0; r < o.runs; ++r) {
    const auto t0 = clock::now();
    const auto out = e->forward(input.view(), ws, p);
    ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
  }
  arena = ws.arena_bytes();
  if (o.layers) {
    ws.profile = true;
    std::vector<std::vector<double>> per(g.nodes.size());
    for (int r = 0; r < o.runs; ++r) {
      e->forward(input.view(), ws, p);
      for (std::size_t i = 0; i < g.nodes.size(); ++i) per[i].push_back(ws.layer_seconds[i] * 1e3);
    }
    std::vector<double> med(g.nodes.size());
    double sum = 0;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) sum += med[i] = median(per[i]);
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      const double lf = 2.0 * static_cast<double>(layer_macs(g.nodes[i], shapes[i + 1], f)) * o.batch;
      char b[512];
      std::snprintf(b, sizeof b, "%s{\"name\":%s,\"op\":\"%s\",\"ms\":%.4f,\"gflops\":%.2f,\"share\":%.4f}",
                    layers.empty() ? "" : ",", json_string(g.nodes[i].name).c_str(), lmtcnn::to_string(g.nodes[i].op),
                    med[i], med[i] > 0 ? lf / (med[i] * 1e6) : 0.0, sum > 0 ? med[i] / sum : 0.0);
      layers += b;
    }
  }
#else
  (void)pool;
  for (int r = 0; r < o.warmup; ++r) m.forward(input.view());
  for (int r = 0; r < o.runs; ++r) {
    const auto t0 = clock::now();
    const auto out = m.forward(input.view());
    ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
  }
#endif
  double mean = 0;
  for (double v : ms) mean += v / static_cast<double>(ms.size());
  const double med = median(ms), lo = *std::min_element(ms.begin(), ms.end());
  std::printf("{\"file\":%s,\"network\":%s,\"simd_path\":\"%s\",\"arch\":\"%s\",\"batch\":%d,\"threads\":%u,\"runs\":%d,"
              "\"median_ms\":%.4f,\"min_ms\":%.4f,\"mean_ms\":%.4f,\"images_per_s\":%.1f,\"gflops\":%.2f,"
              "\"arena_bytes\":%zu,\"precision\":\"%s\",\"bf16_dot\":%s",
              json_string(path).c_str(), json_string(lmtcnn::network_family(m.meta())).c_str(), simd_path.c_str(), arch.c_str(), o.batch,
              o.threads, o.runs, med, lo, mean, o.batch * 1e3 / med, flops / (med * 1e6), arena,
              lmtcnn::precision_name(m.arithmetic()), bf16_dot ? "true" : "false");
  if (o.layers) std::printf(",\"layers\":[%s]", layers.c_str());
  std::printf("}\n");
}

/// A whole number in [lo, hi] from the text of option `name`, or a usage error.
bool parse_count(const char* name, const char* text, long lo, long hi, long& value) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < lo || v > hi) {
    std::fprintf(stderr, "lmtcnn-inspect: %s needs a whole number from %ld to %ld, got '%s'\n", name, lo, hi, text);
    return false;
  }
  value = v;
  return true;
}

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

/// Prints the metadata, the graph with every layer's output shape, parameters and multiply-
/// accumulates, the tensors and the totals.
void print_file(const std::string& path, const lmtcnn::weights_file& f) {
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
    std::int64_t params = 0;
    for (const std::string& t : n.tensors)
      if (!t.empty()) {
        params += f.find(t)->dims.elements();
        if (used.insert(t).second) total_params += f.find(t)->dims.elements();
      }
    const std::int64_t macs = layer_macs(n, out, f);
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
}

struct settings {
  std::string path;
  bool self_test = true, timing = false;
  bench_options bo;
  bool precision_given = false;
};

/// Parses the command line; returns an exit code when the program should stop (help, usage error).
std::optional<int> parse(int argc, char** argv, settings& s) {
  bench_options& bo = s.bo;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(usage_text, stdout);
      return 0;
    } else if (a == "--no-self-test") {
      s.self_test = false;
    } else if (a == "--bench") {
      s.timing = true;
    } else if (a == "--layers") {
      bo.layers = true;
    } else if (a == "--precision") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lmtcnn-inspect: --precision needs fp32 or bf16\n");
        return 2;
      }
      try {
        lmtcnn::set_precision(lmtcnn::parse_precision(argv[++i]));
      } catch (const lmtcnn::error& e) {
        std::fprintf(stderr, "lmtcnn-inspect: --precision: %s\n", e.what());
        return 2;
      }
      s.precision_given = true;
    } else if (a == "--threads" || a == "--runs" || a == "--batch" || a == "--warmup") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lmtcnn-inspect: %s needs a value (see --help)\n", a.c_str());
        return 2;
      }
      long v = 0;
      if (a == "--threads" && parse_count("--threads", argv[i + 1], 1, 256, v)) bo.threads = static_cast<unsigned>(v);
      else if (a == "--runs" && parse_count("--runs", argv[i + 1], 1, 1000000, v)) bo.runs = static_cast<int>(v);
      else if (a == "--batch" && parse_count("--batch", argv[i + 1], 1, 4096, v)) bo.batch = static_cast<int>(v);
      else if (a == "--warmup" && parse_count("--warmup", argv[i + 1], 0, 1000000, v)) bo.warmup = static_cast<int>(v);
      else return 2;
      ++i;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "lmtcnn-inspect: unknown option '%s' (see --help)\n", a.c_str());
      return 2;
    } else if (s.path.empty()) {
      s.path = a;
    } else {
      std::fprintf(stderr, "lmtcnn-inspect: one FILE only (see --help)\n");
      return 2;
    }
  }
  if (s.path.empty()) {
    std::fprintf(stderr, "lmtcnn-inspect: no FILE given (see --help)\n");
    return 2;
  }
  if (!s.timing && (bo.layers || bo.threads != 1 || bo.runs != 50 || bo.batch != 1 || bo.warmup != 5 || s.precision_given)) {
    std::fprintf(stderr, "lmtcnn-inspect: --threads, --runs, --batch, --warmup, --layers and --precision go with --bench\n");
    return 2;
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  if (const std::optional<int> code = parse(argc, argv, s)) return *code;
  try {
    if (s.timing) {
      bench(s.path, s.bo);
      return 0;
    }
    const lmtcnn::weights_file f = lmtcnn::weights_file::load(s.path);
    print_file(s.path, f);
    if (!f.self_test()) {
      std::printf("self-test: none in this file\n");
    } else if (!s.self_test) {
      std::printf("self-test: skipped\n");
    } else {
      const lmtcnn::model<float> m(lmtcnn::weights_file::load(s.path));
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
