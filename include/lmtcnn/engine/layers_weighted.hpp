// lmtcnn prepared layers with weights that multiply: standard, pointwise and depthwise convolution
// and fully connected layers, in fp32 or bf16 (kernels/bf16.hpp). Folding: a convolution's epilogue
// can take the batch norm (stored statistics) or the ReLU that follows it; engine_net::fold decides
// when (the producer feeds nothing else), these layers say what they can absorb.
#pragma once

#include "lmtcnn/engine/layer_base.hpp"
#include "lmtcnn/kernels/pool.hpp"

namespace lmtcnn {
namespace detail {

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

  /// A pooling whose windows do not overlap (window <= stride) and start at the first row and column
  /// (VALID, or SAME with its odd cell after): the convolution computes a band of its rows into
  /// scratch and pools it there, so its own output (four times the pooled one under 2x2 windows,
  /// 11 MB for the tiny face detector's first layer) is never written out and read back. Float32
  /// standard convolutions and unit-stride pointwise ones.
  bool absorb_pool(const kernels::conv_geom& pool, bool max) override {
    if (pooled_ || mode_ != kernels::bf16_mode::off || path_ == path::pointwise_strided) return false;
    if (pool.kh > pool.stride_h || pool.kw > pool.stride_w || pool.pad_top != 0 || pool.pad_left != 0) return false;
    pooled_ = true;
    pool_ = pool;
    pool_max_ = max;
    const std::size_t row = geom_.out_w * geom_.out_c;  // floats of one row of the convolution
    band_ = std::max<std::size_t>(1, 65536 / (pool_.stride_h * row));  // pooled rows per band: about 256 KB
    band_at_ = (this->scratch_floats_ + 63) / 64 * 64;
    this->scratch_floats_ = band_at_ + band_ * pool_.stride_h * row + 64;  // slack: whole-vector reads
    return true;
  }

  /// After a pooling the epilogue would come before it: a ReLU commutes with max pooling only, an
  /// affine map with neither (its scale may be negative).
  bool absorb_relu(activation act) override {
    return (!pooled_ || pool_max_) && epilogue_layer<A>::absorb_relu(act);
  }
  bool absorb_affine(tensor<float>& scale, tensor<float>& shift) override {
    return !pooled_ && epilogue_layer<A>::absorb_affine(scale, shift);
  }

  void run(const layer_args& a) const override {
    if (pooled_) return run_pooled(a);
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
  /// With a pooling absorbed: bands of pooled rows, each from its rows of the convolution.
  void run_pooled(const layer_args& a) const {
    const kernels::conv_geom& g = geom_;
    const float* pk = this->packed_.data();
    const std::size_t in_img = static_cast<std::size_t>(a.in_shape.elements());
    const std::size_t pooled_row = pool_.out_w * pool_.in_c, out_img = pool_.out_h * pooled_row;
    M::split_rows(a.pool, a.n, pool_.out_h, 1, [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned wk) {
      const float* in = a.in + b * in_img;
      float* band = a.scratch[wk] + band_at_;
      for (std::size_t p0 = r0; p0 < r1; p0 += band_) {
        const std::size_t p1 = std::min(r1, p0 + band_);
        const std::size_t y0 = p0 * pool_.stride_h, y1 = std::min(g.out_h, p1 * pool_.stride_h);
        if (path_ == path::gemm)
          kernels::gemm<A>(in + y0 * g.in_w * g.in_c, (y1 - y0) * g.out_w, g.in_c, g.in_c, pk, g.out_c, band, g.out_c,
                           this->ep_, a.scratch[wk]);
        else
          kernels::conv2d_image<A>(in, g, pk, band, this->ep_, a.scratch[wk], y0, y1, y0);
        kernels::conv_geom pb = pool_;  // the band's rows of the convolution are the pooling's input
        pb.in_h = y1 - y0;
        pb.out_h = p1 - p0;
        float* dst = a.out + b * out_img + p0 * pooled_row;
        if (pool_max_)
          kernels::pool_image<A, true>(band, pb, dst);
        else
          kernels::pool_image<A, false>(band, pb, dst);
      }
    });
  }

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
  bool pooled_ = false, pool_max_ = true;  // a pooling absorbed (absorb_pool)
  kernels::conv_geom pool_{};
  std::size_t band_ = 1, band_at_ = 0;  // pooled rows per band; where the band starts in scratch
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
    pair_ = kernels::depthwise_pair_width<A>(geom_.in_w, c, geom_.stride_w);
    this->set_epilogue(weight_data(w, a.bias), c, a.activation(), a.alpha);
  }

  void run(const layer_args& a) const override {
    const std::size_t in_img = static_cast<std::size_t>(a.in_shape.elements());
    const std::size_t out_img = static_cast<std::size_t>(a.out_shape.elements());
    M::split_rows(a.pool, a.n, geom_.out_h, 1, [&](std::size_t b, std::size_t r0, std::size_t r1, unsigned) {
      kernels::depthwise_image<A>(a.in + b * in_img, geom_, this->packed_.data(), a.out + b * out_img, this->ep_,
                                  r0, r1, tile_, pair_);
    });
  }

 private:
  kernels::conv_geom geom_{};
  std::size_t tile_ = 0;  // the widest tile of output pixels
  std::size_t pair_ = 0;  // the widest tile of two output rows at once (0: single rows)
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

}  // namespace detail
}  // namespace lmtcnn
