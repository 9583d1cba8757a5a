// Whole-network benchmarks of LMTCNN at batch 1 (scalar reference path for now), with FLOP/s
// counted from the convolutions and dense layers (2 FLOPs per multiply-accumulate).
//   build/bench/bench_lmtcnn --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <lmtcnn/nets/lmtcnn.hpp>

namespace {

void bm_lmtcnn_reference(benchmark::State& state, lmtcnn::lmtcnn_variant variant, lmtcnn::batch_norm_mode mode) {
  lmtcnn::lmtcnn_options options;
  options.bn_mode = mode;
  const lmtcnn::lmtcnn_net<float> net(lmtcnn::lmtcnn_seeded_weights<float>(variant, 1), options);
  const lmtcnn::tensor<float> input = lmtcnn::seeded::pixels<float>({1, 227, 227, 3}, 1, "input");
  for (auto _ : state) {
    lmtcnn::lmtcnn_output<float> out = net.forward(input.view());
    benchmark::DoNotOptimize(out.age_probs.data());
  }
  const double flops = 2.0 * static_cast<double>(lmtcnn::lmtcnn_net<float>::multiply_accumulates(variant));
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["images/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
}

using lmtcnn::batch_norm_mode;
using lmtcnn::lmtcnn_variant;
BENCHMARK_CAPTURE(bm_lmtcnn_reference, lmtcnn_1_1_batch_statistics, lmtcnn_variant::v1_1,
                  batch_norm_mode::batch_statistics)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_lmtcnn_reference, lmtcnn_2_1_batch_statistics, lmtcnn_variant::v2_1,
                  batch_norm_mode::batch_statistics)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_lmtcnn_reference, lmtcnn_2_1_moving_average, lmtcnn_variant::v2_1,
                  batch_norm_mode::moving_average)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
