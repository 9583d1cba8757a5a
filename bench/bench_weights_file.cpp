// Loading a weight file from a warm page cache: LMTCNN-2-1 (30 MB) read and fully checked
// (every checksum), and read into a runnable model.
//   build/bench/bench_weights_file --benchmark_repetitions=10 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <lmtcnn/engine/model.hpp>
#include <lmtcnn/nets/lmtcnn.hpp>

namespace {

/// Writes the LMTCNN-2-1 file once (seeded weights) and returns its path.
const std::string& lmtcnn_file() {
  static const std::string path = [] {
    const std::string p = (std::filesystem::temp_directory_path() / "lmtcnn_bench_lmtcnn_2_1.lmt").string();
    const auto mode = lmtcnn::batch_norm_mode::moving_average;
    lmtcnn::metadata meta;
    meta["network.name"] = lmtcnn::meta_value::text("LMTCNN-2-1");
    lmtcnn::write_weights_file(p, meta, lmtcnn::lmtcnn_graph(lmtcnn::lmtcnn_variant::v2_1, mode),
                               lmtcnn::lmtcnn_seeded_weights<float>(lmtcnn::lmtcnn_variant::v2_1, 1));
    return p;
  }();
  return path;
}

void bm_load_weights_file(benchmark::State& state) {
  const std::string& path = lmtcnn_file();
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    const lmtcnn::weights_file f = lmtcnn::weights_file::load(path);
    bytes = f.file_bytes();
    benchmark::DoNotOptimize(f.tensors().data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
}
BENCHMARK(bm_load_weights_file)->Unit(benchmark::kMillisecond);

void bm_load_model(benchmark::State& state) {
  const std::string& path = lmtcnn_file();
  for (auto _ : state) {
    // reading, checking and preparing the network; the self-test (one forward pass, which
    // bench_lmtcnn times) is left out
    const lmtcnn::model<float> m = lmtcnn::model<float>::load(path, /*run_self_test=*/false);
    benchmark::DoNotOptimize(&m);
  }
}
BENCHMARK(bm_load_model)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
