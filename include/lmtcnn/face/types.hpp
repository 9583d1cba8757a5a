// lmtcnn face types: the boxes, detections and results the face pipeline passes around, and the
// crop box rule face-api.js applies to a face box.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "lmtcnn/core/error.hpp"

namespace lmtcnn {

/// A face box in image pixels (top-left corner, width, height).
struct face_box {
  double x = 0, y = 0, width = 0, height = 0;
};

/// A point in image pixels.
struct face_point {
  double x = 0, y = 0;
};

/// What the AgeGenderNet says about one face.
struct age_gender {
  float age_years = 0;
  float p_male = 0;
  float p_female = 0;
};

namespace detail {

/// A box of whole pixels inside an image.
struct pixel_box {
  int x = 0, y = 0, width = 0, height = 0;
};

/// The box face-api.js crops: clipped to the image, then each of x, y, width, height floored; none
/// when the box is not finite or not one whole pixel of it lies inside the image.
inline std::optional<pixel_box> crop_box(const face_box& b, int image_width, int image_height) {
  if (!(std::isfinite(b.x) && std::isfinite(b.y) && std::isfinite(b.width) && std::isfinite(b.height))) return {};
  const double cx = std::max(b.x, 0.0), cy = std::max(b.y, 0.0);
  const double cw = std::min(b.x + b.width - cx, image_width - cx), ch = std::min(b.y + b.height - cy, image_height - cy);
  const double fx = std::floor(cx), fy = std::floor(cy), fw = std::floor(cw), fh = std::floor(ch);
  if (!(fw >= 1 && fh >= 1)) return {};
  return pixel_box{static_cast<int>(fx), static_cast<int>(fy), static_cast<int>(fw), static_cast<int>(fh)};
}

/// crop_box, as x, y, w, h; throws lmtcnn::error saying why when there is no such box.
inline void clip_box(const face_box& b, int image_width, int image_height, int& x, int& y, int& w, int& h) {
  if (!(std::isfinite(b.x) && std::isfinite(b.y) && std::isfinite(b.width) && std::isfinite(b.height)))
    throw error("face box is not finite");
  const std::optional<pixel_box> p = crop_box(b, image_width, image_height);
  if (!p)
    throw error("face box (" + std::to_string(b.x) + ", " + std::to_string(b.y) + ", " + std::to_string(b.width) +
                ", " + std::to_string(b.height) + ") lies outside the " + std::to_string(image_width) + "x" +
                std::to_string(image_height) + " image");
  x = p->x;
  y = p->y;
  w = p->width;
  h = p->height;
}

}  // namespace detail

/// One detected face: its box in image pixels and its score (0..1).
struct face_detection {
  face_box box;
  double score = 0;
};

/// What is known about one face.
struct face_result {
  face_box box;                       ///< in image pixels, as detected or given (not clipped)
  std::optional<double> score;        ///< the detector's score; none for a given box or the whole image
  std::vector<face_point> landmarks;  ///< the 68 points in image pixels; empty without a landmark net
  std::optional<face_box> aligned_box;  ///< the box aligned on the landmarks, which age and gender were read from
  std::optional<double> age_years;    ///< regression models (face-api.js)
  std::string age_group;              ///< classification models (LMTCNN): the most likely group
  std::vector<double> age_probs;      ///< classification models: one per group of age_groups
  double p_male = 0, p_female = 0;
  bool male() const { return p_male >= p_female; }
};

}  // namespace lmtcnn
