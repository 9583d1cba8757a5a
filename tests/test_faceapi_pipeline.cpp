// face-api.js's whole default pipeline (detector, 68 landmarks, aligned box, AgeGenderNet) against
// what face-api.js itself computed on the same pixels: tests/data/realdata/pipeline_reference.json
// (TensorFlow.js 4.22, wasm backend, @vladmandic/face-api 1.7.15, age/gender divisor 255; copied
// from the project's shared reference data with its provenance) for three pipelines: SSD + 68
// landmarks, tiny detector at 416 + 68 landmarks, SSD + the tiny landmark net. The photos are the
// exact RGB pixels face-api.js was given (realdata/decoded/, lossless PNG) and the astronaut PNG.
// Runs on every SIMD path this CPU has (the scalar reference in a LMTCNN_FORCE_REFERENCE build; NEON
// under qemu in the AArch64 job). Needs LMTCNN_MODEL_DIR holding the five converted face-api.js models.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "realdata_util.hpp"
#include "lmtcnn/engine/dispatch.hpp"
#include "lmtcnn/face/face_analyzer.hpp"
#include "lmtcnn/format/writer.hpp"

using namespace lmtcnn;

namespace {

const std::string data_dir = LMTCNN_TEST_DATA_DIR;

using lmtcnn_test::model_dir;

struct ref_face {
  face_box box, aligned;
  double score = 0, age = 0, p_gender = 0;
  bool male = false;
  std::vector<face_point> landmarks;
};

struct ref_image {
  std::string name, png;
  int width = 0, height = 0;
  std::map<std::string, std::vector<ref_face>> pipelines;  // "ssd", "tiny", "ssd_tiny_landmarks"
};

face_box box_of(const lmtcnn_tools::json& j) {
  return {j.items.at(0).num, j.items.at(1).num, j.items.at(2).num, j.items.at(3).num};
}

std::vector<ref_image> reference() {
  const lmtcnn_tools::json doc = lmtcnn_test::realdata_json(data_dir, "pipeline_reference.json");
  std::vector<ref_image> images;
  for (const lmtcnn_tools::json& im : doc.get("images")->items) {
    ref_image r;
    r.name = im.get("image")->str;
    const bool demo = r.name.rfind("faceapi_", 0) == 0;  // decoded by jpeg-js: its pixels are in decoded/
    r.png = demo ? data_dir + "/realdata/decoded/" + r.name.substr(0, r.name.size() - 4) + "_decoded.png"
                 : data_dir + "/realdata/images/" + r.name;
    r.width = static_cast<int>(im.get("width")->num);
    r.height = static_cast<int>(im.get("height")->num);
    for (const char* p : {"ssd", "tiny", "ssd_tiny_landmarks"}) {
      std::vector<ref_face>& faces = r.pipelines[p];
      for (const lmtcnn_tools::json& f : im.get(p)->items) {
        ref_face x;
        x.box = box_of(*f.get("box"));
        x.aligned = box_of(*f.get("aligned_box"));
        x.score = f.get("score")->num;
        x.age = f.get("age")->num;
        x.male = f.get("gender")->str == "male";
        x.p_gender = f.get("gender_probability")->num;
        for (const lmtcnn_tools::json& pt : f.get("landmarks")->items) x.landmarks.push_back({pt.items.at(0).num, pt.items.at(1).num});
        REQUIRE(x.landmarks.size() == 68);
        faces.push_back(x);
      }
    }
    images.push_back(r);
  }
  REQUIRE(images.size() == 4);
  return images;
}

/// The worst of each measure over a run, and the age errors of every face (for the median).
struct record {
  double iou = 1, score = 0, landmark = 0, aligned_iou = 1, p = 0, age = 0;
  std::vector<double> ages;
};

/// The face the pipeline found that overlaps the reference face most.
const face_result* match(const std::vector<face_result>& got, const ref_face& want, double& best) {
  best = 0;
  const face_result* m = nullptr;
  for (const face_result& g : got)
    if (lmtcnn::detail::iou(g.box, want.box) > best) {
      best = lmtcnn::detail::iou(g.box, want.box);
      m = &g;
    }
  return m;
}

// The limits: box IoU >= 0.99, score within 0.01, every landmark within 1 pixel, aligned box
// IoU >= 0.98, same gender with probability within 0.01, age within 0.5 years (0.05 for the median face).
void check(const ref_image& img, const std::string& pipeline, const std::vector<face_result>& got, const std::string& what,
           record& rec) {
  INFO(img.name << ", pipeline " << pipeline << ", " << what);
  const std::vector<ref_face>& want = img.pipelines.at(pipeline);
  REQUIRE(got.size() == want.size());
  for (const ref_face& w : want) {
    double iou = 0;
    const face_result* g = match(got, w, iou);
    REQUIRE(g != nullptr);
    CHECK(iou >= 0.99);
    CHECK(std::abs(*g->score - w.score) <= 0.01);
    REQUIRE(g->landmarks.size() == 68);
    double worst_pt = 0;
    for (std::size_t k = 0; k < 68; ++k)
      worst_pt = std::max(worst_pt, std::hypot(g->landmarks[k].x - w.landmarks[k].x, g->landmarks[k].y - w.landmarks[k].y));
    CHECK(worst_pt <= 1.0);
    REQUIRE(g->aligned_box);
    const double aligned_iou = lmtcnn::detail::iou(*g->aligned_box, w.aligned);
    CHECK(aligned_iou >= 0.98);
    CHECK(g->male() == w.male);
    const double p = g->male() ? g->p_male : g->p_female;
    CHECK(std::abs(p - w.p_gender) <= 0.01);
    REQUIRE(g->age_years);
    const double age = std::abs(*g->age_years - w.age);
    CHECK(age <= 0.5);
    rec.iou = std::min(rec.iou, iou);
    rec.score = std::max(rec.score, std::abs(*g->score - w.score));
    rec.landmark = std::max(rec.landmark, worst_pt);
    rec.aligned_iou = std::min(rec.aligned_iou, aligned_iou);
    rec.p = std::max(rec.p, std::abs(p - w.p_gender));
    rec.age = std::max(rec.age, age);
    rec.ages.push_back(age);
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

TEST_CASE("face-api.js's pipelines (SSD or tiny detector, 68 or tiny landmarks, aligned crops) on every SIMD path") {
  const std::vector<ref_image> images = reference();
  std::vector<std::string> paths = simd_paths();
  if (paths.empty()) paths.push_back("");  // a LMTCNN_FORCE_REFERENCE build: the scalar reference
  const std::string dir = model_dir();
  struct pipeline {
    const char* name;
    const char* detector;
    const char* landmarks;
  };
  const pipeline pipelines[] = {{"ssd", "ssd_mobilenetv1.lmt", "face_landmark_68.lmt"},
                                {"tiny", "tiny_face_detector.lmt", "face_landmark_68.lmt"},
                                {"ssd_tiny_landmarks", "ssd_mobilenetv1.lmt", "face_landmark_68_tiny.lmt"}};
  for (const std::string& path : paths) {
    set_simd_path(path);
    const std::string what = path.empty() ? std::string("scalar reference") : path;
    record all;
    for (const pipeline& p : pipelines) {
      face_analyzer_options o;
      o.model = dir + "/age_gender.lmt";
      o.detector = dir + "/" + p.detector;
      o.landmarks = dir + "/" + p.landmarks;
      o.divisor = 255;
      const face_analyzer fa(o);
      record rec;
      for (const ref_image& img : images) {
        const image pixels = load_image(img.png);
        REQUIRE(pixels.width == img.width);
        REQUIRE(pixels.height == img.height);
        check(img, p.name, fa.analyze(pixels), what, rec);
      }
      MESSAGE(what << ", " << std::string(p.name) << ": " << rec.ages.size() << " faces; worst box IoU " << rec.iou << ", |score diff| "
                   << rec.score << ", landmark distance " << rec.landmark << " px, aligned box IoU " << rec.aligned_iou
                   << ", |p diff| " << rec.p << ", |age diff| " << rec.age << " years (median " << median(rec.ages) << ")");
      CHECK(median(rec.ages) <= 0.05);
      all.ages.insert(all.ages.end(), rec.ages.begin(), rec.ages.end());
    }
    CHECK(all.ages.size() == 28);  // 10 + 8 + 10 faces: every reference face was checked
  }
  set_simd_path("");
}

TEST_CASE("bf16 on every SIMD path: both detectors find the reference faces (box IoU >= 0.95)") {
  const std::vector<ref_image> images = reference();
  const std::string dir = model_dir();
  set_precision(precision::bf16);
  for (const std::string& path : simd_paths()) {
    set_simd_path(path);
    for (const char* p : {"ssd", "tiny"}) {
      face_analyzer_options o;
      o.model = dir + "/age_gender.lmt";
      o.detector = dir + "/" + (std::string(p) == "ssd" ? "ssd_mobilenetv1.lmt" : "tiny_face_detector.lmt");
      o.landmarks = dir + "/face_landmark_68.lmt";
      o.divisor = 255;
      const face_analyzer fa(o);
      double worst_iou = 1, worst_pt = 0, worst_age = 0, worst_p = 0;
      std::size_t faces = 0;
      for (const ref_image& img : images) {
        const std::vector<face_result> got = fa.analyze(load_image(img.png));
        const std::vector<ref_face>& want = img.pipelines.at(p);
        INFO(img.name << " " << p << " " << path << " bf16");
        REQUIRE(got.size() == want.size());
        for (const ref_face& w : want) {
          double iou = 0;
          const face_result* g = match(got, w, iou);
          REQUIRE(g != nullptr);
          CHECK(iou >= 0.95);
          worst_iou = std::min(worst_iou, iou);
          for (std::size_t k = 0; k < g->landmarks.size(); ++k)
            worst_pt = std::max(worst_pt, std::hypot(g->landmarks[k].x - w.landmarks[k].x, g->landmarks[k].y - w.landmarks[k].y));
          worst_age = std::max(worst_age, std::abs(*g->age_years - w.age));
          worst_p = std::max(worst_p, std::abs((g->male() ? g->p_male : g->p_female) - w.p_gender));
          ++faces;
        }
      }
      MESSAGE("bf16 " << path << " " << std::string(p) << ": " << faces << " faces, worst box IoU " << worst_iou << "; landmarks within "
                      << worst_pt << " px, ages within " << worst_age << " years, gender p within " << worst_p
                      << " (whole pipeline, against TF.js float32)");
    }
  }
  set_simd_path("");
  set_precision(precision::fp32);
}

TEST_CASE("face-api.js's pipelines on the scalar reference ops") {
  const std::vector<ref_image> images = reference();
  const std::string dir = model_dir();
  const ssd_detector ssd(dir + "/ssd_mobilenetv1.lmt");
  const face_detector tiny(dir + "/tiny_face_detector.lmt");
  const landmark_detector full(dir + "/face_landmark_68.lmt"), small(dir + "/face_landmark_68_tiny.lmt");
  const age_gender_estimator est(dir + "/age_gender.lmt", 255.0);
  std::map<std::string, record> recs;
  for (const ref_image& img : images) {
    const image px = load_image(img.png);
    const std::vector<face_detection> by_ssd = ssd.detect(px, true), by_tiny = tiny.detect(px, true);
    const struct {
      const char* name;
      const std::vector<face_detection>& faces;
      const landmark_detector& lm;
    } runs[] = {{"ssd", by_ssd, full}, {"tiny", by_tiny, full}, {"ssd_tiny_landmarks", by_ssd, small}};
    for (const auto& run : runs) {
      std::vector<face_box> boxes;
      for (const face_detection& d : run.faces) boxes.push_back(d.box);
      const std::vector<std::vector<face_point>> pts = run.lm.detect(px, boxes, true);
      const index_t n = static_cast<index_t>(boxes.size()), s = 112;
      tensor<float> batch({std::max<index_t>(n, 1), s, s, 3});
      std::vector<face_result> got(boxes.size());
      for (index_t i = 0; i < n; ++i) {
        const std::size_t k = static_cast<std::size_t>(i);
        got[k].box = boxes[k];
        got[k].score = run.faces[k].score;
        got[k].landmarks = pts[k];
        got[k].aligned_box = aligned_box(pts[k]);
        lmtcnn::detail::prepare_face_crop(px, *got[k].aligned_box, tensor_view<float>(batch.data() + i * s * s * 3, {s, s, 3}));
      }
      if (n > 0) {
        const std::vector<age_gender> ag = est.run(batch.view(), true);
        for (std::size_t k = 0; k < got.size(); ++k) {
          got[k].age_years = ag[k].age_years;
          got[k].p_male = ag[k].p_male;
          got[k].p_female = ag[k].p_female;
        }
      }
      check(img, run.name, got, "scalar reference", recs[run.name]);
    }
  }
  for (const auto& [name, rec] : recs) {
    MESSAGE("scalar reference, " << name << ": " << rec.ages.size() << " faces; worst box IoU " << rec.iou << ", |score diff| "
                                 << rec.score << ", landmark distance " << rec.landmark << " px, aligned box IoU "
                                 << rec.aligned_iou << ", |p diff| " << rec.p << ", |age diff| " << rec.age
                                 << " years (median " << median(rec.ages) << ")");
    CHECK(median(rec.ages) <= 0.05);
  }
}

TEST_CASE("SSD box decoding and suppression by hand") {
  // one predictor map of 1 cell x 3 anchors would need 5,118 priors: decode two anchors by hand instead
  const float priors[8] = {0.2f, 0.4f, 0.6f, 0.6f,   // ymin, xmin, ymax, xmax: centre (0.4, 0.5), size (0.4, 0.2)
                           0.0f, 0.0f, 1.0f, 1.0f};
  const float enc[8] = {1.0f, -2.0f, 0.0f, 5.0f,  // ty, tx, th, tw
                        0.0f, 0.0f, 0.0f, 0.0f};
  const float cls[6] = {0.0f, 2.0f, 9.0f, 0.0f, -1.0f, 0.0f};
  std::vector<double> boxes, scores;
  const std::vector<index_t> cells = {1};
  lmtcnn::detail::ssd_decode({enc}, {cls}, cells, priors, 2, boxes, scores);
  // anchor 0: centre y = 0.4 + 1/10 * 0.4 = 0.44, x = 0.5 - 2/10 * 0.2 = 0.46; half sizes 0.2 and 0.1 e
  CHECK(boxes[0] == doctest::Approx(0.44 - 0.2));
  CHECK(boxes[1] == doctest::Approx(0.46 - 0.1 * std::exp(1.0)));
  CHECK(boxes[2] == doctest::Approx(0.44 + 0.2));
  CHECK(boxes[3] == doctest::Approx(0.46 + 0.1 * std::exp(1.0)));
  CHECK(scores[0] == doctest::Approx(1.0 / (1.0 + std::exp(-2.0))));  // the face logit is the second of three
  CHECK(boxes[4] == doctest::Approx(0.0));
  CHECK(boxes[6] == doctest::Approx(1.0));
  CHECK(scores[1] == doctest::Approx(1.0 / (1.0 + std::exp(1.0))));
  // suppression: strictly above the score threshold, best first, IoU above 0.5 drops, at most max_results
  const std::vector<double> b = {0, 0, 1, 1, 0, 0, 1, 0.9, 0, 0.5, 1, 1.5, 2, 2, 3, 3};
  // IoU(0, 1) = 0.9; IoU(0, 2) = 0.5 / 1.5 = 0.333
  CHECK(lmtcnn::detail::ssd_non_max_suppression(b, {0.9, 0.8, 0.7, 0.5}, 100, 0.5, 0.5) == std::vector<std::size_t>{0, 2});
  CHECK(lmtcnn::detail::ssd_non_max_suppression(b, {0.7, 0.8, 0.9, 0.6}, 100, 0.5, 0.5) == std::vector<std::size_t>{2, 1, 3});
  CHECK(lmtcnn::detail::ssd_non_max_suppression(b, {0.9, 0.8, 0.7, 0.6}, 1, 0.5, 0.5) == std::vector<std::size_t>{0});
  CHECK(lmtcnn::detail::ssd_iou(b.data(), b.data() + 4) == doctest::Approx(0.9));
  // the corners may come in either order
  const double flipped[4] = {1, 1, 0, 0};
  CHECK(lmtcnn::detail::ssd_iou(b.data(), flipped) == doctest::Approx(1.0));
}

TEST_CASE("the aligned box: the landmarks' bounding box grown by a fifth, centred") {
  const std::vector<face_point> pts = {{10, 20}, {30, 25}, {20, 70}};
  const face_box a = aligned_box(pts);
  // bounding box x 10..30, y 20..70: 20 x 50, padded by 4 and 10
  CHECK(a.x == doctest::Approx(8.0));
  CHECK(a.y == doctest::Approx(15.0));
  CHECK(a.width == doctest::Approx(24.0));
  CHECK(a.height == doctest::Approx(60.0));
}

TEST_CASE("landmark and SSD files: the wrong kind of model is refused by name") {
  const std::string dir = model_dir();
  CHECK_THROWS_WITH_AS(landmark_detector(dir + "/age_gender.lmt"), doctest::Contains("not a face-api.js 68-point landmark net"),
                       format_error);
  CHECK_THROWS_WITH_AS(ssd_detector(dir + "/tiny_face_detector.lmt"), doctest::Contains("SSD MobileNetV1"), error);
  face_analyzer_options o;
  o.model = dir + "/age_gender.lmt";
  o.detector = dir + "/face_landmark_68.lmt";
  CHECK_THROWS_WITH_AS(face_analyzer{o}, doctest::Contains("not a face detector"), format_error);
  ssd_detector_options so;
  so.min_confidence = 1.5;
  CHECK_THROWS_WITH_AS(ssd_detector(dir + "/ssd_mobilenetv1.lmt", so), doctest::Contains("not between 0 and 1"), error);
}

TEST_CASE("an SSD file whose prior boxes or outputs do not fit is refused, naming what is wrong") {
  const std::string dir = model_dir();
  const weights_file good = weights_file::load(dir + "/ssd_mobilenetv1.lmt");
  const tensor_map<float> graph_tensors = good.graph_weights<float>();
  const tensor_view<const float> pv = good.view(faceapi_ssd_priors);
  tensor<float> priors(pv.shape());
  std::copy(pv.data(), pv.data() + pv.size(), priors.data());
  auto load = [&](const graph& g, const tensor_map<float>& tensors) {
    const std::vector<unsigned char> bytes = serialize_weights(good.meta(), g, tensors);
    return std::make_shared<const weights_file>(weights_file::from_bytes(bytes.data(), bytes.size(), "bad_ssd.lmt"));
  };
  ssd_detector_options o;
  o.self_test = false;
  // no prior boxes
  CHECK_THROWS_WITH_AS(ssd_detector(load(good.net_graph(), graph_tensors), "bad_ssd.lmt", o),
                       doctest::Contains("Output/extra_dim"), format_error);
  // a prior box that is not finite
  tensor_map<float> with_nan = graph_tensors;
  tensor<float> bad = priors;
  bad[17] = std::nanf("");
  with_nan.emplace(faceapi_ssd_priors, std::move(bad));
  CHECK_THROWS_WITH_AS(ssd_detector(load(good.net_graph(), with_nan), "bad_ssd.lmt", o), doctest::Contains("not finite"),
                       format_error);
  // priors of another count
  tensor_map<float> short_priors = graph_tensors;
  short_priors.emplace(faceapi_ssd_priors, tensor<float>({1, 100, 4}));
  CHECK_THROWS_WITH_AS(ssd_detector(load(good.net_graph(), short_priors), "bad_ssd.lmt", o), doctest::Contains("[1,5118,4]"),
                       format_error);
  // a graph at another input size gives predictor maps that do not add up to the priors
  tensor_map<float> all = graph_tensors;
  all.emplace(faceapi_ssd_priors, priors);
  CHECK_THROWS_WITH_AS(ssd_detector(load(faceapi_ssd_graph(256), all), "bad_ssd.lmt", o), doctest::Contains("not [512,512,3]"),
                       format_error);
  // an output missing
  graph g = good.net_graph();
  g.outputs.pop_back();
  CHECK_THROWS_WITH_AS(ssd_detector(load(g, all), "bad_ssd.lmt", o), doctest::Contains("class_logits_5"), format_error);
  // and the intact tensors load
  CHECK_NOTHROW(ssd_detector(load(good.net_graph(), all), "bad_ssd.lmt", o));
}
