// lmtcnn reference element-wise ops: the fused epilogue on its own, ReLU, residual add, softmax.
// Each may work in place (out the same view as an input).
#pragma once

#include <cmath>
#include <limits>

#include "lmtcnn/reference/common.hpp"

namespace lmtcnn {
namespace detail {
namespace ref {

namespace impl {
/// Calls f(n, y, x, c) for every index of an NHWC shape.
template <class F>
void for_each_nhwc(const shape& s, F f) {
  for (index_t n = 0; n < s[0]; ++n)
    for (index_t y = 0; y < s[1]; ++y)
      for (index_t x = 0; x < s[2]; ++x)
        for (index_t c = 0; c < s[3]; ++c) f(n, y, x, c);
}
}  // namespace impl

/// The epilogue (bias, ReLU, per-channel affine) applied to every value of in [n,h,w,c].
template <class T>
void apply_epilogue(input_view<T> in, const epilogue<T>& ep, tensor_view<T> out) {
  const char* op = "apply_epilogue";
  lmtcnn::detail::check_nhwc(op, "input", in);
  lmtcnn::detail::check_output(op, out, in.shape());
  lmtcnn::detail::check_epilogue(op, ep, in.dim(3));
  impl::for_each_nhwc(in.shape(), [&](index_t n, index_t y, index_t x, index_t c) {
    out(n, y, x, c) = lmtcnn::detail::apply<T>(ep, in(n, y, x, c), c);
  });
}

/// out = max(in, 0), and at most cap when cap > 0 (6: ReLU6). in/out [n,h,w,c].
template <class T>
void relu(input_view<T> in, tensor_view<T> out, double cap = 0) {
  lmtcnn::detail::check_nhwc("relu", "input", in);
  lmtcnn::detail::check_output("relu", out, in.shape());
  impl::for_each_nhwc(in.shape(), [&](index_t n, index_t y, index_t x, index_t c) {
    const T v = in(n, y, x, c);
    out(n, y, x, c) = v < T(0) ? T(0) : cap > 0 && v > static_cast<T>(cap) ? static_cast<T>(cap) : v;
  });
}

/// Residual add: out = a + b, all [n,h,w,c] of the same shape.
template <class T>
void add(input_view<T> a, input_view<T> b, tensor_view<T> out) {
  const char* op = "add";
  lmtcnn::detail::check_nhwc(op, "first input", a);
  lmtcnn::detail::check_nhwc(op, "second input", b);
  lmtcnn::detail::check(a.shape() == b.shape(), op,
                        "inputs " + a.shape().str() + " and " + b.shape().str() + " differ in shape");
  lmtcnn::detail::check_output(op, out, a.shape());
  impl::for_each_nhwc(a.shape(), [&](index_t n, index_t y, index_t x, index_t c) {
    out(n, y, x, c) = a(n, y, x, c) + b(n, y, x, c);
  });
}

/// Softmax over the last axis of in [n,m]: out[n,j] = exp(in[n,j] - max) / sum_j exp(in[n,j] - max).
template <class T>
void softmax(input_view<T> in, tensor_view<T> out) {
  const char* op = "softmax";
  lmtcnn::detail::check_rank(op, "input", in, 2);
  lmtcnn::detail::check(in.dim(1) > 0, op, "input " + in.shape().str() + " has no classes");
  lmtcnn::detail::check_output(op, out, in.shape());
  for (index_t n = 0; n < in.dim(0); ++n) {
    using A = accum_t<T>;
    A mx = -std::numeric_limits<A>::infinity();
    for (index_t j = 0; j < in.dim(1); ++j) mx = std::max<A>(mx, in(n, j));
    A sum = 0;
    for (index_t j = 0; j < in.dim(1); ++j) sum += std::exp(in(n, j) - mx);
    for (index_t j = 0; j < in.dim(1); ++j) out(n, j) = static_cast<T>(std::exp(in(n, j) - mx) / sum);
  }
}

}  // namespace ref
}  // namespace detail
}  // namespace lmtcnn
