// lmtcnn model: a network ready to run on the SIMD engine or the scalar reference, from a weight
// file (with the file's self-test) or from a graph and weights in memory.
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <type_traits>
#include <sstream>
#include <string>
#include <utility>

#include "lmtcnn/graph/graph_net.hpp"
#include "lmtcnn/core/thread_pool.hpp"
#include "lmtcnn/format/weights_file.hpp"
#include "lmtcnn/engine/dispatch.hpp"

namespace lmtcnn {

/// What a self-test found.
struct self_test_report {
  double max_abs_diff = 0;  ///< over every expected output value
  std::string worst_output;
  std::size_t values = 0;  ///< how many values were compared
};

/// A network ready to run: its graph and weights (as T), prepared on the SIMD engine for float
/// (unless built with LMTCNN_FORCE_REFERENCE), on the path simd_path() names when the model is made
/// (engine/dispatch.hpp), and on the scalar reference ops always. This is the one
/// place that chooses between the two; the LMTCNN network, the estimators and the detectors run
/// through it. A model made from a weight file keeps the file's metadata and self-test data.
template <class T>
class model {
 public:
  /// Loads and checks a weight file; unless run_self_test is false, runs the file's self-test when
  /// it has one (format_error naming the output and value on a mismatch).
  static model load(const std::string& path, bool run_self_test = true) {
    model m(std::make_shared<const weights_file>(weights_file::load(path)));
    if (run_self_test && m.has_self_test()) m.self_test();
    return m;
  }

  /// A model over a loaded file (taken over); float models use the file's memory for their weights.
  explicit model(weights_file file) : model(std::make_shared<const weights_file>(std::move(file))) {}

  explicit model(std::shared_ptr<const weights_file> file) : model(file->net_graph(), file) {
    const weights_file& f = *file;
    if (f.self_test()) {
      spec_ = *f.self_test();
      test_input_ = copy(f.view(spec_->input_tensor));
      for (const auto& [out, t] : spec_->outputs) expected_.emplace(out, copy(f.view(t)));
    }
  }

  /// Another graph (e.g. the file's with a different input size) over a loaded file's weights; the
  /// file's self-test, made for the file's own graph, is not kept.
  model(graph g, const std::shared_ptr<const weights_file>& file)
      : file_name_(file->file_name()), meta_(file->meta()), net_(make_net(std::move(g), file)) {
    make_engine();
  }

  /// A graph over weights held in memory (copied into the model).
  model(graph g, tensor_map<T> weights) : net_(std::move(g), std::move(weights)) { make_engine(); }

  const std::string& file_name() const { return file_name_; }
  const metadata& meta() const { return meta_; }
  const graph& net_graph() const { return net_.net_graph(); }
  const graph_net<T>& net() const { return net_; }
  bool has_self_test() const { return spec_.has_value(); }

  /// Runs the network on input [n,h,w,c]; returns the named outputs. float models run on the SIMD
  /// engine (unless built with LMTCNN_FORCE_REFERENCE), others on the scalar reference.
  /// Throws shape_error naming the input and both shapes when the input does not fit.
  std::map<std::string, tensor<T>> forward(tensor_view<const T> input) const {
#ifndef LMTCNN_FORCE_REFERENCE
    if constexpr (std::is_same_v<T, float>) return engine_->forward(input);
#endif
    return net_.forward(input);
  }

  /// The same with each layer split across the threads of pool (the SIMD engine only; the
  /// reference path runs on the calling thread). Results are bitwise those of forward().
  std::map<std::string, tensor<T>> forward(tensor_view<const T> input, [[maybe_unused]] thread_pool& pool) const {
#ifndef LMTCNN_FORCE_REFERENCE
    if constexpr (std::is_same_v<T, float>) return engine_->forward(input, pool);
#endif
    return net_.forward(input);
  }

#ifndef LMTCNN_FORCE_REFERENCE
  /// The SIMD engine that runs forward() (float models; null otherwise); its arch_name() says which
  /// instruction set it runs.
  const simd_engine* engine() const { return engine_.get(); }
#endif

  /// The same on the scalar reference ops.
  std::map<std::string, tensor<T>> forward_reference(tensor_view<const T> input) const { return net_.forward(input); }

  /// The precision the model runs in: that of model_precision() when it was made (float models;
  /// others fp32). A bf16 model's reference (forward_reference) rounds as its engine does.
  precision arithmetic() const { return prec_; }

  /// Runs the stored input and compares every output with the stored expectation
  /// (|got - expected| <= abs_tol + rel_tol * |expected|); a bf16 model runs it on a float32 copy of
  /// itself, as the expectations are float32 outputs. Throws format_error naming the output
  /// and the first value that differs; throws format_error when the file has no self-test.
  self_test_report self_test() const {
    if (!spec_) throw format_error(file_name_ + ": has no self-test");
    if (test_input_.rank() != 4)
      throw format_error(file_name_ + ": self-test input " + test_input_.shape().str() + " is not NHWC");
    std::map<std::string, tensor<T>> got;
    try {
      got = prec_ == precision::bf16 ? forward_fp32(test_input_.view()) : forward(test_input_.view());
    } catch (const shape_error& e) {
      throw format_error(file_name_ + ": self-test input does not fit the network: " + e.what());
    }
    self_test_report rep;
    for (const auto& [out, expected] : expected_) {
      const tensor<T>& g = got.at(out);
      if (g.shape() != expected.shape())
        throw format_error(file_name_ + ": self-test output '" + out + "' is " + g.shape().str() + ", expected " +
                           expected.shape().str());
      for (index_t i = 0; i < g.size(); ++i) {
        const double e = static_cast<double>(expected[i]);
        const double d = std::abs(static_cast<double>(g[i]) - e);
        if (!(d <= spec_->abs_tolerance + spec_->rel_tolerance * std::abs(e))) {
          std::ostringstream msg;
          msg << file_name_ << ": self-test failed: output '" << out << "' value " << i << " is " << g[i]
              << ", expected " << e << " (" << spec_->origin << ")";
          throw format_error(msg.str());
        }
        if (d >= rep.max_abs_diff) {
          rep.max_abs_diff = d;
          rep.worst_output = out;
        }
        ++rep.values;
      }
    }
    return rep;
  }

 private:
  /// The weights a graph names, as views into the file (float) or converted copies.
  static graph_net<T> make_net(graph g, const std::shared_ptr<const weights_file>& f) {
    if constexpr (std::is_same_v<T, float>) {
      std::map<std::string, tensor_view<const float>> views;
      for (const graph_node& n : g.nodes)
        for (const std::string& t : n.tensors)
          if (!t.empty()) views.emplace(t, f->view(t));
      return graph_net<float>(std::move(g), std::move(views), f);
    } else {
      return graph_net<T>(std::move(g), f->graph_weights<T>());
    }
  }

  void make_engine() {
    if constexpr (std::is_same_v<T, float>) {
      prec_ = model_precision();
      net_.set_precision(prec_);
#ifndef LMTCNN_FORCE_REFERENCE
      engine_ = detail::make_engine(net_.net_graph(), net_.weights(), net_.owner(), prec_);
#endif
    }
  }

  /// forward() of the same network in float32, prepared for this call.
  std::map<std::string, tensor<T>> forward_fp32(tensor_view<const T> input) const {
#ifndef LMTCNN_FORCE_REFERENCE
    if constexpr (std::is_same_v<T, float>)
      return detail::make_engine(net_.net_graph(), net_.weights(), net_.owner(), precision::fp32)->forward(input);
#endif
    graph_net<T> plain = net_;
    plain.set_precision(precision::fp32);
    return plain.forward(input);
  }

  static tensor<T> copy(const tensor_view<const float>& v) {
    tensor<T> t(v.shape());
    for (index_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(v.data()[i]);
    return t;
  }

  std::string file_name_;
  metadata meta_;
  graph_net<T> net_;
  precision prec_ = precision::fp32;
#ifndef LMTCNN_FORCE_REFERENCE
  std::shared_ptr<const simd_engine> engine_;  // float models only
#endif
  std::optional<self_test_spec> spec_;
  tensor<T> test_input_;
  std::map<std::string, tensor<T>> expected_;
};

}  // namespace lmtcnn
