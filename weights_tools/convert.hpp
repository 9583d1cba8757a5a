// Conversion of source tensors (from .npz or a TF.js manifest) into an lmtcnn weight file:
// the network is recognised from its tensor names and shapes, every tensor is checked by name,
// and a self-test is embedded.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lmtcnn/engine/model.hpp"
#include "lmtcnn/nets/faceapi.hpp"
#include "lmtcnn/nets/faceapi_landmarks.hpp"
#include "lmtcnn/nets/faceapi_ssd.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"
#include "lmtcnn/format/weights_file.hpp"
#include "readers.hpp"

namespace lmtcnn_tools {

inline constexpr const char* converter_version = "1.0";

struct convert_options {
  lmtcnn::batch_norm_mode bn_mode = lmtcnn::batch_norm_mode::batch_statistics;  ///< LMTCNN
  double divisor = 256.0;                                                         ///< face-api AgeGenderNet
  lmtcnn::index_t detector_input = 416;                                           ///< tiny face detector
  bool self_test = true;
  std::string source_name;  ///< recorded in the metadata
};

struct converted {
  lmtcnn::metadata meta;
  lmtcnn::graph net;
  lmtcnn::tensor_map<float> tensors;
  std::optional<lmtcnn::self_test_spec> self_test;
};

namespace detail {

/// Moves the expected tensors out of src (by name), reporting every missing, mis-shaped and
/// unexpected tensor in one error. Names starting with "selftest/" are left in src.
inline lmtcnn::tensor_map<float> take_expected(source_weights& src, const std::vector<lmtcnn::tensor_spec>& specs,
                                               const std::string& network) {
  std::vector<std::pair<std::string, lmtcnn::shape>> have;
  for (const auto& [name, t] : src.tensors)
    if (name.rfind("selftest/", 0) != 0) have.emplace_back(name, t.shape());
  std::string problems;
  for (const std::string& p : lmtcnn::tensor_set_problems(specs, have)) problems += "; " + p;
  if (!problems.empty()) throw lmtcnn::error(network + " weights: " + problems.substr(2));
  lmtcnn::tensor_map<float> kept;
  for (const lmtcnn::tensor_spec& s : specs) {
    auto it = std::find_if(src.tensors.begin(), src.tensors.end(), [&](const auto& t) { return t.first == s.name; });
    if (it != src.tensors.end()) kept.emplace(s.name, std::move(it->second));
  }
  return kept;
}

inline bool has(const source_weights& src, const std::string& name) {
  for (const auto& t : src.tensors)
    if (t.first == name) return true;
  return false;
}

inline const lmtcnn::tensor<float>* find(const source_weights& src, const std::string& name) {
  for (const auto& t : src.tensors)
    if (t.first == name) return &t.second;
  return nullptr;
}

/// A self-test computed by the scalar reference in float64 on seeded pixels.
inline void reference_self_test(converted& c, const std::vector<std::string>& outputs) {
  const lmtcnn::shape& d = c.net.input_dims;
  const lmtcnn::tensor<float> input = lmtcnn::seeded::pixels<float>({1, d[0], d[1], d[2]}, 1, "selftest/input");
  lmtcnn::tensor_map<double> w;
  for (const auto& [name, t] : c.tensors) {
    lmtcnn::tensor<double> x(t.shape());
    for (lmtcnn::index_t i = 0; i < t.size(); ++i) x[i] = t[i];
    w.emplace(name, std::move(x));
  }
  lmtcnn::tensor<double> in64(input.shape());
  for (lmtcnn::index_t i = 0; i < input.size(); ++i) in64[i] = input[i];
  const auto out = lmtcnn::graph_net<double>(c.net, std::move(w)).forward(in64.view());
  lmtcnn::self_test_spec st;
  st.input_tensor = "selftest/input";
  for (const std::string& o : outputs) {
    const lmtcnn::tensor<double>& v = out.at(o);
    lmtcnn::tensor<float> f(v.shape());
    for (lmtcnn::index_t i = 0; i < v.size(); ++i) f[i] = static_cast<float>(v[i]);
    c.tensors.emplace("selftest/" + o, std::move(f));
    st.outputs.emplace_back(o, "selftest/" + o);
  }
  c.tensors.emplace("selftest/input", input);
  st.abs_tolerance = 1e-4;
  st.rel_tolerance = 1e-4;
  st.origin = "lmtcnn scalar reference in float64 at conversion, seeded input";
  c.self_test = std::move(st);
}

inline void common_meta(converted& c, const std::string& name, const std::string& family, const source_weights& src,
                        const convert_options& o) {
  c.meta["network.name"] = lmtcnn::meta_value::text(name);
  c.meta["network.family"] = lmtcnn::meta_value::text(family);
  c.meta["input.height"] = lmtcnn::meta_value::integer(c.net.input_dims[0]);
  c.meta["input.width"] = lmtcnn::meta_value::integer(c.net.input_dims[1]);
  c.meta["input.channels"] = lmtcnn::meta_value::integer(c.net.input_dims[2]);
  c.meta["input.channel_order"] = lmtcnn::meta_value::text("RGB");
  c.meta["input.range"] = lmtcnn::meta_value::text("0..255");
  c.meta["converter.version"] = lmtcnn::meta_value::text(converter_version);
  c.meta["source.format"] = lmtcnn::meta_value::text(src.format);
  if (!o.source_name.empty()) c.meta["source.file"] = lmtcnn::meta_value::text(o.source_name);
}

}  // namespace detail

/// Converts source tensors; throws lmtcnn::error naming what does not fit.
inline converted convert(source_weights src, const convert_options& o) {
  using namespace lmtcnn;
  converted c;
  if (detail::has(src, "multitaskdpcnn/convdp1/pointwise_conv/weights") ||
      detail::has(src, "multitaskdpcnn/conv1/weights")) {
    const tensor<float>* pw = detail::find(src, "multitaskdpcnn/convdp1/pointwise_conv/weights");
    if (!pw) throw error("LMTCNN weights: missing tensor 'multitaskdpcnn/convdp1/pointwise_conv/weights'");
    const std::optional<lmtcnn_variant> v = lmtcnn_variant_of(pw->shape());
    if (!v)
      throw error("LMTCNN weights: tensor 'multitaskdpcnn/convdp1/pointwise_conv/weights' has shape " +
                  pw->shape().str() + ", expected [1,1,96,256] (LMTCNN-1-1) or [1,1,96,512] (LMTCNN-2-1)");
    c.tensors = detail::take_expected(src, lmtcnn_net<float>::expected_tensors(*v, o.bn_mode), to_string(*v));
    // moving statistics unused in batch-statistics mode are dropped
    c.net = lmtcnn_graph(*v, o.bn_mode);
    detail::common_meta(c, to_string(*v), "lmtcnn", src, o);
    c.meta["preprocess"] = meta_value::text("per-image standardization (in the graph)");
    c.meta["batch_norm.mode"] = meta_value::text(to_string(o.bn_mode));
    c.meta["labels.age_probs"] = meta_value::texts({lmtcnn_age_groups.begin(), lmtcnn_age_groups.end()});
    c.meta["labels.gender_probs"] = meta_value::texts({lmtcnn_genders.begin(), lmtcnn_genders.end()});
    if (o.self_test) {
      // Expected outputs from the source framework, when the .npz carries them.
      if (const tensor<float>* in = detail::find(src, "selftest/input")) {
        self_test_spec st;
        st.input_tensor = "selftest/input";
        c.tensors.emplace("selftest/input", *in);
        for (const char* out : {"age_logits", "age_probs", "gender_logits", "gender_probs"})
          if (const tensor<float>* t = detail::find(src, std::string("selftest/") + out)) {
            c.tensors.emplace(std::string("selftest/") + out, *t);
            st.outputs.emplace_back(out, std::string("selftest/") + out);
          }
        if (st.outputs.empty()) throw error("selftest/input is given but no selftest/<output> array");
        st.abs_tolerance = 1e-4;
        st.rel_tolerance = 1e-4;
        st.origin = "source framework (selftest/* arrays of the .npz)";
        c.self_test = std::move(st);
      } else {
        detail::reference_self_test(c, {"age_probs", "gender_probs"});
      }
    }
  } else if (detail::has(src, "entry_flow/conv_in/filters") && detail::has(src, "fc/age/weights")) {
    c.tensors = detail::take_expected(src, faceapi_age_gender_tensors(), "face-api.js AgeGenderNet");
    c.net = faceapi_age_gender_graph(o.divisor);
    detail::common_meta(c, "face-api.js AgeGenderNet", "faceapi_age_gender", src, o);
    c.meta["preprocess"] = meta_value::text("(x - mean) / divisor per channel (in the graph)");
    c.meta["preprocess.mean"] = meta_value::reals({faceapi_age_gender_mean.begin(), faceapi_age_gender_mean.end()});
    c.meta["preprocess.divisor"] = meta_value::real(o.divisor);
    c.meta["labels.gender_probs"] = meta_value::texts({"male", "female"});
    c.meta["output.age"] = meta_value::text("age in years (regression)");
    if (o.self_test) detail::reference_self_test(c, {"age", "gender_probs"});
  } else if (detail::has(src, "conv0/filters") && detail::has(src, "conv8/filters")) {
    if (o.detector_input < 32 || o.detector_input % 32 || o.detector_input > 4096)
      throw error("detector input size " + std::to_string(o.detector_input) + " is not a multiple of 32 up to 4096");
    c.tensors = detail::take_expected(src, faceapi_tiny_face_detector_tensors(), "face-api.js tiny_face_detector");
    c.net = faceapi_tiny_face_detector_graph(o.detector_input);
    detail::common_meta(c, "face-api.js tiny_face_detector", "faceapi_tiny_face_detector", src, o);
    c.meta["preprocess"] = meta_value::text("(x - mean) / 255 per channel (in the graph)");
    c.meta["preprocess.mean"] =
        meta_value::reals({faceapi_tiny_face_detector_mean.begin(), faceapi_tiny_face_detector_mean.end()});
    c.meta["preprocess.divisor"] = meta_value::real(255.0);
    c.meta["output.boxes"] =
        meta_value::text("grid [n, h/32, w/32, 25]: 5 anchors x (x, y, w, h, score) logits per cell");
    c.meta["labels.boxes"] = meta_value::texts({"face"});
    c.meta["detector.anchors"] = meta_value::reals({1.603231, 2.094468, 6.041143, 7.080126, 2.882459, 3.518061,
                                                    4.266906, 5.178857, 9.041765, 10.66308});
    c.meta["detector.iou_threshold"] = meta_value::real(0.4);
    if (o.self_test) detail::reference_self_test(c, {"boxes"});
  } else if (detail::has(src, "MobilenetV1/Conv2d_0_pointwise/weights") && detail::has(src, faceapi_ssd_priors)) {
    for (const std::string& n : lmtcnn::detail::faceapi_ssd_unused_constants())  // shape constants of the TF graph
      src.tensors.erase(std::remove_if(src.tensors.begin(), src.tensors.end(), [&](const auto& t) { return t.first == n; }),
                        src.tensors.end());
    c.tensors = detail::take_expected(src, faceapi_ssd_tensors(), "face-api.js ssd_mobilenetv1");
    const tensor<float>& priors = c.tensors.at(faceapi_ssd_priors);
    for (index_t i = 0; i < priors.size(); ++i)
      if (!std::isfinite(priors[i])) throw error(std::string("face-api.js ssd_mobilenetv1 weights: tensor '") + faceapi_ssd_priors + "' holds a value that is not finite");
    c.net = faceapi_ssd_graph();
    detail::common_meta(c, "face-api.js ssd_mobilenetv1", "faceapi_ssd_mobilenetv1", src, o);
    c.meta["preprocess"] = meta_value::text("x / 127.5 - 1 (in the graph)");
    c.meta["output.boxes"] = meta_value::text(
        "box_encodings_k [n,h,w,4a] (ty, tx, th, tw) and class_logits_k [n,h,w,3a] for the 6 predictors; "
        "prior boxes in tensor Output/extra_dim [1,5118,4] (ymin, xmin, ymax, xmax)");
    c.meta["labels.boxes"] = meta_value::texts({"face"});
    c.meta["detector.iou_threshold"] = meta_value::real(0.5);
    if (o.self_test) {
      std::vector<std::string> outs;
      for (int k = 0; k < 6; ++k) {
        outs.push_back("box_encodings_" + std::to_string(k));
        outs.push_back("class_logits_" + std::to_string(k));
      }
      detail::reference_self_test(c, outs);
    }
  } else if (detail::has(src, "dense0/conv0/filters") && detail::has(src, "fc/weights")) {
    const faceapi_landmark_kind kind =
        detail::has(src, "dense3/conv0/depthwise_filter") ? faceapi_landmark_kind::full : faceapi_landmark_kind::tiny;
    const std::string name = kind == faceapi_landmark_kind::full ? "face_landmark_68" : "face_landmark_68_tiny";
    c.tensors = detail::take_expected(src, faceapi_landmark_tensors(kind), "face-api.js " + name);
    c.net = faceapi_landmark_graph(kind);
    detail::common_meta(c, "face-api.js " + name, "faceapi_" + name, src, o);
    c.meta["preprocess"] = meta_value::text("(x - mean) / 255 per channel (in the graph)");
    c.meta["preprocess.mean"] = meta_value::reals({faceapi_landmark_mean.begin(), faceapi_landmark_mean.end()});
    c.meta["preprocess.divisor"] = meta_value::real(255.0);
    c.meta["output.landmarks"] = meta_value::text("[n, 136]: x, y of the 68 points relative to the padded square crop");
    if (o.self_test) detail::reference_self_test(c, {"landmarks"});
  } else {
    throw error("unknown network: expected LMTCNN (multitaskdpcnn/...), face-api.js AgeGenderNet "
                "(entry_flow/..., fc/age/...), tiny_face_detector (conv0/..., conv8/...), ssd_mobilenetv1 "
                "(MobilenetV1/..., Output/extra_dim) or face_landmark_68[_tiny] (dense0/..., fc/...) tensor names");
  }
  return c;
}

}  // namespace lmtcnn_tools
