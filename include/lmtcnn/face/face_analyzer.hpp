// lmtcnn: age and gender of every face in a photo, from converted model files.
//
//   lmtcnn::face_analyzer_options o;
//   o.model = lmtcnn::find_model("age_gender.lmt", argv[0]);           // or an LMTCNN-1-1/2-1 file
//   o.detector = lmtcnn::find_model("ssd_mobilenetv1.lmt", argv[0]);   // or tiny_face_detector.lmt
//   o.landmarks = lmtcnn::find_model("face_landmark_68.lmt", argv[0]); // or _tiny, or "" for none
//   const lmtcnn::face_analyzer fa(o);                                 // safe to share between threads
//   for (const lmtcnn::face_result& f : fa.analyze(lmtcnn::load_image("photo.jpg"))) ...
//
// Faces come from face-api.js's SSD MobileNetV1 or tiny face detector (whichever the detector file
// holds), from one given box, or the whole image is taken as the face (pre-cropped input). With a
// landmark net, each face's 68 landmarks are found in its box and age and gender are read from the box
// aligned on them, as face-api.js's detectAllFaces().withFaceLandmarks().withAgeAndGender() does (a
// face whose aligned box has no pixel inside the image is dropped); without one, from the box itself.
// Each face then goes to the age/gender network of the model file:
//  - face-api.js's AgeGenderNet: age in years (regression) and gender, crop prepared as face-api.js does;
//  - LMTCNN-1-1 / LMTCNN-2-1: LMTCNN's own preprocessing on the face box (clipped to the image): resize
//    to 256x256, then a single look (resize to 227x227) or the 12 oversampled crops (the whole face
//    resized to 227 and the crops at (0,0), (0,29), (29,0), (29,29), (14,14) of the 256 image, each
//    with its mirror), softmax outputs averaged; the age group with its probabilities. The 12 crops run
//    as one batch, so a batch-statistics file normalises over them together, as the original code did.
//    As the original's make_multi_crop_batch does, the mirror of the whole face goes into the network
//    without per-image standardization (the other 11 crops are standardized); oversample_standardized
//    standardizes all 12.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lmtcnn/face/age_gender.hpp"
#include "lmtcnn/face/face_detector.hpp"
#include "lmtcnn/face/landmarks.hpp"
#include "lmtcnn/face/ssd_detector.hpp"
#include "lmtcnn/engine/model.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"
#include "lmtcnn/reference/norm.hpp"

namespace lmtcnn {

namespace detail {

/// The graph without its first node, a per-image standardization of the input: what follows it reads
/// the input itself. Throws format_error when the graph does not start so.
inline graph without_input_standardization(const graph& g, const std::string& path) {
  if (g.nodes.empty() || g.nodes[0].op != op_kind::standardize || g.nodes[0].inputs != std::vector<std::uint32_t>{0})
    throw format_error(path + ": the graph does not start with the input's standardization");
  graph out = g;
  out.nodes.erase(out.nodes.begin());
  auto shift = [](std::uint32_t id) { return id == 0 ? 0u : id - 1; };  // value 1 (standardized input) becomes 0
  for (graph_node& n : out.nodes)
    for (std::uint32_t& id : n.inputs) id = shift(id);
  for (auto& o : out.outputs) o.second = shift(o.second);
  return out;
}

}  // namespace detail


/// LMTCNN-1-1 / LMTCNN-2-1 from a converted file, with LMTCNN's preprocessing of a face box.
class lmtcnn_estimator {
 public:
  /// Loads a converted LMTCNN and runs the file's self-test (unless run_self_test is false).
  explicit lmtcnn_estimator(const std::string& model_path, bool oversample = false, bool run_self_test = true,
                            bool oversample_standardized = false)
      : lmtcnn_estimator(std::make_shared<const weights_file>(weights_file::load(model_path)), model_path, oversample,
                         run_self_test, oversample_standardized) {}

  /// The same over a file already loaded (model_path names it in messages).
  lmtcnn_estimator(std::shared_ptr<const weights_file> file, const std::string& model_path, bool oversample = false,
                   bool run_self_test = true, bool oversample_standardized = false)
      : model_(std::make_shared<const model<float>>(file)), oversample_(oversample) {
    if (oversample && !oversample_standardized)  // the crops arrive standardized, or not (the whole face's mirror)
      raw_model_ = std::make_shared<const model<float>>(detail::without_input_standardization(file->net_graph(), model_path), file);
    const metadata& meta = model_->meta();
    detail::require_family(meta, model_path, "lmtcnn", "an LMTCNN");
    if (run_self_test && model_->has_self_test()) model_->self_test();
    const auto labels = meta.find("labels.age_probs");
    if (labels != meta.end() && labels->second.type == meta_value::kind::texts)
      groups_ = labels->second.ss;
    else
      groups_.assign(lmtcnn_age_groups.begin(), lmtcnn_age_groups.end());
    const graph& g = model_->net_graph();
    if (g.input_dims != shape({lmtcnn_net<float>::input_size, lmtcnn_net<float>::input_size, 3}))
      throw format_error(model_path + ": LMTCNN input " + g.input_dims.str() + " is not [227,227,3]");
  }

  const std::vector<std::string>& age_groups() const { return groups_; }
  bool oversample() const { return oversample_; }
  /// With oversample: whether all 12 crops are standardized (false: the original's procedure).
  bool oversample_standardized() const { return oversample_ && !raw_model_; }

  /// The network inputs for a face box: [1 or 12, 227, 227, 3], RGB 0..255.
  tensor<float> inputs(const image_view& img, const face_box& box) const {
    int x, y, w, h;
    detail::clip_box(box, img.width, img.height, x, y, w, h);
    const index_t s = 256, c = 227;
    tensor<float> face({s, s, 3});
    resample_bilinear_legacy(
        h, w, 3, s, s,
        [&](index_t yy, index_t xx, index_t ch) -> double { return img.at(x + static_cast<int>(xx), y + static_cast<int>(yy), static_cast<int>(ch)); },
        [&](index_t yy, index_t xx, index_t ch, double v) { face[(yy * s + xx) * 3 + ch] = static_cast<float>(v); });
    tensor<float> out({oversample_ ? 12 : 1, c, c, 3});
    auto full = [&](index_t slot) {  // the whole 256 face resized to 227
      resample_bilinear_legacy(
          s, s, 3, c, c, [&](index_t yy, index_t xx, index_t ch) -> double { return face[(yy * s + xx) * 3 + ch]; },
          [&](index_t yy, index_t xx, index_t ch, double v) {
            out[((slot * c + yy) * c + xx) * 3 + ch] = static_cast<float>(v);
          });
    };
    full(0);
    if (!oversample_) return out;
    auto mirror = [&](index_t from, index_t to) {
      for (index_t yy = 0; yy < c; ++yy)
        for (index_t xx = 0; xx < c; ++xx)
          for (index_t ch = 0; ch < 3; ++ch)
            out[((to * c + yy) * c + xx) * 3 + ch] = out[((from * c + yy) * c + (c - 1 - xx)) * 3 + ch];
    };
    mirror(0, 1);
    const index_t offsets[5][2] = {{0, 0}, {0, 29}, {29, 0}, {29, 29}, {14, 14}};
    for (index_t k = 0; k < 5; ++k) {
      const index_t slot = 2 + 2 * k;
      for (index_t yy = 0; yy < c; ++yy)
        for (index_t xx = 0; xx < c; ++xx)
          for (index_t ch = 0; ch < 3; ++ch)
            out[((slot * c + yy) * c + xx) * 3 + ch] = face[((yy + offsets[k][0]) * s + xx + offsets[k][1]) * 3 + ch];
      mirror(slot, slot + 1);
    }
    return out;
  }

  /// Age group and gender of one face; the softmax outputs of the looks are averaged.
  face_result predict(const image_view& img, const face_box& box) const {
    img.check();
    tensor<float> in = inputs(img, box);
    if (raw_model_) {  // the original's procedure: every crop but the whole face's mirror (slot 1) standardized
      const index_t c = lmtcnn_net<float>::input_size, px = c * c * 3;
      for (index_t slot = 0; slot < in.dim(0); ++slot) {
        if (slot == 1) continue;
        const tensor_view<float> v(in.data() + slot * px, {1, c, c, 3});
        tensor<float> s({1, c, c, 3});
        detail::ref::standardize_per_image<float>(v, s.view());
        std::copy(s.begin(), s.end(), v.data());
      }
    }
    const auto out = (raw_model_ ? raw_model_ : model_)->forward(in.view());
    const tensor<float>& age = out.at("age_probs");
    const tensor<float>& gender = out.at("gender_probs");
    const index_t looks = in.dim(0), groups = age.dim(1);
    if (static_cast<std::size_t>(groups) != groups_.size())
      throw format_error(model_->file_name() + ": " + std::to_string(groups) + " age outputs but " +
                         std::to_string(groups_.size()) + " labels");
    face_result r;
    r.box = box;
    r.age_probs.assign(static_cast<std::size_t>(groups), 0.0);
    for (index_t l = 0; l < looks; ++l) {
      for (index_t g = 0; g < groups; ++g) r.age_probs[static_cast<std::size_t>(g)] += age[l * groups + g] / double(looks);
      r.p_male += gender[l * 2] / double(looks);
      r.p_female += gender[l * 2 + 1] / double(looks);
    }
    std::size_t best = 0;
    for (std::size_t g = 1; g < r.age_probs.size(); ++g)
      if (r.age_probs[g] > r.age_probs[best]) best = g;
    r.age_group = groups_[best];
    return r;
  }

 private:
  std::shared_ptr<const model<float>> model_;
  std::shared_ptr<const model<float>> raw_model_;  ///< the graph after its standardization (original oversampling)
  bool oversample_ = false;
  std::vector<std::string> groups_;
};

/// Where the faces come from.
enum class face_source { detect, whole_image, given_box };

struct face_analyzer_options {
  std::string model;      ///< age/gender network: face-api.js AgeGenderNet or LMTCNN
  std::string detector;   ///< SSD MobileNetV1 or tiny face detector (needed for face_source::detect)
  std::string landmarks;  ///< 68-point landmark net (full or tiny); "" for none
  face_source source = face_source::detect;
  face_box box;           ///< for face_source::given_box
  face_detector_options detection;  ///< tiny face detector settings
  ssd_detector_options ssd;         ///< SSD MobileNetV1 settings
  double divisor = 256;   ///< face-api.js AgeGenderNet: 256 (as trained) or 255 (the @vladmandic fork)
  bool oversample = false;  ///< LMTCNN: 12 crops instead of one look
  bool oversample_standardized = false;  ///< LMTCNN oversampling: standardize all 12 (not the original's procedure)
};

namespace detail {

/// Whether at least one whole pixel of the box lies inside the image (what clip_box needs).
inline bool box_overlaps(const face_box& b, const image_view& img) {
  return detail::crop_box(b, img.width, img.height).has_value();
}

}  // namespace detail

/// Faces, then age and gender for each; const and safe to use from several threads at once.
class face_analyzer {
 public:
  explicit face_analyzer(const face_analyzer_options& o) : options_(o) {
    auto file = std::make_shared<const weights_file>(weights_file::load(o.model));  // read once
    const std::string family = network_family(file->meta());
    if (family == "lmtcnn") {
      lmtcnn_ = std::make_shared<const lmtcnn_estimator>(std::move(file), o.model, o.oversample, true,
                                                         o.oversample_standardized);
    } else if (family == "faceapi_age_gender") {
      if (o.oversample) throw error("oversampling is for LMTCNN models, not " + o.model);
      faceapi_ = std::make_shared<const age_gender_estimator>(std::move(file), o.model, o.divisor);
    } else {
      throw format_error(o.model + ": not an age/gender network (network.family is '" + family +
                         "'; expected lmtcnn or faceapi_age_gender)");
    }
    if (o.source == face_source::detect) {
      auto det = std::make_shared<const weights_file>(weights_file::load(o.detector));
      const std::string dfam = network_family(det->meta());
      if (dfam == "faceapi_ssd_mobilenetv1")
        ssd_ = std::make_shared<const ssd_detector>(det, o.detector, o.ssd);
      else if (dfam == "faceapi_tiny_face_detector")
        detector_ = std::make_shared<const face_detector>(det, o.detector, o.detection);
      else
        throw format_error(o.detector + ": not a face detector (network.family is '" + dfam +
                           "'; expected faceapi_ssd_mobilenetv1 or faceapi_tiny_face_detector)");
    }
    if (!o.landmarks.empty()) landmarks_ = std::make_shared<const landmark_detector>(o.landmarks);
  }

  const face_analyzer_options& options() const { return options_; }
  bool classifies_age() const { return lmtcnn_ != nullptr; }
  /// The age groups of a classification model (face_result::age_probs is in this order); empty for a
  /// regression model.
  const std::vector<std::string>& age_groups() const {
    static const std::vector<std::string> none;
    return lmtcnn_ ? lmtcnn_->age_groups() : none;
  }

  /// The faces of an image with their age and gender, best detection first. Takes an image or a
  /// view of pixels held elsewhere (RGB, BGR, RGBA or BGRA, any row stride: see io/image.hpp), read
  /// in place; the results are those of an image of the same RGB values.
  std::vector<face_result> analyze(const image_view& img) const {
    img.check();
    std::vector<face_result> faces;
    switch (options_.source) {
      case face_source::detect:
        for (const face_detection& d : ssd_ ? ssd_->detect(img) : detector_->detect(img)) {
          if (!detail::box_overlaps(d.box, img)) continue;  // nothing of it inside the image: no crop to take
          face_result r;
          r.box = d.box;
          r.score = d.score;
          faces.push_back(r);
        }
        break;
      case face_source::whole_image:
        faces.push_back({});
        faces.back().box = {0, 0, static_cast<double>(img.width), static_cast<double>(img.height)};
        break;
      case face_source::given_box:
        faces.push_back({});
        faces.back().box = options_.box;
        break;
    }
    if (faces.empty()) return faces;
    std::vector<face_box> boxes;  // what age and gender are read from
    if (landmarks_) {
      std::vector<face_box> detected;
      for (const face_result& f : faces) detected.push_back(f.box);
      const std::vector<std::vector<face_point>> pts = landmarks_->detect(img, detected);
      std::vector<face_result> kept;
      for (std::size_t i = 0; i < faces.size(); ++i) {
        const face_box a = aligned_box(pts[i]);
        if (!detail::box_overlaps(a, img)) continue;
        faces[i].landmarks = pts[i];
        faces[i].aligned_box = a;
        kept.push_back(faces[i]);
        boxes.push_back(a);
      }
      faces.swap(kept);
      if (faces.empty()) return faces;
    } else {
      for (const face_result& f : faces) boxes.push_back(f.box);
    }
    if (lmtcnn_) {
      for (std::size_t i = 0; i < faces.size(); ++i) {
        face_result r = lmtcnn_->predict(img, boxes[i]);
        faces[i].age_group = r.age_group;
        faces[i].age_probs = r.age_probs;
        faces[i].p_male = r.p_male;
        faces[i].p_female = r.p_female;
      }
    } else {
      const std::vector<age_gender> ag = faceapi_->predict(img, boxes);
      for (std::size_t i = 0; i < faces.size(); ++i) {
        faces[i].age_years = ag[i].age_years;
        faces[i].p_male = ag[i].p_male;
        faces[i].p_female = ag[i].p_female;
      }
    }
    return faces;
  }

 private:
  face_analyzer_options options_;
  std::shared_ptr<const face_detector> detector_;
  std::shared_ptr<const ssd_detector> ssd_;
  std::shared_ptr<const landmark_detector> landmarks_;
  std::shared_ptr<const age_gender_estimator> faceapi_;
  std::shared_ptr<const lmtcnn_estimator> lmtcnn_;
};

}  // namespace lmtcnn
