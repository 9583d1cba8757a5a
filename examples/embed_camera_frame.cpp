// Faces, ages and genders in pixels your program already holds: a camera frame, a cv::Mat, a video
// decoder's buffer. lmtcnn reads them in place through an image_view (RGB, BGR, RGBA or BGRA bytes, any
// row stride); nothing is converted or copied first. With OpenCV:
//
//   cv::Mat frame = ...;                                    // CV_8UC3, BGR
//   lmtcnn::image_view view(frame.data, frame.cols, frame.rows, frame.step, lmtcnn::pixel_format::bgr);
//   for (const lmtcnn::face_result& f : analyzer.analyze(view)) ...
//
// This program has no camera: it lays a photo out as a BGRA frame with padded rows, as many capture
// APIs deliver them, then analyses that frame.
//   embed_camera_frame PHOTO
#include <cstdio>
#include <exception>
#include <vector>

#include <lmtcnn/face/face_analyzer.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: embed_camera_frame PHOTO\n");
    return 2;
  }
  try {
    lmtcnn::face_analyzer_options o;
    o.model = lmtcnn::find_model("age_gender.lmt", argv[0]);
    o.detector = lmtcnn::find_model("tiny_face_detector.lmt", argv[0]);
    const lmtcnn::face_analyzer analyzer(o);

    // the "camera": BGRA, each row padded to a multiple of 256 bytes
    const lmtcnn::image photo = lmtcnn::load_image(argv[1]);
    const std::size_t stride = (static_cast<std::size_t>(photo.width) * 4 + 255) / 256 * 256;
    std::vector<unsigned char> frame(stride * static_cast<std::size_t>(photo.height), 0);
    for (int y = 0; y < photo.height; ++y)
      for (int x = 0; x < photo.width; ++x) {
        unsigned char* p = &frame[static_cast<std::size_t>(y) * stride + static_cast<std::size_t>(x) * 4];
        p[0] = photo.at(x, y, 2);  // blue
        p[1] = photo.at(x, y, 1);  // green
        p[2] = photo.at(x, y, 0);  // red
        p[3] = 255;                // alpha
      }

    const lmtcnn::image_view view(frame.data(), photo.width, photo.height, stride, lmtcnn::pixel_format::bgra);
    for (const lmtcnn::face_result& f : analyzer.analyze(view))
      std::printf("face at %.0f,%.0f %.0fx%.0f: %.1f years, %s (p_male %.2f)\n", f.box.x, f.box.y, f.box.width,
                  f.box.height, f.age_years ? *f.age_years : 0.0, f.male() ? "male" : "female", f.p_male);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
  return 0;
}
