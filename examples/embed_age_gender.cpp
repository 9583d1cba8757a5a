// The smallest program that uses lmtcnn: the age and gender of the face in a photo.
//   embed_age_gender [--model FILE] PHOTO [x y w h]   (without a box, the whole photo is the face)
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <lmtcnn/face/age_gender.hpp>

int main(int argc, char** argv) {
  std::string model;
  if (argc >= 3 && std::string(argv[1]) == "--model") {
    model = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc != 2 && argc != 6) {
    std::fprintf(stderr, "usage: embed_age_gender [--model FILE] PHOTO [x y w h]\n");
    return 2;
  }
  try {
    // age_gender.lmt is converted by the build (build/models/) and installed in share/lmtcnn/models/.
    if (model.empty()) model = lmtcnn::find_model("age_gender.lmt", argv[0]);
    const lmtcnn::age_gender_estimator estimator(model);
    const lmtcnn::image photo = lmtcnn::load_image(argv[1]);
    lmtcnn::face_box box{0, 0, double(photo.width), double(photo.height)};
    if (argc == 6) box = {std::atof(argv[2]), std::atof(argv[3]), std::atof(argv[4]), std::atof(argv[5])};
    const lmtcnn::age_gender r = estimator.predict(photo, box);
    std::printf("age %.1f years, %s (p_male %.4f, p_female %.4f)\n", r.age_years,
                r.p_male > r.p_female ? "male" : "female", r.p_male, r.p_female);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
  return 0;
}
