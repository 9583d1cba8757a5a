// lmtcnn engine: runs a graph on the SIMD kernels of one architecture A (an xsimd tag), behind the
// simd_engine interface (engine/simd_engine.hpp).
//
// Preparing a network builds one prepared layer per node (engine/layers.hpp: each packs its filters
// for A, so the engine's copy of a network's weights is separate from the file's), then folds a
// batch norm with stored statistics, or a ReLU, into the epilogue of the convolution before it (a ReLU
// also into a residual add) when that layer's output feeds nothing else (LMTCNN's BN comes after the
// ReLU, which is exactly the epilogue's order), and a pooling whose windows do not overlap into the
// float32 convolution before it. The engine keeps the plan: memory, order, the image-by-image prefix.
//
// Memory: all activations of a call live in one arena, planned once per batch size (a buffer is
// reused as soon as the value in it is dead; a folded batch norm shares its producer's buffer), in a
// workspace that later calls reuse, so a forward call in steady state allocates only the tensors it
// returns. With a pool, large values are laid out so that each thread writes the same part of the
// arena in every layer (centre_regions).
// Threads: forward() is const; several threads may run one engine_net at once (each call takes its
// own workspace). With a thread_pool, each layer is split across the pool's threads (output rows of
// convolutions and pooling, pixel tiles of pointwise convolutions and LRN, column ranges of fully
// connected layers); the results do not depend on the number of threads.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lmtcnn/core/thread_pool.hpp"
#include "lmtcnn/engine/layers.hpp"
#include "lmtcnn/engine/simd_engine.hpp"
#include "lmtcnn/graph/graph.hpp"

namespace lmtcnn {

/// The architecture the engine uses by default: the best the compiler targets, or LMTCNN_ARCH
/// (e.g. -DLMTCNN_ARCH=xsimd::fma3<xsimd::avx2> to cap an AVX-512 build at AVX2). Any AVX-512 target is
/// taken as AVX512F: the kernels use float vectors only, which AVX512F covers, and the AVX512BW integer
/// select of xsimd 8.1 (Debian 12), reached through xsimd::pow, does not compile with GCC 12 at -O0.
#ifdef LMTCNN_ARCH
using simd_arch = LMTCNN_ARCH;
#else
using simd_arch = std::conditional_t<std::is_base_of_v<xsimd::avx512f, xsimd::default_arch>, xsimd::avx512f,
                                     xsimd::default_arch>;
#endif

namespace detail {
/// The path's name for an xsimd architecture.
template <class A>
const char* simd_path_name() {
#if defined(__x86_64__) || defined(__i386__)
  if (std::is_same_v<A, xsimd::avx512f>) return "avx512";
  if (std::is_same_v<A, xsimd::fma3<xsimd::avx2>>) return "avx2";
  if (std::is_same_v<A, xsimd::sse4_2>) return "sse4.2";
  if (std::is_same_v<A, xsimd::sse2>) return "sse2";
#elif defined(__aarch64__)
  if (std::is_same_v<A, xsimd::neon64>) return "neon";
#endif
  return A::name();
}

}  // namespace detail

template <class A = simd_arch>
class engine_net final : public simd_engine {
 public:
  /// Prepares a graph over weights that live elsewhere (kept alive by owner); checks it first. In
  /// bf16 precision the convolutions and fully connected layers use AVX512_BF16 dot products where
  /// this is the AVX-512 path, the CPU has them and allow_dot is true, else widened bf16.
  engine_net(graph g, std::map<std::string, tensor_view<const float>> weights, std::shared_ptr<const void> owner,
             precision p = precision::fp32, bool allow_dot = true)
      : graph_(std::move(g)), weights_(std::move(weights)), owner_(std::move(owner)),
        bf16_(detail::bf16_mode_for<A>(p, allow_dot)) {
    prepare();
  }

  /// Prepares a graph over owned weights.
  engine_net(graph g, const tensor_map<float>& weights, precision p = precision::fp32, bool allow_dot = true)
      : graph_(std::move(g)), bf16_(detail::bf16_mode_for<A>(p, allow_dot)) {
    auto owned = std::make_shared<tensor_map<float>>(weights);
    for (const auto& [name, t] : *owned) weights_.emplace(name, t.view());
    owner_ = std::move(owned);
    prepare();
  }

  const graph& net_graph() const override { return graph_; }
  const char* arch_name() const override { return A::name(); }
  precision arithmetic() const override { return bf16_ == kernels_bf16::off ? precision::fp32 : precision::bf16; }
  bool bf16_dot_products() const override { return bf16_ == kernels_bf16::dot; }

  using workspace = engine_workspace;
  using simd_engine::forward;

  /// The same with the caller's workspace (re-planned when the batch size changes) and an optional pool.
  std::map<std::string, tensor<float>> forward(tensor_view<const float> input, workspace& ws,
                                               thread_pool* pool = nullptr) const override {
    detail::check_input(graph_, input.shape());
    const std::size_t n = static_cast<std::size_t>(input.dim(0));
    plan(ws, n, pool ? pool->size() : 1u);
    float* in0 = ws.values_[0];
    if (input.is_contiguous()) {
      // in pieces across the pool, in order like the layers' rows: each thread then finds the part of
      // the input the first layer gives it in its own cache (the caller's input is often in memory)
      const std::size_t floats = static_cast<std::size_t>(input.size()), piece = 4096;
      math::split_rows(pool, 1, (floats + piece - 1) / piece, 1, [&](std::size_t, std::size_t p0, std::size_t p1, unsigned) {
        const std::size_t f0 = p0 * piece, f1 = std::min(floats, p1 * piece);
        std::memcpy(in0 + f0, input.data() + f0, (f1 - f0) * sizeof(float));
      });
    } else {
      for (index_t b = 0; b < input.dim(0); ++b)
        for (index_t y = 0; y < input.dim(1); ++y)
          for (index_t x = 0; x < input.dim(2); ++x)
            for (index_t c = 0; c < input.dim(3); ++c) *in0++ = input(b, y, x, c);
    }
    if (ws.profile) ws.layer_seconds.assign(graph_.nodes.size(), 0.0);
    auto layer = [&](std::size_t i, float* const* vals, std::size_t images) {
      if (folded_[i]) return;  // a batch norm, ReLU or pooling folded into the layer before: same buffer
      if (ws.profile) {
        const auto t0 = std::chrono::steady_clock::now();
        run(i, vals, ws, images, pool);
        ws.layer_seconds[i] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      } else {
        run(i, vals, ws, images, pool);
      }
    };
    std::size_t first = 0;
    if (ws.image_major_) {
      // the layers before the first dense layer one image at a time (their activations stay in
      // cache), writing into the batch-sized buffers the later layers read
      for (std::size_t b = 0; b < n; ++b) {
        for (std::size_t id = 0; id <= prefix_end_; ++id)
          ws.image_values_[id] =
              ws.values_[id] + (ws.per_image_[id] ? 0 : b * static_cast<std::size_t>(shapes_[stored_[id]].elements()));
        for (std::size_t i = 0; i < prefix_end_; ++i) layer(i, ws.image_values_.data(), 1);
      }
      first = prefix_end_;
    }
    for (std::size_t i = first; i < graph_.nodes.size(); ++i) layer(i, ws.values_.data(), n);
    std::map<std::string, tensor<float>> out;
    for (const auto& [name, id] : graph_.outputs) {
      tensor<float> t(batched(id, n));
      std::memcpy(t.data(), ws.values_[id], static_cast<std::size_t>(t.size()) * sizeof(float));
      out.emplace(name, std::move(t));
    }
    return out;
  }

  /// Bytes of activation arena a call with batch n uses (without a pool; with one, up to twice that:
  /// centre_regions).
  std::size_t arena_bytes(std::size_t n = 1) const override {
    workspace ws;
    plan(ws, n, 1, false);
    return ws.arena_bytes();
  }

 private:
  using math = detail::layer_math<A>;
  using kernels_bf16 = detail::kernels::bf16_mode;

  void prepare() {
    shapes_ = infer_shapes(graph_, 1, [&](const std::string& t, bool& found) {
      const auto it = weights_.find(t);
      found = it != weights_.end();
      return found ? it->second.shape() : shape{};
    });
    for (const auto& [name, v] : weights_)
      if (!v.is_contiguous()) throw shape_error("tensor '" + name + "' is not contiguous");
    const std::size_t count = graph_.nodes.size();
    last_use_.assign(count + 1, 0);
    std::vector<int> uses(count + 1, 0);
    for (std::size_t i = 0; i < count; ++i)
      for (std::uint32_t id : graph_.nodes[i].inputs) {
        last_use_[id] = i;
        ++uses[id];
      }
    for (const auto& o : graph_.outputs) {
      last_use_[o.second] = count;
      uses[o.second] += 2;  // an output is never folded away
    }
    folded_.assign(count, false);
    stored_.resize(count + 1);
    for (std::size_t id = 0; id <= count; ++id) stored_[id] = id;
    scratch_floats_ = 64;
    for (std::size_t i = 0; i < count; ++i) {
      const graph_node& node = graph_.nodes[i];
      layers_.push_back(detail::make_layer<A>(node, shapes_[node.inputs[0]], shapes_[i + 1], weights_, bf16_));
      fold(i, uses);
    }
    for (const auto& l : layers_) {  // after the folds: a layer that takes a pooling needs more scratch
      scratch_floats_ = std::max(scratch_floats_, l->scratch_floats());
      stats_channels_ = std::max(stats_channels_, l->stats_channels());
    }
    // Layers before the first that needs the whole batch (a dense layer, whose weights a batch shares
    // best, or a batch norm on batch statistics) may run image by image (all of them when none does).
    prefix_end_ = 0;
    while (prefix_end_ < count && !layers_[prefix_end_]->whole_batch()) ++prefix_end_;
  }

  /// Folds layer i into the layer that produces its input when that layer feeds only layer i and
  /// takes it (a convolution's epilogue takes a ReLU or a batch norm's scale and shift, a residual add a
  /// ReLU). An input made by a layer already folded leads to the layer it was folded into (depthwise,
  /// batch norm, ReLU6: both go into the depthwise layer's epilogue).
  void fold(std::size_t i, const std::vector<int>& uses) {
    std::uint32_t src = graph_.nodes[i].inputs[0];
    while (src != 0 && uses[src] == 1 && folded_[src - 1]) src = graph_.nodes[src - 1].inputs[0];
    if (src == 0 || uses[src] != 1) return;
    folded_[i] = layers_[i]->fold_into(*layers_[src - 1]);
    if (!folded_[i]) return;
    // value i + 1 shares the buffer of the chain's first value, src, which now holds its images
    for (std::uint32_t v = graph_.nodes[i].inputs[0];; v = graph_.nodes[v - 1].inputs[0]) {
      stored_[v] = i + 1;
      if (v == src) break;
    }
  }

  /// Runs layer i over n images whose values are at vals.
  void run(std::size_t i, float* const* vals, workspace& ws, std::size_t n, thread_pool* pool) const {
    const graph_node& node = graph_.nodes[i];
    const detail::layer_args args{vals[node.inputs[0]],
                                  node.inputs.size() > 1 ? vals[node.inputs[1]] : nullptr,
                                  vals[i + 1],
                                  n,
                                  shapes_[node.inputs[0]],
                                  shapes_[i + 1],
                                  ws.scratch_ptrs_.data(),
                                  ws.sums_.data(),
                                  ws.vectors_.data(),
                                  pool};
    layers_[i]->run(args);
  }

  /// The shape of value id for batch n.
  shape batched(std::size_t id, std::size_t n) const {
    const shape& s = shapes_[id];
    std::array<index_t, max_rank> dims{};
    std::copy(s.begin(), s.end(), dims.begin());
    dims[0] = static_cast<index_t>(n);
    return shape(dims.begin(), dims.begin() + s.rank());
  }

  /// Lays out every activation of a batch-n call in one arena (again when a call comes with a pool
  /// after one without, or the other way round): each value is live from the layer
  /// that writes it to the last layer that reads it; the largest values are placed first, each at the
  /// lowest offset that no value live at the same time occupies.
  void plan(workspace& ws, std::size_t n, unsigned workers, bool allocate_scratch = true) const {
    const bool split = workers > 1;
    if (ws.engine_id_ != id_ || ws.batch_ != n || ws.split_ != split) {
      const std::size_t count = graph_.nodes.size(), values = count + 1;
      std::vector<std::size_t> root(values), start(values), end(values), floats(values, 0), offset(values, 0);
      for (std::size_t id = 0; id < values; ++id) {
        root[id] = id;
        start[id] = id;
        end[id] = std::max(id, last_use_[id] + 1);
      }
      for (std::size_t i = 0; i < count; ++i)
        if (folded_[i]) {
          const std::size_t r = root[graph_.nodes[i].inputs[0]];
          root[i + 1] = r;
          end[r] = std::max(end[r], end[i + 1]);
        }
      // a value's room: the images of the last value folded onto it (a pooling's, smaller)
      // Image-major batches: a value made and used up before layer prefix_end_ needs room for one
      // image only; a value made there but read later holds the whole batch and is live from the start
      // (every image's pass writes its part); the input is live until the last image's pass is done.
      const bool image_major = n > 1 && prefix_end_ > 0;
      std::vector<bool> per_image(values, false);
      if (image_major) {
        end[0] = std::max(end[0], prefix_end_);  // every image's pass reads its part of the input
        for (std::size_t id = 1; id < values; ++id)
          if (root[id] == id && id <= prefix_end_) {
            per_image[id] = end[id] <= prefix_end_;
            if (!per_image[id]) start[id] = 0;
          }
      }
      constexpr std::size_t align = tensor_alignment / sizeof(float);
      constexpr std::size_t slack = tensor_slack_bytes / sizeof(float);
      std::vector<std::size_t> order;
      for (std::size_t id = 0; id < values; ++id)
        if (root[id] == id) {
          const std::size_t e = static_cast<std::size_t>(batched(stored_[id], per_image[id] ? 1 : n).elements());
          floats[id] = (e + align - 1) / align * align + slack;
          order.push_back(id);
        }
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return floats[a] > floats[b]; });
      std::size_t total = pack(order, 0, start, end, floats, offset);
      if (split && !image_major) centre_regions(root, start, end, floats, offset, total);
      ws.arena_ = tensor<float>({static_cast<index_t>(total)});
      ws.values_.assign(values, nullptr);
      ws.per_image_.assign(values, false);
      for (std::size_t id = 0; id < values; ++id) {
        ws.values_[id] = ws.arena_.data() + offset[root[id]];
        ws.per_image_[id] = per_image[root[id]];
      }
      ws.image_values_.assign(values, nullptr);
      ws.image_major_ = image_major;
      ws.sums_.assign(2 * stats_channels_, 0.0);
      ws.vectors_ = tensor<float>({static_cast<index_t>(3 * math::padded_length(stats_channels_))});
      ws.engine_id_ = id_;
      ws.batch_ = n;
      ws.split_ = split;
    }
    if (allocate_scratch)
      while (ws.scratch_.size() < workers) {
        ws.scratch_.emplace_back(shape{static_cast<index_t>(scratch_floats_)});
        ws.scratch_ptrs_.push_back(ws.scratch_.back().data());
      }
  }

  /// The layout for calls with a pool: each large value in a region of its own, centred on the
  /// region's midpoint, values live at the same time in different regions (a chain such as LMTCNN
  /// needs two, alternating; residual sums and side outputs more). Layers split their output rows
  /// across threads in order, so with two threads thread 0 writes the half of each buffer below its
  /// region's midpoint and thread 1 the half above, the same lines in every layer and every call:
  /// each writes lines already in its own cache. Packed, about half of a light layer's writes fetched
  /// their lines from the other core first: on a Zen 4 (two cores of a VM), LMTCNN-2-1's
  /// standardisation took 0.12-0.15 ms at two threads (0.04 at one), 0.033 here, its depthwise layers
  /// 0.025 and 0.050 -> 0.015 and 0.031; at two threads (medians of runs in turns) LMTCNN-2-1 1.86 ->
  /// 1.66 ms, LMTCNN-1-1 1.34 -> 1.24, the tiny face detector 4.19 -> 3.46, AgeGenderNet 1.47 -> 1.33,
  /// face_landmark_68 1.41 -> 1.34 (a slow spell of the machine; in quiet ones the gains were
  /// smaller). Values under 64 KB (a few rows per thread) are packed after the regions. The packed
  /// layout stays for image-by-image batches and where the regions would take more than twice its
  /// room (SSD MobileNetV1: four regions of 16 MB against 24 MB packed); LMTCNN-2-1's arena with a
  /// pool is 3.0 MB (1.9 packed).
  static void centre_regions(const std::vector<std::size_t>& root, const std::vector<std::size_t>& start,
                             const std::vector<std::size_t>& end, const std::vector<std::size_t>& floats,
                             std::vector<std::size_t>& offset, std::size_t& total) {
    constexpr std::size_t align = tensor_alignment / sizeof(float), small = 16384;
    std::vector<std::size_t> large, rest;
    std::size_t widest = 0;
    for (std::size_t id = 0; id < root.size(); ++id)
      if (root[id] == id) {
        (floats[id] >= small ? large : rest).push_back(id);
        if (floats[id] >= small) widest = std::max(widest, floats[id]);
      }
    std::stable_sort(large.begin(), large.end(), [&](std::size_t a, std::size_t b) { return start[a] < start[b]; });
    // each value in the first region whose values are all dead before it is made
    std::vector<std::size_t> region(large.size()), last_end;
    for (std::size_t k = 0; k < large.size(); ++k) {
      std::size_t r = 0;
      while (r < last_end.size() && last_end[r] >= start[large[k]]) ++r;
      if (r == last_end.size()) last_end.push_back(0);
      last_end[r] = end[large[k]];
      region[k] = r;
    }
    const std::size_t pitch = (widest + 2 * align - 1) / align * align;  // one region
    if (last_end.size() * pitch > 2 * total) return;
    std::vector<std::size_t> at(offset.size(), 0);
    for (std::size_t k = 0; k < large.size(); ++k)
      at[large[k]] = (region[k] * pitch + pitch / 2 - floats[large[k]] / 2) / align * align;
    const std::size_t base = last_end.size() * pitch + align;
    total = std::max(base, pack(rest, base, start, end, floats, at));
    offset = at;
  }

  /// Places the values `ids` in that order, each at the lowest offset from `base` on that none of the
  /// values placed before it and live at the same time occupies; returns the end of the last float used.
  static std::size_t pack(const std::vector<std::size_t>& ids, std::size_t base, const std::vector<std::size_t>& start,
                          const std::vector<std::size_t>& end, const std::vector<std::size_t>& floats,
                          std::vector<std::size_t>& offset) {
    std::size_t used = 0;
    std::vector<std::size_t> placed;
    for (std::size_t id : ids) {
      std::vector<std::pair<std::size_t, std::size_t>> busy;  // [offset, end) of values live at the same time
      for (std::size_t q : placed)
        if (start[q] <= end[id] && start[id] <= end[q]) busy.emplace_back(offset[q], offset[q] + floats[q]);
      std::sort(busy.begin(), busy.end());
      std::size_t at = base;
      for (const auto& [lo, hi] : busy) {
        if (at + floats[id] <= lo) break;
        at = std::max(at, hi);
      }
      offset[id] = at;
      used = std::max(used, at + floats[id]);
      placed.push_back(id);
    }
    return used;
  }

  graph graph_;
  std::map<std::string, tensor_view<const float>> weights_;
  std::shared_ptr<const void> owner_;
  kernels_bf16 bf16_ = kernels_bf16::off;
  std::vector<shape> shapes_;
  std::vector<std::unique_ptr<detail::layer<A>>> layers_;
  std::vector<bool> folded_;  // a batch norm, ReLU or pooling that runs in the layer before
  // per value: the value whose images its buffer holds (the last one folded onto it; itself if none)
  std::vector<std::size_t> stored_;
  std::vector<std::size_t> last_use_;
  std::size_t scratch_floats_ = 0;
  std::size_t prefix_end_ = 0;  // batches run layers [0, prefix_end_) image by image
  std::size_t stats_channels_ = 1;  // the widest statistics a standardize or batch-statistics norm keeps
};

}  // namespace lmtcnn
