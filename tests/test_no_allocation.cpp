// The engine's steady state: once a workspace has been planned for a batch size, a forward call
// allocates only the tensors it returns (and the map holding them), whatever the network's size,
// with or without a thread pool. Counted with a replaced global operator new (every form, so that
// what one form allocates another may free, also under AddressSanitizer).
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "lmtcnn/nets/faceapi.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"
#include "lmtcnn/core/seeded.hpp"

namespace {
std::atomic<bool> counting{false};
std::atomic<std::size_t> allocations{0}, allocated_bytes{0};

void* counted(std::size_t n, std::size_t align) {
  if (counting.load(std::memory_order_relaxed)) {
    allocations.fetch_add(1);
    allocated_bytes.fetch_add(n);
  }
  void* p = nullptr;
  if (align <= alignof(std::max_align_t)) {
    p = std::malloc(n ? n : 1);
  } else if (posix_memalign(&p, align, n ? n : 1) != 0) {
    p = nullptr;
  }
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted(n, 0); }
void* operator new[](std::size_t n) { return counted(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted(n, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted(n, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return counted(n, static_cast<std::size_t>(a));
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return counted(n, static_cast<std::size_t>(a));
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace lmtcnn;

// Positive controls: the counter sees an allocation of each form, and a first call, which plans its
// workspace, allocates the arena (more than its outputs); a counter that stopped counting fails here.
TEST_CASE("the allocation counter counts") {
  allocations = 0;
  allocated_bytes = 0;
  counting = true;
  {
    auto* plain = new std::vector<float>(1000);
    const auto aligned = std::make_unique<tensor<float>>(shape{10, 10});
    auto* nothrow = new (std::nothrow) char[100];
    delete[] nothrow;
    delete plain;
  }
  counting = false;
  // the vector object, its 1000 floats, the tensor object, its aligned storage, the char array
  CHECK(allocations.load() >= 5);
  CHECK(allocated_bytes.load() >= 4000 + 400 + 100);

  const graph g = lmtcnn_graph(lmtcnn_variant::v1_1, batch_norm_mode::moving_average);
  const model<float> m(g, lmtcnn_seeded_weights<float>(lmtcnn_variant::v1_1, 2));
  const simd_engine& net = *m.engine();
  const tensor<float> input = seeded::pixels<float>({1, 227, 227, 3}, 5, "input");
  simd_engine::workspace ws;
  allocations = 0;
  allocated_bytes = 0;
  counting = true;
  const auto out = net.forward(input.view(), ws);  // plans the arena
  counting = false;
  CHECK(allocations.load() > 3 * out.size());
  CHECK(allocated_bytes.load() >= net.arena_bytes(1));
}

TEST_CASE("a planned forward call allocates only its outputs") {
  struct net_case {
    std::string name;
    graph g;
    tensor_map<float> w;
    index_t batch;
  };
  std::vector<net_case> cases;
  for (batch_norm_mode m : {batch_norm_mode::moving_average, batch_norm_mode::batch_statistics})
    for (index_t batch : {index_t(1), index_t(3)})
      cases.push_back({std::string("LMTCNN-2-1 ") + to_string(m), lmtcnn_graph(lmtcnn_variant::v2_1, m),
                       lmtcnn_seeded_weights<float>(lmtcnn_variant::v2_1, 2), batch});
  tensor_map<float> fw;
  for (const tensor_spec& s : faceapi_age_gender_tensors()) fw.emplace(s.name, seeded::uniform<float>(s.dims, 3, s.name, -0.1, 0.1));
  cases.push_back({"face-api AgeGenderNet", faceapi_age_gender_graph(256), fw, 2});
  thread_pool pool(2);
  for (const net_case& c : cases)
    for (thread_pool* p : {static_cast<thread_pool*>(nullptr), &pool}) {
      const model<float> m(c.g, c.w);  // the engine of the path the CPU runs best
      const simd_engine& net = *m.engine();
      const shape& d = c.g.input_dims;
      const tensor<float> input = seeded::pixels<float>({c.batch, d[0], d[1], d[2]}, 5, "input");
      simd_engine::workspace ws;
      net.forward(input.view(), ws, p);  // plans the arena
      std::size_t output_bytes = 0;
      for (int round = 0; round < 3; ++round) {
        allocations = 0;
        allocated_bytes = 0;
        counting = true;
        const auto out = net.forward(input.view(), ws, p);
        counting = false;
        output_bytes = 0;
        for (const auto& [name, t] : out) output_bytes += static_cast<std::size_t>(t.size()) * sizeof(float);
        const std::string what = c.name + " batch " + std::to_string(c.batch) + (p ? " with a pool" : "");
        // each output: its tensor, its map node and its name; plus a little for rounding and alignment
        CHECK_MESSAGE(allocations.load() <= 3 * out.size(), what << ": " << allocations.load() << " allocations");
        CHECK_MESSAGE(allocations.load() >= out.size(), what << ": the outputs' own allocations were not counted");
        CHECK(allocated_bytes.load() >= output_bytes);
        CHECK_MESSAGE(allocated_bytes.load() <= output_bytes + out.size() * 256,
                      what << ": " << allocated_bytes.load() << " bytes allocated for " << output_bytes
                           << " bytes of outputs (activations: " << net.arena_bytes(static_cast<std::size_t>(c.batch))
                           << " bytes)");
      }
    }
}
