// face-api.js's AgeGenderNet, converted from npm, on real faces, against the TensorFlow.js reference
// (tests/data/realdata: the exact crops fed to the reference run and its outputs, copied from the
// shared reference data with their provenance). Both input divisors; the scalar reference path, the
// default engine and every SIMD path the CPU runs give the same answers.
// Needs the converted model: LMTCNN_MODEL_DIR holds age_gender.lmt (the build makes build/models/).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "realdata_util.hpp"
#include "lmtcnn/face/age_gender.hpp"

using namespace lmtcnn;

namespace {

const std::string data_dir = LMTCNN_TEST_DATA_DIR;

struct reference_face {
  std::string crop;
  double age[2], p_male[2], p_female[2];  // [0]: divisor 256, [1]: divisor 255
};

std::vector<reference_face> reference_faces() {
  const lmtcnn_tools::json doc = lmtcnn_test::realdata_json(data_dir, "age_gender_reference.json");
  std::vector<reference_face> faces;
  for (const lmtcnn_tools::json& f : doc.get("faces")->items) {
    reference_face r;
    r.crop = data_dir + "/realdata/" + f.get("crop_png")->str;
    const char* keys[2] = {"div256", "div255"};
    for (int d = 0; d < 2; ++d) {
      const lmtcnn_tools::json* v = f.get(keys[d]);
      r.age[d] = v->get("age")->num;
      r.p_male[d] = v->get("p_male")->num;
      r.p_female[d] = v->get("p_female")->num;
    }
    faces.push_back(r);
  }
  REQUIRE(faces.size() == 10);
  return faces;
}

std::string model_path() {
  const char* dir = std::getenv("LMTCNN_MODEL_DIR");
  REQUIRE_MESSAGE(dir != nullptr, "set LMTCNN_MODEL_DIR to the directory holding age_gender.lmt");
  return std::string(dir) + "/age_gender.lmt";
}

void check_face(const reference_face& f, int d, const age_gender& got, const std::string& path) {
  INFO(f.crop << " divisor " << (d == 0 ? 256 : 255) << " " << path);
  CHECK(std::abs(got.age_years - f.age[d]) <= 0.01);
  CHECK(std::abs(got.p_male - f.p_male[d]) <= 1e-4);
  CHECK(std::abs(got.p_female - f.p_female[d]) <= 1e-4);
}

/// The prepared 112x112 inputs of all reference faces.
tensor<float> prepared_inputs(const std::vector<reference_face>& faces) {
  tensor<float> batch({static_cast<index_t>(faces.size()), 112, 112, 3});
  for (std::size_t i = 0; i < faces.size(); ++i) {
    const image img = load_image(faces[i].crop);
    lmtcnn::detail::prepare_face_crop(img, {0, 0, static_cast<double>(img.width), static_cast<double>(img.height)},
                      tensor_view<float>(batch.data() + i * 112 * 112 * 3, {112, 112, 3}));
  }
  return batch;
}

}  // namespace

TEST_CASE("the astronaut's 112x112 network input equals the reference within 1e-3") {
  const image img = load_image(data_dir + "/realdata/crops/skimage_astronaut_face0.png");
  CHECK(img.width == 83);
  CHECK(img.height == 101);
  tensor<float> got({112, 112, 3});
  lmtcnn::detail::prepare_face_crop(img, {0, 0, 83, 101}, got.view());
  std::ifstream in(data_dir + "/realdata/crops/skimage_astronaut_face0_input_112x112x3_f32.raw", std::ios::binary);
  std::vector<float> want(112 * 112 * 3);
  in.read(reinterpret_cast<char*>(want.data()), static_cast<std::streamsize>(want.size() * 4));
  REQUIRE(in.gcount() == static_cast<std::streamsize>(want.size() * 4));
  double worst = 0;
  for (index_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(double(got[i]) - want[static_cast<std::size_t>(i)]));
  MESSAGE("max |difference| of the prepared input: " << worst);
  CHECK(worst <= 1e-3);
}

TEST_CASE("ten real faces: age within 0.01 years and probabilities within 1e-4 of TensorFlow.js, both divisors") {
  const std::vector<reference_face> faces = reference_faces();
  const tensor<float> batch = prepared_inputs(faces);
  for (int d = 0; d < 2; ++d) {
    const age_gender_estimator est(model_path(), d == 0 ? 256.0 : 255.0);
    const std::vector<age_gender> engine = est.run(batch.view());
    const std::vector<age_gender> reference = est.run(batch.view(), true);
    double worst_age = 0, worst_p = 0;
    for (std::size_t i = 0; i < faces.size(); ++i) {
      check_face(faces[i], d, engine[i], "engine (" + simd_path() + ")");
      check_face(faces[i], d, reference[i], "scalar reference");
      worst_age = std::max(worst_age, double(std::abs(engine[i].age_years - faces[i].age[d])));
      worst_p = std::max(worst_p, double(std::abs(engine[i].p_male - faces[i].p_male[d])));
    }
    MESSAGE("divisor " << (d == 0 ? 256 : 255) << ": engine's worst |age diff| " << worst_age
                       << " years, worst |p_male diff| " << worst_p);
    // one face at a time through the public call gives the batch's answers
    const image img = load_image(faces[3].crop);
    const age_gender one = est.predict(img, {0, 0, double(img.width), double(img.height)});
    CHECK(std::abs(one.age_years - engine[3].age_years) <= 1e-4);
  }
}

TEST_CASE("every SIMD path this CPU runs gives the reference answers on the real faces") {
  const std::vector<reference_face> faces = reference_faces();
  const tensor<float> batch = prepared_inputs(faces);
  MESSAGE("SIMD paths: " << [] { std::string s; for (const auto& p : simd_paths()) s += p + " "; return s; }());
  for (const std::string& path : simd_paths()) {
    set_simd_path(path);
    const model<float> m = model<float>::load(model_path());
    set_simd_path("");
    const std::string what = path + " (" + m.engine()->arch_name() + ")";
    const auto out = m.forward(batch.view());
    for (std::size_t i = 0; i < faces.size(); ++i) {
      age_gender r;
      r.age_years = out.at("age")[static_cast<index_t>(i)];
      r.p_male = out.at("gender_probs")[static_cast<index_t>(2 * i)];
      r.p_female = out.at("gender_probs")[static_cast<index_t>(2 * i + 1)];
      check_face(faces[i], 0, r, what);
    }
  }
}

TEST_CASE("bf16 on every SIMD path: the ten real faces within 0.5 years of TensorFlow.js, same gender, p within 0.01") {
  const std::vector<reference_face> faces = reference_faces();
  const tensor<float> batch = prepared_inputs(faces);
  set_precision(precision::bf16);
  for (const std::string& path : simd_paths()) {
    set_simd_path(path);
    const model<float> m = model<float>::load(model_path());  // its self-test runs in float32
    set_simd_path("");
    REQUIRE(m.arithmetic() == precision::bf16);
    const std::string what = path + (m.engine()->bf16_dot_products() ? " (AVX512_BF16)" : " (widened)");
    const auto out = m.forward(batch.view());
    const auto ref = m.forward_reference(batch.view());  // the scalar reference, rounding the same operands
    double worst_age = 0, worst_p = 0, worst_ref = 0;
    for (std::size_t i = 0; i < faces.size(); ++i) {
      const index_t j = static_cast<index_t>(i);
      const double age = out.at("age")[j], p_male = out.at("gender_probs")[2 * j];
      INFO(faces[i].crop << " " << what);
      CHECK(std::abs(age - faces[i].age[0]) <= 0.5);
      CHECK((p_male > 0.5) == (faces[i].p_male[0] > 0.5));
      CHECK(std::abs(p_male - faces[i].p_male[0]) <= 0.01);
      CHECK(std::abs(age - ref.at("age")[j]) <= 0.05);
      worst_age = std::max(worst_age, std::abs(age - faces[i].age[0]));
      worst_p = std::max(worst_p, std::abs(p_male - faces[i].p_male[0]));
      worst_ref = std::max(worst_ref, std::abs(age - double(ref.at("age")[j])));
    }
    MESSAGE("bf16 " << what << ": worst |age diff| " << worst_age << " years, |p_male diff| " << worst_p
                    << " (TF.js float32); engine vs bf16 reference " << worst_ref << " years");
  }
  set_precision(precision::fp32);
}

TEST_CASE("bad inputs to the estimator give clear errors") {
  const age_gender_estimator est(model_path());
  const image img = load_image(data_dir + "/astronaut_face.png");
  CHECK_THROWS_WITH_AS(est.predict(img, {500, 500, 10, 10}), doctest::Contains("lies outside the 83x101 image"), error);
  CHECK_THROWS_WITH_AS(est.predict(img, {0, 0, 0.5, 20}), doctest::Contains("lies outside"), error);
  CHECK_THROWS_WITH_AS(load_image(data_dir + "/no_such.png"), doctest::Contains("no_such.png: cannot open"), error);
  CHECK_THROWS_WITH_AS(load_image(data_dir + "/README.md"), doctest::Contains("not a readable JPEG, PNG or BMP"), error);
  CHECK_THROWS_WITH_AS(age_gender_estimator(model_path(), 100.0), doctest::Contains("divisor"), error);
  // a box hanging over the edge is clipped, as face-api.js does
  const age_gender a = est.predict(img, {-10, -10, 200, 300});
  const age_gender b = est.predict(img, {0, 0, 83, 101});
  CHECK(a.age_years == b.age_years);
}

TEST_CASE("an image claiming 100000 x 100000 pixels is refused before decoding") {
  // a valid PNG signature and IHDR chunk for 100000 x 100000 RGB, nothing after it
  const unsigned char png[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                               0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0, 8, 2, 0, 0, 0, 0x5A, 0x8A, 0x4E, 0x2E};
  CHECK_THROWS_WITH_AS(decode_image(png, sizeof png, "huge.png"), doctest::Contains("100000x100000"), error);
}
