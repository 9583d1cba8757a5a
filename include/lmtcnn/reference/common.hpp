// lmtcnn reference ops: what they share (operand types, the fused epilogue) and the argument
// checks that turn a wrong shape into a readable shape_error.
#pragma once

#include <algorithm>
#include <string>
#include <type_traits>

#include "lmtcnn/core/error.hpp"
#include "lmtcnn/core/geometry.hpp"
#include "lmtcnn/core/tensor.hpp"

namespace lmtcnn {

/// A read-only operand of an op whose element type is taken from the op's output (so a mutable
/// tensor_view<T> or a tensor's view() can be passed where tensor_view<const T> is expected).
template <class T>
using input_view = tensor_view<const std::common_type_t<T>>;

/// The type the reference ops accumulate sums in: double for float tensors, so that the oracle is
/// more accurate than the fast kernels it checks.
template <class T>
using accum_t = std::conditional_t<(sizeof(T) < sizeof(double)), double, T>;

/// What a layer applies to each accumulated output value y of channel c, in this order:
/// y += bias[c]; if relu: y = max(y, 0); y *= scale[c]; y += shift[c].
/// scale/shift after the ReLU is LMTCNN's batch norm folded into the layer. Empty views are skipped.
template <class T>
struct epilogue {
  tensor_view<const T> bias;
  bool relu = false;
  double cap = 0;  ///< with relu: the upper clip (6 for ReLU6); 0 for none
  tensor_view<const T> scale;
  tensor_view<const T> shift;
};

namespace detail {

inline void check(bool ok, const char* op, const std::string& msg) {
  if (!ok) throw shape_error(std::string(op) + ": " + msg);
}

template <class V>
void check_rank(const char* op, const char* what, const V& v, int rank) {
  check(!v.empty(), op, std::string(what) + " is missing");
  check(v.rank() == rank, op,
        std::string(what) + " " + v.shape().str() + " should have rank " + std::to_string(rank));
}

template <class V>
void check_nhwc(const char* op, const char* what, const V& v) {
  check(!v.empty(), op, std::string(what) + " is missing");
  check(v.rank() == 4, op, std::string(what) + " " + v.shape().str() + " is not NHWC (rank 4)");
}

/// An optional per-channel vector: empty, or rank 1 with `channels` entries.
template <class T>
void check_channel_vector(const char* op, const char* what, const tensor_view<const T>& v, index_t channels) {
  if (v.empty()) return;
  check(v.rank() == 1 && v.dim(0) == channels, op,
        std::string(what) + " " + v.shape().str() + " does not match " + std::to_string(channels) + " channels");
}

template <class T>
void check_epilogue(const char* op, const epilogue<T>& ep, index_t channels) {
  check_channel_vector(op, "bias", ep.bias, channels);
  check_channel_vector(op, "scale", ep.scale, channels);
  check_channel_vector(op, "shift", ep.shift, channels);
}

template <class V>
void check_output(const char* op, const V& out, const shape& expected) {
  check(!out.empty() || expected.elements() == 0, op, "output is missing");
  check(out.shape() == expected, op, "output " + out.shape().str() + " should be " + expected.str());
}

/// The epilogue on an accumulated value, computed in the accumulation type and rounded once to T.
template <class T>
T apply(const epilogue<T>& ep, accum_t<T> y, index_t c) {
  if (!ep.bias.empty()) y += ep.bias(c);
  if (ep.relu && y < 0) y = 0;
  if (ep.relu && ep.cap > 0 && y > ep.cap) y = static_cast<accum_t<T>>(ep.cap);
  if (!ep.scale.empty()) y *= ep.scale(c);
  if (!ep.shift.empty()) y += ep.shift(c);
  return static_cast<T>(y);
}

}  // namespace detail
}  // namespace lmtcnn
