// LMTCNN (moving-average batch norm, inference) on oneDNN 2.6 primitives, as a oneDNN user would
// write it: convolutions and pooling on the layouts oneDNN picks (format_tag::any, blocked), bias,
// ReLU and the batch norm's per-channel scale and shift fused as post-ops, LRN across channels,
// inner products for the dense layers (full1 reads the NHWC-flattened features through ohwi
// weights), softmax. Weights are reordered once when the network is built; run() executes the
// primitives on a batch-1 input that is already standardised (the same values lmtcnn's graph
// standardises itself). Threads: oneDNN's OpenMP runtime (omp_set_num_threads).
#pragma once

#include <cmath>
#include <cstring>
#include <tuple>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "lmtcnn/nets/lmtcnn.hpp"

namespace compare {

class onednn_lmtcnn {
 public:
  using tag = dnnl::memory::format_tag;
  using dt = dnnl::memory::data_type;
  using md = dnnl::memory::desc;

  onednn_lmtcnn(lmtcnn::lmtcnn_variant v, const lmtcnn::tensor_map<float>& w) : eng_(dnnl::engine::kind::cpu, 0), strm_(eng_) {
    const std::string s = "multitaskdpcnn/";
    const long pw1 = v == lmtcnn::lmtcnn_variant::v1_1 ? 256 : 512;
    input_ = dnnl::memory(md({1, 3, 227, 227}, dt::f32, tag::nhwc), eng_);
    dnnl::memory x = input_;
    x = conv(x, w, s + "conv1/weights", s + "conv1/biases", 3, 96, 7, 4, 0, 0, 1, "");
    x = pool(x, 3, 2, 0);
    {
      const md d = x.get_desc();
      const dnnl::lrn_forward::primitive_desc pd(
          {dnnl::prop_kind::forward_inference, dnnl::algorithm::lrn_across_channels, d, 11, 1e-4f * 11, 0.75f, 1.f}, eng_);
      dnnl::memory y(pd.dst_desc(), eng_);
      steps_.push_back({dnnl::lrn_forward(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}}});
      x = y;
    }
    long c = 96;
    for (const auto& [block, stride, out] : {std::tuple<const char*, long, long>{"convdp1", 1, pw1}, {"convdp2", 2, 384}}) {
      const std::string b = s + block;
      x = conv(x, w, b + "/depthwise_conv/depthwise_weights", b + "/depthwise_conv/biases", c, c, 3, stride, 1,
               1, c, s + block + "/dw_batch_norm");
      x = conv(x, w, b + "/pointwise_conv/weights", b + "/pointwise_conv/biases", c, out, 1, 1, 0, 0, 1,
               s + block + "/pw_batch_norm");
      c = out;
    }
    x = pool(x, 3, 2, 0);  // [1,384,6,6]
    x = dense(x, w, s + "full1/weights", s + "full1/biases", true, true);
    x = dense(x, w, s + "full2/weights", s + "full2/biases", true, false);
    const dnnl::memory age = dense(x, w, "ageoutput/ageweights", "ageoutput/agebiases", false, false);
    const dnnl::memory gender = dense(x, w, "genderoutput/genderweights", "genderoutput/genderbiases", false, false);
    age_ = softmax(age);
    gender_ = softmax(gender);
  }

  /// Runs the network on one standardised NHWC image (227*227*3 floats).
  void run(const float* image) {
    std::memcpy(input_.get_data_handle(), image, 227 * 227 * 3 * sizeof(float));
    for (auto& st : steps_) st.p.execute(strm_, st.args);
    strm_.wait();
  }

  std::vector<float> age_probs() const { return read(age_); }
  std::vector<float> gender_probs() const { return read(gender_); }

 private:
  struct step {
    dnnl::primitive p;
    std::unordered_map<int, dnnl::memory> args;
  };

  static std::vector<float> read(const dnnl::memory& m) {
    const float* p = static_cast<const float*>(m.get_data_handle());
    return std::vector<float>(p, p + m.get_desc().get_size() / sizeof(float));
  }

  dnnl::memory user(const std::vector<float>& v, const md& d) {
    dnnl::memory m(d, eng_);
    std::memcpy(m.get_data_handle(), v.data(), v.size() * sizeof(float));
    return m;
  }

  /// A weight in the layout the primitive wants (reordered now, once).
  dnnl::memory prepared(dnnl::memory src, const md& want) {
    if (src.get_desc() == want) return src;
    dnnl::memory dst(want, eng_);
    dnnl::reorder(src, dst).execute(strm_, src, dst);
    strm_.wait();
    return dst;
  }

  /// Convolution + bias + ReLU (+ batch norm scale/shift): groups == cin for depthwise.
  dnnl::memory conv(const dnnl::memory& x, const lmtcnn::tensor_map<float>& w, const std::string& wname,
                    const std::string& bname, long cin, long cout, long k, long stride, long pad_l, long pad_r,
                    long groups, const std::string& bn) {
    // The source layout is oneDNN's choice too: with AVX-512 its convolutions take NHWC as it is, but
    // oneDNN 2.6 has no AVX2 JIT convolution on NHWC and would fall back to its reference kernels.
    const md src(x.get_desc().dims(), dt::f32, tag::any);
    const long h = src.dims()[2], wd = src.dims()[3];
    const long oh = (h + pad_l + pad_r - k) / stride + 1, ow = (wd + pad_l + pad_r - k) / stride + 1;
    const lmtcnn::tensor<float>& f = w.at(wname);  // [k,k,cin,cout] or depthwise [k,k,c,1]
    std::vector<float> wt(static_cast<std::size_t>(f.size()));
    md user_w;
    if (groups == 1) {  // oihw from hwio
      for (long o = 0; o < cout; ++o)
        for (long i = 0; i < cin; ++i)
          for (long y = 0; y < k; ++y)
            for (long xx = 0; xx < k; ++xx) wt[static_cast<std::size_t>(((o * cin + i) * k + y) * k + xx)] = f.data()[((y * k + xx) * cin + i) * cout + o];
      user_w = md({cout, cin, k, k}, dt::f32, tag::oihw);
    } else {  // goihw with g = c, o = i = 1
      for (long g = 0; g < groups; ++g)
        for (long y = 0; y < k; ++y)
          for (long xx = 0; xx < k; ++xx) wt[static_cast<std::size_t>((g * k + y) * k + xx)] = f.data()[(y * k + xx) * groups + g];
      user_w = md({groups, 1, 1, k, k}, dt::f32, tag::goihw);
    }
    const md want_w(user_w.dims(), dt::f32, tag::any), bias_md({cout}, dt::f32, tag::x);
    const md dst({1, cout, oh, ow}, dt::f32, tag::any);
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    std::vector<float> scale, shift;
    if (!bn.empty()) {
      const lmtcnn::tensor<float>&mean = w.at(bn + "/moving_mean"), &var = w.at(bn + "/moving_variance"),
                                 &beta = w.at(bn + "/beta");
      for (long ch = 0; ch < cout; ++ch) {
        const double sc = 1.0 / std::sqrt(static_cast<double>(var.data()[ch]) + 1e-3);
        scale.push_back(static_cast<float>(sc));
        shift.push_back(static_cast<float>(beta.data()[ch] - mean.data()[ch] * sc));
      }
      const md per_channel({1, cout, 1, 1}, dt::f32, tag::nchw);
      po.append_binary(dnnl::algorithm::binary_mul, per_channel);
      po.append_binary(dnnl::algorithm::binary_add, per_channel);
    }
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    const dnnl::convolution_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, want_w, bias_md, dst,
         {stride, stride}, {pad_l, pad_l}, {pad_r, pad_r}},
        attr, eng_);
    dnnl::memory in = x;
    if (pd.src_desc() != x.get_desc()) {  // a layout change the conv wants: part of every run
      in = dnnl::memory(pd.src_desc(), eng_);
      steps_.push_back({dnnl::reorder(x, in), {{DNNL_ARG_FROM, x}, {DNNL_ARG_TO, in}}});
    }
    dnnl::memory y(pd.dst_desc(), eng_);
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, in},
                                                  {DNNL_ARG_WEIGHTS, prepared(user(wt, user_w), pd.weights_desc())},
                                                  {DNNL_ARG_BIAS, user(std::vector<float>(w.at(bname).data(), w.at(bname).data() + cout), bias_md)},
                                                  {DNNL_ARG_DST, y}};
    if (!bn.empty()) {
      const md per_channel({1, cout, 1, 1}, dt::f32, tag::nchw);
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, user(scale, per_channel));
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(2) | DNNL_ARG_SRC_1, user(shift, per_channel));
    }
    steps_.push_back({dnnl::convolution_forward(pd), std::move(args)});
    return y;
  }

  dnnl::memory pool(const dnnl::memory& x, long k, long stride, long pad) {
    const md src = x.get_desc();
    const long oh = (src.dims()[2] + 2 * pad - k) / stride + 1, ow = (src.dims()[3] + 2 * pad - k) / stride + 1;
    const md dst({1, src.dims()[1], oh, ow}, dt::f32, tag::any);
    const dnnl::pooling_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, src, dst, {stride, stride}, {k, k},
         {pad, pad}, {pad, pad}},
        eng_);
    dnnl::memory y(pd.dst_desc(), eng_);
    steps_.push_back({dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}}});
    return y;
  }

  /// Inner product (+ ReLU). spatial: x is [1,C,H,W] whose NHWC flattening the TF weights index.
  dnnl::memory dense(const dnnl::memory& x, const lmtcnn::tensor_map<float>& w, const std::string& wname,
                     const std::string& bname, bool relu, bool spatial) {
    const lmtcnn::tensor<float>& f = w.at(wname);  // [in, out]
    const long in = f.dim(0), out = f.dim(1);
    const md src = x.get_desc();
    std::vector<float> wt(static_cast<std::size_t>(f.size()));
    md user_w, want_w;
    if (spatial) {
      const long c = src.dims()[1], h = src.dims()[2], wd = src.dims()[3];
      for (long o = 0; o < out; ++o)
        for (long i = 0; i < in; ++i) wt[static_cast<std::size_t>(o * in + i)] = f.data()[i * out + o];  // ohwi = o-major, NHWC order
      user_w = md({out, c, h, wd}, dt::f32, tag::ohwi);
      want_w = md({out, c, h, wd}, dt::f32, tag::any);
    } else {
      for (long o = 0; o < out; ++o)
        for (long i = 0; i < in; ++i) wt[static_cast<std::size_t>(o * in + i)] = f.data()[i * out + o];
      user_w = md({out, in}, dt::f32, tag::oi);
      want_w = md({out, in}, dt::f32, tag::any);
    }
    const md bias_md({out}, dt::f32, tag::x), dst({1, out}, dt::f32, tag::nc);
    dnnl::primitive_attr attr;
    if (relu) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(po);
    }
    const dnnl::inner_product_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, src, want_w, bias_md, dst}, attr, eng_);
    dnnl::memory xin = x;
    if (pd.src_desc() != src) {
      xin = dnnl::memory(pd.src_desc(), eng_);
      steps_.push_back({dnnl::reorder(x, xin), {{DNNL_ARG_FROM, x}, {DNNL_ARG_TO, xin}}});
    }
    dnnl::memory y(pd.dst_desc(), eng_);
    steps_.push_back({dnnl::inner_product_forward(pd),
                      {{DNNL_ARG_SRC, xin},
                       {DNNL_ARG_WEIGHTS, prepared(user(wt, user_w), pd.weights_desc())},
                       {DNNL_ARG_BIAS, user(std::vector<float>(w.at(bname).data(), w.at(bname).data() + out), bias_md)},
                       {DNNL_ARG_DST, y}}});
    return y;
  }

  dnnl::memory softmax(const dnnl::memory& x) {
    const dnnl::softmax_forward::primitive_desc pd({dnnl::prop_kind::forward_inference, x.get_desc(), 1}, eng_);
    dnnl::memory y(pd.dst_desc(), eng_);
    steps_.push_back({dnnl::softmax_forward(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}}});
    return y;
  }

  dnnl::engine eng_;
  dnnl::stream strm_;
  dnnl::memory input_, age_, gender_;
  std::vector<step> steps_;
};

}  // namespace compare
