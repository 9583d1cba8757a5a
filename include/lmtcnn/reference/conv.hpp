// lmtcnn reference convolutions: standard, depthwise (multiplier 1) and pointwise (1x1).
// Plain loops, accumulating in accum_t<T> (double for float), kept as the oracle for the fast kernels. The output must not
// overlap the input. Padded cells count as zero.
#pragma once

#include "lmtcnn/reference/common.hpp"

namespace lmtcnn {
namespace detail {
namespace ref {

/// Output shape of conv2d for input [n,h,w,cin] and filter [kh,kw,cin,cout].
inline shape conv2d_output_shape(const shape& in, const shape& filter, const conv2d_params& p) {
  const axis_geometry gy = window_axis(in[1], filter[0], p.stride_h, p.pad);
  const axis_geometry gx = window_axis(in[2], filter[1], p.stride_w, p.pad);
  return {in[0], gy.out, gx.out, filter[3]};
}

/// Output shape of depthwise_conv2d for input [n,h,w,c] and filter [kh,kw,c,1]: [n,oh,ow,c].
inline shape depthwise_conv2d_output_shape(const shape& in, const shape& filter, const conv2d_params& p) {
  const shape s = conv2d_output_shape(in, filter, p);
  return {s[0], s[1], s[2], in[3]};
}

namespace impl {
inline void check_conv_params(const char* op, const conv2d_params& p) {
  lmtcnn::detail::check(p.stride_h >= 1 && p.stride_w >= 1, op,
                        "stride " + std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) +
                            " must be at least 1");
}

inline void check_spatial(const char* op, const shape& in, const shape& filter, const conv2d_params& p) {
  const shape out = conv2d_output_shape(in, filter, p);
  lmtcnn::detail::check(out[1] > 0 && out[2] > 0, op,
                        "input " + in.str() + " is smaller than the " + std::to_string(filter[0]) + "x" +
                            std::to_string(filter[1]) + " window under " + to_string(p.pad) + " padding");
}
}  // namespace impl

namespace impl {
template <class T>
void conv2d_checked(const char* op, input_view<T> in, input_view<T> filter, const conv2d_params& p,
                    tensor_view<T> out, const epilogue<T>& ep) {
  lmtcnn::detail::check_nhwc(op, "input", in);
  lmtcnn::detail::check_rank(op, "filter", filter, 4);
  check_conv_params(op, p);
  lmtcnn::detail::check(filter.dim(2) == in.dim(3), op,
                        "filter " + filter.shape().str() + " expects " + std::to_string(filter.dim(2)) +
                            " input channels but input " + in.shape().str() + " has " + std::to_string(in.dim(3)));
  check_spatial(op, in.shape(), filter.shape(), p);
  lmtcnn::detail::check_output(op, out, conv2d_output_shape(in.shape(), filter.shape(), p));
  lmtcnn::detail::check_epilogue(op, ep, filter.dim(3));

  const index_t kh = filter.dim(0), kw = filter.dim(1), cin = in.dim(3), cout = filter.dim(3);
  const index_t pad_top = window_axis(in.dim(1), kh, p.stride_h, p.pad).pad_before;
  const index_t pad_left = window_axis(in.dim(2), kw, p.stride_w, p.pad).pad_before;
  for (index_t n = 0; n < out.dim(0); ++n)
    for (index_t oy = 0; oy < out.dim(1); ++oy)
      for (index_t ox = 0; ox < out.dim(2); ++ox)
        for (index_t co = 0; co < cout; ++co) {
          accum_t<T> acc = 0;
          for (index_t ky = 0; ky < kh; ++ky) {
            const index_t iy = oy * p.stride_h - pad_top + ky;
            if (iy < 0 || iy >= in.dim(1)) continue;
            for (index_t kx = 0; kx < kw; ++kx) {
              const index_t ix = ox * p.stride_w - pad_left + kx;
              if (ix < 0 || ix >= in.dim(2)) continue;
              for (index_t ci = 0; ci < cin; ++ci) acc += static_cast<accum_t<T>>(in(n, iy, ix, ci)) * filter(ky, kx, ci, co);
            }
          }
          out(n, oy, ox, co) = lmtcnn::detail::apply(ep, acc, co);
        }
}
}  // namespace impl

/// Standard convolution. in [n,h,w,cin], filter [kh,kw,cin,cout], out [n,oh,ow,cout].
template <class T>
void conv2d(input_view<T> in, input_view<T> filter, const conv2d_params& p, tensor_view<T> out,
            const epilogue<T>& ep = {}) {
  impl::conv2d_checked("conv2d", in, filter, p, out, ep);
}

/// Depthwise convolution, channel multiplier 1. in [n,h,w,c], filter [kh,kw,c,1], out [n,oh,ow,c].
template <class T>
void depthwise_conv2d(input_view<T> in, input_view<T> filter, const conv2d_params& p,
                      tensor_view<T> out, const epilogue<T>& ep = {}) {
  const char* op = "depthwise_conv2d";
  lmtcnn::detail::check_nhwc(op, "input", in);
  lmtcnn::detail::check_rank(op, "filter", filter, 4);
  impl::check_conv_params(op, p);
  lmtcnn::detail::check(filter.dim(2) == in.dim(3) && filter.dim(3) == 1, op,
                        "filter " + filter.shape().str() + " should be [kh,kw," + std::to_string(in.dim(3)) +
                            ",1] for input " + in.shape().str());
  impl::check_spatial(op, in.shape(), filter.shape(), p);
  lmtcnn::detail::check_output(op, out, depthwise_conv2d_output_shape(in.shape(), filter.shape(), p));
  lmtcnn::detail::check_epilogue(op, ep, in.dim(3));

  const index_t kh = filter.dim(0), kw = filter.dim(1), c = in.dim(3);
  const index_t pad_top = window_axis(in.dim(1), kh, p.stride_h, p.pad).pad_before;
  const index_t pad_left = window_axis(in.dim(2), kw, p.stride_w, p.pad).pad_before;
  for (index_t n = 0; n < out.dim(0); ++n)
    for (index_t oy = 0; oy < out.dim(1); ++oy)
      for (index_t ox = 0; ox < out.dim(2); ++ox)
        for (index_t ch = 0; ch < c; ++ch) {
          accum_t<T> acc = 0;
          for (index_t ky = 0; ky < kh; ++ky) {
            const index_t iy = oy * p.stride_h - pad_top + ky;
            if (iy < 0 || iy >= in.dim(1)) continue;
            for (index_t kx = 0; kx < kw; ++kx) {
              const index_t ix = ox * p.stride_w - pad_left + kx;
              if (ix < 0 || ix >= in.dim(2)) continue;
              acc += static_cast<accum_t<T>>(in(n, iy, ix, ch)) * filter(ky, kx, ch, 0);
            }
          }
          out(n, oy, ox, ch) = lmtcnn::detail::apply(ep, acc, ch);
        }
}

/// Pointwise (1x1) convolution. in [n,h,w,cin], filter [1,1,cin,cout], out [n,oh,ow,cout];
/// with stride s it samples every s-th pixel (face-api.js's stride-2 shortcut convolutions).
template <class T>
void pointwise_conv2d(input_view<T> in, input_view<T> filter, const conv2d_params& p,
                      tensor_view<T> out, const epilogue<T>& ep = {}) {
  const char* op = "pointwise_conv2d";
  lmtcnn::detail::check_rank(op, "filter", filter, 4);
  lmtcnn::detail::check(filter.dim(0) == 1 && filter.dim(1) == 1, op,
                        "filter " + filter.shape().str() + " is not 1x1");
  impl::conv2d_checked(op, in, filter, p, out, ep);  // a 1x1 window of the plain definition
}

}  // namespace ref
}  // namespace detail
}  // namespace lmtcnn
