// lmtcnn engine: runs a graph on the SIMD kernels of one architecture A (an xsimd tag).
//
// Preparing a network packs every filter for A once (GEMM panels, depthwise taps), pads the
// per-channel vectors, and folds a batch norm with stored statistics into the epilogue of the layer
// before it when that layer's output feeds nothing else (LMTCNN's BN comes after the ReLU, which is
// exactly the epilogue's order). forward() is const: several threads may run one engine_net.
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lmtcnn/graph.hpp"
#include "lmtcnn/kernels/conv.hpp"
#include "lmtcnn/kernels/gemm.hpp"
#include "lmtcnn/kernels/misc.hpp"
#include "lmtcnn/kernels/pool.hpp"

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

  /// Runs the network on input [n,h,w,c]; returns the named outputs.
  std::map<std::string, tensor<float>> forward(tensor_view<const float> input) const {
    std::vector<tensor<float>> values(graph_.nodes.size() + 1);
    values[0] = graph_input(graph_, input);
    const index_t n = input.dim(0);
    tensor<float> scratch({static_cast<index_t>(scratch_floats_)});
    for (std::size_t i = 0; i < graph_.nodes.size(); ++i) {
      const prepared& p = prep_[i];
      const graph_node& node = graph_.nodes[i];
      if (p.folded) {  // a batch norm folded into the layer before: same tensor
        values[i + 1] = std::move(values[node.inputs[0]]);
        continue;
      }
      shape s = shapes_[i + 1];
      std::vector<index_t> dims(s.begin(), s.end());
      dims[0] = n;
      values[i + 1] = tensor<float>(shape(dims.begin(), dims.end()));
      run(i, values, values[i + 1], scratch.data());
      for (std::uint32_t id : node.inputs)
        if (last_use_[id] == i) values[id] = tensor<float>();
    }
    std::map<std::string, tensor<float>> out;
    for (const auto& [name, id] : graph_.outputs) out.emplace(name, values[id]);
    return out;
  }

 private:
  struct prepared {
    kernels::conv_geom geom{};
    tensor<float> packed;                 // packed filter
    tensor<float> bias, scale, shift;     // padded per-channel vectors
    tensor<float> mean, divisor;          // channel_normalize
    kernels::epilogue_k ep;
    bool folded = false;                  // this batch norm lives in the previous layer's epilogue
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
        p.bias = padded(node.tensors.size() > 1 ? w(node.tensors[1]) : nullptr, c, 0.f);
        p.ep.bias = p.bias.data();
        set_act(node.ints[3]);
        break;
      }
      case op_kind::fully_connected: {
        const std::size_t m = static_cast<std::size_t>(out[1]);
        p.bias = padded(node.tensors.size() > 1 ? w(node.tensors[1]) : nullptr, m, 0.f);
        p.ep.bias = p.bias.data();
        set_act(node.ints[0]);
        break;
      }
      case op_kind::batch_norm: {
        if (node.ints[0] != 0) break;  // batch statistics: computed at run time
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
        const std::size_t c = static_cast<std::size_t>(in[3]);
        std::vector<float> mean(c), div(c);
        for (std::size_t ch = 0; ch < c; ++ch) {
          mean[ch] = static_cast<float>(node.floats[ch]);
          div[ch] = static_cast<float>(node.floats[c + ch]);
        }
        p.mean = padded(mean.data(), c, 0.f);
        p.divisor = padded(div.data(), c, 1.f);
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
        scratch_floats_ = std::max(scratch_floats_, 2 * static_cast<std::size_t>(in[3]) + 2 * vec);
        break;
      default: break;
    }
  }

  /// Per-channel statistics of n images and the scale/shift that normalise with them.
  void run_batch_norm_stats(const graph_node& node, const tensor<float>& x, tensor<float>& y) const {
    const std::size_t c = static_cast<std::size_t>(x.dim(3));
    const std::size_t pixels = static_cast<std::size_t>(x.size()) / c;
    std::vector<double> sum(c, 0.0), sq(c, 0.0);
    kernels::channel_moments<A>(x.data(), pixels, c, nullptr, sum.data(), sq.data());
    std::vector<float> mean(c);
    for (std::size_t ch = 0; ch < c; ++ch) mean[ch] = static_cast<float>(sum[ch] / static_cast<double>(pixels));
    const tensor<float> mean_p = padded(mean.data(), c, 0.f);
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(sq.begin(), sq.end(), 0.0);
    kernels::channel_moments<A>(x.data(), pixels, c, mean_p.data(), sum.data(), sq.data());
    const float *gamma = w(node.tensors[2]), *beta = w(node.tensors[3]);
    std::vector<float> scale(c), shift(c);
    for (std::size_t ch = 0; ch < c; ++ch) {
      // sum holds the deviations from the float mean: correct the mean with their average
      const double m = mean[ch] + sum[ch] / static_cast<double>(pixels);
      const double var = sq[ch] / static_cast<double>(pixels) - (sum[ch] / static_cast<double>(pixels)) *
                                                                    (sum[ch] / static_cast<double>(pixels));
      const double s = (gamma ? gamma[ch] : 1.0) / std::sqrt(std::max(var, 0.0) + node.floats[0]);
      scale[ch] = static_cast<float>(s);
      shift[ch] = static_cast<float>((beta ? beta[ch] : 0.0) - m * s);
    }
    const tensor<float> sp = padded(scale.data(), c, 1.f), hp = padded(shift.data(), c, 0.f);
    kernels::affine_pixels<A>(x.data(), pixels, c, sp.data(), hp.data(), y.data());
  }

  void run_standardize(const tensor<float>& x, tensor<float>& y) const {
    const std::size_t n = static_cast<std::size_t>(x.dim(0)), c = static_cast<std::size_t>(x.dim(3));
    const std::size_t pixels = static_cast<std::size_t>(x.dim(1) * x.dim(2)), count = pixels * c;
    for (std::size_t b = 0; b < n; ++b) {
      const float* src = x.data() + b * count;
      std::vector<double> sum(c, 0.0), sq(c, 0.0);
      kernels::channel_moments<A>(src, pixels, c, nullptr, sum.data(), sq.data());
      double total = 0;
      for (double s : sum) total += s;
      const float mean = static_cast<float>(total / static_cast<double>(count));
      const std::vector<float> center(c, mean);
      const tensor<float> cp = padded(center.data(), c, 0.f);
      std::fill(sum.begin(), sum.end(), 0.0);
      std::fill(sq.begin(), sq.end(), 0.0);
      kernels::channel_moments<A>(src, pixels, c, cp.data(), sum.data(), sq.data());
      double dev = 0, dev2 = 0;
      for (std::size_t ch = 0; ch < c; ++ch) {
        dev += sum[ch];
        dev2 += sq[ch];
      }
      const double mu = mean + dev / static_cast<double>(count);
      const double var = std::max(dev2 / static_cast<double>(count) - (dev / static_cast<double>(count)) *
                                                                          (dev / static_cast<double>(count)),
                                  0.0);
      const double adjusted = std::max(std::sqrt(var), 1.0 / std::sqrt(static_cast<double>(count)));
      const std::vector<float> scale(c, static_cast<float>(1.0 / adjusted)), shift(c, static_cast<float>(-mu / adjusted));
      const tensor<float> sp = padded(scale.data(), c, 1.f), hp = padded(shift.data(), c, 0.f);
      kernels::affine_pixels<A>(src, pixels, c, sp.data(), hp.data(), y.data() + b * count);
    }
  }

  void run(std::size_t i, const std::vector<tensor<float>>& values, tensor<float>& out, float* scratch) const {
    const graph_node& node = graph_.nodes[i];
    const prepared& p = prep_[i];
    const tensor<float>& in = values[node.inputs[0]];
    const std::size_t n = static_cast<std::size_t>(in.dim(0));
    const std::size_t in_img = static_cast<std::size_t>(in.size()) / n;
    const std::size_t out_img = static_cast<std::size_t>(out.size()) / n;
    switch (node.op) {
      case op_kind::standardize: run_standardize(in, out); break;
      case op_kind::channel_normalize:
        kernels::normalize_pixels<A>(in.data(), static_cast<std::size_t>(in.size() / in.dim(3)),
                                     static_cast<std::size_t>(in.dim(3)), p.mean.data(), p.divisor.data(), out.data());
        break;
      case op_kind::conv2d:
      case op_kind::pointwise_conv2d: {
        const kernels::conv_geom& g = p.geom;
        for (std::size_t b = 0; b < n; ++b) {
          const float* src = in.data() + b * in_img;
          float* dst = out.data() + b * out_img;
          if (g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1)
            kernels::gemm<A>(src, g.in_h * g.in_w, g.in_c, g.in_c, p.packed.data(), g.out_c, dst, g.out_c, p.ep,
                             scratch);
          else if (g.kh == 1 && g.kw == 1)
            strided_pointwise(src, g, p, dst, scratch);
          else
            kernels::conv2d_image<A>(src, g, p.packed.data(), dst, p.ep, scratch);
        }
        break;
      }
      case op_kind::depthwise_conv2d:
        for (std::size_t b = 0; b < n; ++b)
          kernels::depthwise_image<A>(in.data() + b * in_img, p.geom, p.packed.data(), out.data() + b * out_img, p.ep);
        break;
      case op_kind::batch_norm:
        if (node.ints[0] == 0)
          kernels::affine_pixels<A>(in.data(), static_cast<std::size_t>(in.size() / in.dim(3)),
                                    static_cast<std::size_t>(in.dim(3)), p.scale.data(), p.shift.data(), out.data());
        else
          run_batch_norm_stats(node, in, out);
        break;
      case op_kind::lrn:
        kernels::lrn_pixels<A>(in.data(), static_cast<std::size_t>(in.size() / in.dim(3)),
                               static_cast<std::size_t>(in.dim(3)), static_cast<std::size_t>(node.ints[0]),
                               static_cast<float>(node.floats[0]), static_cast<float>(node.floats[1]),
                               static_cast<float>(node.floats[2]), out.data(), scratch);
        break;
      case op_kind::pool_max:
        for (std::size_t b = 0; b < n; ++b)
          kernels::pool_image<A, true>(in.data() + b * in_img, p.geom, out.data() + b * out_img);
        break;
      case op_kind::pool_avg:
        for (std::size_t b = 0; b < n; ++b)
          kernels::pool_image<A, false>(in.data() + b * in_img, p.geom, out.data() + b * out_img);
        break;
      case op_kind::fully_connected: {
        const tensor_view<const float>& wt = weights_.at(node.tensors[0]);
        for (std::size_t b = 0; b < n; ++b)
          kernels::dense_row<A>(in.data() + b * in_img, static_cast<std::size_t>(wt.dim(0)), wt.data(),
                                static_cast<std::size_t>(wt.dim(1)), out.data() + b * out_img, p.ep);
        break;
      }
      case op_kind::add:
        kernels::add_n<A>(in.data(), values[node.inputs[1]].data(), out.data(), static_cast<std::size_t>(in.size()));
        break;
      case op_kind::relu: kernels::relu_n<A>(in.data(), out.data(), static_cast<std::size_t>(in.size())); break;
      case op_kind::softmax:
        kernels::softmax_rows<A>(in.data(), static_cast<std::size_t>(in.dim(0)), static_cast<std::size_t>(in.dim(1)),
                                 out.data());
        break;
    }
  }

  /// A 1x1 convolution with stride: the GEMM over the sampled pixels, a tile of rows at a time.
  void strided_pointwise(const float* src, const kernels::conv_geom& g, const prepared& p, float* dst,
                         float* scratch) const {
    constexpr std::size_t mr = kernels::gemm_mr<A>();
    const float* rows[mr];
    float* outs[mr];
    const std::size_t pixels = g.out_h * g.out_w;
    for (std::size_t p0 = 0; p0 < pixels; p0 += mr) {
      const std::size_t m = std::min(mr, pixels - p0);
      for (std::size_t r = 0; r < mr; ++r) {
        const std::size_t q = p0 + (r < m ? r : 0), oy = q / g.out_w, ox = q % g.out_w;
        rows[r] = src + ((oy * g.stride_h - g.pad_top) * g.in_w + (ox * g.stride_w - g.pad_left)) * g.in_c;
        outs[r] = dst + q * g.out_c;
      }
      kernels::gemm_block<A>(rows, m, g.in_c, p.packed.data(), g.out_c, outs, p.ep, scratch);
    }
  }

  graph graph_;
  std::map<std::string, tensor_view<const float>> weights_;
  std::shared_ptr<const void> owner_;
  std::vector<shape> shapes_;
  std::vector<prepared> prep_;
  std::vector<std::size_t> last_use_;
  std::size_t scratch_floats_ = 0;
};

}  // namespace lmtcnn
