// lmtcnn image preparation: TensorFlow 1.x legacy bilinear resize.
#pragma once

#include <cmath>

#include "lmtcnn/reference/common.hpp"

namespace lmtcnn {

/// TensorFlow 1.x legacy bilinear resampling (tf.image.resize_bilinear with align_corners=false and
/// half_pixel_centers=false, what LMTCNN and face-api.js were trained with) over any source: output
/// pixel (y, x) samples src = (y * in_h / out_h, x * in_w / out_w) from the two neighbours floor(src) and
/// min(floor(src) + 1, in - 1) on each axis, in double. src(y, x, c) returns an input value;
/// store(y, x, c, v) receives each output value.
template <class Src, class Store>
void resample_bilinear_legacy(index_t in_h, index_t in_w, index_t channels, index_t out_h, index_t out_w, Src src,
                              Store store) {
  const double scale_y = static_cast<double>(in_h) / static_cast<double>(out_h);
  const double scale_x = static_cast<double>(in_w) / static_cast<double>(out_w);
  for (index_t y = 0; y < out_h; ++y) {
    const double sy = static_cast<double>(y) * scale_y;
    const index_t y0 = static_cast<index_t>(std::floor(sy)), y1 = std::min<index_t>(y0 + 1, in_h - 1);
    const double ly = sy - static_cast<double>(y0);
    for (index_t x = 0; x < out_w; ++x) {
      const double sx = static_cast<double>(x) * scale_x;
      const index_t x0 = static_cast<index_t>(std::floor(sx)), x1 = std::min<index_t>(x0 + 1, in_w - 1);
      const double lx = sx - static_cast<double>(x0);
      for (index_t c = 0; c < channels; ++c) {
        const double top = src(y0, x0, c) + (src(y0, x1, c) - src(y0, x0, c)) * lx;
        const double bottom = src(y1, x0, c) + (src(y1, x1, c) - src(y1, x0, c)) * lx;
        store(y, x, c, top + (bottom - top) * ly);
      }
    }
  }
}

/// The legacy bilinear resize of tensors: in [n,h,w,c], out [n,oh,ow,c]; must not overlap.
template <class T>
void resize_bilinear_legacy(input_view<T> in, tensor_view<T> out) {
  const char* op = "resize_bilinear_legacy";
  detail::check_nhwc(op, "input", in);
  detail::check_nhwc(op, "output", out);
  detail::check(in.dim(1) > 0 && in.dim(2) > 0, op, "input " + in.shape().str() + " is empty");
  detail::check(out.dim(0) == in.dim(0) && out.dim(3) == in.dim(3), op,
                "output " + out.shape().str() + " does not match the batch and channels of input " +
                    in.shape().str());
  for (index_t n = 0; n < in.dim(0); ++n)
    resample_bilinear_legacy(
        in.dim(1), in.dim(2), in.dim(3), out.dim(1), out.dim(2),
        [&](index_t y, index_t x, index_t c) { return static_cast<double>(in(n, y, x, c)); },
        [&](index_t y, index_t x, index_t c, double v) { out(n, y, x, c) = static_cast<T>(v); });
}

}  // namespace lmtcnn
