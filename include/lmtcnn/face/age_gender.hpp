// lmtcnn: age and gender of faces in a photo with face-api.js's AgeGenderNet (a converted .lmt file).
//
//   lmtcnn::age_gender_estimator est(lmtcnn::find_model("age_gender.lmt", argv[0]));
//   lmtcnn::image img = lmtcnn::load_image("photo.jpg");
//   lmtcnn::age_gender r = est.predict(img, {x, y, w, h});   // r.age_years, r.p_male, r.p_female
//
// The crop is prepared as face-api.js does it: the box is clipped to the image and floored, the crop
// is padded with zeros to a centred square (round(diff/2) after, the rest before) and resized to
// 112x112 with TensorFlow's legacy bilinear resize; the network subtracts the mean RGB and divides by
// 256 (the training convention) or 255 (the @vladmandic fork), as chosen.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#if defined(__linux__)
#include <unistd.h>
#endif

#include "lmtcnn/io/resize.hpp"
#include "lmtcnn/io/image_io.hpp"
#include "lmtcnn/engine/model.hpp"
#include "lmtcnn/face/types.hpp"

namespace lmtcnn {

namespace detail {

/// The 112x112x3 network input (RGB 0..255, before mean subtraction) for a face box, written into
/// dst ([112,112,3] view, e.g. one image of a batch). The padded square is never built: the resize
/// samples the crop directly, reading zero outside it.
inline void prepare_face_crop(const image_view& img, const face_box& box, const tensor_view<float>& dst,
                              index_t size = 112) {
  int x, y, w, h;
  clip_box(box, img.width, img.height, x, y, w, h);
  const int side = std::max(w, h), diff = side - std::min(w, h);
  const int after = static_cast<int>(std::floor(diff * 0.5 + 0.5));  // JavaScript's Math.round
  const int before = diff - after;
  const int off_x = w < h ? before : 0, off_y = h < w ? before : 0;
  // value of the padded square at (sy, sx), channel c
  auto at = [&](index_t sy, index_t sx, index_t c) -> double {
    const index_t cy = sy - off_y, cx = sx - off_x;
    if (cy < 0 || cx < 0 || cy >= h || cx >= w) return 0.0;
    return img.at(x + static_cast<int>(cx), y + static_cast<int>(cy), static_cast<int>(c));
  };
  float* out = dst.data();
  resample_bilinear_legacy(side, side, 3, size, size, at, [&](index_t yy, index_t xx, index_t c, double v) {
    out[(yy * size + xx) * 3 + c] = static_cast<float>(v);
  });
}

}  // namespace detail

/// Looks for a model file: $LMTCNN_MODEL_DIR, then beside the program (argv0) and in its models/
/// and ../models/ directories (the build tree), then ../share/lmtcnn/models (an installation),
/// then the directory compiled in as LMTCNN_DEFAULT_MODEL_DIR. Throws lmtcnn::error listing where it looked.
inline std::string find_model(const std::string& file, const std::string& argv0 = {}) {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("LMTCNN_MODEL_DIR")) dirs.emplace_back(env);
  std::string path;
#if defined(__linux__)
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);  // the running program
  if (n > 0) path.assign(buf, static_cast<std::size_t>(n));
#endif
  if (path.empty()) path = argv0;
  const auto slash = path.rfind('/');
  const std::string exe_dir = slash == std::string::npos ? "." : path.substr(0, slash);
  for (const char* sub : {"", "/models", "/../models", "/../share/lmtcnn/models"}) dirs.push_back(exe_dir + sub);
#ifdef LMTCNN_DEFAULT_MODEL_DIR
  dirs.emplace_back(LMTCNN_DEFAULT_MODEL_DIR);
#endif
  std::string tried;
  for (const std::string& d : dirs) {
    const std::string p = d + "/" + file;
    if (std::ifstream(p).good()) return p;
    tried += "\n  " + p;
  }
  throw error("model " + file + " not found (give its path, or set LMTCNN_MODEL_DIR); looked in:" + tried);
}

/// face-api.js's AgeGenderNet, loaded from a converted file, on the SIMD engine.
class age_gender_estimator {
 public:
  static constexpr index_t input_size = 112;

  /// Loads a converted AgeGenderNet and runs the file's self-test (unless run_self_test is false);
  /// divisor 256 (as trained) or 255 (the @vladmandic fork) replaces the file's. Throws
  /// lmtcnn::error (format_error for a bad file) naming the file.
  explicit age_gender_estimator(const std::string& model_path, double divisor = 256.0, bool run_self_test = true)
      : age_gender_estimator(std::make_shared<const weights_file>(weights_file::load(model_path)), model_path,
                             divisor, run_self_test) {}

  /// The same over a file already loaded (model_path names it in messages).
  age_gender_estimator(const std::shared_ptr<const weights_file>& file, const std::string& model_path,
                       double divisor = 256.0, bool run_self_test = true)
      : model_(file) {
    if (divisor != 256.0 && divisor != 255.0) throw error("divisor must be 256 or 255");
    detail::require_family(file->meta(), model_path, "faceapi_age_gender", "a face-api.js AgeGenderNet");
    if (run_self_test && model_.has_self_test()) model_.self_test();
    graph g = file->net_graph();
    bool patched = false, changed = false;
    for (graph_node& n : g.nodes) {
      if (n.op != op_kind::channel_normalize) continue;
      const channel_normalize_attrs a = channel_normalize_attrs::decode(n);
      if (a.channels != 3) continue;
      const std::vector<double> mean(a.mean, a.mean + 3), divisors(3, divisor);
      changed = changed || !std::equal(divisors.begin(), divisors.end(), a.divisor);
      n.floats = channel_normalize_attrs::floats(mean, divisors);
      patched = true;
    }
    if (!patched) throw format_error(model_path + ": the graph has no input normalisation to set the divisor of");
    if (changed) model_ = model<float>(std::move(g), file);
  }

  /// Age and gender of one face.
  age_gender predict(const image_view& img, const face_box& box) const { return predict(img, std::vector<face_box>{box})[0]; }

  /// Age and gender of several faces of one image, in one batch.
  std::vector<age_gender> predict(const image_view& img, const std::vector<face_box>& boxes) const {
    if (boxes.empty()) return {};
    img.check();
    const index_t n = static_cast<index_t>(boxes.size());
    tensor<float> batch({n, input_size, input_size, 3});
    for (index_t i = 0; i < n; ++i)
      detail::prepare_face_crop(img, boxes[static_cast<std::size_t>(i)],
                        tensor_view<float>(batch.data() + i * input_size * input_size * 3, {input_size, input_size, 3}));
    return run(batch.view());
  }

  /// Runs prepared inputs [n,112,112,3] (RGB 0..255); reference selects the scalar reference path.
  std::vector<age_gender> run(tensor_view<const float> batch, bool reference = false) const {
    const std::map<std::string, tensor<float>> out = reference ? model_.forward_reference(batch) : model_.forward(batch);
    const tensor<float>& age = out.at("age");
    const tensor<float>& gender = out.at("gender_probs");
    std::vector<age_gender> r(static_cast<std::size_t>(batch.dim(0)));
    for (std::size_t i = 0; i < r.size(); ++i) {
      r[i].age_years = age[static_cast<index_t>(i)];
      r[i].p_male = gender[static_cast<index_t>(2 * i)];
      r[i].p_female = gender[static_cast<index_t>(2 * i + 1)];
    }
    return r;
  }

 private:
  model<float> model_;
};

}  // namespace lmtcnn
