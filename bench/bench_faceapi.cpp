// One face through face-api.js's AgeGenderNet: crop preparation (clip, pad to square, resize to
// 112x112) plus the network, single thread, from a decoded photo and a face box.
// Needs the converted model (build/models/age_gender.lmt, found beside the program or in $LMTCNN_MODEL_DIR).
//   build/bench/bench_faceapi --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <lmtcnn/age_gender.hpp>
#include <lmtcnn/seeded.hpp>

namespace {

void bm_age_gender_one_face(benchmark::State& state) {
  const lmtcnn::age_gender_estimator est(lmtcnn::find_model("age_gender.lmt"));
  // a 640x480 synthetic photo; the face box is 180x230 pixels, about the size of the sample faces
  lmtcnn::image photo;
  photo.width = 640;
  photo.height = 480;
  const lmtcnn::tensor<float> px = lmtcnn::seeded::pixels<float>({480 * 640 * 3}, 1, "photo");
  for (lmtcnn::index_t i = 0; i < px.size(); ++i) photo.rgb.push_back(static_cast<unsigned char>(px[i]));
  const lmtcnn::face_box box{200.4, 120.7, 180.2, 230.9};
  for (auto _ : state) {
    const lmtcnn::age_gender r = est.predict(photo, box);
    benchmark::DoNotOptimize(r.age_years);
  }
  state.counters["faces/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(bm_age_gender_one_face)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
