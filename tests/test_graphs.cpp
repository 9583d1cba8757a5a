// The graph builders' layer parameters against the layer tables of the networks (MODELS.md), written
// out by hand: strides, padding, activations, windows and constants of every layer. (Engine and
// reference run the same graph, so only a check like this catches a wrong graph; GCC 12 with AVX-512
// once built one with ReLU on every depthwise layer.)
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lmtcnn/nets/faceapi.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"

using namespace lmtcnn;
using ints = std::vector<std::int64_t>;

namespace {
bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}
std::string text(const std::vector<std::int64_t>& v) {
  std::string s;
  for (std::int64_t x : v) s += std::to_string(x) + " ";
  return s;
}
int count(const graph& g, op_kind op) {
  int n = 0;
  for (const graph_node& x : g.nodes) n += x.op == op;
  return n;
}
}  // namespace

TEST_CASE("face-api.js AgeGenderNet graph: every layer as the JavaScript builds it") {
  const graph g = faceapi_age_gender_graph(256);
  CHECK(g.input_dims == shape{112, 112, 3});
  CHECK(g.nodes[0].floats == std::vector<double>{122.782, 117.001, 104.298, 256, 256, 256});
  int dw = 0, pw = 0, exp = 0, pools = 0;
  for (const graph_node& n : g.nodes) {
    INFO(n.name << " ints " << text(n.ints));
    if (n.op == op_kind::depthwise_conv2d) {  // 3x3 stride 1 SAME, no bias, no activation
      CHECK(n.ints == ints{1, 1, 1, 0});
      CHECK(n.tensors[1].empty());
      ++dw;
    } else if (n.op == op_kind::pointwise_conv2d && ends_with(n.name, "/pointwise")) {
      CHECK(n.ints == ints{1, 1, 1, n.name == "exit_flow/separable_conv/pointwise" ? 1 : 0});
      ++pw;
    } else if (n.op == op_kind::pointwise_conv2d) {  // the 1x1 stride-2 shortcut on the un-activated input
      CHECK(n.ints == ints{2, 2, 1, 0});
      ++exp;
    } else if (n.op == op_kind::pool_max) {
      CHECK(n.ints == ints{3, 3, 2, 2, 1});
      ++pools;
    } else if (n.op == op_kind::pool_avg) {
      CHECK(n.ints == ints{7, 7, 2, 2, 0});
    } else if (n.op == op_kind::conv2d) {
      CHECK(n.name == "entry_flow/conv_in");
      CHECK(n.ints == ints{2, 2, 1, 1});
    } else if (n.op == op_kind::fully_connected) {
      CHECK(n.ints == ints{0});
    }
  }
  CHECK(dw == 13);
  CHECK(pw == 13);
  CHECK(exp == 3);
  CHECK(pools == 3);
  CHECK(count(g, op_kind::add) == 5);    // 3 reduction blocks, 2 main blocks
  CHECK(count(g, op_kind::relu) == 11);  // 1 + 2 + 3 + 3 + 2 activations before separable convs
  CHECK(faceapi_age_gender_graph(255).nodes[0].floats[3] == 255);
}

TEST_CASE("face-api.js tiny face detector graph") {
  const graph g = faceapi_tiny_face_detector_graph(416);
  CHECK(g.input_dims == shape{416, 416, 3});
  CHECK(g.nodes[0].floats == std::vector<double>{117.001, 114.697, 97.404, 255, 255, 255});
  for (const graph_node& n : g.nodes) {
    INFO(n.name << " ints " << text(n.ints));
    if (n.name == "conv0") CHECK(n.ints == ints{1, 1, 0, 2});          // 3x3 VALID, leaky
    if (n.op == op_kind::depthwise_conv2d) CHECK(n.ints == ints{1, 1, 1, 0});
    if (n.op == op_kind::pointwise_conv2d && n.name != "conv8") CHECK(n.ints == ints{1, 1, 0, 2});
    if (n.name == "conv8") CHECK(n.ints == ints{1, 1, 0, 0});
    if (n.op == op_kind::pool_max) CHECK(n.ints == ints{2, 2, n.name == "pool5" ? 1 : 2, n.name == "pool5" ? 1 : 2, 1});
    if (n.ints.size() == 4 && n.ints[3] == 2) CHECK(n.floats[0] == doctest::Approx(0.1).epsilon(1e-7));
  }
  CHECK(count(g, op_kind::pool_max) == 6);
}

TEST_CASE("LMTCNN graph: the layer table") {
  for (batch_norm_mode m : {batch_norm_mode::moving_average, batch_norm_mode::batch_statistics}) {
    const graph g = lmtcnn_graph(lmtcnn_variant::v2_1, m);
    for (const graph_node& n : g.nodes) {
      INFO(n.name << " ints " << text(n.ints));
      if (n.name == "multitaskdpcnn/conv1") CHECK(n.ints == ints{4, 4, 0, 1});
      if (n.op == op_kind::pool_max) CHECK(n.ints == ints{3, 3, 2, 2, 0});
      if (n.op == op_kind::lrn) {
        CHECK(n.ints == ints{5});
        CHECK(n.floats == std::vector<double>{1.0, 1e-4, 0.75});
      }
      if (n.name == "multitaskdpcnn/convdp1/depthwise_conv") CHECK(n.ints == ints{1, 1, 1, 1});
      if (n.name == "multitaskdpcnn/convdp2/depthwise_conv") CHECK(n.ints == ints{2, 2, 1, 1});
      if (n.op == op_kind::pointwise_conv2d) CHECK(n.ints == ints{1, 1, 0, 1});
      if (n.op == op_kind::batch_norm) {
        CHECK(n.ints == ints{m == batch_norm_mode::moving_average ? 0 : 1});
        CHECK(n.floats == std::vector<double>{1e-3});
      }
      if (n.op == op_kind::fully_connected) CHECK(n.ints == ints{n.name.rfind("multitaskdpcnn/full", 0) == 0 ? 1 : 0});
    }
    CHECK(count(g, op_kind::batch_norm) == 4);
  }
}
