// Shapes, owning tensors and strided views.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

#include "lmtcnn/core/tensor.hpp"

using lmtcnn::index_t;
using lmtcnn::shape;
using lmtcnn::tensor;
using lmtcnn::tensor_view;

TEST_CASE("shape: rank, elements, text") {
  const shape s{1, 227, 227, 3};
  CHECK(s.rank() == 4);
  CHECK(s[1] == 227);
  CHECK(s.elements() == 227 * 227 * 3);
  CHECK(s.str() == "[1,227,227,3]");
  CHECK(shape{}.elements() == 1);  // a scalar
  CHECK(shape{4, 0, 2}.elements() == 0);
  CHECK(shape{2, 3} == shape{2, 3});
  CHECK(shape{2, 3} != shape{3, 2});
  CHECK(shape{2, 3} != shape{2, 3, 1});
}

TEST_CASE("shape: bad dimensions are refused") {
  CHECK_THROWS_AS(shape({1, -2}), lmtcnn::shape_error);
  CHECK_THROWS_AS(shape({1, 2, 3, 4, 5}), lmtcnn::shape_error);
  const index_t big = index_t(1) << 40;
  CHECK_THROWS_WITH_AS(shape({big, big}).elements(), doctest::Contains("too many elements"), lmtcnn::shape_error);
}

TEST_CASE("tensor: aligned, zeroed, with zeroed slack after the end") {
  for (index_t n : {1, 3, 15, 16, 17, 1000}) {
    tensor<float> t({n});
    const auto addr = reinterpret_cast<std::uintptr_t>(t.data());
    CHECK(addr % lmtcnn::tensor_alignment == 0);
    // Every byte up to the slack's end is readable and zero.
    const auto* bytes = reinterpret_cast<const unsigned char*>(t.data());
    const std::size_t readable = static_cast<std::size_t>(n) * sizeof(float) + lmtcnn::tensor_slack_bytes;
    unsigned nonzero = 0;
    for (std::size_t i = 0; i < readable; ++i) nonzero += bytes[i] != 0;
    CHECK(nonzero == 0);
  }
}

TEST_CASE("tensor: indexing is row-major NHWC; copies are deep; reshape keeps the data") {
  tensor<int> t({2, 3, 4, 5});
  for (index_t i = 0; i < t.size(); ++i) t[i] = static_cast<int>(i);
  CHECK(t(1, 2, 3, 4) == 119);
  CHECK(t(1, 0, 0, 0) == 60);
  CHECK(t(0, 1, 0, 0) == 20);
  CHECK(t(0, 0, 1, 0) == 5);
  tensor<int> c = t;
  c[0] = 42;
  CHECK(t[0] == 0);
  CHECK(c.data() != t.data());
  t.reshape({2, 60});
  CHECK(t(1, 59) == 119);
  CHECK_THROWS_AS(t.reshape({7, 7}), lmtcnn::shape_error);
  CHECK_THROWS_AS(tensor<int>({2}, {1, 2, 3}), lmtcnn::shape_error);
}

TEST_CASE("tensor: impossible sizes give an error, not a crash") {
  const index_t big = std::numeric_limits<index_t>::max() / 4;
  CHECK_THROWS_AS(tensor<float>({big}), lmtcnn::error);
}

TEST_CASE("tensor_view: strides select a window of a larger tensor") {
  tensor<float> t({1, 4, 5, 2});
  for (index_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i);
  const tensor_view<float> full = t.view();
  CHECK(full.is_contiguous());
  CHECK(full.strides()[0] == 40);
  CHECK(full.strides()[3] == 1);
  // rows 1..2, columns 2..4 of the image
  tensor_view<float> crop(&full(0, 1, 2, 0), {1, 2, 3, 2}, full.strides());
  CHECK_FALSE(crop.is_contiguous());
  CHECK(crop(0, 0, 0, 0) == t(0, 1, 2, 0));
  CHECK(crop(0, 1, 2, 1) == t(0, 2, 4, 1));
  crop(0, 1, 1, 0) = -1.f;
  CHECK(t(0, 2, 3, 0) == -1.f);
  const tensor_view<const float> ro = crop;  // mutable view converts to read-only
  CHECK(ro(0, 1, 1, 0) == -1.f);
  CHECK(tensor_view<const float>().empty());
}
