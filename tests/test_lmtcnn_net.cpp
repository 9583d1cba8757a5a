// LMTCNN network assembly: variant recognition, sizes, and errors for bad weights or inputs.
#include <doctest/doctest.h>

#include <string>

#include "test_util.hpp"

#include "lmtcnn/nets/lmtcnn.hpp"

using namespace lmtcnn;
using lmtcnn_test::has;
using lmtcnn_test::message_of;

namespace {

tensor_map<float> zero_weights(lmtcnn_variant v) {
  tensor_map<float> w;
  for (const tensor_spec& s : lmtcnn_net<float>::expected_tensors(v, batch_norm_mode::moving_average))
    w.emplace(s.name, tensor<float>(s.dims));
  return w;
}
}  // namespace

TEST_CASE("LMTCNN: the variant is recognised from the weights") {
  CHECK(lmtcnn_net<float>(zero_weights(lmtcnn_variant::v1_1)).variant() == lmtcnn_variant::v1_1);
  CHECK(lmtcnn_net<float>(zero_weights(lmtcnn_variant::v2_1)).name() == "LMTCNN-2-1");
  lmtcnn_options o;
  o.variant = lmtcnn_variant::v2_1;
  const std::string m = message_of([&] { lmtcnn_net<float>(zero_weights(lmtcnn_variant::v1_1), o); });
  CHECK(has(m, "expected LMTCNN-2-1"));
  CHECK(has(m, "[1,1,96,256]"));
}

TEST_CASE("LMTCNN: sizes match the published figures") {
  // parameters and multiply-accumulates at 227x227 as stated for the two variants
  CHECK(lmtcnn_net<float>::parameter_count(lmtcnn_variant::v1_1) == 7488426);
  CHECK(lmtcnn_net<float>::parameter_count(lmtcnn_variant::v2_1) == 7614634);
  CHECK(lmtcnn_net<float>::multiply_accumulates(lmtcnn_variant::v1_1) == 89865312);
  CHECK(lmtcnn_net<float>::multiply_accumulates(lmtcnn_variant::v2_1) == 127500384);
}

TEST_CASE("LMTCNN: missing, unexpected and mis-shaped weights are all named") {
  tensor_map<float> w = zero_weights(lmtcnn_variant::v2_1);
  w.erase("multitaskdpcnn/full2/biases");
  w["multitaskdpcnn/full1/weights"] = tensor<float>({13824, 511});
  w["multitaskdpcnn/conv1/weights/Adam"] = tensor<float>({7, 7, 3, 96});
  const std::string m = message_of([&] { lmtcnn_net<float> net(w); });
  CHECK(has(m, "missing tensor 'multitaskdpcnn/full2/biases' [512]"));
  CHECK(has(m, "'multitaskdpcnn/full1/weights' has shape [13824,511], expected [13824,512]"));
  CHECK(has(m, "unexpected tensor 'multitaskdpcnn/conv1/weights/Adam'"));

  // moving statistics are needed only in moving-average mode
  tensor_map<float> b = zero_weights(lmtcnn_variant::v1_1);
  b.erase("multitaskdpcnn/convdp2/pw_batch_norm/moving_variance");
  lmtcnn_options stats;
  stats.bn_mode = batch_norm_mode::batch_statistics;
  CHECK_NOTHROW(lmtcnn_net<float>(b, stats));
  lmtcnn_options moving;
  moving.bn_mode = batch_norm_mode::moving_average;
  CHECK(has(message_of([&] { lmtcnn_net<float>(b, moving); }),
            "missing tensor 'multitaskdpcnn/convdp2/pw_batch_norm/moving_variance' [384]"));
}

TEST_CASE("LMTCNN: an input of the wrong size names the layer and both shapes") {
  const lmtcnn_net<float> net(zero_weights(lmtcnn_variant::v1_1));
  const std::string m = message_of([&] { net.forward(tensor<float>({1, 224, 224, 3}).view()); });
  CHECK(has(m, "LMTCNN-1-1 layer 'input'"));
  CHECK(has(m, "[1,224,224,3]"));
  CHECK(has(m, "[n,227,227,3]"));
  CHECK(has(message_of([&] { net.forward(tensor<float>({227, 227, 3}).view()); }), "[227,227,3]"));
}
