// lmtcnn: faces in a photo with face-api.js's SSD MobileNetV1 detector (a converted .lmt file), the
// detector face-api.js uses by default.
//
//   lmtcnn::ssd_detector det(lmtcnn::find_model("ssd_mobilenetv1.lmt", argv[0]));
//   for (const lmtcnn::face_detection& f : det.detect(img)) ...   // f.box (pixels), f.score
//
// What it does is what face-api.js (SsdMobilenetv1.locateFaces) does with a tensor input:
//  - the image is padded with zeros at the bottom or right to a square and resized to 512x512 with
//    TensorFlow's legacy bilinear resize; the network scales it to -1..1;
//  - each of the 5,118 anchors gets score = sigmoid(its face logit) and a box decoded from its prior
//    (ymin, xmin, ymax, xmax): centre = prior centre + (ty / 10, tx / 10) x prior size, size = prior
//    size x (exp(th / 5), exp(tw / 5));
//  - non-maximum suppression: the anchors scoring above min_confidence, best first (equal scores in
//    anchor order), each kept unless its IoU with a box kept before it exceeds 0.5, at most
//    max_results of them;
//  - a kept box is clipped to 0..1 of the input, scaled by 512 / (the image's side scaled to 512,
//    rounded) so it is relative to the image itself, then multiplied by the image's width and height.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lmtcnn/engine/model.hpp"
#include "lmtcnn/face/face_detector.hpp"
#include "lmtcnn/face/types.hpp"
#include "lmtcnn/nets/faceapi_ssd.hpp"

namespace lmtcnn {

/// Settings of an ssd_detector (face-api.js's SsdMobilenetv1Options).
struct ssd_detector_options {
  double min_confidence = 0.5;  ///< faces scoring above this are kept; in (0, 1)
  std::size_t max_results = 100;  ///< at most this many faces per image (the best ones)
  bool self_test = true;          ///< run the file's self-test when loading it
};

namespace detail {

/// IoU of two boxes given as (ymin, xmin, ymax, xmax) in either corner order, as face-api.js's SSD
/// suppression computes it (0 when either box is empty).
inline double ssd_iou(const double* a, const double* b) {
  const double ay0 = std::min(a[0], a[2]), ax0 = std::min(a[1], a[3]), ay1 = std::max(a[0], a[2]), ax1 = std::max(a[1], a[3]);
  const double by0 = std::min(b[0], b[2]), bx0 = std::min(b[1], b[3]), by1 = std::max(b[0], b[2]), bx1 = std::max(b[1], b[3]);
  const double area_a = (ay1 - ay0) * (ax1 - ax0), area_b = (by1 - by0) * (bx1 - bx0);
  if (area_a <= 0 || area_b <= 0) return 0.0;
  const double ih = std::max(std::min(ay1, by1) - std::max(ay0, by0), 0.0);
  const double iw = std::max(std::min(ax1, bx1) - std::max(ax0, bx0), 0.0);
  const double inter = ih * iw;
  return inter / (area_a + area_b - inter);
}

/// Decodes the anchors' boxes (ymin, xmin, ymax, xmax, relative to the input) and face scores from
/// the predictors' outputs of one image, in anchor order: predictor by predictor, cell by cell, anchor
/// by anchor. priors: [count, 4].
inline void ssd_decode(const std::vector<const float*>& box_maps, const std::vector<const float*>& class_maps,
                       const std::vector<index_t>& cells, const float* priors, index_t count,
                       std::vector<double>& boxes, std::vector<double>& scores) {
  boxes.assign(static_cast<std::size_t>(count) * 4, 0.0);
  scores.assign(static_cast<std::size_t>(count), 0.0);
  index_t i = 0;
  for (std::size_t k = 0; k < box_maps.size(); ++k) {
    const index_t anchors_here = cells[k] * faceapi_ssd_anchors[k];
    for (index_t j = 0; j < anchors_here && i < count; ++j, ++i) {
      const float* t = box_maps[k] + 4 * j;
      const float* p = priors + 4 * i;
      const double ph = static_cast<double>(p[2]) - p[0], pw = static_cast<double>(p[3]) - p[1];
      const double pcy = p[0] + ph / 2, pcx = p[1] + pw / 2;
      const double cy = t[0] / 10.0 * ph + pcy, cx = t[1] / 10.0 * pw + pcx;
      const double hh = std::exp(t[2] / 5.0) * ph / 2, hw = std::exp(t[3] / 5.0) * pw / 2;
      double* b = boxes.data() + 4 * i;
      b[0] = cy - hh;
      b[1] = cx - hw;
      b[2] = cy + hh;
      b[3] = cx + hw;
      scores[static_cast<std::size_t>(i)] = 1.0 / (1.0 + std::exp(-static_cast<double>(class_maps[k][3 * j + 1])));
    }
  }
}

/// face-api.js's SSD suppression; returns the anchors kept, best first.
inline std::vector<std::size_t> ssd_non_max_suppression(const std::vector<double>& boxes, const std::vector<double>& scores,
                                                        std::size_t max_results, double iou_threshold,
                                                        double score_threshold) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (scores[i] > score_threshold) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  const std::size_t limit = std::min(max_results, scores.size());
  std::vector<std::size_t> kept;
  for (std::size_t c : order) {
    if (kept.size() >= limit) break;
    bool keep = true;
    for (std::size_t j = kept.size(); j-- > 0;)
      if (ssd_iou(boxes.data() + 4 * c, boxes.data() + 4 * kept[j]) > iou_threshold) {
        keep = false;
        break;
      }
    if (keep) kept.push_back(c);
  }
  return kept;
}

}  // namespace detail

/// face-api.js's SSD MobileNetV1 face detector, loaded from a converted file, on the SIMD engine.
class ssd_detector {
 public:
  static constexpr index_t input_size = faceapi_ssd_input_size;

  /// Loads a converted SSD MobileNetV1. Throws lmtcnn::error (format_error for a bad file) naming
  /// the file or the bad setting.
  explicit ssd_detector(const std::string& model_path, const ssd_detector_options& options = {})
      : ssd_detector(load_file(model_path, options), model_path, options) {}

  /// The same over a file already loaded (model_path names it in messages).
  ssd_detector(const std::shared_ptr<const weights_file>& file, const std::string& model_path,
               const ssd_detector_options& options = {})
      : options_(check(options)), model_(file), file_(file) {
    const metadata& meta = file->meta();
    detail::require_family(meta, model_path, "faceapi_ssd_mobilenetv1", "a face-api.js SSD MobileNetV1");
    const auto iou_t = meta.find("detector.iou_threshold");
    if (iou_t == meta.end() || iou_t->second.type != meta_value::kind::real || !(iou_t->second.d >= 0 && iou_t->second.d <= 1))
      throw format_error(model_path + ": detector.iou_threshold is missing or not in [0, 1]");
    iou_threshold_ = iou_t->second.d;
    const tensor_entry* pr = file->find(faceapi_ssd_priors);
    if (!pr || pr->dims != shape({1, faceapi_ssd_prior_count, 4}))
      throw format_error(model_path + ": tensor '" + faceapi_ssd_priors + "' (the prior boxes) is missing or not [1," +
                         std::to_string(faceapi_ssd_prior_count) + ",4]");
    priors_ = file->view(faceapi_ssd_priors).data();
    for (index_t i = 0; i < faceapi_ssd_prior_count * 4; ++i)
      if (!std::isfinite(priors_[i])) throw format_error(model_path + ": a prior box is not finite");
    const graph& g = file->net_graph();
    if (g.input_dims != shape({input_size, input_size, 3}))
      throw format_error(model_path + ": input " + g.input_dims.str() + " is not [512,512,3]");
    const std::vector<shape> shapes = file->shapes_of(g);
    index_t total = 0;
    for (int k = 0; k < 6; ++k) {
      const index_t a = faceapi_ssd_anchors[k];
      for (const char* kind : {"box_encodings_", "class_logits_"}) {
        const std::string name = kind + std::to_string(k);
        const auto out = std::find_if(g.outputs.begin(), g.outputs.end(), [&](const auto& o) { return o.first == name; });
        if (out == g.outputs.end()) throw format_error(model_path + ": the graph has no '" + name + "' output");
        const shape& s = shapes.at(out->second);
        const index_t per = kind[0] == 'b' ? 4 : 3;
        if (s.rank() != 4 || s[0] != 1 || s[3] != a * per)
          throw format_error(model_path + ": output '" + name + "' is " + s.str() + ", expected [1,h,w," +
                             std::to_string(a * per) + "]");
        if (kind[0] == 'b') cells_.push_back(s[1] * s[2]);
        else if (s[1] * s[2] != cells_.back())
          throw format_error(model_path + ": outputs box_encodings_" + std::to_string(k) + " and '" + name + "' differ in size");
      }
      total += cells_.back() * a;
    }
    if (total != faceapi_ssd_prior_count)
      throw format_error(model_path + ": the predictors give " + std::to_string(total) + " anchors, not " +
                         std::to_string(faceapi_ssd_prior_count));
    if (options.self_test && model_.has_self_test()) model_.self_test();
  }

  const ssd_detector_options& options() const { return options_; }

  /// The faces of an image, best first. reference selects the scalar reference path.
  std::vector<face_detection> detect(const image_view& img, bool reference = false) const {
    if (img.width > 0 && img.height > 0) img.check();
    tensor<float> input({1, input_size, input_size, 3});
    detail::prepare_detector_input(img, tensor_view<float>(input.data(), {input_size, input_size, 3}), input_size);
    const std::map<std::string, tensor<float>> out = reference ? model_.forward_reference(input.view()) : model_.forward(input.view());
    std::vector<const float*> boxes, classes;
    for (int k = 0; k < 6; ++k) {
      boxes.push_back(out.at("box_encodings_" + std::to_string(k)).data());
      classes.push_back(out.at("class_logits_" + std::to_string(k)).data());
    }
    std::vector<double> b, scores;
    detail::ssd_decode(boxes, classes, cells_, priors_, faceapi_ssd_prior_count, b, scores);
    const double scale = static_cast<double>(input_size) / std::max(img.width, img.height);
    const double pad_x = input_size / std::floor(img.width * scale + 0.5);  // JavaScript's Math.round
    const double pad_y = input_size / std::floor(img.height * scale + 0.5);
    std::vector<face_detection> faces;
    for (std::size_t i :
         detail::ssd_non_max_suppression(b, scores, options_.max_results, iou_threshold_, options_.min_confidence)) {
      const double* r = b.data() + 4 * i;
      const double top = std::max(0.0, r[0]) * pad_y, bottom = std::min(1.0, r[2]) * pad_y;
      const double left = std::max(0.0, r[1]) * pad_x, right = std::min(1.0, r[3]) * pad_x;
      faces.push_back({{left * img.width, top * img.height, (right - left) * img.width, (bottom - top) * img.height}, scores[i]});
    }
    return faces;
  }

 private:
  static const ssd_detector_options& check(const ssd_detector_options& options) {
    if (!(options.min_confidence > 0 && options.min_confidence < 1))
      throw error("detector score threshold " + std::to_string(options.min_confidence) + " is not between 0 and 1");
    if (options.max_results < 1) throw error("the detector's maximum number of faces must be at least 1");
    return options;
  }

  static std::shared_ptr<const weights_file> load_file(const std::string& model_path, const ssd_detector_options& options) {
    check(options);
    return std::make_shared<const weights_file>(weights_file::load(model_path));
  }

  ssd_detector_options options_;
  model<float> model_;
  std::shared_ptr<const weights_file> file_;  ///< holds the prior boxes
  const float* priors_ = nullptr;
  std::vector<index_t> cells_;
  double iou_threshold_ = 0.5;
};

}  // namespace lmtcnn
