// lmtcnn reference fully connected layer.
#pragma once

#include "lmtcnn/reference/common.hpp"

namespace lmtcnn {
namespace detail {
namespace ref {

/// Fully connected layer: out[n,m] = sum_k in[n,k] * weights[k,m], then the epilogue per m.
/// in is [n,k] or NHWC [n,h,w,c], which is flattened in (h, w, c) order (k = h*w*c);
/// weights [k,m] (TensorFlow layout); out [n,m].
template <class T>
void fully_connected(input_view<T> in, input_view<T> weights, tensor_view<T> out, const epilogue<T>& ep = {}) {
  const char* op = "fully_connected";
  lmtcnn::detail::check(!in.empty() && (in.rank() == 2 || in.rank() == 4), op,
                        "input " + in.shape().str() + " should be [n,k] or [n,h,w,c]");
  lmtcnn::detail::check_rank(op, "weights", weights, 2);
  const index_t rows = in.dim(0);
  const index_t h = in.rank() == 4 ? in.dim(1) : 1, w = in.rank() == 4 ? in.dim(2) : 1;
  const index_t c = in.rank() == 4 ? in.dim(3) : in.dim(1);
  const index_t k = h * w * c, m = weights.dim(1);
  lmtcnn::detail::check(weights.dim(0) == k, op,
                        "weights " + weights.shape().str() + " expect " + std::to_string(weights.dim(0)) +
                            " inputs but input " + in.shape().str() + " flattens to " + std::to_string(k));
  lmtcnn::detail::check_output(op, out, shape{rows, m});
  lmtcnn::detail::check_epilogue(op, ep, m);
  // Element (y, x, ch) of a row, whatever the view's rank and strides.
  auto at = [&](index_t n, index_t y, index_t x, index_t ch) -> accum_t<T> {
    return in.rank() == 4 ? in(n, y, x, ch) : in(n, ch);
  };
  for (index_t n = 0; n < rows; ++n)
    for (index_t j = 0; j < m; ++j) {
      accum_t<T> acc = 0;
      index_t i = 0;
      for (index_t y = 0; y < h; ++y)
        for (index_t x = 0; x < w; ++x)
          for (index_t ch = 0; ch < c; ++ch, ++i) acc += at(n, y, x, ch) * weights(i, j);
      out(n, j) = lmtcnn::detail::apply(ep, acc, j);
    }
}

}  // namespace ref
}  // namespace detail
}  // namespace lmtcnn
