// lmtcnn: faces in a photo with face-api.js's tiny face detector (a converted .lmt file).
//
//   lmtcnn::face_detector det(lmtcnn::find_model("tiny_face_detector.lmt", argv[0]));
//   for (const lmtcnn::face_detection& f : det.detect(img)) ...   // f.box (pixels), f.score
//
// What it does is what face-api.js (TinyFaceDetector / TinyYolov2Base) does with a tensor input:
//  - the image is padded with zeros at the bottom or right to a square, resized to input_size x
//    input_size with TensorFlow's legacy bilinear resize; the network subtracts the mean RGB and
//    divides by 255;
//  - the output grid [s/32, s/32, 5 anchors x (tx, ty, tw, th, score logit)] is decoded per cell:
//    score = sigmoid(logit), kept when score > threshold; centre ((col + sigmoid(tx)) / cells,
//    (row + sigmoid(ty)) / cells), size (exp(tw) * anchor_w / cells, exp(th) * anchor_h / cells),
//    each scaled by input_size / (the image's side scaled to input_size, rounded) so the box is
//    relative to the image itself, then multiplied by the image's width and height;
//  - non-maximum suppression: highest score first (ties: the later cell first, as JavaScript's
//    stable sort then pop gives), dropping boxes whose IoU with a kept one exceeds 0.4.
// Boxes are not clipped: they may reach past the image's edges (age_gender_estimator clips them).
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lmtcnn/io/resize.hpp"
#include "lmtcnn/io/image_io.hpp"
#include "lmtcnn/engine/model.hpp"
#include "lmtcnn/face/types.hpp"

namespace lmtcnn {

/// Settings of a face_detector.
struct face_detector_options {
  index_t input_size = 416;        ///< side of the network input: a multiple of 32, 32..2048
  double score_threshold = 0.5;    ///< faces scoring above this are kept; in (0, 1)
  std::size_t max_faces = 1000;    ///< at most this many faces per image (the best ones)
  bool self_test = true;           ///< run the file's self-test when loading it
};

namespace detail {

/// Intersection over union of two boxes (0 when either is empty).
inline double iou(const face_box& a, const face_box& b) {
  const double w = std::max(0.0, std::min(a.x + a.width, b.x + b.width) - std::max(a.x, b.x));
  const double h = std::max(0.0, std::min(a.y + a.height, b.y + b.height) - std::max(a.y, b.y));
  const double inter = w * h;
  const double uni = a.width * a.height + b.width * b.height - inter;
  return uni > 0 ? inter / uni : 0.0;
}

/// Greedy non-maximum suppression as face-api.js does it; returns the indices kept, best first.
inline std::vector<std::size_t> non_max_suppression(const std::vector<face_box>& boxes, const std::vector<double>& scores,
                                                    double iou_threshold) {
  std::vector<std::size_t> order(boxes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // ascending by score, equal scores in their original order; candidates are taken from the back
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  std::vector<std::size_t> kept;
  while (!order.empty()) {
    const std::size_t cur = order.back();
    order.pop_back();
    kept.push_back(cur);
    std::vector<std::size_t> rest;
    rest.reserve(order.size());
    for (std::size_t i : order)
      if (iou(boxes[cur], boxes[i]) <= iou_threshold) rest.push_back(i);
    order.swap(rest);
  }
  return kept;
}

/// The detector's network input for an image: [size,size,3] RGB 0..255, the image padded with zeros
/// at the bottom or right to a square and resized (legacy bilinear); written into dst.
inline void prepare_detector_input(const image_view& img, const tensor_view<float>& dst, index_t size) {
  if (img.width <= 0 || img.height <= 0) throw error("cannot detect faces in an empty image");
  const index_t side = std::max(img.width, img.height);
  const index_t w = img.width, h = img.height;
  auto at = [&](index_t y, index_t x, index_t c) -> double {
    if (y >= h || x >= w) return 0.0;
    return img.at(static_cast<int>(x), static_cast<int>(y), static_cast<int>(c));
  };
  float* out = dst.data();
  resample_bilinear_legacy(side, side, 3, size, size, at, [&](index_t y, index_t x, index_t c, double v) {
    out[(y * size + x) * 3 + c] = static_cast<float>(v);
  });
}

/// Decodes a detector output grid [cells, cells, anchors * 5] (one image) into boxes in image
/// pixels, then applies non-maximum suppression. anchors: (w, h) pairs in grid cells.
inline std::vector<face_detection> decode_face_grid(const float* grid, index_t cells, const std::vector<double>& anchors,
                                                    int image_width, int image_height, index_t input_size,
                                                    double score_threshold, double iou_threshold,
                                                    std::size_t max_faces) {
  const index_t n_anchors = static_cast<index_t>(anchors.size() / 2);
  const double scale = static_cast<double>(input_size) / std::max(image_width, image_height);
  // JavaScript's Math.round of the image's sides scaled to the input size
  const double reshaped_w = std::floor(image_width * scale + 0.5), reshaped_h = std::floor(image_height * scale + 0.5);
  const double corr_x = static_cast<double>(input_size) / reshaped_w;
  const double corr_y = static_cast<double>(input_size) / reshaped_h;
  auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  std::vector<face_box> rel;  // relative to the image (0..1)
  std::vector<double> scores;
  for (index_t row = 0; row < cells; ++row)
    for (index_t col = 0; col < cells; ++col)
      for (index_t a = 0; a < n_anchors; ++a) {
        const float* v = grid + ((row * cells + col) * n_anchors + a) * 5;
        const double score = sigmoid(v[4]);
        if (!(score > score_threshold)) continue;
        const double cx = ((static_cast<double>(col) + sigmoid(v[0])) / static_cast<double>(cells)) * corr_x;
        const double cy = ((static_cast<double>(row) + sigmoid(v[1])) / static_cast<double>(cells)) * corr_y;
        const double bw = ((std::exp(static_cast<double>(v[2])) * anchors[static_cast<std::size_t>(2 * a)]) /
                           static_cast<double>(cells)) * corr_x;
        const double bh = ((std::exp(static_cast<double>(v[3])) * anchors[static_cast<std::size_t>(2 * a + 1)]) /
                           static_cast<double>(cells)) * corr_y;
        if (!(std::isfinite(bw) && std::isfinite(bh))) continue;  // an overflowing exp is no box
        rel.push_back({cx - bw / 2, cy - bh / 2, bw, bh});
        scores.push_back(score);
      }
  // face-api.js suppresses on the boxes scaled by the input size
  std::vector<face_box> scaled(rel.size());
  const double s = static_cast<double>(input_size);
  for (std::size_t i = 0; i < rel.size(); ++i) scaled[i] = {rel[i].x * s, rel[i].y * s, rel[i].width * s, rel[i].height * s};
  std::vector<face_detection> faces;
  for (std::size_t i : non_max_suppression(scaled, scores, iou_threshold)) {
    if (faces.size() >= max_faces) break;
    const face_box& r = rel[i];
    faces.push_back({{r.x * image_width, r.y * image_height, r.width * image_width, r.height * image_height}, scores[i]});
  }
  return faces;
}

}  // namespace detail

/// face-api.js's tiny face detector, loaded from a converted file, on the SIMD engine.
class face_detector {
 public:
  /// Loads a converted tiny face detector and prepares it for the given input size.
  /// Throws lmtcnn::error (format_error for a bad file) naming the file or the bad setting.
  explicit face_detector(const std::string& model_path, const face_detector_options& options = {})
      : face_detector(load_file(model_path, options), model_path, options) {}

  /// The same over a file already loaded (model_path names it in messages).
  face_detector(const std::shared_ptr<const weights_file>& file, const std::string& model_path,
                const face_detector_options& options = {})
      : options_(check(options)), model_(file) {
    const metadata& meta = file->meta();
    detail::require_family(meta, model_path, "faceapi_tiny_face_detector", "a face-api.js tiny face detector");
    const auto anchors = meta.find("detector.anchors");
    const auto iou_t = meta.find("detector.iou_threshold");
    if (anchors == meta.end() || anchors->second.type != meta_value::kind::reals || anchors->second.ds.empty() ||
        anchors->second.ds.size() % 2 != 0)
      throw format_error(model_path + ": detector.anchors is missing or not a list of (width, height) pairs");
    if (iou_t == meta.end() || iou_t->second.type != meta_value::kind::real || !(iou_t->second.d >= 0 && iou_t->second.d <= 1))
      throw format_error(model_path + ": detector.iou_threshold is missing or not in [0, 1]");
    anchors_ = anchors->second.ds;
    for (double a : anchors_)
      if (!(a > 0 && a < 1e4)) throw format_error(model_path + ": detector.anchors holds a size that is not positive");
    iou_threshold_ = iou_t->second.d;
    if (options.self_test && model_.has_self_test()) model_.self_test();
    graph g = file->net_graph();
    g.input_dims = shape({options.input_size, options.input_size, 3});
    if (g.input_dims != file->net_graph().input_dims) model_ = model<float>(g, file);
    const index_t n_anchors = static_cast<index_t>(anchors_.size() / 2);
    const std::vector<shape> shapes = file->shapes_of(g);
    const auto out = std::find_if(g.outputs.begin(), g.outputs.end(), [](const auto& o) { return o.first == "boxes"; });
    if (out == g.outputs.end()) throw format_error(model_path + ": the graph has no 'boxes' output");
    const shape& os = shapes.at(out->second);
    cells_ = options.input_size / 32;
    if (os != shape({1, cells_, cells_, n_anchors * 5}))
      throw format_error(model_path + ": output 'boxes' is " + os.str() + ", expected " +
                         shape({1, cells_, cells_, n_anchors * 5}).str() + " for " + std::to_string(n_anchors) +
                         " anchors at input size " + std::to_string(options.input_size));
  }

  const face_detector_options& options() const { return options_; }
  double iou_threshold() const { return iou_threshold_; }

  /// The faces of an image, best first. reference selects the scalar reference path.
  std::vector<face_detection> detect(const image_view& img, bool reference = false) const {
    if (img.width > 0 && img.height > 0) img.check();  // an empty image: prepare_detector_input says so
    const index_t s = options_.input_size;
    tensor<float> input({1, s, s, 3});
    detail::prepare_detector_input(img, tensor_view<float>(input.data(), {s, s, 3}), s);
    const tensor<float> grid = raw_output(input.view(), reference);
    return detail::decode_face_grid(grid.data(), cells_, anchors_, img.width, img.height, s, options_.score_threshold,
                            iou_threshold_, options_.max_faces);
  }

  /// The raw output grid [n, s/32, s/32, anchors * 5] for prepared inputs [n, s, s, 3] (RGB 0..255).
  tensor<float> raw_output(tensor_view<const float> input, bool reference = false) const {
    std::map<std::string, tensor<float>> out = reference ? model_.forward_reference(input) : model_.forward(input);
    return std::move(out.at("boxes"));
  }

 private:
  static const face_detector_options& check(const face_detector_options& options) {
    if (options.input_size < 32 || options.input_size > 2048 || options.input_size % 32 != 0)
      throw error("detector input size " + std::to_string(options.input_size) +
                  " is not a multiple of 32 from 32 to 2048");
    if (!(options.score_threshold > 0 && options.score_threshold < 1))
      throw error("detector score threshold " + std::to_string(options.score_threshold) + " is not between 0 and 1");
    return options;
  }

  static std::shared_ptr<const weights_file> load_file(const std::string& model_path,
                                                       const face_detector_options& options) {
    check(options);  // before the file: a bad setting is reported as such
    return std::make_shared<const weights_file>(weights_file::load(model_path));
  }

  face_detector_options options_;
  std::vector<double> anchors_;
  double iou_threshold_ = 0.4;
  index_t cells_ = 13;
  model<float> model_;
};

}  // namespace lmtcnn
