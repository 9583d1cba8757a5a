// LMTCNN (moving-average batch norm, inference) on XNNPACK's operator API (Debian's 2022 snapshot),
// as a performance-minded XNNPACK user would write it. XNNPACK has no LRN and no per-channel affine
// operator, so:
//   - each batch norm y = s * relu(z) + t (s = 1/sqrt(var + eps) > 0) becomes relu(s * z) + t: s is
//     folded into the convolution's weights and bias; t into the bias of the next layer where that is
//     exact (a 1x1 convolution, or max pooling then the dense layer), otherwise an add operator
//     (before convdp2's padded depthwise convolution);
//   - LRN is a plain loop written here (square roots instead of pow), on the calling thread.
// Convolutions, max pooling, dense layers and softmax are XNNPACK operators on NHWC buffers, set up
// once for a pthreadpool of the chosen size; run() runs them on a standardised image.
#pragma once

#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "lmtcnn/nets/lmtcnn.hpp"

namespace compare {

class xnnpack_lmtcnn {
 public:
  xnnpack_lmtcnn(lmtcnn::lmtcnn_variant v, const lmtcnn::tensor_map<float>& w, unsigned threads) {
    check(xnn_initialize(nullptr), "xnn_initialize");
    if (threads > 1) pool_ = pthreadpool_create(threads);
    const std::string s = "multitaskdpcnn/";
    const std::size_t pw1 = v == lmtcnn::lmtcnn_variant::v1_1 ? 256 : 512;
    const float inf = std::numeric_limits<float>::infinity();
    auto at = [&](const std::string& name) { return w.at(name).data(); };
    auto bn = [&](const std::string& scope, std::size_t c, std::vector<float>& scale, std::vector<float>& shift) {
      scale.resize(c);
      shift.resize(c);
      for (std::size_t ch = 0; ch < c; ++ch) {
        const double sc = 1.0 / std::sqrt(static_cast<double>(at(scope + "/moving_variance")[ch]) + 1e-3);
        if (!(sc > 0)) throw std::runtime_error("batch norm scale not positive: cannot move it before the ReLU");
        scale[ch] = static_cast<float>(sc);
        shift[ch] = static_cast<float>(at(scope + "/beta")[ch] - at(scope + "/moving_mean")[ch] * sc);
      }
    };
    input_.resize(227 * 227 * 3);
    // conv1 7x7/4 VALID 3 -> 96, ReLU. Kernel OHWI from TF HWIO.
    {
      std::vector<float> k(96 * 7 * 7 * 3);
      for (std::size_t o = 0; o < 96; ++o)
        for (std::size_t t = 0; t < 49 * 3; ++t) k[o * 147 + t] = at(s + "conv1/weights")[t * 96 + o];
      a1_.resize(56 * 56 * 96);
      xnn_operator_t op = nullptr;
      check(xnn_create_convolution2d_nhwc_f32(0, 0, 0, 0, 7, 7, 4, 4, 1, 1, 1, 3, 96, 3, 96, k.data(),
                                              at(s + "conv1/biases"), 0.f, inf, 0, &op),
            "conv1");
      check(xnn_setup_convolution2d_nhwc_f32(op, 1, 227, 227, input_.data(), a1_.data(), pool_), "conv1 setup");
      ops_.push_back(op);
    }
    // pool1 3x3/2 VALID
    a2_.resize(27 * 27 * 96);
    ops_.push_back(max_pool(56, 96, a1_.data(), a2_.data()));
    n_before_lrn_ = ops_.size();
    a3_.resize(27 * 27 * 96);  // LRN output (by hand)
    // convdp1: depthwise 3x3/1 SAME (pad 1) + BN(s into dw, t into pw1), pointwise 96 -> pw1 + BN
    std::vector<float> s1, t1, s2, t2, s3, t3, s4, t4;
    bn(s + "convdp1/dw_batch_norm", 96, s1, t1);
    bn(s + "convdp1/pw_batch_norm", pw1, s2, t2);
    bn(s + "convdp2/dw_batch_norm", pw1, s3, t3);
    bn(s + "convdp2/pw_batch_norm", 384, s4, t4);
    a4_.resize(27 * 27 * 96);
    ops_.push_back(depthwise(s + "convdp1", 96, 27, 1, s1, a3_.data(), a4_.data(), w));
    a5_.resize(27 * 27 * pw1);
    ops_.push_back(pointwise(s + "convdp1", 96, pw1, 27, s2, t1, a4_.data(), a5_.data(), w));
    // pw1's shift t2 before the padded depthwise conv: an add with a per-channel broadcast
    t2_ = t2;
    {
      xnn_operator_t op = nullptr;
      check(xnn_create_add_nd_f32(-inf, inf, 0, &op), "add");
      const std::size_t shape1[4] = {1, 27, 27, pw1}, shape2[4] = {1, 1, 1, pw1};
      a5b_.resize(a5_.size());
      check(xnn_setup_add_nd_f32(op, 4, shape1, 4, shape2, a5_.data(), t2_.data(), a5b_.data(), pool_), "add setup");
      ops_.push_back(op);
    }
    // convdp2: depthwise 3x3/2 SAME (27 -> 14, pad 1 on each side) + BN, pointwise pw1 -> 384 + BN
    a6_.resize(14 * 14 * pw1);
    ops_.push_back(depthwise(s + "convdp2", pw1, 27, 2, s3, a5b_.data(), a6_.data(), w));
    a7_.resize(14 * 14 * 384);
    ops_.push_back(pointwise(s + "convdp2", pw1, 384, 14, s4, t3, a6_.data(), a7_.data(), w));
    // pool3 3x3/2 VALID 14 -> 6; pw2's shift t4 commutes with the max and goes into full1's bias
    a8_.resize(6 * 6 * 384);
    ops_.push_back(max_pool(14, 384, a7_.data(), a8_.data()));
    {
      const float* wf = at(s + "full1/weights");  // [13824, 512], input index (y*6+x)*384+c
      std::vector<float> b(at(s + "full1/biases"), at(s + "full1/biases") + 512);
      std::vector<double> acc(512, 0.0);
      for (std::size_t i = 0; i < 13824; ++i)
        for (std::size_t o = 0; o < 512; ++o) acc[o] += static_cast<double>(t4[i % 384]) * wf[i * 512 + o];
      for (std::size_t o = 0; o < 512; ++o) b[o] = static_cast<float>(b[o] + acc[o]);
      full1_bias_ = b;
      a9_.resize(512);
      ops_.push_back(dense(13824, 512, wf, full1_bias_.data(), true, a8_.data(), a9_.data()));
    }
    a10_.resize(512);
    ops_.push_back(dense(512, 512, at(s + "full2/weights"), at(s + "full2/biases"), true, a9_.data(), a10_.data()));
    age_logits_.resize(8);
    gender_logits_.resize(2);
    ops_.push_back(dense(512, 8, at("ageoutput/ageweights"), at("ageoutput/agebiases"), false, a10_.data(),
                         age_logits_.data()));
    ops_.push_back(dense(512, 2, at("genderoutput/genderweights"), at("genderoutput/genderbiases"), false,
                         a10_.data(), gender_logits_.data()));
    age_.resize(8);
    gender_.resize(2);
    ops_.push_back(softmax(8, age_logits_.data(), age_.data()));
    ops_.push_back(softmax(2, gender_logits_.data(), gender_.data()));
  }

  ~xnnpack_lmtcnn() {
    for (xnn_operator_t op : ops_) xnn_delete_operator(op);
    if (pool_) pthreadpool_destroy(pool_);
  }

  xnnpack_lmtcnn(const xnnpack_lmtcnn&) = delete;
  xnnpack_lmtcnn& operator=(const xnnpack_lmtcnn&) = delete;

  void run(const float* image) {
    std::memcpy(input_.data(), image, input_.size() * sizeof(float));
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      if (i == n_before_lrn_) lrn(a2_.data(), a3_.data(), 27 * 27, 96);
      check(xnn_run_operator(ops_[i], pool_), "run");
    }
  }

  const std::vector<float>& age_probs() const { return age_; }
  const std::vector<float>& gender_probs() const { return gender_; }

 private:
  static void check(xnn_status st, const char* what) {
    if (st != xnn_status_success) throw std::runtime_error(std::string("XNNPACK: ") + what + " failed");
  }

  /// TensorFlow's LRN, depth radius 5, bias 1, alpha 1e-4, beta 0.75.
  static void lrn(const float* in, float* out, std::size_t pixels, std::size_t c) {
    for (std::size_t p = 0; p < pixels; ++p) {
      const float* x = in + p * c;
      float* y = out + p * c;
      for (std::size_t ch = 0; ch < c; ++ch) {
        const std::size_t lo = ch >= 5 ? ch - 5 : 0, hi = std::min(c, ch + 6);
        float sq = 0;
        for (std::size_t q = lo; q < hi; ++q) sq += x[q] * x[q];
        const float b = 1.f + 1e-4f * sq;
        y[ch] = x[ch] / (std::sqrt(b) * std::sqrt(std::sqrt(b)));
      }
    }
  }

  xnn_operator_t max_pool(std::size_t hw, std::size_t c, const float* in, float* out) {
    xnn_operator_t op = nullptr;
    const float inf = std::numeric_limits<float>::infinity();
    check(xnn_create_max_pooling2d_nhwc_f32(0, 0, 0, 0, 3, 3, 2, 2, 1, 1, c, c, c, -inf, inf, 0, &op), "max pool");
    check(xnn_setup_max_pooling2d_nhwc_f32(op, 1, hw, hw, in, out, pool_), "max pool setup");
    return op;
  }

  /// Depthwise 3x3 with pad 1 on every side (TF SAME for these sizes), bias, ReLU; s folded in.
  xnn_operator_t depthwise(const std::string& b, std::size_t c, std::size_t hw, uint32_t stride,
                           const std::vector<float>& s, const float* in, float* out, const lmtcnn::tensor_map<float>& w) {
    std::vector<float> k(9 * c), bias(c);
    const float* f = w.at(b + "/depthwise_conv/depthwise_weights").data();  // HWC (x1): XNNPACK's HWGo
    for (std::size_t t = 0; t < 9; ++t)
      for (std::size_t ch = 0; ch < c; ++ch) k[t * c + ch] = f[t * c + ch] * s[ch];
    for (std::size_t ch = 0; ch < c; ++ch) bias[ch] = w.at(b + "/depthwise_conv/biases").data()[ch] * s[ch];
    kept_.push_back(std::move(k));
    kept_.push_back(std::move(bias));
    xnn_operator_t op = nullptr;
    check(xnn_create_convolution2d_nhwc_f32(1, 1, 1, 1, 3, 3, stride, stride, 1, 1, static_cast<uint32_t>(c), 1, 1,
                                            c, c, kept_[kept_.size() - 2].data(), kept_.back().data(), 0.f,
                                            std::numeric_limits<float>::infinity(), XNN_FLAG_DEPTHWISE_CONVOLUTION, &op),
          "depthwise");
    check(xnn_setup_convolution2d_nhwc_f32(op, 1, hw, hw, in, out, pool_), "depthwise setup");
    return op;
  }

  /// 1x1 convolution cin -> cout, ReLU; s folded in; the previous layer's shift t_in folded into the bias.
  xnn_operator_t pointwise(const std::string& b, std::size_t cin, std::size_t cout, std::size_t hw,
                           const std::vector<float>& s, const std::vector<float>& t_in, const float* in, float* out,
                           const lmtcnn::tensor_map<float>& w) {
    const float* f = w.at(b + "/pointwise_conv/weights").data();  // [cin, cout]
    std::vector<float> k(cin * cout), bias(cout);
    for (std::size_t o = 0; o < cout; ++o) {
      double acc = w.at(b + "/pointwise_conv/biases").data()[o];
      for (std::size_t i = 0; i < cin; ++i) {
        k[o * cin + i] = f[i * cout + o] * s[o];
        acc += static_cast<double>(t_in[i]) * f[i * cout + o];
      }
      bias[o] = static_cast<float>(acc * s[o]);
    }
    kept_.push_back(std::move(k));
    kept_.push_back(std::move(bias));
    xnn_operator_t op = nullptr;
    check(xnn_create_convolution2d_nhwc_f32(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, cin, cout, cin, cout,
                                            kept_[kept_.size() - 2].data(), kept_.back().data(), 0.f,
                                            std::numeric_limits<float>::infinity(), 0, &op),
          "pointwise");
    check(xnn_setup_convolution2d_nhwc_f32(op, 1, hw, hw, in, out, pool_), "pointwise setup");
    return op;
  }

  /// Dense layer on TF's [in, out] weights (XNN_FLAG_TRANSPOSE_WEIGHTS), optional ReLU.
  xnn_operator_t dense(std::size_t in_c, std::size_t out_c, const float* wt, const float* bias, bool relu,
                       const float* in, float* out) {
    xnn_operator_t op = nullptr;
    const float inf = std::numeric_limits<float>::infinity();
    check(xnn_create_fully_connected_nc_f32(in_c, out_c, in_c, out_c, wt, bias, relu ? 0.f : -inf, inf,
                                            XNN_FLAG_TRANSPOSE_WEIGHTS, &op),
          "fully connected");
    check(xnn_setup_fully_connected_nc_f32(op, 1, in, out, pool_), "fully connected setup");
    return op;
  }

  xnn_operator_t softmax(std::size_t c, const float* in, float* out) {
    xnn_operator_t op = nullptr;
    check(xnn_create_softmax_nc_f32(c, c, c, 0, &op), "softmax");
    check(xnn_setup_softmax_nc_f32(op, 1, in, out, pool_), "softmax setup");
    return op;
  }

  pthreadpool_t pool_ = nullptr;
  std::vector<xnn_operator_t> ops_;
  std::size_t n_before_lrn_ = 0;
  std::vector<std::vector<float>> kept_;  // folded weights (XNNPACK packs its own copy; kept for clarity)
  std::vector<float> input_, a1_, a2_, a3_, a4_, a5_, a5b_, a6_, a7_, a8_, a9_, a10_, t2_, full1_bias_;
  std::vector<float> age_logits_, gender_logits_, age_, gender_;
};

}  // namespace compare
