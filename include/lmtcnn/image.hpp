// lmtcnn image preparation: TensorFlow 1.x legacy bilinear resize.
#pragma once

#include <cmath>

#include "lmtcnn/reference/common.hpp"

namespace lmtcnn {

/// Bilinear resize as TensorFlow 1.x tf.image.resize_bilinear with align_corners=false and
/// half_pixel_centers=false (what LMTCNN and face-api.js were trained with): output pixel (y, x)
/// samples src = (y * in_h / out_h, x * in_w / out_w) from the two neighbours floor(src) and
/// min(floor(src) + 1, in - 1) on each axis. in [n,h,w,c], out [n,oh,ow,c]; must not overlap.
template <class T>
void resize_bilinear_legacy(input_view<T> in, tensor_view<T> out) {
  const char* op = "resize_bilinear_legacy";
  detail::check_nhwc(op, "input", in);
  detail::check_nhwc(op, "output", out);
  detail::check(in.dim(1) > 0 && in.dim(2) > 0, op, "input " + in.shape().str() + " is empty");
  detail::check(out.dim(0) == in.dim(0) && out.dim(3) == in.dim(3), op,
                "output " + out.shape().str() + " does not match the batch and channels of input " +
                    in.shape().str());
  using A = accum_t<T>;
  const A scale_y = static_cast<A>(in.dim(1)) / static_cast<A>(out.dim(1));
  const A scale_x = static_cast<A>(in.dim(2)) / static_cast<A>(out.dim(2));
  for (index_t y = 0; y < out.dim(1); ++y) {
    const A sy = static_cast<A>(y) * scale_y;
    const index_t y0 = static_cast<index_t>(std::floor(sy));
    const index_t y1 = std::min<index_t>(y0 + 1, in.dim(1) - 1);
    const A ly = sy - static_cast<A>(y0);
    for (index_t x = 0; x < out.dim(2); ++x) {
      const A sx = static_cast<A>(x) * scale_x;
      const index_t x0 = static_cast<index_t>(std::floor(sx));
      const index_t x1 = std::min<index_t>(x0 + 1, in.dim(2) - 1);
      const A lx = sx - static_cast<A>(x0);
      for (index_t n = 0; n < in.dim(0); ++n)
        for (index_t c = 0; c < in.dim(3); ++c) {
          const A top = in(n, y0, x0, c) + (static_cast<A>(in(n, y0, x1, c)) - in(n, y0, x0, c)) * lx;
          const A bottom = in(n, y1, x0, c) + (static_cast<A>(in(n, y1, x1, c)) - in(n, y1, x0, c)) * lx;
          out(n, y, x, c) = static_cast<T>(top + (bottom - top) * ly);
        }
    }
  }
}

}  // namespace lmtcnn
