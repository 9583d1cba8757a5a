// lmtcnn: shapes, owning NHWC tensors on 64-byte aligned storage, and strided views.
//
// Layout conventions used everywhere in lmtcnn:
//   activations  NHWC            [batch, height, width, channels]
//   conv filter  [kh, kw, cin, cout]      (TensorFlow HWIO)
//   depthwise    [kh, kw, c, 1]           (TensorFlow, channel multiplier 1)
//   dense        [in, out]
// Strides are counted in elements, not bytes.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "lmtcnn/core/error.hpp"

namespace lmtcnn {

using index_t = std::int64_t;

/// Largest rank a shape can have (NHWC activations and HWIO filters need 4).
inline constexpr int max_rank = 4;
/// Every tensor's storage starts on this boundary (one cache line, one AVX-512 register).
inline constexpr std::size_t tensor_alignment = 64;
/// Zeroed bytes that follow every tensor's data, so vector loads may run past the last element.
inline constexpr std::size_t tensor_slack_bytes = 64;

/// Dimensions of a tensor, rank 0 to 4. A rank-0 shape is a scalar (one element).
class shape {
 public:
  shape() = default;
  shape(std::initializer_list<index_t> dims) { assign(dims.begin(), dims.end()); }
  template <class It>
  shape(It first, It last) {
    assign(first, last);
  }

  int rank() const { return rank_; }
  index_t operator[](int i) const { return dims_[static_cast<std::size_t>(i)]; }
  const index_t* begin() const { return dims_.data(); }
  const index_t* end() const { return dims_.data() + rank_; }

  /// Product of the dimensions; throws shape_error if it does not fit in index_t.
  index_t elements() const {
    index_t n = 1;
    for (int i = 0; i < rank_; ++i) {
      if (dims_[i] != 0 && n > std::numeric_limits<index_t>::max() / dims_[i])
        throw shape_error("shape " + str() + " has too many elements");
      n *= dims_[i];
    }
    return n;
  }

  /// "[1,227,227,3]"
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ',';
      s += std::to_string(dims_[i]);
    }
    return s + "]";
  }

  friend bool operator==(const shape& a, const shape& b) {
    return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const shape& a, const shape& b) { return !(a == b); }

 private:
  template <class It>
  void assign(It first, It last) {
    rank_ = 0;
    for (; first != last; ++first) {
      if (rank_ == max_rank) throw shape_error("shape has more than 4 dimensions");
      const auto d = static_cast<index_t>(*first);
      if (d < 0) throw shape_error("shape has a negative dimension");
      dims_[static_cast<std::size_t>(rank_++)] = d;
    }
  }

  int rank_ = 0;
  std::array<index_t, max_rank> dims_{};
};

using strides_t = std::array<index_t, max_rank>;

namespace detail {
/// Row-major (last dimension fastest) strides of a contiguous tensor of shape s.
inline strides_t contiguous_strides(const shape& s) {
  strides_t st{};
  index_t acc = 1;
  for (int i = s.rank() - 1; i >= 0; --i) {
    st[static_cast<std::size_t>(i)] = acc;
    acc *= s[i];
  }
  return st;
}
}  // namespace detail

/// A non-owning view: pointer, shape and strides (in elements). T may be const.
template <class T>
class tensor_view {
 public:
  using value_type = T;

  tensor_view() = default;
  tensor_view(T* data, const lmtcnn::shape& s) : data_(data), shape_(s), strides_(detail::contiguous_strides(s)) {}
  tensor_view(T* data, const lmtcnn::shape& s, const strides_t& st) : data_(data), shape_(s), strides_(st) {}
  /// A view of mutable data converts to a view of const data.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  tensor_view(const tensor_view<U>& o) : data_(o.data()), shape_(o.shape()), strides_(o.strides()) {}

  T* data() const { return data_; }
  const lmtcnn::shape& shape() const { return shape_; }
  const strides_t& strides() const { return strides_; }
  index_t dim(int i) const { return shape_[i]; }
  index_t stride(int i) const { return strides_[static_cast<std::size_t>(i)]; }
  int rank() const { return shape_.rank(); }
  index_t size() const { return shape_.elements(); }
  /// True for a default-constructed view (an absent optional operand).
  bool empty() const { return data_ == nullptr; }

  bool is_contiguous() const { return strides_ == detail::contiguous_strides(shape_) || size() <= 1; }

  /// Element at the given indices (one per dimension).
  template <class... I>
  T& operator()(I... idx) const {
    static_assert(sizeof...(I) <= max_rank, "too many indices");
    const index_t ix[] = {static_cast<index_t>(idx)...};
    index_t off = 0;
    for (std::size_t i = 0; i < sizeof...(I); ++i) off += ix[i] * strides_[i];
    return data_[off];
  }

 private:
  T* data_ = nullptr;
  lmtcnn::shape shape_;
  strides_t strides_{};
};

/// Owning, contiguous, zero-initialised tensor on 64-byte aligned storage with
/// tensor_slack_bytes of zeroed slack after the last element.
template <class T>
class tensor {
  static_assert(std::is_trivially_copyable_v<T>, "tensor holds plain numbers");

 public:
  using value_type = T;

  tensor() = default;
  explicit tensor(const lmtcnn::shape& s) : shape_(s) { allocate(); }
  /// Shape plus all values in row-major order (mainly for small hand-written cases).
  tensor(const lmtcnn::shape& s, std::initializer_list<T> values) : shape_(s) {
    if (static_cast<index_t>(values.size()) != size())
      throw shape_error("tensor " + s.str() + " needs " + std::to_string(size()) + " values, got " +
                        std::to_string(values.size()));
    allocate();
    std::copy(values.begin(), values.end(), data());
  }
  tensor(const tensor& o) : shape_(o.shape_) {
    allocate();
    if (size()) std::memcpy(data(), o.data(), static_cast<std::size_t>(size()) * sizeof(T));
  }
  tensor& operator=(const tensor& o) {
    if (this != &o) *this = tensor(o);
    return *this;
  }
  tensor(tensor&&) noexcept = default;
  tensor& operator=(tensor&&) noexcept = default;

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  const lmtcnn::shape& shape() const { return shape_; }
  index_t dim(int i) const { return shape_[i]; }
  int rank() const { return shape_.rank(); }
  index_t size() const { return shape_.rank() == 0 && !data_ ? 0 : shape_.elements(); }
  bool empty() const { return !data_; }

  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }

  T& operator[](index_t i) { return data()[i]; }
  const T& operator[](index_t i) const { return data()[i]; }
  template <class... I>
  T& operator()(I... idx) {
    return view()(idx...);
  }
  template <class... I>
  const T& operator()(I... idx) const {
    return view()(idx...);
  }

  tensor_view<T> view() { return {data(), shape_}; }
  tensor_view<const T> view() const { return {data(), shape_}; }
  tensor_view<const T> cview() const { return {data(), shape_}; }

  /// Same data, new dimensions with the same element count (e.g. flatten).
  void reshape(const lmtcnn::shape& s) {
    if (s.elements() != shape_.elements())
      throw shape_error("cannot reshape " + shape_.str() + " to " + s.str());
    shape_ = s;
  }

 private:
  struct aligned_delete {
    void operator()(T* p) const { ::operator delete(static_cast<void*>(p), std::align_val_t{tensor_alignment}); }
  };

  void allocate() {
    const index_t n = shape_.elements();
    const std::size_t max_bytes = std::numeric_limits<std::size_t>::max() / 2;
    if (static_cast<std::size_t>(n) > (max_bytes - 2 * tensor_alignment) / sizeof(T))
      throw error("tensor " + shape_.str() + " is too large to allocate");
    const std::size_t data_bytes = static_cast<std::size_t>(n) * sizeof(T);
    const std::size_t bytes = (data_bytes + tensor_alignment - 1) / tensor_alignment * tensor_alignment +
                              tensor_slack_bytes;
    void* p = nullptr;
    try {
      p = ::operator new(bytes, std::align_val_t{tensor_alignment});
    } catch (const std::bad_alloc&) {
      throw error("out of memory allocating tensor " + shape_.str() + " (" + std::to_string(bytes) + " bytes)");
    }
    std::memset(p, 0, bytes);
    data_.reset(static_cast<T*>(p));
  }

  std::unique_ptr<T, aligned_delete> data_;
  lmtcnn::shape shape_;
};

/// Named tensors, e.g. a network's weights under their original TensorFlow names.
template <class T>
using tensor_map = std::map<std::string, tensor<T>>;

}  // namespace lmtcnn
