// lmtcnn reference normalisations: batch norm (moving averages or the current batch's statistics),
// TensorFlow's local response normalisation across channels, and per-image standardisation.
#pragma once

#include <cmath>

#include "lmtcnn/reference/common.hpp"

namespace lmtcnn {
namespace detail {
namespace ref {

/// Batch norm with stored statistics: out = (in - mean[c]) / sqrt(variance[c] + eps) * gamma[c] + beta[c].
/// in/out [n,h,w,c] (may be the same view); mean, variance [c]; gamma, beta [c] or empty (1 and 0).
template <class T>
void batch_norm(input_view<T> in, input_view<T> mean, input_view<T> variance, input_view<T> gamma,
                input_view<T> beta, T eps, tensor_view<T> out) {
  const char* op = "batch_norm";
  lmtcnn::detail::check_nhwc(op, "input", in);
  const index_t c = in.dim(3);
  lmtcnn::detail::check(!mean.empty() && !variance.empty(), op, "moving mean and variance are required");
  lmtcnn::detail::check_channel_vector(op, "mean", mean, c);
  lmtcnn::detail::check_channel_vector(op, "variance", variance, c);
  lmtcnn::detail::check_channel_vector(op, "gamma", gamma, c);
  lmtcnn::detail::check_channel_vector(op, "beta", beta, c);
  lmtcnn::detail::check_output(op, out, in.shape());
  for (index_t n = 0; n < in.dim(0); ++n)
    for (index_t y = 0; y < in.dim(1); ++y)
      for (index_t x = 0; x < in.dim(2); ++x)
        for (index_t ch = 0; ch < c; ++ch) {
          accum_t<T> v = (static_cast<accum_t<T>>(in(n, y, x, ch)) - mean(ch)) /
                         std::sqrt(static_cast<accum_t<T>>(variance(ch)) + eps);
          if (!gamma.empty()) v *= gamma(ch);
          if (!beta.empty()) v += beta(ch);
          out(n, y, x, ch) = static_cast<T>(v);
        }
}

/// Batch norm with the statistics of the batch itself (TensorFlow's training mode, which LMTCNN's
/// original graph also uses at inference): per channel, mean and biased variance over n, h and w.
/// With one image this normalises each channel over its own h*w values. in/out may be the same view.
template <class T>
void batch_norm_batch_statistics(input_view<T> in, input_view<T> gamma, input_view<T> beta, T eps,
                                 tensor_view<T> out) {
  const char* op = "batch_norm_batch_statistics";
  lmtcnn::detail::check_nhwc(op, "input", in);
  const index_t c = in.dim(3);
  lmtcnn::detail::check_channel_vector(op, "gamma", gamma, c);
  lmtcnn::detail::check_channel_vector(op, "beta", beta, c);
  lmtcnn::detail::check_output(op, out, in.shape());
  const index_t count = in.dim(0) * in.dim(1) * in.dim(2);
  lmtcnn::detail::check(count > 0, op, "input " + in.shape().str() + " has no values to take statistics of");
  for (index_t ch = 0; ch < c; ++ch) {
    using A = accum_t<T>;
    A sum = 0;
    for (index_t n = 0; n < in.dim(0); ++n)
      for (index_t y = 0; y < in.dim(1); ++y)
        for (index_t x = 0; x < in.dim(2); ++x) sum += in(n, y, x, ch);
    const A mean = sum / static_cast<A>(count);
    A sq = 0;
    for (index_t n = 0; n < in.dim(0); ++n)
      for (index_t y = 0; y < in.dim(1); ++y)
        for (index_t x = 0; x < in.dim(2); ++x) {
          const A d = in(n, y, x, ch) - mean;
          sq += d * d;
        }
    const A inv_std = A(1) / std::sqrt(sq / static_cast<A>(count) + eps);
    for (index_t n = 0; n < in.dim(0); ++n)
      for (index_t y = 0; y < in.dim(1); ++y)
        for (index_t x = 0; x < in.dim(2); ++x) {
          A v = (in(n, y, x, ch) - mean) * inv_std;
          if (!gamma.empty()) v *= gamma(ch);
          if (!beta.empty()) v += beta(ch);
          out(n, y, x, ch) = static_cast<T>(v);
        }
  }
}

/// TensorFlow's local response normalisation (tf.nn.local_response_normalization), defaults as there.
struct lrn_params {
  index_t depth_radius = 5;  ///< window spans channels c - depth_radius .. c + depth_radius
  double bias = 1.0;
  double alpha = 1.0;  ///< multiplies the plain sum of squares (not divided by the window size)
  double beta = 0.5;
};

/// out[c] = in[c] / (bias + alpha * sum of in[c']^2 over the window clipped to [0, C))^beta.
/// in/out [n,h,w,c]; the output must not overlap the input.
template <class T>
void lrn(input_view<T> in, const lrn_params& p, tensor_view<T> out) {
  const char* op = "lrn";
  lmtcnn::detail::check_nhwc(op, "input", in);
  lmtcnn::detail::check(p.depth_radius >= 0, op, "depth_radius must not be negative");
  lmtcnn::detail::check_output(op, out, in.shape());
  const index_t c = in.dim(3);
  for (index_t n = 0; n < in.dim(0); ++n)
    for (index_t y = 0; y < in.dim(1); ++y)
      for (index_t x = 0; x < in.dim(2); ++x)
        for (index_t ch = 0; ch < c; ++ch) {
          using A = accum_t<T>;
          A sq = 0;
          const index_t lo = std::max<index_t>(ch - p.depth_radius, 0);
          const index_t hi = std::min<index_t>(ch + p.depth_radius, c - 1);
          for (index_t k = lo; k <= hi; ++k) sq += static_cast<A>(in(n, y, x, k)) * in(n, y, x, k);
          const A denom = std::pow(static_cast<A>(p.bias) + static_cast<A>(p.alpha) * sq, static_cast<A>(p.beta));
          out(n, y, x, ch) = static_cast<T>(in(n, y, x, ch) / denom);
        }
}

/// TensorFlow's per_image_standardization, each image on its own:
/// out = (in - mean) / max(stddev, 1 / sqrt(h*w*c)), mean and (population) stddev over all its values.
/// in/out [n,h,w,c] (may be the same view).
template <class T>
void standardize_per_image(input_view<T> in, tensor_view<T> out) {
  const char* op = "standardize_per_image";
  lmtcnn::detail::check_nhwc(op, "input", in);
  lmtcnn::detail::check_output(op, out, in.shape());
  const index_t count = in.dim(1) * in.dim(2) * in.dim(3);
  lmtcnn::detail::check(count > 0, op, "input " + in.shape().str() + " has empty images");
  for (index_t n = 0; n < in.dim(0); ++n) {
    using A = accum_t<T>;
    A sum = 0;
    for (index_t y = 0; y < in.dim(1); ++y)
      for (index_t x = 0; x < in.dim(2); ++x)
        for (index_t ch = 0; ch < in.dim(3); ++ch) sum += in(n, y, x, ch);
    const A mean = sum / static_cast<A>(count);
    A sq = 0;
    for (index_t y = 0; y < in.dim(1); ++y)
      for (index_t x = 0; x < in.dim(2); ++x)
        for (index_t ch = 0; ch < in.dim(3); ++ch) {
          const A d = in(n, y, x, ch) - mean;
          sq += d * d;
        }
    const A stddev = std::sqrt(sq / static_cast<A>(count));
    const A adjusted = std::max(stddev, A(1) / std::sqrt(static_cast<A>(count)));
    for (index_t y = 0; y < in.dim(1); ++y)
      for (index_t x = 0; x < in.dim(2); ++x)
        for (index_t ch = 0; ch < in.dim(3); ++ch)
          out(n, y, x, ch) = static_cast<T>((in(n, y, x, ch) - mean) / adjusted);
  }
}

}  // namespace ref
}  // namespace detail
}  // namespace lmtcnn
