// lmtcnn prepared layers: one class per op family, for one SIMD architecture A. A layer is built
// once from its graph node, its shapes and its weights: it packs its filters for A, pads its
// per-channel vectors, decides which kernel and tile it runs, and says what scratch memory it needs.
// run() then works on raw activation pointers the engine hands it (engine.hpp plans that memory and
// the order), splitting its work across the pool's threads.
//
// Folding: a convolution's epilogue can take the batch norm (stored statistics) or the ReLU that
// follows it; engine_net::fold decides when (the producer feeds nothing else), the layers below say
// what they can absorb.
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
  /// A batch norm or ReLU offers itself to the layer that produces its input; true when taken.
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

/// A convolution's or fully connected layer's filter rounded to bf16 (the widened bf16 mode).
inline tensor<float> bf16_rounded(const tensor_view<const float>& f) {
  tensor<float> t(f.shape());
  for (index_t i = 0; i < t.size(); ++i) t[i] = round_to_bf16(f.data()[i]);
  return t;
}

/// Whether a layer on path A runs bf16 with dot products (AVX-512 with AVX512_BF16) or widened.
template <class A>
kernels::bf16_mode bf16_mode_for(precision p, bool allow_dot) {
  if (p != precision::bf16) return kernels::bf16_mode::off;
#if LMTCNN_HAVE_BF16_DOT && defined(__AVX512F__)
  if (std::is_same_v<A, xsimd::avx512f> && allow_dot && kernels::cpu_has_avx512_bf16()) return kernels::bf16_mode::dot;
#endif
  (void)allow_dot;
  return kernels::bf16_mode::widened;
}

/// conv2d and pointwise_conv2d: a GEMM over packed filter panels. Unit-stride 1x1 convolutions run
/// the batch as one matrix, strided 1x1 ones gather their rows, others run the standard convolution.
/// In bf16 precision every path hands tiles of input rows to the bf16 block (kernels/bf16.hpp); the
/// standard convolution then gathers every window.
template <class A>
class conv_layer final : public epilogue_layer<A> {
  using M = layer_math<A>;
  enum class path { gemm, pointwise_strided, image };

 public:
  conv_layer(const graph_node& node, const shape& in, const shape& out, const weight_views& w, kernels::bf16_mode mode) {
    const conv_attrs a = conv_attrs::decode(node);
    const tensor_view<const float>& f = w.at(a.filter);
    const std::size_t k = static_cast<std::size_t>(f.dim(0) * f.dim(1) * f.dim(2));
    const std::size_t nout = static_cast<std::size_t>(f.dim(3));
    mode_ = bf16_multiplies(k) ? mode : kernels::bf16_mode::off;
    geom_ = M::geometry(in, out, f.dim(0), f.dim(1), a.stride_h, a.stride_w, a.params().pad);
    const bool one = f.dim(0) == 1 && f.dim(1) == 1;
    if (mode_ == kernels::bf16_mode::dot && !one) {  // windows padded to even rows, read in place
      this->packed_ = tensor<float>({static_cast<index_t>(kernels::packed_conv_bf16_words(geom_))});
      kernels::pack_conv_bf16(f.data(), geom_, reinterpret_cast<std::uint32_t*>(this->packed_.data()));
    } else if (mode_ == kernels::bf16_mode::dot) {
      this->packed_ = tensor<float>({static_cast<index_t>(kernels::packed_gemm_b_bf16_words(k, nout))});
      kernels::pack_gemm_b_bf16(f.data(), k, nout, nout, reinterpret_cast<std::uint32_t*>(this->packed_.data()));
    } else {
      const tensor<float> rounded = mode_ == kernels::bf16_mode::widened ? bf16_rounded(f) : tensor<float>();
      this->packed_ = tensor<float>({static_cast<index_t>(kernels::packed_gemm_b_size<A>(k, nout))});
      kernels::pack_gemm_b<A>(rounded.size() ? rounded.data() : f.data(), k, nout, nout, this->packed_.data());
    }
    this->set_epilogue(weight_data(w, a.bias), nout, a.activation(), a.alpha);
    path_ = one && geom_.stride_h == 1 && geom_.stride_w == 1 ? path::gemm : one ? path::pointwise_strided : path::image;
    this->scratch_floats_ = kernels::conv2d_scratch_size<A>(geom_);
#if LMTCNN_HAVE_BF16_DOT && defined(__AVX512F__)
    if (mode_ == kernels::bf16_mode::dot && path_ == path::image)
      this->scratch_floats_ = std::max(this->scratch_floats_, kernels::conv_bf16_scratch_floats(geom_));
#endif
  }

  void run(const layer_args& a) const override {
    if (mode_ != kernels::bf16_mode::off) return run_bf16(a);
    const kernels::conv_geom& g = geom_;
    const float* pk = this->packed_.data();
    const kernels::epilogue_k& ep = this->ep_;
    const std::size_t in_img = static_cast<std::size_t>(a.in_shape.elements());
    const std::size_t out_img = static_cast<std::size_t>(a.out_shape.elements());
    switch (path_) {
      case path::gemm:  // the images of a batch are one matrix of n * pixels rows
        M::split_rows(a.pool, 1, a.n * g.in_h * g.in_w, kernels::gemm_mr<A>(),
                      [&](std::size_t, std::size_t r0, std::size_t r1, unsigned wk) {
                        kernels::gemm<A>(a.in + r0 * g.in_c, r1 - r0, g.in_c, g.in_c, pk, g.out_c,
                                         a.out + r0 * g.out_c, g.out_c, ep, a.scratch[wk]);
                      });
        break;
      case path::pointwise_strided:
        M::split_rows(a.pool, a.n, g.out_h * g.out_w, kernels::gemm_mr<A>(),
                      [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned wk) {
                        kernels::pointwise_strided_image<A>(a.in + b * in_img, g, pk, a.out + b * out_img, ep,
                                                            a.scratch[wk], r0, r1);
                      });
        break;
      case path::image:
        M::split_rows(a.pool, a.n, g.out_h, 1, [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned wk) {
          kernels::conv2d_image<A>(a.in + b * in_img, g, pk, a.out + b * out_img, ep, a.scratch[wk], r0, r1);
        });
        break;
    }
  }

 private:
  /// Up to mr input rows (rows[r], r < m) times the filter into outs, in bf16; scratch: mr * k floats.
  void bf16_block(const float* const* rows, std::size_t m, float* const* outs, float* scratch) const {
    const std::size_t k = geom_.kh * geom_.kw * geom_.in_c;
#if LMTCNN_HAVE_BF16_DOT && defined(__AVX512F__)
    if (mode_ == kernels::bf16_mode::dot)
      return kernels::gemm_block_bf16_dot(rows, m, k, reinterpret_cast<const std::uint32_t*>(this->packed_.data()),
                                          geom_.out_c, outs, this->ep_, scratch);
#endif
    kernels::gemm_block_widened<A>(rows, m, k, this->packed_.data(), geom_.out_c, outs, this->ep_, scratch);
  }

  void run_bf16(const layer_args& a) const {
    constexpr std::size_t mr = kernels::gemm_mr<A>();
    const kernels::conv_geom& g = geom_;
    const std::size_t k = g.kh * g.kw * g.in_c;
    const std::size_t in_img = static_cast<std::size_t>(a.in_shape.elements());
    const std::size_t out_img = static_cast<std::size_t>(a.out_shape.elements());
    switch (path_) {
      case path::gemm:  // image by image, as the strided 1x1
      case path::pointwise_strided:
        M::split_rows(a.pool, a.n, g.out_h * g.out_w, mr, [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned wk) {
          kernels::pointwise_rows<mr>(a.in + b * in_img, g, a.out + b * out_img, r0, r1,
                                      [&](const float* const* rows, std::size_t m, float* const* outs) {
                                        bf16_block(rows, m, outs, a.scratch[wk]);
                                      });
        });
        break;
      case path::image:
#if LMTCNN_HAVE_BF16_DOT && defined(__AVX512F__)
        if (mode_ == kernels::bf16_mode::dot) {
          const auto* words = reinterpret_cast<const std::uint32_t*>(this->packed_.data());
          M::split_rows(a.pool, a.n, g.out_h, 1, [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned wk) {
            kernels::conv2d_image_bf16_dot(a.in + b * in_img, g, words, a.out + b * out_img, this->ep_, a.scratch[wk], r0, r1);
          });
          break;
        }
#endif
        M::split_rows(a.pool, a.n, g.out_h, 1, [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned wk) {
          float* scratch = a.scratch[wk];
          kernels::conv2d_image_gathered<A>(a.in + b * in_img, g, a.out + b * out_img, scratch, r0, r1,
                                            [&](const float* const* rows, std::size_t m, float* const* outs) {
                                              bf16_block(rows, m, outs, scratch + mr * k);
                                            });
        });
        break;
    }
  }

  kernels::conv_geom geom_{};
  path path_ = path::image;
  kernels::bf16_mode mode_ = kernels::bf16_mode::off;
};

/// depthwise_conv2d: taps packed per channel vector; output rows split across threads.
template <class A>
class depthwise_layer final : public epilogue_layer<A> {
  using M = layer_math<A>;

 public:
  depthwise_layer(const graph_node& node, const shape& in, const shape& out, const weight_views& w) {
    const conv_attrs a = conv_attrs::decode(node);
    const tensor_view<const float>& f = w.at(a.filter);
    const std::size_t c = static_cast<std::size_t>(in[3]);
    geom_ = M::geometry(in, out, f.dim(0), f.dim(1), a.stride_h, a.stride_w, a.params().pad);
    this->packed_ = tensor<float>({f.dim(0) * f.dim(1) * static_cast<index_t>(kernels::round_up<A>(c))});
    kernels::pack_depthwise<A>(f.data(), static_cast<std::size_t>(f.dim(0) * f.dim(1)), c, this->packed_.data());
    tile_ = kernels::depthwise_tile_width<A>(geom_.in_w, c, geom_.stride_w);
    this->set_epilogue(weight_data(w, a.bias), c, a.activation(), a.alpha);
  }

  void run(const layer_args& a) const override {
    const std::size_t in_img = static_cast<std::size_t>(a.in_shape.elements());
    const std::size_t out_img = static_cast<std::size_t>(a.out_shape.elements());
    M::split_rows(a.pool, a.n, geom_.out_h, 1, [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned) {
      kernels::depthwise_image<A>(a.in + b * in_img, geom_, this->packed_.data(), a.out + b * out_img, this->ep_,
                                  r0, r1, tile_);
    });
  }

 private:
  kernels::conv_geom geom_{};
  std::size_t tile_ = 0;  // the widest tile of output pixels
};

/// fully_connected: weights packed into column blocks; the blocks split across threads, every image
/// of the batch in each (so the weights are read once per batch). In bf16 precision the weights are
/// packed as bf16 pairs, for dot products or widened in registers (whose kernel rounds the inputs).
template <class A>
class dense_layer final : public epilogue_layer<A> {
  using M = layer_math<A>;

 public:
  dense_layer(const graph_node& node, const shape&, const shape& out, const weight_views& w, kernels::bf16_mode mode) {
    const dense_attrs a = dense_attrs::decode(node);
    const tensor_view<const float>& f = w.at(a.weights);
    m_ = static_cast<std::size_t>(out[1]);
    const std::size_t k = static_cast<std::size_t>(f.dim(0));
    mode_ = bf16_multiplies(k) ? mode : kernels::bf16_mode::off;
    auto words = [&](std::size_t n) {
      this->packed_ = tensor<float>({static_cast<index_t>(n)});
      return reinterpret_cast<std::uint32_t*>(this->packed_.data());
    };
    if (mode_ == kernels::bf16_mode::dot) {
      kernels::pack_dense_bf16(f.data(), k, m_, words(kernels::packed_dense_bf16_words(k, m_)));
    } else if (mode_ == kernels::bf16_mode::widened) {
      kernels::pack_dense_bf16_widened<A>(f.data(), k, m_, words(kernels::packed_dense_bf16_widened_words<A>(k, m_)));
    } else {
      this->packed_ = tensor<float>({static_cast<index_t>(kernels::packed_dense_size<A>(k, m_))});
      kernels::pack_dense<A>(f.data(), k, m_, this->packed_.data());
    }
    this->set_epilogue(weight_data(w, a.bias), m_, a.activation(), a.alpha);
    this->whole_batch_ = true;
  }
  bool absorb_relu(activation) override { return false; }
  bool absorb_affine(tensor<float>&, tensor<float>&) override { return false; }

  void run(const layer_args& a) const override {
    const std::size_t k = static_cast<std::size_t>(a.in_shape.elements());
#if LMTCNN_HAVE_BF16_DOT && defined(__AVX512F__)
    if (mode_ == kernels::bf16_mode::dot) {
      const auto* words = reinterpret_cast<const std::uint32_t*>(this->packed_.data());
      M::split_rows(a.pool, 1, kernels::dense_bf16_blocks(m_), 1, [&](std::size_t, std::size_t b0, std::size_t b1, unsigned) {
        kernels::dense_bf16_packed(a.in, a.n, k, k, words, m_, a.out, m_, this->ep_, b0, b1);
      });
      return;
    }
#endif
    const bool round = mode_ == kernels::bf16_mode::widened;
    M::split_rows(a.pool, 1, kernels::dense_blocks<A>(m_), 1, [&](std::size_t, std::size_t b0, std::size_t b1, unsigned) {
      if (round)
        kernels::dense_packed<A, true>(a.in, a.n, k, k, this->packed_.data(), m_, a.out, m_, this->ep_, b0, b1);
      else
        kernels::dense_packed<A>(a.in, a.n, k, k, this->packed_.data(), m_, a.out, m_, this->ep_, b0, b1);
    });
  }

 private:
  std::size_t m_ = 0;
  kernels::bf16_mode mode_ = kernels::bf16_mode::off;
};

/// batch_norm: with stored statistics a per-channel scale and shift (folded into the convolution
/// before it when possible); with batch statistics, the mean and variance of the batch per channel.
template <class A>
class batch_norm_layer final : public layer<A> {
  using M = layer_math<A>;

 public:
  batch_norm_layer(const graph_node& node, const shape& in, const shape&, const weight_views& w)
      : a_(batch_norm_attrs::decode(node)) {
    const std::size_t c = static_cast<std::size_t>(in[3]);
    // gamma and beta, 1 and 0 where the network has none (filled here, so that the loops below read
    // them unconditionally: see layer_math::padded)
    gamma_.assign(c, 1.f);
    beta_.assign(c, 0.f);
    if (const float* g = weight_data(w, a_.gamma)) std::copy(g, g + c, gamma_.begin());
    if (const float* b = weight_data(w, a_.beta)) std::copy(b, b + c, beta_.begin());
    if (a_.batch_statistics()) {  // computed at run time
      this->stats_channels_ = c;
      this->whole_batch_ = true;
      return;
    }
    std::vector<float> scale(c), shift(c);
    const float *mean = weight_data(w, a_.mean), *var = weight_data(w, a_.variance);
    for (std::size_t ch = 0; ch < c; ++ch) {
      const double s = static_cast<double>(gamma_[ch]) / std::sqrt(static_cast<double>(var[ch]) + a_.eps);
      scale[ch] = static_cast<float>(s);
      shift[ch] = static_cast<float>(static_cast<double>(beta_[ch]) - mean[ch] * s);
    }
    scale_ = M::padded(scale.data(), c, 1.f);
    shift_ = M::padded(shift.data(), c, 0.f);
  }

  bool fold_into(layer<A>& producer) override {
    return !a_.batch_statistics() && producer.absorb_affine(scale_, shift_);
  }

  void run(const layer_args& a) const override {
    const std::size_t c = static_cast<std::size_t>(a.in_shape[3]);
    const std::size_t total = a.n * static_cast<std::size_t>(a.in_shape.elements());
    if (!a_.batch_statistics())
      kernels::affine_pixels<A>(a.in, total / c, c, scale_.data(), shift_.data(), a.out);
    else
      run_batch_statistics(a.in, total, c, a.out, a);
  }

 private:
  /// Per-channel statistics of the batch and the scale/shift that normalise with them (in the
  /// workspace's statistics buffers: no allocation).
  void run_batch_statistics(const float* x, std::size_t total, std::size_t c, float* y, const layer_args& a) const {
    const std::size_t pixels = total / c, len = M::padded_length(c);
    double* sum = a.sums;
    double* sq = sum + c;
    float* mean = a.vectors;  // three padded vectors: mean, scale, shift
    float* scale = mean + len;
    float* shift = scale + len;
    std::fill(sum, sum + 2 * c, 0.0);
    kernels::channel_moments<A>(x, pixels, c, nullptr, sum, sq);
    std::fill(mean, mean + len, 0.f);
    for (std::size_t ch = 0; ch < c; ++ch) mean[ch] = static_cast<float>(sum[ch] / static_cast<double>(pixels));
    std::fill(sum, sum + 2 * c, 0.0);
    kernels::channel_moments<A>(x, pixels, c, mean, sum, sq);
    std::fill(scale, scale + len, 1.f);
    std::fill(shift, shift + len, 0.f);
    const double p = static_cast<double>(pixels);
    for (std::size_t ch = 0; ch < c; ++ch) {
      // sum holds the deviations from the float mean: correct the mean with their average
      const double m = mean[ch] + sum[ch] / p;
      const double var = sq[ch] / p - (sum[ch] / p) * (sum[ch] / p);
      const double s = static_cast<double>(gamma_[ch]) / std::sqrt(std::max(var, 0.0) + a_.eps);
      scale[ch] = static_cast<float>(s);
      shift[ch] = static_cast<float>(static_cast<double>(beta_[ch]) - m * s);
    }
    kernels::affine_pixels<A>(x, pixels, c, scale, shift, y);
  }

  batch_norm_attrs a_;
  std::vector<float> gamma_, beta_;
  tensor<float> scale_, shift_;
};

/// standardize: each image (x - mean) / max(stddev, 1/sqrt(count)) over all its values.
template <class A>
class standardize_layer final : public layer<A> {
  using M = layer_math<A>;

 public:
  standardize_layer(const graph_node&, const shape& in, const shape&, const weight_views&) {
    this->stats_channels_ = M::wide_channels(static_cast<std::size_t>(in[3]));
  }

  void run(const layer_args& a) const override {
    const std::size_t c = static_cast<std::size_t>(a.in_shape[3]), wide = M::wide_channels(c);
    const std::size_t len = M::padded_length(wide);
    const std::size_t count = static_cast<std::size_t>(a.in_shape.elements()), bulk = count / wide * wide;
    double* sum = a.sums;
    double* sq = sum + wide;
    float* center = a.vectors;  // three padded vectors: centre, scale, shift
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
    const double cnt = static_cast<double>(count);
    for (std::size_t b = 0; b < a.n; ++b) {
      const float* src = a.in + b * count;
      double total = 0, unused = 0;
      moments(src, nullptr, total, unused);
      const float mean = static_cast<float>(total / cnt);
      std::fill(center, center + len, mean);
      double dev = 0, dev2 = 0;
      moments(src, center, dev, dev2);
      const double mu = mean + dev / cnt;
      const double var = std::max(dev2 / cnt - (dev / cnt) * (dev / cnt), 0.0);
      const double adjusted = std::max(std::sqrt(var), 1.0 / std::sqrt(cnt));
      std::fill(scale, scale + len, static_cast<float>(1.0 / adjusted));
      std::fill(shift, shift + len, static_cast<float>(-mu / adjusted));
      kernels::affine_pixels<A>(src, bulk / wide, wide, scale, shift, a.out + b * count);
      kernels::affine_pixels<A>(src + bulk, (count - bulk) / c, c, scale, shift, a.out + b * count + bulk);
    }
  }
};

/// channel_normalize: (x - mean[c]) / divisor[c], run on whole "wide pixels" of lcm(c, vector width).
template <class A>
class channel_normalize_layer final : public layer<A> {
  using M = layer_math<A>;

 public:
  channel_normalize_layer(const graph_node& node, const shape& in, const shape&, const weight_views&) {
    const channel_normalize_attrs a = channel_normalize_attrs::decode(node);
    const std::size_t c = static_cast<std::size_t>(in[3]), wide = M::wide_channels(c);
    std::vector<float> mean(wide), div(wide);  // repeated with period c
    for (std::size_t ch = 0; ch < wide; ++ch) {
      mean[ch] = static_cast<float>(a.mean[ch % c]);
      div[ch] = static_cast<float>(a.divisor[ch % c]);
    }
    mean_ = M::padded(mean.data(), wide, 0.f);
    divisor_ = M::padded(div.data(), wide, 1.f);
  }

  void run(const layer_args& a) const override {
    const std::size_t c = static_cast<std::size_t>(a.in_shape[3]), wide = M::wide_channels(c);
    const std::size_t total = a.n * static_cast<std::size_t>(a.in_shape.elements()), bulk = total / wide * wide;
    kernels::normalize_pixels<A>(a.in, bulk / wide, wide, mean_.data(), divisor_.data(), a.out);
    kernels::normalize_pixels<A>(a.in + bulk, (total - bulk) / c, c, mean_.data(), divisor_.data(), a.out + bulk);
  }

 private:
  tensor<float> mean_, divisor_;
};

/// lrn: pixels split across threads.
template <class A>
class lrn_layer final : public layer<A> {
 public:
  lrn_layer(const graph_node& node, const shape& in, const shape&, const weight_views&) : a_(lrn_attrs::decode(node)) {
    this->scratch_floats_ =
        kernels::lrn_scratch_size<A>(static_cast<std::size_t>(in[3]), static_cast<std::size_t>(a_.depth_radius));
  }

  void run(const layer_args& a) const override {
    const std::size_t c = static_cast<std::size_t>(a.in_shape[3]);
    const std::size_t pixels = a.n * static_cast<std::size_t>(a.in_shape.elements()) / c;
    layer_math<A>::split_rows(a.pool, 1, pixels, 1, [&](std::size_t, std::size_t r0, std::size_t r1, unsigned wk) {
      kernels::lrn_pixels<A>(a.in + r0 * c, r1 - r0, c, static_cast<std::size_t>(a_.depth_radius),
                             static_cast<float>(a_.bias), static_cast<float>(a_.alpha), static_cast<float>(a_.beta),
                             a.out + r0 * c, a.scratch[wk]);
    });
  }

 private:
  lrn_attrs a_;
};

/// pool_max, pool_avg: output rows split across threads.
template <class A>
class pool_layer final : public layer<A> {
 public:
  pool_layer(const graph_node& node, const shape& in, const shape& out, const weight_views&) {
    const pool_attrs a = pool_attrs::decode(node);
    geom_ = layer_math<A>::geometry(in, out, a.window_h, a.window_w, a.stride_h, a.stride_w, a.params().pad);
    max_ = a.max;
  }

  void run(const layer_args& a) const override {
    const std::size_t in_img = static_cast<std::size_t>(a.in_shape.elements());
    const std::size_t out_img = static_cast<std::size_t>(a.out_shape.elements());
    layer_math<A>::split_rows(a.pool, a.n, geom_.out_h, 1, [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned) {
      if (max_)
        kernels::pool_image<A, true>(a.in + b * in_img, geom_, a.out + b * out_img, r0, r1);
      else
        kernels::pool_image<A, false>(a.in + b * in_img, geom_, a.out + b * out_img, r0, r1);
    });
  }

 private:
  kernels::conv_geom geom_{};
  bool max_ = true;
};

/// relu (folded into the convolution before it when possible), add, softmax.
template <class A>
class relu_layer final : public layer<A> {
 public:
  relu_layer(const graph_node& node, const shape&, const shape&, const weight_views&)
      : act_(node.op == op_kind::relu6 ? activation::relu6 : activation::relu) {}
  bool fold_into(layer<A>& producer) override { return producer.absorb_relu(act_); }
  void run(const layer_args& a) const override {
    const std::size_t n = a.n * static_cast<std::size_t>(a.in_shape.elements());
    if (act_ == activation::relu6)
      kernels::relu6_n<A>(a.in, a.out, n);
    else
      kernels::relu_n<A>(a.in, a.out, n);
  }

 private:
  activation act_;
};

template <class A>
class add_layer final : public layer<A> {
 public:
  add_layer(const graph_node&, const shape&, const shape&, const weight_views&) {}
  void run(const layer_args& a) const override {
    kernels::add_n<A>(a.in, a.in2, a.out, a.n * static_cast<std::size_t>(a.in_shape.elements()));
  }
};

template <class A>
class softmax_layer final : public layer<A> {
 public:
  softmax_layer(const graph_node&, const shape&, const shape&, const weight_views&) {}
  void run(const layer_args& a) const override {
    kernels::softmax_rows<A>(a.in, a.n, static_cast<std::size_t>(a.in_shape.elements()), a.out);
  }
};

/// The prepared layer of a node whose shapes infer_shapes has checked.
/// bf16: the mode of the layers that multiply in bf16 (convolutions but depthwise, fully connected).
template <class A>
std::unique_ptr<layer<A>> make_layer(const graph_node& node, const shape& in, const shape& out, const weight_views& w,
                                     kernels::bf16_mode bf16 = kernels::bf16_mode::off) {
  switch (family_of(node.op)) {
    case op_family::standardize: return std::make_unique<standardize_layer<A>>(node, in, out, w);
    case op_family::channel_normalize: return std::make_unique<channel_normalize_layer<A>>(node, in, out, w);
    case op_family::conv: return std::make_unique<conv_layer<A>>(node, in, out, w, bf16);
    case op_family::depthwise: return std::make_unique<depthwise_layer<A>>(node, in, out, w);
    case op_family::batch_norm: return std::make_unique<batch_norm_layer<A>>(node, in, out, w);
    case op_family::lrn: return std::make_unique<lrn_layer<A>>(node, in, out, w);
    case op_family::pool: return std::make_unique<pool_layer<A>>(node, in, out, w);
    case op_family::dense: return std::make_unique<dense_layer<A>>(node, in, out, w, bf16);
    case op_family::add: return std::make_unique<add_layer<A>>(node, in, out, w);
    case op_family::relu: return std::make_unique<relu_layer<A>>(node, in, out, w);
    case op_family::softmax: return std::make_unique<softmax_layer<A>>(node, in, out, w);
  }
  return nullptr;
}

}  // namespace detail
}  // namespace lmtcnn
