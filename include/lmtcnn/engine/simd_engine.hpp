// lmtcnn simd_engine: what every prepared network on the SIMD kernels offers, whichever instruction
// set it was prepared for. engine_net<A> (engine/engine.hpp) is the one implementation, one per xsimd
// architecture A; model<float> holds one through this interface, so that the path can be chosen when
// the program runs (engine/dispatch.hpp) and a file that only runs networks compiles none of the
// kernels.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lmtcnn/core/precision.hpp"
#include "lmtcnn/core/tensor.hpp"
#include "lmtcnn/core/thread_pool.hpp"
#include "lmtcnn/graph/graph.hpp"

namespace lmtcnn {

template <class A>
class engine_net;

/// The activation memory of forward calls: planned for one engine and batch size on first use,
/// kept for later calls. One workspace serves one call at a time.
class engine_workspace {
 public:
  engine_workspace() = default;
  /// Bytes of the activation arena as planned for the last call (0 before the first).
  std::size_t arena_bytes() const { return static_cast<std::size_t>(arena_.size()) * sizeof(float); }
  /// When set, forward() records the seconds each layer took (graph node order; 0 for a batch
  /// norm or ReLU folded into the layer before) in layer_seconds.
  bool profile = false;
  std::vector<double> layer_seconds;

 private:
  template <class A>
  friend class engine_net;
  std::uint64_t engine_id_ = 0;
  std::size_t batch_ = 0;
  bool split_ = false;           // planned for a pool (see engine_net::centre_chain)
  tensor<float> arena_;
  std::vector<float*> values_;
  bool image_major_ = false;     // batch: layers before prefix_end_ run one image at a time
  std::vector<bool> per_image_;  // by value: room for one image only
  std::vector<float*> image_values_;
  std::vector<tensor<float>> scratch_;  // one per worker thread
  std::vector<float*> scratch_ptrs_;
  std::vector<double> sums_;            // channel statistics (standardize, batch statistics)
  tensor<float> vectors_;               // their per-channel vectors
};

/// A network prepared for one instruction set. forward() is const; several threads may run one
/// engine at once (each call takes its own workspace).
class simd_engine {
 public:
  using workspace = engine_workspace;

  simd_engine() = default;
  simd_engine(const simd_engine&) = delete;
  simd_engine& operator=(const simd_engine&) = delete;
  virtual ~simd_engine() = default;

  virtual const graph& net_graph() const = 0;
  /// The instruction set of the kernels, as xsimd names it ("avx512f", "fma3+avx2", "sse4.2", ...).
  virtual const char* arch_name() const = 0;
  /// The precision the network was prepared in (core/precision.hpp), and for bf16 whether its
  /// multiplications are AVX512_BF16 dot products (else bf16 operands widened to float32).
  virtual precision arithmetic() const = 0;
  virtual bool bf16_dot_products() const = 0;

  /// Runs the network on input [n,h,w,c] with the caller's workspace (re-planned when the batch size
  /// changes) and an optional pool; returns the named outputs.
  virtual std::map<std::string, tensor<float>> forward(tensor_view<const float> input, workspace& ws,
                                                       thread_pool* pool = nullptr) const = 0;

  /// Bytes of activation arena a call with batch n uses.
  virtual std::size_t arena_bytes(std::size_t n = 1) const = 0;

  /// The same on a workspace kept by the engine. Single-threaded.
  std::map<std::string, tensor<float>> forward(tensor_view<const float> input) const {
    return with_cached_workspace([&](workspace& ws) { return forward(input, ws, nullptr); });
  }

  /// The same, each layer split across the threads of pool.
  std::map<std::string, tensor<float>> forward(tensor_view<const float> input, thread_pool& pool) const {
    return with_cached_workspace([&](workspace& ws) { return forward(input, ws, &pool); });
  }

 protected:
  /// Tells a workspace planned for this engine from one planned for another.
  const std::uint64_t id_ = next_id();

 private:
  template <class F>
  std::map<std::string, tensor<float>> with_cached_workspace(F&& f) const {
    std::unique_ptr<workspace> ws;
    {
      std::lock_guard<std::mutex> lk(cache_->mutex);
      if (!cache_->free.empty()) {
        ws = std::move(cache_->free.back());
        cache_->free.pop_back();
      }
    }
    if (!ws) ws = std::make_unique<workspace>();
    struct give_back {
      workspace_cache& c;
      std::unique_ptr<workspace>& w;
      ~give_back() {
        std::lock_guard<std::mutex> lk(c.mutex);
        c.free.push_back(std::move(w));
      }
    } guard{*cache_, ws};
    return f(*ws);
  }

  struct workspace_cache {
    std::mutex mutex;
    std::vector<std::unique_ptr<workspace>> free;
  };
  std::shared_ptr<workspace_cache> cache_ = std::make_shared<workspace_cache>();

  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
  }
};

}  // namespace lmtcnn
