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

/// One layer as a network's table gives it: name, op, integer and float parameters.
struct layer_row {
  std::string name;
  op_kind op;
  ints i;
  std::vector<double> f;
};

/// The graph is exactly the table: the same layers in the same order, each taking the one before.
void check_table(const graph& g, const std::vector<layer_row>& table) {
  REQUIRE(g.nodes.size() == table.size());
  for (std::size_t k = 0; k < table.size(); ++k) {
    const graph_node& n = g.nodes[k];
    const layer_row& want = table[k];
    INFO("layer " << k << ": " << n.name << " (" << to_string(n.op) << ", ints " << text(n.ints) << "), want "
                  << want.name << " (" << to_string(want.op) << ", ints " << text(want.i) << ")");
    CHECK(n.name == want.name);
    CHECK(n.op == want.op);
    CHECK(n.ints == want.i);
    CHECK(n.floats == want.f);
  }
}

TEST_CASE("face-api.js tiny face detector graph: every layer") {
  const double alpha = 0.10000000149011612;  // float32(0.1), as the JavaScript passes it
  std::vector<layer_row> table = {{"input/normalize", op_kind::channel_normalize, {}, {117.001, 114.697, 97.404, 255, 255, 255}},
                                  {"conv0", op_kind::conv2d, {1, 1, 0, 2}, {alpha}}};  // 3x3 VALID, leaky ReLU
  for (int k = 1; k <= 5; ++k) {
    const std::string c = "conv" + std::to_string(k);
    table.push_back({"pool" + std::to_string(k - 1), op_kind::pool_max, {2, 2, 2, 2, 1}, {}});  // 2x2/2 SAME
    table.push_back({c + "/depthwise", op_kind::depthwise_conv2d, {1, 1, 1, 0}, {}});          // no bias, no activation
    table.push_back({c + "/pointwise", op_kind::pointwise_conv2d, {1, 1, 0, 2}, {alpha}});
  }
  table.push_back({"pool5", op_kind::pool_max, {2, 2, 1, 1, 1}, {}});
  table.push_back({"conv8", op_kind::pointwise_conv2d, {1, 1, 0, 0}, {}});  // the box head: no activation
  for (index_t size : {416, 608}) {
    const graph g = faceapi_tiny_face_detector_graph(size);
    CHECK(g.input_dims == shape{size, size, 3});
    check_table(g, table);
    REQUIRE(g.outputs.size() == 1);
    CHECK(g.outputs[0].first == "boxes");
    CHECK(g.outputs[0].second == g.nodes.size());  // the last layer's value
  }
}

TEST_CASE("LMTCNN graph: the layer table of both variants in both batch-norm modes (MODELS.md)") {
  const std::string s = "multitaskdpcnn/";
  for (lmtcnn_variant v : {lmtcnn_variant::v1_1, lmtcnn_variant::v2_1})
    for (batch_norm_mode m : {batch_norm_mode::moving_average, batch_norm_mode::batch_statistics}) {
      INFO(to_string(v) << " " << to_string(m));
      const std::int64_t mode = m == batch_norm_mode::moving_average ? 0 : 1;
      const std::vector<layer_row> table = {
          {"input/standardize", op_kind::standardize, {}, {}},
          {s + "conv1", op_kind::conv2d, {4, 4, 0, 1}, {}},  // 7x7/4 VALID, ReLU
          {s + "pool1", op_kind::pool_max, {3, 3, 2, 2, 0}, {}},
          {s + "norm1", op_kind::lrn, {5}, {1.0, 1e-4, 0.75}},
          {s + "convdp1/depthwise_conv", op_kind::depthwise_conv2d, {1, 1, 1, 1}, {}},  // 3x3/1 SAME, ReLU
          {s + "convdp1/dw_batch_norm", op_kind::batch_norm, {mode}, {1e-3}},
          {s + "convdp1/pointwise_conv", op_kind::pointwise_conv2d, {1, 1, 0, 1}, {}},
          {s + "convdp1/pw_batch_norm", op_kind::batch_norm, {mode}, {1e-3}},
          {s + "convdp2/depthwise_conv", op_kind::depthwise_conv2d, {2, 2, 1, 1}, {}},  // 3x3/2 SAME, ReLU
          {s + "convdp2/dw_batch_norm", op_kind::batch_norm, {mode}, {1e-3}},
          {s + "convdp2/pointwise_conv", op_kind::pointwise_conv2d, {1, 1, 0, 1}, {}},
          {s + "convdp2/pw_batch_norm", op_kind::batch_norm, {mode}, {1e-3}},
          {s + "pool3", op_kind::pool_max, {3, 3, 2, 2, 0}, {}},
          {s + "full1", op_kind::fully_connected, {1}, {}},
          {s + "full2", op_kind::fully_connected, {1}, {}},
          {"ageoutput", op_kind::fully_connected, {0}, {}},
          {"genderoutput", op_kind::fully_connected, {0}, {}},
          {"ageoutput/softmax", op_kind::softmax, {}, {}},
          {"genderoutput/softmax", op_kind::softmax, {}, {}}};
      const graph g = lmtcnn_graph(v, m);
      CHECK(g.input_dims == shape{227, 227, 3});
      check_table(g, table);
      // the wiring: a chain up to full2, whose value both heads take; each softmax takes its head
      for (std::size_t k = 0; k < g.nodes.size() && k < 15; ++k) CHECK(g.nodes[k].inputs == std::vector<std::uint32_t>{std::uint32_t(k)});
      CHECK(g.nodes[15].inputs == std::vector<std::uint32_t>{15});
      CHECK(g.nodes[16].inputs == std::vector<std::uint32_t>{15});
      CHECK(g.nodes[17].inputs == std::vector<std::uint32_t>{16});
      CHECK(g.nodes[18].inputs == std::vector<std::uint32_t>{17});
      const std::vector<std::pair<std::string, std::uint32_t>> outputs = {
          {"age_logits", 16}, {"gender_logits", 17}, {"age_probs", 18}, {"gender_probs", 19}};
      CHECK(g.outputs == outputs);
    }
}
