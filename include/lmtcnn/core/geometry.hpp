// lmtcnn geometry shared by the reference ops, the SIMD kernels and the graph checks: TensorFlow's
// padding rules, the parameters of a windowed layer and the activations a layer may end with.
#pragma once

#include <algorithm>
#include <cstdint>

#include "lmtcnn/core/tensor.hpp"

namespace lmtcnn {

/// TensorFlow padding: VALID uses only whole windows; SAME gives out = ceil(in / stride) and pads
/// max((out-1)*stride + k - in, 0) in total, the odd extra cell going after (bottom / right).
enum class padding { valid, same };

inline const char* to_string(padding p) { return p == padding::same ? "SAME" : "VALID"; }

namespace detail {

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

}  // namespace detail

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

/// The activation a convolution or dense layer ends with (the numbers are the weight file's).
/// relu6 is min(max(x, 0), 6), MobileNet's clipped ReLU.
enum class activation : std::int64_t { none = 0, relu = 1, leaky_relu = 2, relu6 = 3 };

}  // namespace lmtcnn
