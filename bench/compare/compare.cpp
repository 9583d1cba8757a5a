// lmtcnn next to oneDNN and XNNPACK (when built with it) on the same LMTCNN-2-1 and LMTCNN-1-1 (moving-average
// batch norm, seeded weights, batch 1, fp32), in one run:
//   1. every library runs the same image; their age and gender probabilities must agree with
//      lmtcnn's (max |diff| <= 1e-4) or the program stops with exit code 1;
//   2. at 1 and at 2 threads, the libraries take turns of 10 timed calls (warm-up first; each turn
//      starts after a 20 ms pause and one untimed call), so machine noise hits them alike; the medians, the minimums and lmtcnn / best peer are printed as a
//      table and as one JSON line per network and thread count.
// lmtcnn's time includes its input standardisation (a layer of its graph); the peers get the
// standardised image computed here. With --precision bf16 lmtcnn runs in bf16 (the peers stay fp32),
// its probabilities must agree within 5e-3, and lmtcnn in fp32 takes its turns too ("lmtcnn-fp32",
// not a peer), so the table also gives bf16 / fp32.
//   build/bench/compare/lmtcnn_compare [--runs R] [--precision fp32|bf16]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lmtcnn/nets/lmtcnn.hpp"
#include "lmtcnn/core/seeded.hpp"
#include "lmtcnn/core/thread_pool.hpp"
#include "onednn_lmtcnn.hpp"
#ifdef LMTCNN_COMPARE_XNNPACK
#include "xnnpack_lmtcnn.hpp"
#endif

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// TensorFlow's per_image_standardization, in double, written out here independently of lmtcnn.
std::vector<float> standardized(const lmtcnn::tensor<float>& img) {
  const std::size_t n = static_cast<std::size_t>(img.size());
  double sum = 0, sq = 0;
  for (std::size_t i = 0; i < n; ++i) sum += img.data()[i];
  const double mean = sum / static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i) sq += (img.data()[i] - mean) * (img.data()[i] - mean);
  const double sd = std::max(std::sqrt(sq / static_cast<double>(n)), 1.0 / std::sqrt(static_cast<double>(n)));
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>((img.data()[i] - mean) / sd);
  return out;
}

double max_diff(const std::vector<float>& a, const float* b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
  return d;
}

struct contender {
  std::string name;
  std::function<void()> run;
  std::vector<double> ms;
};

}  // namespace

int main(int argc, char** argv) {
  int runs = 300;
  lmtcnn::precision prec = lmtcnn::precision::fp32;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (std::string(argv[i]) == "--precision" && i + 1 < argc && (std::string(argv[i + 1]) == "fp32" || std::string(argv[i + 1]) == "bf16")) {
      prec = lmtcnn::parse_precision(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: lmtcnn_compare [--runs R] [--precision fp32|bf16]\n");
      return 2;
    }
  }
  const bool bf16 = prec == lmtcnn::precision::bf16;
  const double agreement = bf16 ? 5e-3 : 1e-4;
  using clock = std::chrono::steady_clock;
  std::printf("%-11s %-7s %-8s %12s %12s %s\n", "network", "threads", "library", "median ms", "min ms", "");
  int status = 0;
  for (lmtcnn::lmtcnn_variant v : {lmtcnn::lmtcnn_variant::v2_1, lmtcnn::lmtcnn_variant::v1_1}) {
    const lmtcnn::tensor_map<float> w = lmtcnn::lmtcnn_seeded_weights<float>(v, 1);
    lmtcnn::lmtcnn_options opt;
    opt.bn_mode = lmtcnn::batch_norm_mode::moving_average;
    lmtcnn::set_precision(lmtcnn::precision::fp32);
    const lmtcnn::lmtcnn_net<float> net_fp32(w, opt);
    lmtcnn::set_precision(prec);
    const lmtcnn::lmtcnn_net<float> net(w, opt);
    const lmtcnn::tensor<float> image = lmtcnn::seeded::pixels<float>({1, 227, 227, 3}, 7, "compare");
    const std::vector<float> std_image = standardized(image);
    const lmtcnn::lmtcnn_output<float> ours = net.forward(image.view());
    std::printf("# %s: lmtcnn in %s on the %s path%s\n", net.name().c_str(), lmtcnn::precision_name(prec),
                lmtcnn::simd_path().c_str(), !bf16 ? "" : net.net_model().engine()->bf16_dot_products() ? " with AVX512_BF16"
                                                                   : " without AVX512_BF16: bf16 widened to float32");
    for (unsigned threads : {1u, 2u}) {
      // oneDNN fixes a primitive's thread count when the primitive is created: build it for this count
      omp_set_num_threads(static_cast<int>(threads));
      compare::onednn_lmtcnn dnnl_net(v, w);

      // 1. agreement
      auto agree = [&](const char* peer, const std::vector<float>& age, const std::vector<float>& gender) {
        const double d_age = max_diff(age, ours.age_probs.data()), d_gender = max_diff(gender, ours.gender_probs.data());
        std::printf("# %s, %u thread(s): %s vs lmtcnn max |diff| age probs %.2g, gender probs %.2g\n",
                    net.name().c_str(), threads, peer, d_age, d_gender);
        if (!(d_age <= agreement && d_gender <= agreement)) {
          std::fprintf(stderr, "lmtcnn_compare: %s's outputs differ from lmtcnn's\n", peer);
          status = 1;
        }
      };
      dnnl_net.run(std_image.data());
      agree("oneDNN", dnnl_net.age_probs(), dnnl_net.gender_probs());
#ifdef LMTCNN_COMPARE_XNNPACK
      compare::xnnpack_lmtcnn xnn_net(v, w, threads);
      xnn_net.run(std_image.data());
      agree("XNNPACK", xnn_net.age_probs(), xnn_net.gender_probs());
#endif

      // 2. timing
      lmtcnn::thread_pool pool(threads);
      std::vector<contender> cs;
      cs.push_back({"lmtcnn", [&] {
                      const auto out = threads > 1 ? net.forward(image.view(), pool) : net.forward(image.view());
                      if (!(out.age_probs.data()[0] >= 0)) std::abort();
                    }, {}});
      const std::size_t peers_from = bf16 ? 2 : 1;
      if (bf16)
        cs.push_back({"lmtcnn-fp32", [&] {
                        const auto out = threads > 1 ? net_fp32.forward(image.view(), pool) : net_fp32.forward(image.view());
                        if (!(out.age_probs.data()[0] >= 0)) std::abort();
                      }, {}});
      cs.push_back({"oneDNN", [&] { dnnl_net.run(std_image.data()); }, {}});
#ifdef LMTCNN_COMPARE_XNNPACK
      cs.push_back({"XNNPACK", [&] { xnn_net.run(std_image.data()); }, {}});
#endif
      for (int r = 0; r < 20; ++r)
        for (contender& c : cs) c.run();
      // turns of 10 calls each (a library's helper threads stay awake between its own calls), with a
      // 20 ms pause before each turn so the previous library's spinning helper threads have gone to sleep
      for (int r = 0; r < runs; r += 10)
        for (contender& c : cs) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          c.run();  // not timed: wakes this library's threads
          for (int q = r; q < std::min(runs, r + 10); ++q) {
            const auto t0 = clock::now();
            c.run();
            c.ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
          }
        }
      double best_peer = 1e300;
      for (std::size_t i = peers_from; i < cs.size(); ++i) best_peer = std::min(best_peer, median(cs[i].ms));
      const double ours_ms = median(cs[0].ms);
      std::string json = "{\"network\":\"" + net.name() + "\",\"threads\":" + std::to_string(threads) +
                         ",\"batch\":1,\"runs\":" + std::to_string(runs) + ",\"precision\":\"" +
                         lmtcnn::precision_name(prec) + "\"";
      for (const contender& c : cs) {
        const double m = median(c.ms), lo = *std::min_element(c.ms.begin(), c.ms.end());
        std::printf("%-11s %-7u %-8s %12.3f %12.3f\n", net.name().c_str(), threads, c.name.c_str(), m, lo);
        char b[160];
        std::snprintf(b, sizeof b, ",\"%s_median_ms\":%.4f,\"%s_min_ms\":%.4f", c.name.c_str(), m, c.name.c_str(), lo);
        json += b;
      }
      char b[96];
      std::snprintf(b, sizeof b, ",\"ratio_lmtcnn_to_best_peer\":%.3f", ours_ms / best_peer);
      json += b;
      if (bf16) {
        std::snprintf(b, sizeof b, ",\"ratio_bf16_to_fp32\":%.3f", ours_ms / median(cs[1].ms));
        json += b;
        std::printf("%-11s %-7u %-8s %12.3f   (lmtcnn bf16 / lmtcnn fp32)\n", net.name().c_str(), threads, "ratio",
                    ours_ms / median(cs[1].ms));
      }
      std::snprintf(b, sizeof b, "}");
      std::printf("%-11s %-7u %-8s %12.3f   (lmtcnn / best peer)\n", net.name().c_str(), threads, "ratio",
                  ours_ms / best_peer);
      std::printf("%s%s\n", "# ", (json + b).c_str());
    }
  }
  return status;
}
