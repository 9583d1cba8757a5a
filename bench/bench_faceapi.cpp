// face-api.js's networks, single thread:
//  - one face through the AgeGenderNet: crop preparation (clip, pad to square, resize to 112x112) plus
//    the network, from a decoded photo and a face box;
//  - the whole photo pipeline on the package's 1920x1280 demo photo sample1.jpg (3 faces): JPEG decode,
//    detector input preparation, tiny face detector at 416, box decoding, then crop + age/gender for
//    every face; and each stage alone.
//  - per photo (the three demo photos, or the files listed in $LMTCNN_BENCH_PHOTOS separated by ':'),
//    from decoded pixels, as bench/compare/time_faceapi.sh times face-api.js: photo/NAME/detect (SSD),
//    photo/NAME/landmarks (detect + 68 landmarks), photo/NAME/pipeline (+ aligned crops and age/gender).
// Needs the converted models and the demo photo (build/models/, found beside the program or in
// $LMTCNN_MODEL_DIR; the photo in its faceapi/ directory).
//   build/bench/bench_faceapi --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <lmtcnn/face/age_gender.hpp>
#include <lmtcnn/face/face_detector.hpp>
#include <lmtcnn/face/face_analyzer.hpp>
#include <lmtcnn/core/seeded.hpp>

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

std::vector<unsigned char> demo_photo_bytes() {
  const std::string model = lmtcnn::find_model("age_gender.lmt");
  const std::string path = model.substr(0, model.rfind('/')) + "/faceapi/sample1.jpg";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw lmtcnn::error(path + ": cannot open (the build fetches it with the models)");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

lmtcnn::face_analyzer_options demo_options() {
  lmtcnn::face_analyzer_options o;
  o.model = lmtcnn::find_model("age_gender.lmt");
  o.detector = lmtcnn::find_model("tiny_face_detector.lmt");
  return o;
}

// decode + detect + crop + age/gender per face, from the JPEG bytes in memory
void bm_pipeline_1920x1280(benchmark::State& state) {
  const std::vector<unsigned char> jpeg = demo_photo_bytes();
  const lmtcnn::face_analyzer fa(demo_options());
  std::size_t faces = 0;
  for (auto _ : state) {
    const lmtcnn::image img = lmtcnn::decode_image(jpeg.data(), jpeg.size(), "sample1.jpg");
    const std::vector<lmtcnn::face_result> r = fa.analyze(img);
    faces = r.size();
    benchmark::DoNotOptimize(r.data());
  }
  state.counters["faces"] = static_cast<double>(faces);
  state.counters["photos/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(bm_pipeline_1920x1280)->Unit(benchmark::kMillisecond);

void bm_stage_decode_jpeg_1920x1280(benchmark::State& state) {
  const std::vector<unsigned char> jpeg = demo_photo_bytes();
  for (auto _ : state) {
    const lmtcnn::image img = lmtcnn::decode_image(jpeg.data(), jpeg.size(), "sample1.jpg");
    benchmark::DoNotOptimize(img.rgb.data());
  }
  state.counters["bytes/s"] = benchmark::Counter(static_cast<double>(jpeg.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(bm_stage_decode_jpeg_1920x1280)->Unit(benchmark::kMillisecond);

void bm_stage_detector_input_1920x1280(benchmark::State& state) {
  const std::vector<unsigned char> jpeg = demo_photo_bytes();
  const lmtcnn::image img = lmtcnn::decode_image(jpeg.data(), jpeg.size(), "sample1.jpg");
  lmtcnn::tensor<float> input({416, 416, 3});
  for (auto _ : state) {
    lmtcnn::detail::prepare_detector_input(img, input.view(), 416);
    benchmark::DoNotOptimize(input.data());
  }
}
BENCHMARK(bm_stage_detector_input_1920x1280)->Unit(benchmark::kMillisecond);

// the detector's network alone, on a prepared 416x416 input
void bm_stage_detector_network_416(benchmark::State& state) {
  const lmtcnn::face_detector det(lmtcnn::find_model("tiny_face_detector.lmt"));
  const lmtcnn::tensor<float> input = lmtcnn::seeded::pixels<float>({1, 416, 416, 3}, 1, "detector");
  for (auto _ : state) {
    const lmtcnn::tensor<float> grid = det.raw_output(input.view());
    benchmark::DoNotOptimize(grid.data());
  }
}
BENCHMARK(bm_stage_detector_network_416)->Unit(benchmark::kMillisecond);

// detection (input preparation, network, decoding) on the decoded photo
void bm_stage_detect_1920x1280(benchmark::State& state) {
  const std::vector<unsigned char> jpeg = demo_photo_bytes();
  const lmtcnn::image img = lmtcnn::decode_image(jpeg.data(), jpeg.size(), "sample1.jpg");
  const lmtcnn::face_detector det(lmtcnn::find_model("tiny_face_detector.lmt"));
  for (auto _ : state) {
    const std::vector<lmtcnn::face_detection> faces = det.detect(img);
    benchmark::DoNotOptimize(faces.data());
  }
}
BENCHMARK(bm_stage_detect_1920x1280)->Unit(benchmark::kMillisecond);

// crops + AgeGenderNet for the photo's three detected faces, in one batch
void bm_stage_age_gender_3_faces(benchmark::State& state) {
  const std::vector<unsigned char> jpeg = demo_photo_bytes();
  const lmtcnn::image img = lmtcnn::decode_image(jpeg.data(), jpeg.size(), "sample1.jpg");
  const lmtcnn::face_detector det(lmtcnn::find_model("tiny_face_detector.lmt"));
  std::vector<lmtcnn::face_box> boxes;
  for (const lmtcnn::face_detection& f : det.detect(img)) boxes.push_back(f.box);
  const lmtcnn::age_gender_estimator est(lmtcnn::find_model("age_gender.lmt"));
  for (auto _ : state) {
    const std::vector<lmtcnn::age_gender> r = est.predict(img, boxes);
    benchmark::DoNotOptimize(r.data());
  }
  state.counters["faces"] = static_cast<double>(boxes.size());
}
BENCHMARK(bm_stage_age_gender_3_faces)->Unit(benchmark::kMillisecond);

// face-api.js's default pipeline on one decoded photo, up to stage: 0 detection, 1 + landmarks, 2 all
void photo_stage(benchmark::State& state, const std::string& path, int stage) {
  const lmtcnn::image img = lmtcnn::load_image(path);
  const lmtcnn::ssd_detector det(lmtcnn::find_model("ssd_mobilenetv1.lmt"));
  const lmtcnn::landmark_detector lm(lmtcnn::find_model("face_landmark_68.lmt"));
  const lmtcnn::age_gender_estimator est(lmtcnn::find_model("age_gender.lmt"), 255.0);
  std::size_t faces = 0;
  for (auto _ : state) {
    std::vector<lmtcnn::face_box> boxes;
    for (const lmtcnn::face_detection& f : det.detect(img)) boxes.push_back(f.box);
    faces = boxes.size();
    if (stage >= 1 && !boxes.empty()) {
      const std::vector<std::vector<lmtcnn::face_point>> pts = lm.detect(img, boxes);
      benchmark::DoNotOptimize(pts.data());
      if (stage >= 2) {
        std::vector<lmtcnn::face_box> aligned;
        for (const auto& p : pts) aligned.push_back(lmtcnn::aligned_box(p));
        const std::vector<lmtcnn::age_gender> r = est.predict(img, aligned);
        benchmark::DoNotOptimize(r.data());
      }
    }
  }
  state.counters["faces"] = static_cast<double>(faces);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> photos;
  if (const char* list = std::getenv("LMTCNN_BENCH_PHOTOS")) {
    std::string s = list;
    for (std::size_t start = 0; start <= s.size();) {
      const std::size_t end = std::min(s.find(':', start), s.size());
      if (end > start) photos.push_back(s.substr(start, end - start));
      start = end + 1;
    }
  } else {
    const std::string model = lmtcnn::find_model("age_gender.lmt");
    for (int i = 1; i <= 3; ++i) photos.push_back(model.substr(0, model.rfind('/')) + "/faceapi/sample" + std::to_string(i) + ".jpg");
  }
  for (const std::string& p : photos) {
    const std::string name = p.substr(p.rfind('/') + 1);
    const char* stages[] = {"detect", "landmarks", "pipeline"};
    for (int stage = 0; stage < 3; ++stage)
      benchmark::RegisterBenchmark(("photo/" + name + "/" + stages[stage]).c_str(), photo_stage, p, stage)
          ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
