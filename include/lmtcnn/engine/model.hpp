// lmtcnn: a network loaded from a weight file, ready to run, with the file's self-test.
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
#ifndef LMTCNN_FORCE_REFERENCE
#include "lmtcnn/engine/engine.hpp"
#endif

namespace lmtcnn {

/// What a self-test found.
struct self_test_report {
  double max_abs_diff = 0;  ///< over every expected output value
  std::string worst_output;
  std::size_t values = 0;  ///< how many values were compared
};

/// A converted network: metadata, graph and weights (as T), and the file's self-test data.
template <class T>
class model {
 public:
  /// Loads and checks a weight file; with run_self_test, also runs its self-test (format_error on mismatch).
  static model load(const std::string& path, bool run_self_test = false) {
    model m(std::make_shared<const weights_file>(weights_file::load(path)));
    if (run_self_test) m.self_test();
    return m;
  }

  /// A model over a loaded file; float models use the file's memory for their weights (no copy).
  /// A model over a loaded file (taken over).
  explicit model(weights_file file) : model(std::make_shared<const weights_file>(std::move(file))) {}

  explicit model(std::shared_ptr<const weights_file> file)
      : file_name_(file->file_name()), meta_(file->meta()), net_(make_net(file)) {
    const weights_file& f = *file;
#ifndef LMTCNN_FORCE_REFERENCE
    if constexpr (std::is_same_v<T, float>)
      engine_ = std::make_shared<const engine_net<simd_arch>>(net_.net_graph(), net_.weights(), net_.owner());
#endif
    if (f.self_test()) {
      spec_ = *f.self_test();
      test_input_ = copy(f.view(spec_->input_tensor));
      for (const auto& [out, t] : spec_->outputs) expected_.emplace(out, copy(f.view(t)));
    }
  }

  const std::string& file_name() const { return file_name_; }
  const metadata& meta() const { return meta_; }
  const graph& net_graph() const { return net_.net_graph(); }
  const graph_net<T>& net() const { return net_; }
  bool has_self_test() const { return spec_.has_value(); }

  /// Runs the network on input [n,h,w,c]; returns the named outputs. float models run on the SIMD
  /// engine (unless built with LMTCNN_FORCE_REFERENCE), others on the scalar reference.
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
  /// The SIMD engine that runs forward() (float models; null otherwise).
  const engine_net<simd_arch>* engine() const { return engine_.get(); }
#endif

  /// The same on the scalar reference ops.
  std::map<std::string, tensor<T>> forward_reference(tensor_view<const T> input) const { return net_.forward(input); }

  /// Runs the stored input and compares every output with the stored expectation
  /// (|got - expected| <= abs_tol + rel_tol * |expected|). Throws format_error naming the output
  /// and the first value that differs; throws format_error when the file has no self-test.
  self_test_report self_test() const {
    if (!spec_) throw format_error(file_name_ + ": has no self-test");
    if (test_input_.rank() != 4)
      throw format_error(file_name_ + ": self-test input " + test_input_.shape().str() + " is not NHWC");
    std::map<std::string, tensor<T>> got;
    try {
      got = forward(test_input_.view());
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
  static graph_net<T> make_net(const std::shared_ptr<const weights_file>& f) {
    if constexpr (std::is_same_v<T, float>) {
      std::map<std::string, tensor_view<const float>> views;
      for (const graph_node& n : f->net_graph().nodes)
        for (const std::string& t : n.tensors)
          if (!t.empty()) views.emplace(t, f->view(t));
      return graph_net<float>(f->net_graph(), std::move(views), f);
    } else {
      return graph_net<T>(f->net_graph(), f->graph_weights<T>());
    }
  }

  static tensor<T> copy(const tensor_view<const float>& v) {
    tensor<T> t(v.shape());
    for (index_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(v.data()[i]);
    return t;
  }

  std::string file_name_;
  metadata meta_;
  graph_net<T> net_;
#ifndef LMTCNN_FORCE_REFERENCE
  std::shared_ptr<const engine_net<simd_arch>> engine_;  // float models only
#endif
  std::optional<self_test_spec> spec_;
  tensor<T> test_input_;
  std::map<std::string, tensor<T>> expected_;
};

}  // namespace lmtcnn
