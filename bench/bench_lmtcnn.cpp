// Whole-network benchmarks at batch 1, single thread: LMTCNN-1-1 and LMTCNN-2-1 on the SIMD engine
// and on the scalar reference path (their ratio is the engine's speed-up), and the face-api.js
// AgeGenderNet graph on the engine. FLOP/s counts 2 per multiply-accumulate of the convolutions
// and dense layers. Weights are seeded (untrained); speed does not depend on their values.
//   build/bench/bench_lmtcnn --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <lmtcnn/engine/model.hpp>
#include <lmtcnn/nets/faceapi.hpp>
#include <lmtcnn/nets/lmtcnn.hpp>

namespace {

using lmtcnn::batch_norm_mode;
using lmtcnn::lmtcnn_variant;

void bm_lmtcnn(benchmark::State& state, lmtcnn_variant variant, batch_norm_mode mode, bool reference) {
  lmtcnn::lmtcnn_options options;
  options.bn_mode = mode;
  const lmtcnn::lmtcnn_net<float> net(lmtcnn::lmtcnn_seeded_weights<float>(variant, 1), options);
  const lmtcnn::tensor<float> input = lmtcnn::seeded::pixels<float>({1, 227, 227, 3}, 1, "input");
  for (auto _ : state) {
    lmtcnn::lmtcnn_output<float> out = reference ? net.forward_reference(input.view()) : net.forward(input.view());
    benchmark::DoNotOptimize(out.age_probs.data());
  }
  const double flops = 2.0 * static_cast<double>(lmtcnn::lmtcnn_net<float>::multiply_accumulates(variant));
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["images/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_faceapi_age_gender(benchmark::State& state) {
  lmtcnn::tensor_map<float> w;
  for (const lmtcnn::tensor_spec& s : lmtcnn::faceapi_age_gender_tensors())
    w.emplace(s.name, lmtcnn::seeded::uniform<float>(s.dims, 1, s.name, -0.1, 0.1));
  const lmtcnn::model<float> net(lmtcnn::faceapi_age_gender_graph(256), w);
  const lmtcnn::tensor<float> input = lmtcnn::seeded::pixels<float>({1, 112, 112, 3}, 1, "input");
  for (auto _ : state) {
    auto out = net.forward(input.view());
    benchmark::DoNotOptimize(out.at("age").data());
  }
  state.counters["faces/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(bm_lmtcnn, lmtcnn_1_1_batch_statistics, lmtcnn_variant::v1_1, batch_norm_mode::batch_statistics, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_lmtcnn, lmtcnn_2_1_batch_statistics, lmtcnn_variant::v2_1, batch_norm_mode::batch_statistics, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_lmtcnn, lmtcnn_2_1_moving_average, lmtcnn_variant::v2_1, batch_norm_mode::moving_average, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_lmtcnn, lmtcnn_2_1_moving_average_reference, lmtcnn_variant::v2_1,
                  batch_norm_mode::moving_average, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_lmtcnn, lmtcnn_2_1_batch_statistics_reference, lmtcnn_variant::v2_1,
                  batch_norm_mode::batch_statistics, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(bm_faceapi_age_gender)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
