// libFuzzer target: arbitrary bytes as a photo through the whole pipeline: decode (JPEG, PNG, BMP with
// the size limits checked from the header), face detection with the tiny face detector, crop
// preparation for a box taken from the input, and (for one input in 64) the tiny 68-point landmark net,
// the aligned boxes and the AgeGenderNet; the SSD detector's box decoding and suppression on values
// taken from the input (any floats, NaN and infinities included).
// Needs LMTCNN_MODEL_DIR holding age_gender.lmt, tiny_face_detector.lmt and face_landmark_68_tiny.lmt. To keep executions fast
// the detector runs at 32x32 and images are limited to 512 pixels a side and 256 kilopixels.
// lmtcnn::error is the only acceptable refusal.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <lmtcnn/face/face_analyzer.hpp>

namespace {

struct pipeline {
  std::unique_ptr<lmtcnn::face_detector> detector;
  std::unique_ptr<lmtcnn::age_gender_estimator> estimator;
  std::unique_ptr<lmtcnn::landmark_detector> landmarks;
  pipeline() {
    const char* dir = std::getenv("LMTCNN_MODEL_DIR");
    if (!dir) {
      std::fprintf(stderr, "fuzz_image_pipeline: set LMTCNN_MODEL_DIR to the directory holding the models\n");
      std::abort();
    }
    lmtcnn::face_detector_options o;
    o.input_size = 32;
    o.max_faces = 4;
    detector = std::make_unique<lmtcnn::face_detector>(std::string(dir) + "/tiny_face_detector.lmt", o);
    estimator = std::make_unique<lmtcnn::age_gender_estimator>(std::string(dir) + "/age_gender.lmt");
    landmarks = std::make_unique<lmtcnn::landmark_detector>(std::string(dir) + "/face_landmark_68_tiny.lmt");
  }
};

/// The SSD's decoding and suppression on floats from the input: 3 anchors of one cell.
void ssd_decoding(const std::uint8_t* data, std::size_t size) {
  float v[12 + 9 + 12] = {};  // box encodings, class logits, priors
  std::memcpy(v, data, std::min(size, sizeof v));
  std::vector<double> boxes, scores;
  lmtcnn::detail::ssd_decode({v}, {v + 12}, {1}, v + 21, 3, boxes, scores);
  for (std::size_t i : lmtcnn::detail::ssd_non_max_suppression(boxes, scores, 2, 0.5, 0.5))
    if (i >= scores.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const pipeline p;
  ssd_decoding(data, size);
  lmtcnn::image_limits limits;
  limits.max_side = 512;
  limits.max_pixels = 1 << 18;
  try {
    const lmtcnn::image img = lmtcnn::decode_image(data, size, "fuzz", limits);
    std::vector<lmtcnn::face_box> boxes;
    for (const lmtcnn::face_detection& d : p.detector->detect(img))
      if (lmtcnn::detail::box_overlaps(d.box, img)) boxes.push_back(d.box);
    // a box from the input's first bytes, in or out of the image
    float raw[4] = {0, 0, 1, 1};
    std::memcpy(raw, data, std::min(size, sizeof raw));
    const lmtcnn::face_box given{raw[0], raw[1], raw[2], raw[3]};
    lmtcnn::tensor<float> crop({112, 112, 3});
    try {
      lmtcnn::detail::prepare_face_crop(img, given, crop.view());
    } catch (const lmtcnn::error&) {
    }
    if (size % 64 == 0) {
      boxes.push_back({0, 0, static_cast<double>(img.width), static_cast<double>(img.height)});
      std::vector<lmtcnn::face_box> aligned;
      for (const std::vector<lmtcnn::face_point>& pts : p.landmarks->detect(img, boxes)) {
        const lmtcnn::face_box a = lmtcnn::aligned_box(pts);
        if (lmtcnn::detail::box_overlaps(a, img)) aligned.push_back(a);
      }
      p.estimator->predict(img, boxes);
      p.estimator->predict(img, aligned);
    }
  } catch (const lmtcnn::error&) {
  }
  return 0;
}
