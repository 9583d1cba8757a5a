// lmtcnn reference ops: what they share (padding geometry, layer parameters, the fused
// epilogue) and the argument checks that turn a wrong shape into a readable shape_error.
#pragma once

#include <algorithm>
#include <string>
#include <type_traits>

#include "lmtcnn/core/error.hpp"
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

/// TensorFlow padding: VALID uses only whole windows; SAME gives out = ceil(in / stride) and pads
/// max((out-1)*stride + k - in, 0) in total, the odd extra cell going after (bottom / right).
enum class padding { valid, same };

inline const char* to_string(padding p) { return p == padding::same ? "SAME" : "VALID"; }

/// Output length and padding of one spatial axis.
struct axis_geometry {
  index_t out = 0;         ///< output length (0 when no whole window fits under VALID)
  index_t pad_before = 0;  ///< cells of padding before the first input cell (top / left)
  index_t pad_after = 0;   ///< cells of padding after the last input cell (bottom / right)
};

/// Geometry of a window of size k moved with the given stride over an axis of length in.
inline axis_geometry window_axis(index_t in, index_t k, index_t stride, padding p) {
  axis_geometry g;
  if (p == padding::valid) {
    g.out = in >= k ? (in - k) / stride + 1 : 0;
  } else {
    g.out = (in + stride - 1) / stride;
    const index_t total = std::max<index_t>((g.out - 1) * stride + k - in, 0);
    g.pad_before = total / 2;
    g.pad_after = total - g.pad_before;
  }
  return g;
}

/// Stride and padding of a convolution (standard, depthwise or pointwise).
struct conv2d_params {
  index_t stride_h = 1;
  index_t stride_w = 1;
  padding pad = padding::valid;
};

/// Window, stride and padding of a pooling layer.
struct pool2d_params {
  index_t window_h = 1;
  index_t window_w = 1;
  index_t stride_h = 1;
  index_t stride_w = 1;
  padding pad = padding::valid;
};

/// What a layer applies to each accumulated output value y of channel c, in this order:
/// y += bias[c]; if relu: y = max(y, 0); y *= scale[c]; y += shift[c].
/// scale/shift after the ReLU is LMTCNN's batch norm folded into the layer. Empty views are skipped.
template <class T>
struct epilogue {
  tensor_view<const T> bias;
  bool relu = false;
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
  if (!ep.scale.empty()) y *= ep.scale(c);
  if (!ep.shift.empty()) y += ep.shift(c);
  return static_cast<T>(y);
}

}  // namespace detail
}  // namespace lmtcnn
