// Helpers of the kernel tests: outputs poisoned before a kernel runs, the epilogue variants every
// kernel family is run with, odd leading dimensions, and the comparison against the reference with
// the largest error measured reported beside the tolerance.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "lmtcnn/kernels/common.hpp"
#include "lmtcnn/core/seeded.hpp"
#include "lmtcnn/core/tensor.hpp"

namespace lmtcnn_test {

using lmtcnn::index_t;
using lmtcnn::shape;
using lmtcnn::tensor;

/// A leading dimension larger than w and odd (w + 3 or w + 4), so a kernel that steps rows by the
/// width instead of the leading dimension reads or writes the wrong floats.
inline std::size_t odd_ld(std::size_t w) { return w + 3 + w % 2; }

/// A kernel's output of `rows` rows of `cols` floats, `ld` floats apart, in a buffer that runs on for
/// `guard` floats past the last row. Before the kernel runs, every output element is NaN, so one it
/// leaves unwritten fails the comparison; every other float (between the rows and in the guard)
/// holds a canary whose bits must be unchanged afterwards, so a write past a row or past the end
/// fails too. The buffer is a tensor: 64-byte aligned as the engine's are.
class poisoned {
 public:
  static constexpr float canary = -7.77e30f;
  static constexpr std::size_t guard = 64;

  poisoned(std::size_t rows, std::size_t cols, std::size_t ld = 0)
      : rows_(rows), cols_(cols), ld_(ld ? ld : cols), buf_({static_cast<index_t>(rows * ld_ + guard)}) {
    std::fill(buf_.begin(), buf_.end(), canary);
    for (std::size_t r = 0; r < rows_; ++r)
      std::fill(data() + r * ld_, data() + r * ld_ + cols_, std::numeric_limits<float>::quiet_NaN());
  }
  float* data() { return buf_.data(); }
  std::size_t ld() const { return ld_; }

  /// The rows x cols output elements, as a tensor of shape s (s.elements() == rows * cols).
  tensor<float> result(const shape& s) const {
    REQUIRE(static_cast<std::size_t>(s.elements()) == rows_ * cols_);
    tensor<float> t(s);
    for (std::size_t r = 0; r < rows_; ++r)
      std::copy(buf_.data() + r * ld_, buf_.data() + r * ld_ + cols_, t.data() + r * cols_);
    return t;
  }

  /// How many floats outside the output were overwritten (each is also reported as a failed check).
  std::size_t check_canaries(const std::string& what) const {
    std::uint32_t want;
    std::memcpy(&want, &canary, sizeof want);
    std::size_t bad = 0, first = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(buf_.size()); ++i) {
      const bool inside = i < rows_ * ld_ && i % ld_ < cols_;
      if (inside) continue;
      std::uint32_t got;
      std::memcpy(&got, buf_.data() + i, sizeof got);
      if (got != want && bad++ == 0) first = i;
    }
    CHECK_MESSAGE(bad == 0, what << ": " << bad << " floats outside the output written, the first at offset "
                                 << first << " (row " << first / ld_ << ", column " << first % ld_ << " of "
                                 << cols_ << ", ld " << ld_ << ")");
    return bad;
  }

 private:
  std::size_t rows_, cols_, ld_;
  tensor<float> buf_;
};

/// The epilogue variants every kernel family with an epilogue is run with.
struct epilogue_case {
  const char* name;
  bool bias;
  lmtcnn::detail::kernels::act activation;
  bool affine;  ///< per-channel scale and shift after the activation
  bool activation_last = false;  ///< the activation after the scale and shift (a batch norm before it)
};
inline constexpr float leaky_alpha = 0.1f;
inline constexpr epilogue_case epilogue_cases[] = {
    {"none", false, lmtcnn::detail::kernels::act::none, false},
    {"bias", true, lmtcnn::detail::kernels::act::none, false},
    {"bias+relu", true, lmtcnn::detail::kernels::act::relu, false},
    {"bias+leaky", true, lmtcnn::detail::kernels::act::leaky_relu, false},
    {"relu+scale+shift", false, lmtcnn::detail::kernels::act::relu, true},
    {"bias+leaky+scale+shift", true, lmtcnn::detail::kernels::act::leaky_relu, true},
    {"bias+relu6", true, lmtcnn::detail::kernels::act::relu6, false},
    {"scale+shift+relu6", false, lmtcnn::detail::kernels::act::relu6, true, true},
    {"bias+scale+shift+relu", true, lmtcnn::detail::kernels::act::relu, true, true},
};

/// Per-channel epilogue data for n channels, padded with `pad` floats (bias and shift 0, scale 1) as
/// the engine pads them to whole GEMM panels.
struct epilogue_data {
  tensor<float> bias, scale, shift;
  epilogue_data(index_t n, std::size_t pad, const std::string& seed_name)
      : bias({n + static_cast<index_t>(pad)}), scale({n + static_cast<index_t>(pad)}),
        shift({n + static_cast<index_t>(pad)}) {
    const tensor<float> b = lmtcnn::seeded::uniform<float>({n}, 7, seed_name + "/bias", -1, 1);
    const tensor<float> sc = lmtcnn::seeded::uniform<float>({n}, 7, seed_name + "/scale", 0.5, 1.5);
    const tensor<float> sh = lmtcnn::seeded::uniform<float>({n}, 7, seed_name + "/shift", -1, 1);
    std::fill(scale.begin(), scale.end(), 1.f);
    std::copy(b.begin(), b.end(), bias.begin());
    std::copy(sc.begin(), sc.end(), scale.begin());
    std::copy(sh.begin(), sh.end(), shift.begin());
  }
  lmtcnn::detail::kernels::epilogue_k kernel(const epilogue_case& e, index_t first_channel = 0) const {
    lmtcnn::detail::kernels::epilogue_k k;
    if (e.bias) k.bias = bias.data() + first_channel;
    k.activation = e.activation;
    k.activation_last = e.activation_last;
    k.alpha = leaky_alpha;
    if (e.affine) {
      k.scale = scale.data() + first_channel;
      k.shift = shift.data() + first_channel;
    }
    return k;
  }
  /// The epilogue applied to raw sums whose last dimension is the channel, in double.
  tensor<float> apply(const tensor<float>& raw, const epilogue_case& e) const {
    tensor<float> out(raw.shape());
    const index_t n = raw.shape()[raw.shape().rank() - 1];
    for (index_t i = 0; i < raw.size(); ++i) {
      const index_t c = i % n;
      double y = raw[i];
      if (e.bias) y += bias[c];
      auto activate = [&] {
        using lmtcnn::detail::kernels::act;
        if (e.activation == act::relu || e.activation == act::relu6) y = std::max(y, 0.0);
        if (e.activation == act::relu6) y = std::min(y, 6.0);
        if (e.activation == act::leaky_relu && y < 0) y *= static_cast<double>(leaky_alpha);
      };
      if (!e.activation_last) activate();
      if (e.affine) y = y * scale[c] + shift[c];
      if (e.activation_last) activate();
      out[i] = static_cast<float>(y);
    }
    return out;
  }
};

/// The largest normalised error |got - want| / ((1 + sqrt(reduction)) * (1 + |want|)) seen by
/// check_close since the last report() (a NaN counts as infinite).
struct error_record {
  double worst = 0;
  std::string where;
  void report(const std::string& family, double tol) {
    MESSAGE(family << ": largest error " << worst << " x (1 + sqrt(reduction)) x (1 + |want|), tolerance " << tol
                   << " (" << (worst > 0 ? tol / worst : 0) << "x headroom), at " << where);
    worst = 0;
    where.clear();
  }
};
inline error_record measured;

/// |got - want| <= tol * (1 + sqrt(reduction)) * (1 + |want|) for every element; NaN fails.
inline void check_close(const tensor<float>& got, const tensor<float>& want, double reduction, const std::string& what,
                        double tol) {
  REQUIRE_MESSAGE(got.shape() == want.shape(), what);
  double worst = 0;
  index_t at = 0;
  for (index_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    const double err = std::abs(g - w) / ((1 + std::sqrt(reduction)) * (1 + std::abs(w)));
    if (!(err <= worst)) {  // also catches NaN
      worst = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
      at = i;
    }
  }
  if (!(worst <= measured.worst)) {
    measured.worst = worst;
    measured.where = what;
  }
  CHECK_MESSAGE(worst <= tol, what << ": element " << at << " got " << got[at] << " want " << want[at]
                                   << " (error " << worst << ", tolerance " << tol << ")");
}

}  // namespace lmtcnn_test
