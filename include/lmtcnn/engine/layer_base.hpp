// lmtcnn prepared layers, the common part: what run() gets (layer_args), the layer interface, the
// epilogue every weighted layer carries and the arithmetic helpers the families share. A layer is
// built once from its graph node, its shapes and its weights: it packs its filters for A, pads its
// per-channel vectors, decides which kernel and tile it runs, and says what scratch memory it needs.
// run() then works on raw activation pointers the engine hands it (engine.hpp plans that memory and
// the order), splitting its work across the pool's threads. The families: layers_weighted.hpp
// (convolutions, fully connected), layers_per_channel.hpp (the rest); layers.hpp makes them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lmtcnn/core/thread_pool.hpp"
#include "lmtcnn/graph/graph.hpp"
#include "lmtcnn/kernels/bf16.hpp"
#include "lmtcnn/kernels/conv.hpp"
#include "lmtcnn/kernels/dense.hpp"
#include "lmtcnn/kernels/depthwise.hpp"
#include "lmtcnn/kernels/elementwise.hpp"
#include "lmtcnn/kernels/gemm.hpp"
#include "lmtcnn/kernels/lrn.hpp"
#include "lmtcnn/kernels/pool.hpp"

namespace lmtcnn {
namespace detail {

using weight_views = std::map<std::string, tensor_view<const float>>;

/// What a layer's run() gets: its activations for n images (per-image shapes), the per-worker scratch
/// buffers, the statistics buffers and the pool (null: run on the calling thread).
struct layer_args {
  const float* in;
  const float* in2;  ///< second input (add), else null
  float* out;
  std::size_t n;
  const shape& in_shape;   ///< one image
  const shape& out_shape;  ///< one image
  float* const* scratch;   ///< one buffer per worker, of the largest scratch_floats() of the network
  double* sums;            ///< 2 * the largest stats_channels() doubles
  float* vectors;          ///< 3 padded vectors of the largest stats_channels() floats
  thread_pool* pool;
};

template <class A>
struct layer_math {
  static constexpr std::size_t vec = kernels::width<A>;

  /// Length of a per-channel vector padded to a multiple of a GEMM panel.
  static std::size_t padded_length(std::size_t n) { return (n + 2 * vec - 1) / (2 * vec) * (2 * vec); }

  /// A per-channel vector padded with `fill` to padded_length (src null: all fill).
  static tensor<float> padded(const float* src, std::size_t n, float fill) {
    const std::size_t len = padded_length(n);
    tensor<float> t({static_cast<index_t>(len)});
    // two plain loops, not one with a conditional load: compilers turn that into masked vector loads
    // (vmaskmovps) from src, which qemu's x86 emulation faults on even for lanes masked off (null src)
    std::size_t i = 0;
    if (src)
      for (; i < n; ++i) t[static_cast<index_t>(i)] = src[i];
    for (; i < len; ++i) t[static_cast<index_t>(i)] = fill;
    return t;
  }

  /// Channels to run a per-channel kernel with when c is below the vector width: lcm(c, width)
  /// floats as one wide pixel (per-channel arrays repeat with period c), so whole vectors are used.
  static std::size_t wide_channels(std::size_t c) {
    if (c >= vec) return c;
    std::size_t l = c;
    while (l % vec != 0) l += c;
    return l <= 4 * vec ? l : c;
  }

  static kernels::conv_geom geometry(const shape& in, const shape& out, index_t kh, index_t kw, index_t sh,
                                     index_t sw, padding pad) {
    auto u = [](index_t v) { return static_cast<std::size_t>(v); };
    return kernels::conv_geometry(u(in[1]), u(in[2]), u(in[3]), u(out[3]), u(kh), u(kw), u(sh), u(sw), pad);
  }

  /// Splits `rows` rows of each of n images into tasks for the pool (about three per thread, task
  /// boundaries at multiples of granule) and calls f(image, row_begin, row_end, worker) for each.
  template <class F>
  static void split_rows(thread_pool* pool, std::size_t n, std::size_t rows, std::size_t granule, F&& f) {
    const unsigned t = pool ? pool->size() : 1u;
    if (t <= 1) {
      for (std::size_t b = 0; b < n; ++b) f(b, std::size_t{0}, rows, 0u);
      return;
    }
    const std::size_t units = (rows + granule - 1) / granule;
    const std::size_t parts = std::max<std::size_t>(1, std::min(units, (3 * t + n - 1) / n));
    pool->parallel_for(n * parts, [&](std::size_t task, unsigned worker) {
      const std::size_t b = task / parts, q = task % parts;
      const std::size_t r0 = std::min(rows, units * q / parts * granule);
      const std::size_t r1 = std::min(rows, units * (q + 1) / parts * granule);
      if (r0 < r1) f(b, r0, r1, worker);
    });
  }
};

template <class A>
class layer {
 public:
  virtual ~layer() = default;
  virtual void run(const layer_args& a) const = 0;

  /// Floats of scratch each worker needs.
  std::size_t scratch_floats() const { return scratch_floats_; }
  /// Channels of statistics the layer keeps (sizes layer_args::sums and vectors).
  std::size_t stats_channels() const { return stats_channels_; }
  /// True when the layer must see the whole batch at once (shared weights, batch statistics): a
  /// batch runs the layers before the first such one image by image.
  bool whole_batch() const { return whole_batch_; }

  /// A convolution takes a following ReLU (relu or relu6), or per-channel scale and shift, into its
  /// epilogue.
  virtual bool absorb_relu(activation) { return false; }
  virtual bool absorb_affine(tensor<float>&, tensor<float>&) { return false; }
  /// A convolution takes a following pooling (geometry pool, max or average) when it can pool bands
  /// of its own rows: its output value then holds the pooled images.
  virtual bool absorb_pool(const kernels::conv_geom&, bool) { return false; }
  /// A batch norm, ReLU or pooling offers itself to the layer that produces its input; true when taken.
  virtual bool fold_into(layer&) { return false; }

 protected:
  std::size_t scratch_floats_ = 0;
  std::size_t stats_channels_ = 0;
  bool whole_batch_ = false;
};

/// A layer whose kernels end with the fused epilogue (bias, activation, scale and shift).
template <class A>
class epilogue_layer : public layer<A> {
 public:
  bool absorb_relu(activation act) override {
    if (ep_.activation != kernels::act::none) return false;
    ep_.activation = act;
    ep_.activation_last = ep_.scale != nullptr;  // after a batch norm already taken in
    return true;
  }
  bool absorb_affine(tensor<float>& scale, tensor<float>& shift) override {
    if (ep_.scale) return false;
    scale_ = std::move(scale);
    shift_ = std::move(shift);
    ep_.scale = scale_.data();
    ep_.shift = shift_.data();
    return true;
  }

 protected:
  void set_epilogue(const float* bias, std::size_t channels, activation act, double alpha) {
    bias_ = layer_math<A>::padded(bias, channels, 0.f);
    ep_.bias = bias_.data();
    ep_.activation = act;
    ep_.alpha = act == activation::leaky_relu ? static_cast<float>(alpha) : 0.f;
  }
  tensor<float> packed_, bias_, scale_, shift_;
  kernels::epilogue_k ep_;
};

inline const float* weight_data(const weight_views& w, const std::string& name) {
  return name.empty() ? nullptr : w.at(name).data();
}

}  // namespace detail
}  // namespace lmtcnn
