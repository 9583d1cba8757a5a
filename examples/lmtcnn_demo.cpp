// lmtcnn_demo: runs LMTCNN on one photo with LMTCNN's own preprocessing (resize to 256x256, then
// to 227x227, per-image standardisation), using seeded untrained weights until a converted model
// file is given. Prints the age-group and gender probabilities and the time of the forward pass.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#include <stb_image.h>

#include <lmtcnn/io/resize.hpp>
#include <lmtcnn/nets/lmtcnn.hpp>

namespace {

constexpr long long max_pixels = 1LL << 28;  // refuse larger images before decoding them

void usage(std::FILE* f) {
  std::fprintf(f,
               "usage: lmtcnn_demo [--variant 1-1|2-1] [--bn moving_average|batch_statistics] [--seed N] [IMAGE]\n"
               "Runs LMTCNN on IMAGE (JPEG, PNG or BMP; a face crop) or, without IMAGE, on seeded random\n"
               "pixels. The weights are seeded and untrained: the probabilities show the engine at work,\n"
               "they are not a prediction.\n");
}

/// Loads an RGB image as a [1,h,w,3] float tensor of 0..255 values; throws lmtcnn::error naming the file.
lmtcnn::tensor<float> load_rgb(const std::string& path) {
  int w = 0, h = 0, channels = 0;
  if (!stbi_info(path.c_str(), &w, &h, &channels))
    throw lmtcnn::error("cannot read image " + path + ": " + stbi_failure_reason());
  if (static_cast<long long>(w) * h > max_pixels)
    throw lmtcnn::error("image " + path + " is too large: " + std::to_string(w) + "x" + std::to_string(h));
  unsigned char* pixels = stbi_load(path.c_str(), &w, &h, &channels, 3);
  if (!pixels) throw lmtcnn::error("cannot decode image " + path + ": " + stbi_failure_reason());
  lmtcnn::tensor<float> img({1, h, w, 3});
  for (lmtcnn::index_t i = 0; i < img.size(); ++i) img[i] = pixels[i];
  stbi_image_free(pixels);
  return img;
}

}  // namespace

int main(int argc, char** argv) {
  lmtcnn::lmtcnn_variant variant = lmtcnn::lmtcnn_variant::v2_1;
  lmtcnn::lmtcnn_options options;
  unsigned long long seed = 1;
  std::string image_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--variant" && has_value) {
      const std::string v = argv[++i];
      if (v != "1-1" && v != "2-1") {
        std::fprintf(stderr, "lmtcnn_demo: --variant takes 1-1 or 2-1, not '%s'\n", v.c_str());
        return 2;
      }
      variant = v == "1-1" ? lmtcnn::lmtcnn_variant::v1_1 : lmtcnn::lmtcnn_variant::v2_1;
    } else if (a == "--bn" && has_value) {
      const std::string m = argv[++i];
      if (m != "moving_average" && m != "batch_statistics") {
        std::fprintf(stderr, "lmtcnn_demo: --bn takes moving_average or batch_statistics, not '%s'\n", m.c_str());
        return 2;
      }
      options.bn_mode = m == "moving_average" ? lmtcnn::batch_norm_mode::moving_average
                                              : lmtcnn::batch_norm_mode::batch_statistics;
    } else if (a == "--seed" && has_value) {
      char* end = nullptr;
      seed = std::strtoull(argv[++i], &end, 10);
      if (*end != '\0') {
        std::fprintf(stderr, "lmtcnn_demo: --seed takes a whole number, not '%s'\n", argv[i]);
        return 2;
      }
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "lmtcnn_demo: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    } else if (image_path.empty()) {
      image_path = a;
    } else {
      std::fprintf(stderr, "lmtcnn_demo: one image at a time ('%s' is extra)\n", a.c_str());
      return 2;
    }
  }

  try {
    const lmtcnn::lmtcnn_net<float> net(lmtcnn::lmtcnn_seeded_weights<float>(variant, seed), options);
    lmtcnn::tensor<float> input({1, 227, 227, 3});
    if (image_path.empty()) {
      input = lmtcnn::seeded::pixels<float>({1, 227, 227, 3}, seed, "input");
      std::printf("input: seeded random pixels (seed %llu)\n", seed);
    } else {
      const lmtcnn::tensor<float> img = load_rgb(image_path);
      lmtcnn::tensor<float> resized({1, 256, 256, 3});
      lmtcnn::resize_bilinear_legacy<float>(img.view(), resized.view());
      lmtcnn::resize_bilinear_legacy<float>(resized.view(), input.view());
      std::printf("input: %s, %lldx%lld -> 256x256 -> 227x227\n", image_path.c_str(),
                  static_cast<long long>(img.dim(2)), static_cast<long long>(img.dim(1)));
    }
    std::printf("network: %s, batch norm: %s, weights: seeded and untrained (seed %llu) - not a real prediction\n",
                net.name().c_str(), lmtcnn::to_string(net.bn_mode()), seed);

    const auto t0 = std::chrono::steady_clock::now();
    const lmtcnn::lmtcnn_output<float> out = net.forward(input.view());
    const auto t1 = std::chrono::steady_clock::now();

    std::printf("age group  probability\n");
    for (std::size_t g = 0; g < lmtcnn::lmtcnn_age_groups.size(); ++g)
      std::printf("  %-7s  %.4f\n", lmtcnn::lmtcnn_age_groups[g],
                  static_cast<double>(out.age_probs[static_cast<lmtcnn::index_t>(g)]));
    std::printf("gender: male %.4f, female %.4f\n", static_cast<double>(out.gender_probs[0]),
                static_cast<double>(out.gender_probs[1]));
#ifdef LMTCNN_FORCE_REFERENCE
    const char* path = "scalar reference";
#else
    const char* path = lmtcnn::simd_arch::name();
#endif
    std::printf("forward pass (%s): %.1f ms\n", path, std::chrono::duration<double, std::milli>(t1 - t0).count());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lmtcnn_demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
