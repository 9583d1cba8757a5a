// lmtcnn: face-api.js's 68 face landmarks (a converted face_landmark_68 or face_landmark_68_tiny
// .lmt file) and the aligned box face-api.js derives from them.
//
//   lmtcnn::landmark_detector lm(lmtcnn::find_model("face_landmark_68.lmt", argv[0]));
//   std::vector<lmtcnn::face_point> pts = lm.detect(img, box);        // 68 points in image pixels
//   lmtcnn::face_box aligned = lmtcnn::aligned_box(pts);               // what age/gender then crops
//
// As face-api.js does it (FaceLandmark68NetBase, extendWithFaceLandmarks, FaceLandmarks.align):
//  - the box's crop is prepared as for the AgeGenderNet (clipped and floored box, centred square
//    padding, 112x112 legacy bilinear resize);
//  - the 136 outputs v, scaled to the crop: with s = 112 / max(w, h) over the floored crop's w x h,
//    x = (v_x * 112 - pad_x) / (w s) * w + box.x, y = (v_y * 112 - pad_y) / (h s) * h + box.y, where
//    pad is |w s - h s| / 2 on the shorter side and 0 on the other, and box.x, box.y are the
//    detection box's own (unclipped) corner;
//  - the aligned box: the points' bounding box (its right and bottom edges at least 0), grown by 20 %
//    of its width and height, centred.
#pragma once

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lmtcnn/engine/model.hpp"
#include "lmtcnn/face/age_gender.hpp"
#include "lmtcnn/face/types.hpp"
#include "lmtcnn/nets/faceapi_landmarks.hpp"

namespace lmtcnn {

/// face-api.js's aligned box of a set of landmarks (FaceLandmarks.align with its defaults).
inline face_box aligned_box(const std::vector<face_point>& pts) {
  double min_x = std::numeric_limits<double>::infinity(), min_y = min_x, max_x = 0, max_y = 0;
  for (const face_point& p : pts) {
    min_x = std::min(min_x, p.x);
    min_y = std::min(min_y, p.y);
    max_x = std::max(max_x, p.x);
    max_y = std::max(max_y, p.y);
  }
  const double w = max_x - min_x, h = max_y - min_y, pad_x = w * 0.2, pad_y = h * 0.2;
  return {min_x - pad_x / 2, min_y - pad_y / 2, w + pad_x, h + pad_y};
}

/// face-api.js's 68-point landmark net (full or tiny), loaded from a converted file.
class landmark_detector {
 public:
  static constexpr index_t input_size = 112;
  static constexpr index_t points = 68;

  /// Loads a converted face_landmark_68 or face_landmark_68_tiny and runs the file's self-test
  /// (unless run_self_test is false). Throws lmtcnn::error (format_error for a bad file).
  explicit landmark_detector(const std::string& model_path, bool run_self_test = true)
      : landmark_detector(std::make_shared<const weights_file>(weights_file::load(model_path)), model_path, run_self_test) {}

  landmark_detector(const std::shared_ptr<const weights_file>& file, const std::string& model_path,
                    bool run_self_test = true)
      : model_(file) {
    const std::string family = network_family(file->meta());
    if (family != "faceapi_face_landmark_68" && family != "faceapi_face_landmark_68_tiny")
      throw format_error(model_path + ": not a face-api.js 68-point landmark net (network.family is '" + family + "')");
    tiny_ = family == "faceapi_face_landmark_68_tiny";
    const graph& g = file->net_graph();
    if (g.input_dims != shape({input_size, input_size, 3}))
      throw format_error(model_path + ": input " + g.input_dims.str() + " is not [112,112,3]");
    const std::vector<shape> shapes = file->shapes_of(g);
    const auto out = std::find_if(g.outputs.begin(), g.outputs.end(), [](const auto& o) { return o.first == "landmarks"; });
    if (out == g.outputs.end() || shapes.at(out->second) != shape({1, 2 * points}))
      throw format_error(model_path + ": the graph has no 'landmarks' output of [1,136]");
    if (run_self_test && model_.has_self_test()) model_.self_test();
  }

  bool tiny() const { return tiny_; }

  /// The 68 points of each face box, in image pixels, in one batch.
  std::vector<std::vector<face_point>> detect(const image_view& img, const std::vector<face_box>& boxes,
                                              bool reference = false) const {
    if (boxes.empty()) return {};
    img.check();
    const index_t n = static_cast<index_t>(boxes.size()), s = input_size;
    tensor<float> batch({n, s, s, 3});
    for (index_t i = 0; i < n; ++i)
      detail::prepare_face_crop(img, boxes[static_cast<std::size_t>(i)], tensor_view<float>(batch.data() + i * s * s * 3, {s, s, 3}));
    const std::map<std::string, tensor<float>> out = reference ? model_.forward_reference(batch.view()) : model_.forward(batch.view());
    const tensor<float>& v = out.at("landmarks");
    std::vector<std::vector<face_point>> r(boxes.size());
    for (std::size_t i = 0; i < boxes.size(); ++i) r[i] = to_image(v.data() + i * 2 * points, img, boxes[i]);
    return r;
  }

  /// The 68 points of one face box.
  std::vector<face_point> detect(const image_view& img, const face_box& box, bool reference = false) const {
    return detect(img, std::vector<face_box>{box}, reference)[0];
  }

 private:
  static std::vector<face_point> to_image(const float* v, const image_view& img, const face_box& box) {
    int x, y, w, h;
    detail::clip_box(box, img.width, img.height, x, y, w, h);
    const double s = static_cast<double>(input_size) / std::max(w, h);
    const double iw = w * s, ih = h * s;
    const double pad_x = iw < ih ? std::abs(iw - ih) / 2 : 0.0, pad_y = ih < iw ? std::abs(iw - ih) / 2 : 0.0;
    std::vector<face_point> pts(points);
    for (index_t k = 0; k < points; ++k) {
      const double rx = (v[2 * k] * static_cast<double>(input_size) - pad_x) / iw;
      const double ry = (v[2 * k + 1] * static_cast<double>(input_size) - pad_y) / ih;
      pts[static_cast<std::size_t>(k)] = {rx * w + box.x, ry * h + box.y};
    }
    return pts;
  }

  model<float> model_;
  bool tiny_ = false;
};

}  // namespace lmtcnn
