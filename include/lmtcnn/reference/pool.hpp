// lmtcnn reference pooling: max (padded cells are -inf, i.e. never chosen) and average (padded
// cells are left out of the count, as TensorFlow does). The output must not overlap the input.
#pragma once

#include <limits>

#include "lmtcnn/reference/common.hpp"

namespace lmtcnn {
namespace detail {
namespace ref {

/// Output shape of a pooling layer on input [n,h,w,c].
inline shape pool2d_output_shape(const shape& in, const pool2d_params& p) {
  const axis_geometry gy = window_axis(in[1], p.window_h, p.stride_h, p.pad);
  const axis_geometry gx = window_axis(in[2], p.window_w, p.stride_w, p.pad);
  return {in[0], gy.out, gx.out, in[3]};
}

namespace impl {
template <class T>
void check_pool(const char* op, const tensor_view<const T>& in, const pool2d_params& p, const tensor_view<T>& out) {
  lmtcnn::detail::check_nhwc(op, "input", in);
  lmtcnn::detail::check(p.window_h >= 1 && p.window_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1, op,
                        "window " + std::to_string(p.window_h) + "x" + std::to_string(p.window_w) + " and stride " +
                            std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) + " must be at least 1");
  const shape os = pool2d_output_shape(in.shape(), p);
  lmtcnn::detail::check(os[1] > 0 && os[2] > 0, op,
                        "input " + in.shape().str() + " is smaller than the " + std::to_string(p.window_h) + "x" +
                            std::to_string(p.window_w) + " window under " + to_string(p.pad) + " padding");
  lmtcnn::detail::check_output(op, out, os);
}

/// Visits every output cell with the input cells of its window that lie inside the image.
template <class T, class Reduce>
void pool2d(const tensor_view<const T>& in, const pool2d_params& p, const tensor_view<T>& out, Reduce reduce) {
  const index_t pad_top = window_axis(in.dim(1), p.window_h, p.stride_h, p.pad).pad_before;
  const index_t pad_left = window_axis(in.dim(2), p.window_w, p.stride_w, p.pad).pad_before;
  for (index_t n = 0; n < out.dim(0); ++n)
    for (index_t oy = 0; oy < out.dim(1); ++oy)
      for (index_t ox = 0; ox < out.dim(2); ++ox)
        for (index_t c = 0; c < out.dim(3); ++c) {
          const index_t y0 = std::max<index_t>(oy * p.stride_h - pad_top, 0);
          const index_t y1 = std::min<index_t>(oy * p.stride_h - pad_top + p.window_h, in.dim(1));
          const index_t x0 = std::max<index_t>(ox * p.stride_w - pad_left, 0);
          const index_t x1 = std::min<index_t>(ox * p.stride_w - pad_left + p.window_w, in.dim(2));
          out(n, oy, ox, c) = reduce(n, c, y0, y1, x0, x1);
        }
}
}  // namespace impl

/// Max pooling. in [n,h,w,c], out [n,oh,ow,c]; cells in the padding are -inf.
template <class T>
void pool_max(input_view<T> in, const pool2d_params& p, tensor_view<T> out) {
  impl::check_pool("pool_max", in, p, out);
  impl::pool2d(in, p, out, [&](index_t n, index_t c, index_t y0, index_t y1, index_t x0, index_t x1) {
    T m = -std::numeric_limits<T>::infinity();
    for (index_t y = y0; y < y1; ++y)
      for (index_t x = x0; x < x1; ++x) m = std::max(m, in(n, y, x, c));
    return m;
  });
}

/// Average pooling. in [n,h,w,c], out [n,oh,ow,c]; divides by the number of cells inside the image.
template <class T>
void pool_avg(input_view<T> in, const pool2d_params& p, tensor_view<T> out) {
  impl::check_pool("pool_avg", in, p, out);
  impl::pool2d(in, p, out, [&](index_t n, index_t c, index_t y0, index_t y1, index_t x0, index_t x1) {
    accum_t<T> sum = 0;
    for (index_t y = y0; y < y1; ++y)
      for (index_t x = x0; x < x1; ++x) sum += in(n, y, x, c);
    return static_cast<T>(sum / static_cast<accum_t<T>>((y1 - y0) * (x1 - x0)));
  });
}

}  // namespace ref
}  // namespace detail
}  // namespace lmtcnn
