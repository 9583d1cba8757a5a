// lmtcnn engine: runs a graph on the SIMD kernels of one architecture A (an xsimd tag).
//
// Preparing a network packs every filter for A once (GEMM panels, depthwise taps, dense column
// blocks: the engine's copy of a network's weights is therefore separate from the file's), pads the
// per-channel vectors, and folds a batch norm with stored statistics, or a ReLU, into the epilogue of
// the convolution before it when that convolution's output feeds nothing else (LMTCNN's BN comes
// after the ReLU, which is exactly the epilogue's order).
//
// Memory: all activations of a call live in one arena, planned once per batch size (a buffer is
// reused as soon as the value in it is dead; a folded batch norm shares its producer's buffer), in a
// workspace that later calls reuse, so a forward call in steady state allocates only the tensors it
// returns.
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
#include <utility>
#include <vector>

#include "lmtcnn/graph/graph.hpp"
#include "lmtcnn/kernels/conv.hpp"
#include "lmtcnn/kernels/depthwise.hpp"
#include "lmtcnn/kernels/gemm.hpp"
#include "lmtcnn/kernels/dense.hpp"
#include "lmtcnn/kernels/elementwise.hpp"
#include "lmtcnn/kernels/lrn.hpp"
#include "lmtcnn/kernels/pool.hpp"
#include "lmtcnn/core/thread_pool.hpp"

namespace lmtcnn {

/// The architecture the engine uses by default: the best the compiler targets, or LMTCNN_ARCH
/// (e.g. -DLMTCNN_ARCH=xsimd::fma3<xsimd::avx2> to cap an AVX-512 build at AVX2).
#ifdef LMTCNN_ARCH
using simd_arch = LMTCNN_ARCH;
#else
using simd_arch = xsimd::default_arch;
#endif

template <class A = simd_arch>
class engine_net {
 public:
  /// Prepares a graph over weights that live elsewhere (kept alive by owner); checks it first.
  engine_net(graph g, std::map<std::string, tensor_view<const float>> weights, std::shared_ptr<const void> owner)
      : graph_(std::move(g)), weights_(std::move(weights)), owner_(std::move(owner)) {
    prepare();
  }

  /// Prepares a graph over owned weights.
  engine_net(graph g, const tensor_map<float>& weights) : graph_(std::move(g)) {
    auto owned = std::make_shared<tensor_map<float>>(weights);
    for (const auto& [name, t] : *owned) weights_.emplace(name, t.view());
    owner_ = std::move(owned);
    prepare();
  }

  const graph& net_graph() const { return graph_; }
  static const char* arch_name() { return A::name(); }

  /// The activation memory of forward calls: planned for one engine and batch size on first use,
  /// kept for later calls. One workspace serves one call at a time.
  class workspace {
   public:
    workspace() = default;
    /// Bytes of the activation arena as planned for the last call (0 before the first).
    std::size_t arena_bytes() const { return static_cast<std::size_t>(arena_.size()) * sizeof(float); }
    /// When set, forward() records the seconds each layer took (graph node order; 0 for a batch
    /// norm or ReLU folded into the layer before) in layer_seconds.
    bool profile = false;
    std::vector<double> layer_seconds;

   private:
    friend class engine_net;
    std::uint64_t engine_id_ = 0;
    std::size_t batch_ = 0;
    tensor<float> arena_;
    std::vector<float*> values_;
    bool image_major_ = false;     // batch: layers before prefix_end_ run one image at a time
    std::vector<bool> per_image_;  // by value: room for one image only
    std::vector<float*> image_values_;
    std::vector<tensor<float>> scratch_;  // one per worker thread
    std::vector<double> sums_;            // channel statistics (standardize, batch statistics)
    tensor<float> vectors_;               // their per-channel vectors
  };

  /// Runs the network on input [n,h,w,c]; returns the named outputs. Single-threaded.
  std::map<std::string, tensor<float>> forward(tensor_view<const float> input) const {
    return with_cached_workspace([&](workspace& ws) { return forward(input, ws, nullptr); });
  }

  /// The same, each layer split across the threads of pool.
  std::map<std::string, tensor<float>> forward(tensor_view<const float> input, thread_pool& pool) const {
    return with_cached_workspace([&](workspace& ws) { return forward(input, ws, &pool); });
  }

  /// The same with the caller's workspace (re-planned when the batch size changes) and an optional pool.
  std::map<std::string, tensor<float>> forward(tensor_view<const float> input, workspace& ws,
                                               thread_pool* pool = nullptr) const {
    const shape& d = graph_.input_dims;
    if (input.rank() != 4 || input.dim(1) != d[0] || input.dim(2) != d[1] || input.dim(3) != d[2] || input.dim(0) < 1)
      throw shape_error("layer '" + graph_.input_name + "': got " + input.shape().str() + ", expected [n," +
                        std::to_string(d[0]) + "," + std::to_string(d[1]) + "," + std::to_string(d[2]) + "]");
    const std::size_t n = static_cast<std::size_t>(input.dim(0));
    plan(ws, n, pool ? pool->size() : 1u);
    float* in0 = ws.values_[0];
    if (input.is_contiguous()) {
      std::memcpy(in0, input.data(), static_cast<std::size_t>(input.size()) * sizeof(float));
    } else {
      for (index_t b = 0; b < input.dim(0); ++b)
        for (index_t y = 0; y < input.dim(1); ++y)
          for (index_t x = 0; x < input.dim(2); ++x)
            for (index_t c = 0; c < input.dim(3); ++c) *in0++ = input(b, y, x, c);
    }
    if (ws.profile) ws.layer_seconds.assign(graph_.nodes.size(), 0.0);
    auto layer = [&](std::size_t i, float* const* vals, std::size_t images) {
      if (prep_[i].folded) return;  // a batch norm or ReLU folded into the layer before: same buffer
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
          ws.image_values_[id] = ws.values_[id] + (ws.per_image_[id] ? 0 : b * static_cast<std::size_t>(shapes_[id].elements()));
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

  /// Bytes of activation arena a call with batch n uses.
  std::size_t arena_bytes(std::size_t n = 1) const {
    workspace ws;
    plan(ws, n, 1, false);
    return ws.arena_bytes();
  }

 private:
  struct prepared {
    kernels::conv_geom geom{};
    tensor<float> packed;                 // packed filter
    tensor<float> bias, scale, shift;     // padded per-channel vectors
    tensor<float> mean, divisor;          // channel_normalize
    kernels::epilogue_k ep;
    bool folded = false;                  // this batch norm lives in the previous layer's epilogue
    std::size_t tile = 0;                 // depthwise: the widest tile of output pixels
  };

  static constexpr std::size_t vec = kernels::width<A>;

  /// A per-channel vector padded with `fill` to a multiple of a GEMM panel.
  static tensor<float> padded(const float* src, std::size_t n, float fill) {
    const std::size_t len = (n + 2 * vec - 1) / (2 * vec) * (2 * vec);
    tensor<float> t({static_cast<index_t>(len)});
    for (std::size_t i = 0; i < len; ++i) t[static_cast<index_t>(i)] = i < n && src ? src[i] : fill;
    return t;
  }

  const float* w(const std::string& name) const { return name.empty() ? nullptr : weights_.at(name).data(); }

  void prepare() {
    shapes_ = infer_shapes(graph_, 1, [&](const std::string& t, bool& found) {
      const auto it = weights_.find(t);
      found = it != weights_.end();
      return found ? it->second.shape() : shape{};
    });
    for (const auto& [name, v] : weights_)
      if (!v.is_contiguous()) throw shape_error("tensor '" + name + "' is not contiguous");
    const std::size_t count = graph_.nodes.size();
    prep_.resize(count);
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
    scratch_floats_ = 64;
    for (std::size_t i = 0; i < count; ++i) prepare_node(i, uses);
    // Layers before the first dense layer (whose weights a batch shares best) or the first batch norm
    // on batch statistics (which needs the whole batch) may run image by image (all of them when the
    // graph has neither).
    prefix_end_ = 0;
    while (prefix_end_ < count && graph_.nodes[prefix_end_].op != op_kind::fully_connected &&
           !(graph_.nodes[prefix_end_].op == op_kind::batch_norm && graph_.nodes[prefix_end_].ints[0] != 0))
      ++prefix_end_;
  }

  static kernels::conv_geom geometry(const shape& in, const shape& out, index_t kh, index_t kw, index_t sh,
                                     index_t sw, std::int64_t pad) {
    auto u = [](index_t v) { return static_cast<std::size_t>(v); };
    return kernels::conv_geometry(u(in[1]), u(in[2]), u(in[3]), u(out[3]), u(kh), u(kw), u(sh), u(sw),
                                  pad ? padding::same : padding::valid);
  }

  void prepare_node(std::size_t i, const std::vector<int>& uses) {
    const graph_node& node = graph_.nodes[i];
    prepared& p = prep_[i];
    const shape& in = shapes_[node.inputs[0]];
    const shape& out = shapes_[i + 1];
    auto set_act = [&](std::int64_t a) {
      p.ep.activation = static_cast<kernels::act>(a);
      p.ep.alpha = a == 2 ? static_cast<float>(node.floats[0]) : 0.f;
    };
    switch (node.op) {
      case op_kind::conv2d:
      case op_kind::pointwise_conv2d: {
        const tensor_view<const float>& f = weights_.at(node.tensors[0]);
        const std::size_t k = static_cast<std::size_t>(f.dim(0) * f.dim(1) * f.dim(2));
        const std::size_t nout = static_cast<std::size_t>(f.dim(3));
        p.geom = geometry(in, out, f.dim(0), f.dim(1), node.ints[0], node.ints[1], node.ints[2]);
        p.packed = tensor<float>({static_cast<index_t>(kernels::packed_gemm_b_size<A>(k, nout))});
        kernels::pack_gemm_b<A>(f.data(), k, nout, nout, p.packed.data());
        p.bias = padded(node.tensors.size() > 1 ? w(node.tensors[1]) : nullptr, nout, 0.f);
        p.ep.bias = p.bias.data();
        set_act(node.ints[3]);
        scratch_floats_ = std::max(scratch_floats_, kernels::conv2d_scratch_size<A>(p.geom));
        break;
      }
      case op_kind::depthwise_conv2d: {
        const tensor_view<const float>& f = weights_.at(node.tensors[0]);
        const std::size_t c = static_cast<std::size_t>(in[3]);
        p.geom = geometry(in, out, f.dim(0), f.dim(1), node.ints[0], node.ints[1], node.ints[2]);
        p.packed = tensor<float>({static_cast<index_t>(f.dim(0) * f.dim(1) * static_cast<index_t>(kernels::round_up<A>(c)))});
        kernels::pack_depthwise<A>(f.data(), static_cast<std::size_t>(f.dim(0) * f.dim(1)), c, p.packed.data());
        p.tile = kernels::depthwise_tile_width<A>(p.geom.in_w, c, p.geom.stride_w);
        p.bias = padded(node.tensors.size() > 1 ? w(node.tensors[1]) : nullptr, c, 0.f);
        p.ep.bias = p.bias.data();
        set_act(node.ints[3]);
        break;
      }
      case op_kind::fully_connected: {
        const std::size_t m = static_cast<std::size_t>(out[1]);
        const tensor_view<const float>& f = weights_.at(node.tensors[0]);
        const std::size_t k = static_cast<std::size_t>(f.dim(0));
        p.packed = tensor<float>({static_cast<index_t>(kernels::packed_dense_size<A>(k, m))});
        kernels::pack_dense<A>(f.data(), k, m, p.packed.data());
        p.bias = padded(node.tensors.size() > 1 ? w(node.tensors[1]) : nullptr, m, 0.f);
        p.ep.bias = p.bias.data();
        set_act(node.ints[0]);
        break;
      }
      case op_kind::batch_norm: {
        if (node.ints[0] != 0) {  // batch statistics: computed at run time
          stats_channels_ = std::max(stats_channels_, static_cast<std::size_t>(in[3]));
          break;
        }
        const std::size_t c = static_cast<std::size_t>(in[3]);
        std::vector<float> scale(c), shift(c);
        const float *mean = w(node.tensors[0]), *var = w(node.tensors[1]), *gamma = w(node.tensors[2]),
                    *beta = w(node.tensors[3]);
        for (std::size_t ch = 0; ch < c; ++ch) {
          const double s = (gamma ? gamma[ch] : 1.0) / std::sqrt(static_cast<double>(var[ch]) + node.floats[0]);
          scale[ch] = static_cast<float>(s);
          shift[ch] = static_cast<float>((beta ? beta[ch] : 0.0) - mean[ch] * s);
        }
        p.scale = padded(scale.data(), c, 1.f);
        p.shift = padded(shift.data(), c, 0.f);
        // Fold into the producing layer when it is a convolution that feeds only this batch norm.
        const std::uint32_t src = node.inputs[0];
        if (src > 0 && uses[src] == 1) {
          prepared& q = prep_[src - 1];
          const op_kind op = graph_.nodes[src - 1].op;
          if ((op == op_kind::conv2d || op == op_kind::pointwise_conv2d || op == op_kind::depthwise_conv2d) &&
              !q.folded && q.ep.scale == nullptr) {
            q.scale = std::move(p.scale);
            q.shift = std::move(p.shift);
            q.ep.scale = q.scale.data();
            q.ep.shift = q.shift.data();
            p.folded = true;
          }
        }
        break;
      }
      case op_kind::channel_normalize: {
        const std::size_t c = static_cast<std::size_t>(in[3]), wide = wide_channels(c);
        std::vector<float> mean(wide), div(wide);  // repeated with period c
        for (std::size_t ch = 0; ch < wide; ++ch) {
          mean[ch] = static_cast<float>(node.floats[ch % c]);
          div[ch] = static_cast<float>(node.floats[c + ch % c]);
        }
        p.mean = padded(mean.data(), wide, 0.f);
        p.divisor = padded(div.data(), wide, 1.f);
        break;
      }
      case op_kind::lrn:
        scratch_floats_ = std::max(scratch_floats_, kernels::lrn_scratch_size<A>(static_cast<std::size_t>(in[3]),
                                                                                 static_cast<std::size_t>(node.ints[0])));
        break;
      case op_kind::pool_max:
      case op_kind::pool_avg:
        p.geom = geometry(in, out, node.ints[0], node.ints[1], node.ints[2], node.ints[3], node.ints[4]);
        break;
      case op_kind::standardize:
        stats_channels_ = std::max(stats_channels_, wide_channels(static_cast<std::size_t>(in[3])));
        break;
      case op_kind::relu: {
        // Fold into the producing convolution when it feeds only this ReLU and has no activation or
        // affine of its own yet: the convolution's epilogue applies it, saving a pass over memory.
        const std::uint32_t src = node.inputs[0];
        if (src > 0 && uses[src] == 1) {
          prepared& q = prep_[src - 1];
          const op_kind op = graph_.nodes[src - 1].op;
          if ((op == op_kind::conv2d || op == op_kind::pointwise_conv2d || op == op_kind::depthwise_conv2d) &&
              !q.folded && q.ep.activation == kernels::act::none && q.ep.scale == nullptr && q.ep.shift == nullptr) {
            q.ep.activation = kernels::act::relu;
            p.folded = true;
          }
        }
        break;
      }
      default: break;
    }
  }

  /// Per-channel statistics of n images and the scale/shift that normalise with them (in the
  /// workspace's statistics buffers: no allocation).
  void run_batch_norm_stats(const graph_node& node, const float* x, std::size_t total, std::size_t c, float* y,
                            workspace& ws) const {
    const std::size_t pixels = total / c, len = padded_length(c);
    double* sum = ws.sums_.data();
    double* sq = sum + c;
    float* mean = ws.vectors_.data();  // three padded vectors: mean, scale, shift
    float* scale = mean + len;
    float* shift = scale + len;
    std::fill(sum, sum + 2 * c, 0.0);
    kernels::channel_moments<A>(x, pixels, c, nullptr, sum, sq);
    std::fill(mean, mean + len, 0.f);
    for (std::size_t ch = 0; ch < c; ++ch) mean[ch] = static_cast<float>(sum[ch] / static_cast<double>(pixels));
    std::fill(sum, sum + 2 * c, 0.0);
    kernels::channel_moments<A>(x, pixels, c, mean, sum, sq);
    const float *gamma = w(node.tensors[2]), *beta = w(node.tensors[3]);
    std::fill(scale, scale + len, 1.f);
    std::fill(shift, shift + len, 0.f);
    for (std::size_t ch = 0; ch < c; ++ch) {
      // sum holds the deviations from the float mean: correct the mean with their average
      const double m = mean[ch] + sum[ch] / static_cast<double>(pixels);
      const double var = sq[ch] / static_cast<double>(pixels) - (sum[ch] / static_cast<double>(pixels)) *
                                                                    (sum[ch] / static_cast<double>(pixels));
      const double s = (gamma ? gamma[ch] : 1.0) / std::sqrt(std::max(var, 0.0) + node.floats[0]);
      scale[ch] = static_cast<float>(s);
      shift[ch] = static_cast<float>((beta ? beta[ch] : 0.0) - m * s);
    }
    kernels::affine_pixels<A>(x, pixels, c, scale, shift, y);
  }

  /// Length of a per-channel vector padded as padded() pads it.
  static std::size_t padded_length(std::size_t n) { return (n + 2 * vec - 1) / (2 * vec) * (2 * vec); }

  /// Channels to run a per-channel kernel with when c is below the vector width: lcm(c, width)
  /// floats as one wide pixel (per-channel arrays repeat with period c), so whole vectors are used.
  static std::size_t wide_channels(std::size_t c) {
    if (c >= vec) return c;
    std::size_t l = c;
    while (l % vec != 0) l += c;
    return l <= 4 * vec ? l : c;
  }

  /// Each image: (x - mean) / max(stddev, 1/sqrt(count)) over all its values (workspace buffers).
  void run_standardize(const float* x, std::size_t n, const shape& img, float* y, workspace& ws) const {
    const std::size_t c = static_cast<std::size_t>(img[3]), wide = wide_channels(c), len = padded_length(wide);
    const std::size_t count = static_cast<std::size_t>(img[1] * img[2]) * c, bulk = count / wide * wide;
    double* sum = ws.sums_.data();
    double* sq = sum + wide;
    float* center = ws.vectors_.data();  // three padded vectors: centre, scale, shift
    float* scale = center + len;
    float* shift = scale + len;
    // moments of the whole image around `mu` (wide pixels, then the pixels left over)
    auto moments = [&](const float* src, const float* mu, double& s1, double& s2) {
      std::fill(sum, sum + 2 * wide, 0.0);
      kernels::channel_moments<A>(src, bulk / wide, wide, mu, sum, sq);
      kernels::channel_moments<A>(src + bulk, (count - bulk) / c, c, mu, sum, sq);
      s1 = s2 = 0;
      for (std::size_t ch = 0; ch < wide; ++ch) {
        s1 += sum[ch];
        s2 += sq[ch];
      }
    };
    for (std::size_t b = 0; b < n; ++b) {
      const float* src = x + b * count;
      double total = 0, unused = 0;
      moments(src, nullptr, total, unused);
      const float mean = static_cast<float>(total / static_cast<double>(count));
      std::fill(center, center + len, mean);
      double dev = 0, dev2 = 0;
      moments(src, center, dev, dev2);
      const double mu = mean + dev / static_cast<double>(count);
      const double var = std::max(dev2 / static_cast<double>(count) - (dev / static_cast<double>(count)) *
                                                                          (dev / static_cast<double>(count)),
                                  0.0);
      const double adjusted = std::max(std::sqrt(var), 1.0 / std::sqrt(static_cast<double>(count)));
      std::fill(scale, scale + len, static_cast<float>(1.0 / adjusted));
      std::fill(shift, shift + len, static_cast<float>(-mu / adjusted));
      kernels::affine_pixels<A>(src, bulk / wide, wide, scale, shift, y + b * count);
      kernels::affine_pixels<A>(src + bulk, (count - bulk) / c, c, scale, shift, y + b * count + bulk);
    }
  }

  /// The shape of value id for batch n.
  shape batched(std::size_t id, std::size_t n) const {
    const shape& s = shapes_[id];
    std::array<index_t, max_rank> dims{};
    std::copy(s.begin(), s.end(), dims.begin());
    dims[0] = static_cast<index_t>(n);
    return shape(dims.begin(), dims.begin() + s.rank());
  }

  /// Lays out every activation of a batch-n call in one arena: each value is live from the layer
  /// that writes it to the last layer that reads it; the largest values are placed first, each at the
  /// lowest offset that no value live at the same time occupies.
  void plan(workspace& ws, std::size_t n, unsigned workers, bool allocate_scratch = true) const {
    if (ws.engine_id_ != id_ || ws.batch_ != n) {
      const std::size_t count = graph_.nodes.size(), values = count + 1;
      std::vector<std::size_t> root(values), start(values), end(values), floats(values, 0), offset(values, 0);
      for (std::size_t id = 0; id < values; ++id) {
        root[id] = id;
        start[id] = id;
        end[id] = std::max(id, last_use_[id] + 1);
      }
      for (std::size_t i = 0; i < count; ++i)
        if (prep_[i].folded) {
          const std::size_t r = root[graph_.nodes[i].inputs[0]];
          root[i + 1] = r;
          end[r] = std::max(end[r], end[i + 1]);
        }
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
          const std::size_t e = static_cast<std::size_t>(batched(id, per_image[id] ? 1 : n).elements());
          floats[id] = (e + align - 1) / align * align + slack;
          order.push_back(id);
        }
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return floats[a] > floats[b]; });
      std::size_t total = 0;
      std::vector<std::size_t> placed;
      for (std::size_t id : order) {
        std::vector<std::pair<std::size_t, std::size_t>> busy;  // [offset, end) of values live at the same time
        for (std::size_t q : placed)
          if (start[q] <= end[id] && start[id] <= end[q]) busy.emplace_back(offset[q], offset[q] + floats[q]);
        std::sort(busy.begin(), busy.end());
        std::size_t at = 0;
        for (const auto& [lo, hi] : busy) {
          if (at + floats[id] <= lo) break;
          at = std::max(at, hi);
        }
        offset[id] = at;
        total = std::max(total, at + floats[id]);
        placed.push_back(id);
      }
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
      ws.vectors_ = tensor<float>({static_cast<index_t>(3 * padded_length(stats_channels_))});
      ws.engine_id_ = id_;
      ws.batch_ = n;
    }
    if (allocate_scratch)
      while (ws.scratch_.size() < workers) ws.scratch_.emplace_back(shape{static_cast<index_t>(scratch_floats_)});
  }

  template <class F>
  auto with_cached_workspace(F&& f) const {
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

  void run(std::size_t i, float* const* vals, workspace& ws, std::size_t n, thread_pool* pool) const {
    const graph_node& node = graph_.nodes[i];
    const prepared& p = prep_[i];
    const std::uint32_t in_id = node.inputs[0];
    const shape& is = shapes_[in_id];  // per image
    const float* in = vals[in_id];
    float* out = vals[i + 1];
    const std::size_t in_img = static_cast<std::size_t>(is.elements());
    const std::size_t out_img = static_cast<std::size_t>(shapes_[i + 1].elements());
    const std::size_t c = static_cast<std::size_t>(is[is.rank() - 1]);
    const std::size_t total = n * in_img;  // input values of the whole batch
    auto scr = [&](unsigned worker) { return ws.scratch_[worker].data(); };
    switch (node.op) {
      case op_kind::standardize: run_standardize(in, n, is, out, ws); break;
      case op_kind::channel_normalize: {
        // whole "wide pixels" of lcm(c, vector width) floats, then the pixels left over
        const std::size_t wide = wide_channels(c), bulk = total / wide * wide;
        kernels::normalize_pixels<A>(in, bulk / wide, wide, p.mean.data(), p.divisor.data(), out);
        kernels::normalize_pixels<A>(in + bulk, (total - bulk) / c, c, p.mean.data(), p.divisor.data(), out + bulk);
        break;
      }
      case op_kind::conv2d:
      case op_kind::pointwise_conv2d: {
        const kernels::conv_geom& g = p.geom;
        if (g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1) {
          // the images of a batch are one matrix of n * pixels rows
          split_rows(pool, 1, n * g.in_h * g.in_w, kernels::gemm_mr<A>(), [&](std::size_t, std::size_t r0, std::size_t r1, unsigned wk) {
            kernels::gemm<A>(in + r0 * g.in_c, r1 - r0, g.in_c, g.in_c, p.packed.data(), g.out_c, out + r0 * g.out_c,
                             g.out_c, p.ep, scr(wk));
          });
        } else if (g.kh == 1 && g.kw == 1) {
          split_rows(pool, n, g.out_h * g.out_w, kernels::gemm_mr<A>(), [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned wk) {
            kernels::pointwise_strided_image<A>(in + b * in_img, g, p.packed.data(), out + b * out_img, p.ep, scr(wk),
                                                r0, r1);
          });
        } else {
          split_rows(pool, n, g.out_h, 1, [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned wk) {
            kernels::conv2d_image<A>(in + b * in_img, g, p.packed.data(), out + b * out_img, p.ep, scr(wk), r0, r1);
          });
        }
        break;
      }
      case op_kind::depthwise_conv2d:
        split_rows(pool, n, p.geom.out_h, 1, [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned) {
          kernels::depthwise_image<A>(in + b * in_img, p.geom, p.packed.data(), out + b * out_img, p.ep, r0, r1,
                                     p.tile);
        });
        break;
      case op_kind::batch_norm:
        if (node.ints[0] == 0)
          kernels::affine_pixels<A>(in, total / c, c, p.scale.data(), p.shift.data(), out);
        else
          run_batch_norm_stats(node, in, total, c, out, ws);
        break;
      case op_kind::lrn:
        split_rows(pool, 1, total / c, 1, [&](std::size_t, std::size_t r0, std::size_t r1, unsigned wk) {
          kernels::lrn_pixels<A>(in + r0 * c, r1 - r0, c, static_cast<std::size_t>(node.ints[0]),
                                 static_cast<float>(node.floats[0]), static_cast<float>(node.floats[1]),
                                 static_cast<float>(node.floats[2]), out + r0 * c, scr(wk));
        });
        break;
      case op_kind::pool_max:
        split_rows(pool, n, p.geom.out_h, 1, [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned) {
          kernels::pool_image<A, true>(in + b * in_img, p.geom, out + b * out_img, r0, r1);
        });
        break;
      case op_kind::pool_avg:
        split_rows(pool, n, p.geom.out_h, 1, [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned) {
          kernels::pool_image<A, false>(in + b * in_img, p.geom, out + b * out_img, r0, r1);
        });
        break;
      case op_kind::fully_connected: {
        // column blocks of the packed weights, every image of the batch in each
        const std::size_t k = in_img, m = out_img;
        split_rows(pool, 1, kernels::dense_blocks<A>(m), 1, [&](std::size_t, std::size_t b0, std::size_t b1, unsigned) {
          kernels::dense_packed<A>(in, n, in_img, k, p.packed.data(), m, out, out_img, p.ep, b0, b1);
        });
        break;
      }
      case op_kind::add: kernels::add_n<A>(in, vals[node.inputs[1]], out, total); break;
      case op_kind::relu: kernels::relu_n<A>(in, out, total); break;
      case op_kind::softmax: kernels::softmax_rows<A>(in, n, in_img, out); break;
    }
  }

  graph graph_;
  std::map<std::string, tensor_view<const float>> weights_;
  std::shared_ptr<const void> owner_;
  std::vector<shape> shapes_;
  std::vector<prepared> prep_;
  std::vector<std::size_t> last_use_;
  std::size_t scratch_floats_ = 0;
  std::size_t prefix_end_ = 0;  // batches run layers [0, prefix_end_) image by image
  std::size_t stats_channels_ = 1;  // the widest statistics a standardize or batch-statistics norm keeps
  struct workspace_cache {
    std::mutex mutex;
    std::vector<std::unique_ptr<workspace>> free;
  };
  std::shared_ptr<workspace_cache> cache_ = std::make_shared<workspace_cache>();
  std::uint64_t id_ = next_id();

  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
  }
};

}  // namespace lmtcnn
