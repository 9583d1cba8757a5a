// lmtcnn prepared layers that work per channel or per element: batch norm, standardisation, channel
// normalisation, LRN, pooling, ReLU, addition and softmax.
#pragma once

#include "lmtcnn/engine/layer_base.hpp"

namespace lmtcnn {
namespace detail {

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

/// standardize: each image (x - mean) / max(stddev, 1/sqrt(count)) over all its values. Both passes
/// split across threads: the moments over a fixed number of parts of the image (set by its size alone,
/// so the sums, and the result's bits, are the same at any thread count), the scaling by pixels.
template <class A>
class standardize_layer final : public layer<A> {
  using M = layer_math<A>;
  static constexpr std::size_t block = kernels::moments_block;  // parts are whole blocks

 public:
  standardize_layer(const graph_node&, const shape& in, const shape&, const weight_views&) {
    const std::size_t c = static_cast<std::size_t>(in[3]), wide = M::wide_channels(c);
    const std::size_t blocks = (static_cast<std::size_t>(in.elements()) / wide + block - 1) / block;
    parts_ = std::max<std::size_t>(1, std::min<std::size_t>(16, blocks));
    this->stats_channels_ = parts_ * wide;  // each part keeps its own sums
  }

  void run(const layer_args& a) const override {
    const std::size_t c = static_cast<std::size_t>(a.in_shape[3]), wide = M::wide_channels(c);
    const std::size_t len = M::padded_length(wide);
    const std::size_t count = static_cast<std::size_t>(a.in_shape.elements()), bulk = count / wide * wide;
    const std::size_t wide_pixels = bulk / wide, blocks = (wide_pixels + block - 1) / block;
    float* center = a.vectors;  // three padded vectors: centre, scale, shift
    float* scale = center + len;
    float* shift = scale + len;
    const double cnt = static_cast<double>(count);
    for (std::size_t b = 0; b < a.n; ++b) {
      const float* src = a.in + b * count;
      float* dst = a.out + b * count;
      // One pass of moments around a centre near the mean: the deviations summed in float blocks stay
      // small, so little cancels in E[d^2] - E[d]^2. The centre is the mean of about 1024 values
      // spread over the whole image (a pass for the exact mean cost as much as the moments).
      const std::size_t step = std::max<std::size_t>(1, count / 1024);
      double sample = 0;
      std::size_t taken = 0;
      for (std::size_t i = 0; i < count; i += step, ++taken) sample += src[i];
      const float mean = static_cast<float>(sample / static_cast<double>(taken));
      std::fill(center, center + len, mean);
      // part q: whole blocks [blocks * q / parts, blocks * (q + 1) / parts) of wide pixels, its sums
      // at a.sums + 2 * wide * q
      M::split_rows(a.pool, 1, parts_, 1, [&](std::size_t, std::size_t q0, std::size_t q1, unsigned) {
        for (std::size_t q = q0; q < q1; ++q) {
          double* sum = a.sums + 2 * wide * q;
          std::fill(sum, sum + 2 * wide, 0.0);
          const std::size_t p0 = std::min(wide_pixels, blocks * q / parts_ * block);
          const std::size_t p1 = std::min(wide_pixels, blocks * (q + 1) / parts_ * block);
          kernels::channel_moments<A>(src + p0 * wide, p1 - p0, wide, center, sum, sum + wide);
        }
      });
      double dev = 0, dev2 = 0;
      for (std::size_t q = 0; q < parts_; ++q)
        for (std::size_t ch = 0; ch < wide; ++ch) {
          dev += a.sums[2 * wide * q + ch];
          dev2 += a.sums[2 * wide * q + wide + ch];
        }
      // the pixels after the last wide pixel (when c does not divide into the wide pixels evenly)
      double* rest = a.sums;
      std::fill(rest, rest + 2 * c, 0.0);
      kernels::channel_moments<A>(src + bulk, (count - bulk) / c, c, center, rest, rest + c);
      for (std::size_t ch = 0; ch < c; ++ch) {
        dev += rest[ch];
        dev2 += rest[c + ch];
      }
      const double mu = mean + dev / cnt;
      const double var = std::max(dev2 / cnt - (dev / cnt) * (dev / cnt), 0.0);
      const double adjusted = std::max(std::sqrt(var), 1.0 / std::sqrt(cnt));
      std::fill(scale, scale + len, static_cast<float>(1.0 / adjusted));
      std::fill(shift, shift + len, static_cast<float>(-mu / adjusted));
      M::split_rows(a.pool, 1, wide_pixels, 64, [&](std::size_t, std::size_t p0, std::size_t p1, unsigned) {
        kernels::affine_pixels<A>(src + p0 * wide, p1 - p0, wide, scale, shift, dst + p0 * wide);
      });
      kernels::affine_pixels<A>(src + bulk, (count - bulk) / c, c, scale, shift, dst + bulk);
    }
  }

 private:
  std::size_t parts_ = 1;
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

  bool fold_into(layer<A>& producer) override { return producer.absorb_pool(geom_, max_); }

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

/// Residual add; takes a following ReLU (the 68-point landmark nets' dense blocks end each sum with
/// one), applied to the sum as it is stored.
template <class A>
class add_layer final : public layer<A> {
 public:
  add_layer(const graph_node&, const shape&, const shape&, const weight_views&) {}
  bool absorb_relu(activation act) override {
    if (act_ != activation::none) return false;
    act_ = act;
    return true;
  }
  void run(const layer_args& a) const override {
    kernels::add_n<A>(a.in, a.in2, a.out, a.n * static_cast<std::size_t>(a.in_shape.elements()), act_);
  }

 private:
  activation act_ = activation::none;
};

template <class A>
class softmax_layer final : public layer<A> {
 public:
  softmax_layer(const graph_node&, const shape&, const shape&, const weight_views&) {}
  void run(const layer_args& a) const override {
    kernels::softmax_rows<A>(a.in, a.n, static_cast<std::size_t>(a.in_shape.elements()), a.out);
  }
};

}  // namespace detail
}  // namespace lmtcnn
