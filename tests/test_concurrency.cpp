// One prepared network shared by 8 threads at once, each running its own inputs: every result must be
// bitwise equal to the single-threaded result for the same input (and a second single-threaded pass
// must repeat the first bit for bit). CI also runs this test under ThreadSanitizer.
// Covers face-api.js's AgeGenderNet (2,000 inferences on the ten real face crops), the tiny face
// detector (on four real photos) and LMTCNN-2-1 (seeded weights).
// Needs LMTCNN_MODEL_DIR holding the converted models and faceapi/sample1.jpg ... sample3.jpg.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "lmtcnn/face/age_gender.hpp"
#include "lmtcnn/face/face_detector.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"
#include "lmtcnn/core/seeded.hpp"

using namespace lmtcnn;

namespace {

const std::string data_dir = LMTCNN_TEST_DATA_DIR;
constexpr int n_threads = 8;

std::string model_dir() {
  const char* dir = std::getenv("LMTCNN_MODEL_DIR");
  REQUIRE_MESSAGE(dir != nullptr, "set LMTCNN_MODEL_DIR to the directory holding the converted models");
  return dir;
}

bool same_bits(const void* a, const void* b, std::size_t n) { return std::memcmp(a, b, n) == 0; }

/// Runs work(thread, round) on n_threads threads for `rounds` rounds each; returns the mismatches counted.
template <class Work>
int run_threads(int rounds, Work work) {
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < rounds; ++r)
        if (!work(t, r)) mismatches.fetch_add(1);
    });
  for (std::thread& th : threads) th.join();
  return mismatches.load();
}

}  // namespace

TEST_CASE("AgeGenderNet: 8 threads, 2000 inferences on one estimator, bitwise equal to one thread") {
  const char* names[] = {"faceapi_sample1_face0", "faceapi_sample1_face1", "faceapi_sample1_face2",
                         "faceapi_sample2_face0", "faceapi_sample2_face1", "faceapi_sample2_face2",
                         "faceapi_sample3_face0", "faceapi_sample3_face1", "faceapi_sample3_face2",
                         "skimage_astronaut_face0"};
  std::vector<image> faces;
  for (const char* n : names) faces.push_back(load_image(data_dir + "/realdata/crops/" + n + ".png"));
  const age_gender_estimator est(model_dir() + "/age_gender.lmt");
  auto predict = [&](std::size_t i) {
    return est.predict(faces[i], {0, 0, double(faces[i].width), double(faces[i].height)});
  };
  std::vector<age_gender> single, again;
  for (std::size_t i = 0; i < faces.size(); ++i) single.push_back(predict(i));
  for (std::size_t i = 0; i < faces.size(); ++i) again.push_back(predict(i));
  CHECK(same_bits(single.data(), again.data(), single.size() * sizeof(age_gender)));
  const int mismatches = run_threads(250, [&](int t, int r) {
    const std::size_t i = static_cast<std::size_t>(t * 7 + r) % faces.size();
    const age_gender got = predict(i);
    return same_bits(&got, &single[i], sizeof got);
  });
  CHECK(mismatches == 0);
}

TEST_CASE("tiny face detector: 8 threads on one detector, bitwise equal to one thread") {
  std::vector<image> photos;
  for (const char* p : {"/faceapi/sample1.jpg", "/faceapi/sample2.jpg", "/faceapi/sample3.jpg"})
    photos.push_back(load_image(model_dir() + p));
  photos.push_back(load_image(data_dir + "/realdata/images/skimage_astronaut.png"));
  face_detector_options o;
  o.input_size = 224;  // smaller than the default 416, to keep the sanitizer run short
  const face_detector det(model_dir() + "/tiny_face_detector.lmt", o);
  std::vector<std::vector<face_detection>> single;
  for (const image& p : photos) single.push_back(det.detect(p));
  auto equal = [](const std::vector<face_detection>& a, const std::vector<face_detection>& b) {
    return a.size() == b.size() && (a.empty() || same_bits(a.data(), b.data(), a.size() * sizeof(face_detection)));
  };
  for (std::size_t i = 0; i < photos.size(); ++i) CHECK(equal(det.detect(photos[i]), single[i]));
  std::size_t found = 0;
  for (const auto& s : single) found += s.size();
  CHECK(found >= 3);  // faces are found at this size too, so the comparisons below compare boxes
  const int mismatches = run_threads(12, [&](int t, int r) {
    const std::size_t i = static_cast<std::size_t>(t + r) % photos.size();
    return equal(det.detect(photos[i]), single[i]);
  });
  CHECK(mismatches == 0);
}

TEST_CASE("LMTCNN-2-1: 8 threads on one network, bitwise equal to one thread") {
  lmtcnn_options opt;
  opt.bn_mode = batch_norm_mode::moving_average;
  const lmtcnn_net<float> net(lmtcnn_seeded_weights<float>(lmtcnn_variant::v2_1, 3), opt);
  std::vector<tensor<float>> inputs;
  for (int i = 0; i < 4; ++i)
    inputs.push_back(seeded::pixels<float>({1, 227, 227, 3}, 40 + static_cast<std::uint64_t>(i), "input"));
  std::vector<tensor<float>> single;
  for (const tensor<float>& in : inputs) single.push_back(net.forward(in.view()).age_probs);
  const int mismatches = run_threads(12, [&](int t, int r) {
    const std::size_t i = static_cast<std::size_t>(t + r) % inputs.size();
    const tensor<float> got = net.forward(inputs[i].view()).age_probs;
    return got.shape() == single[i].shape() &&
           same_bits(got.data(), single[i].data(), static_cast<std::size_t>(got.size()) * sizeof(float));
  });
  CHECK(mismatches == 0);
}

TEST_CASE("LMTCNN-1-1 on a shared 3-thread pool: 8 callers, layers split across the pool, bitwise equal") {
  lmtcnn_options opt;
  opt.bn_mode = batch_norm_mode::moving_average;
  const lmtcnn_net<float> net(lmtcnn_seeded_weights<float>(lmtcnn_variant::v1_1, 4), opt);
  std::vector<tensor<float>> inputs;
  for (int i = 0; i < 3; ++i)
    inputs.push_back(seeded::pixels<float>({1 + i % 2, 227, 227, 3}, 60 + static_cast<std::uint64_t>(i), "input"));
  std::vector<tensor<float>> single;
  for (const tensor<float>& in : inputs) single.push_back(net.forward(in.view()).gender_probs);
  thread_pool pool(3);
  const int mismatches = run_threads(6, [&](int t, int r) {
    const std::size_t i = static_cast<std::size_t>(t + r) % inputs.size();
    const tensor<float> got = net.forward(inputs[i].view(), pool).gender_probs;
    return got.shape() == single[i].shape() &&
           same_bits(got.data(), single[i].data(), static_cast<std::size_t>(got.size()) * sizeof(float));
  });
  CHECK(mismatches == 0);
}

TEST_CASE("thread_pool: every task exactly once, any task count, several callers") {
  for (unsigned threads : {1u, 2u, 3u}) {
    thread_pool pool(threads);
    CHECK(pool.size() == threads);
    for (std::size_t tasks : {std::size_t(0), std::size_t(1), std::size_t(2), std::size_t(7), std::size_t(1000)}) {
      std::vector<std::atomic<int>> hits(tasks);
      std::atomic<int> bad_worker{0};
      pool.parallel_for(tasks, [&](std::size_t t, unsigned worker) {
        hits[t].fetch_add(1);
        if (worker >= threads) bad_worker.fetch_add(1);
      });
      int wrong = 0;
      for (const auto& h : hits) wrong += h.load() != 1;
      CHECK_MESSAGE(wrong == 0, threads << " threads, " << tasks << " tasks: " << wrong << " not run exactly once");
      CHECK(bad_worker.load() == 0);
    }
    // a thread held up in a task: the tasks after it in its share are taken by the others
    if (threads > 1) {
      const std::size_t tasks = 10 * threads;
      std::vector<std::atomic<unsigned>> ran_on(tasks), order(tasks);
      std::atomic<unsigned> started{0};
      pool.parallel_for(tasks, [&](std::size_t t, unsigned worker) {
        ran_on[t].store(worker);
        order[t].store(started.fetch_add(1));
        if (t == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
      });
      // tasks the held thread ran after it woke (those before it took task 0 do not count)
      const unsigned held = ran_on[0].load();
      int waited = 0;
      for (std::size_t t = 1; t < tasks; ++t) waited += ran_on[t].load() == held && order[t].load() > order[0].load();
      CHECK_MESSAGE(waited == 0, threads << " threads: " << waited << " tasks waited for the thread held up");
    }
    // 8 callers share the pool: their jobs run one after the other, each complete
    std::atomic<long> total{0};
    const int mismatches = run_threads(20, [&](int t, int) {
      std::atomic<long> sum{0};
      const std::size_t n = 50 + static_cast<std::size_t>(t);
      pool.parallel_for(n, [&](std::size_t i, unsigned) { sum.fetch_add(static_cast<long>(i)); });
      total.fetch_add(1);
      return sum.load() == static_cast<long>(n * (n - 1) / 2);
    });
    CHECK(mismatches == 0);
    CHECK(total.load() == n_threads * 20);
  }
}
