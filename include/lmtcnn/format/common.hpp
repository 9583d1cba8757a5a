// lmtcnn weight files: what the reader and the writer share (the layout's constants, metadata,
// the self-test description, tensor entries, byte readers and writers). The layout is specified in
// weights_tools/FORMAT.md.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lmtcnn/core/bytes.hpp"
#include "lmtcnn/core/error.hpp"
#include "lmtcnn/format/hash.hpp"
#include "lmtcnn/graph/graph.hpp"
#include "lmtcnn/core/tensor.hpp"

namespace lmtcnn {

/// A weight file that cannot be used: what() names the file, the section and the tensor or layer.
class format_error : public error {
 public:
  explicit format_error(const std::string& what) : error(what) {}
};

namespace format {

inline constexpr char magic[8] = {'L', 'M', 'T', 'C', 'N', 'N', 'W', 'F'};
inline constexpr std::uint32_t byte_order_mark = 0x01020304u;
inline constexpr std::uint32_t version = 1;
inline constexpr std::size_t header_bytes = 64;
inline constexpr std::size_t section_entry_bytes = 32;
inline constexpr std::size_t alignment = 64;

enum class section_kind : std::uint32_t { metadata = 1, tensors = 2, graph = 3, data = 4, self_test = 5 };

inline const char* to_string(section_kind k) {
  switch (k) {
    case section_kind::metadata: return "metadata";
    case section_kind::tensors: return "tensors";
    case section_kind::graph: return "graph";
    case section_kind::data: return "data";
    case section_kind::self_test: return "self_test";
  }
  return "unknown";
}

/// Limits the reader enforces (a file beyond them is refused, not allocated for).
inline constexpr std::uint32_t max_sections = 16;
inline constexpr std::uint32_t max_string_bytes = 1u << 16;
inline constexpr std::uint32_t max_entries = 1u << 20;  // metadata keys, tensors, nodes, list items
inline constexpr std::uint64_t max_dim = 1ull << 32;
inline constexpr std::uint64_t max_tensor_elements = 1ull << 34;

/// Whether the reader verifies checksums: always, except in fuzzing builds (libFuzzer's
/// FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION), so mutated files reach the checks behind them.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
inline constexpr bool checksums_checked = false;
#else
inline constexpr bool checksums_checked = true;
#endif

enum class dtype : std::uint32_t { f32 = 1 };

}  // namespace format

/// A typed metadata value.
struct meta_value {
  enum class kind : std::uint32_t { text = 1, integer = 2, real = 3, texts = 4, reals = 5 };
  kind type = kind::text;
  std::string s;
  std::int64_t i = 0;
  double d = 0;
  std::vector<std::string> ss;
  std::vector<double> ds;

  static meta_value text(std::string v) {
    meta_value m;
    m.type = kind::text;
    m.s = std::move(v);
    return m;
  }
  static meta_value integer(std::int64_t v) {
    meta_value m;
    m.type = kind::integer;
    m.i = v;
    return m;
  }
  static meta_value real(double v) {
    meta_value m;
    m.type = kind::real;
    m.d = v;
    return m;
  }
  static meta_value texts(std::vector<std::string> v) {
    meta_value m;
    m.type = kind::texts;
    m.ss = std::move(v);
    return m;
  }
  static meta_value reals(std::vector<double> v) {
    meta_value m;
    m.type = kind::reals;
    m.ds = std::move(v);
    return m;
  }
};

using metadata = std::map<std::string, meta_value>;

/// The self-test a file may carry: an input and the outputs it must give.
struct self_test_spec {
  std::string input_tensor;                                  ///< tensor holding the input [n,h,w,c]
  std::vector<std::pair<std::string, std::string>> outputs;  ///< graph output name, tensor with its expected value
  double abs_tolerance = 1e-4;
  double rel_tolerance = 1e-4;
  std::string origin;  ///< where the expected values came from
};

/// One entry of a file's tensor table.
struct tensor_entry {
  std::string name;
  shape dims;
  std::uint64_t offset = 0;  ///< from the start of the data section
  std::uint64_t bytes = 0;
  std::uint64_t checksum = 0;
  const float* data = nullptr;
  tensor_view<const float> view() const { return {data, dims}; }
};

namespace format {
namespace detail {

/// Appends little-endian values.
class byte_writer {
 public:
  void u32(std::uint32_t v) { le(v, 4); }
  void u64(std::uint64_t v) { le(v, 8); }
  void i32(std::int32_t v) { u32(static_cast<std::uint32_t>(v)); }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void f64(double v) {
    std::uint64_t b;
    std::memcpy(&b, &v, 8);
    u64(b);
  }
  void str(const std::string& s) {
    if (s.size() > max_string_bytes) throw error("string of " + std::to_string(s.size()) + " bytes is too long");
    u32(static_cast<std::uint32_t>(s.size()));
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  void pad_to(std::size_t a) {
    while (bytes.size() % a) bytes.push_back(0);
  }
  std::vector<unsigned char> bytes;

 private:
  void le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes.push_back(static_cast<unsigned char>(v >> (8 * i)));
  }
};

/// Reads little-endian values from a range, checking every read against its end.
class byte_reader {
 public:
  byte_reader(const unsigned char* p, std::size_t n, std::string file, std::string section)
      : p_(p), n_(n), file_(std::move(file)), section_(std::move(section)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw format_error(file_ + ": section '" + section_ + "': " + what);
  }
  std::uint64_t le(int bytes, const char* what) {
    if (n_ - pos_ < static_cast<std::size_t>(bytes))
      fail(std::string("truncated: ") + what + " runs past the end of the section");
    const std::uint64_t v = lmtcnn::detail::load_le(p_ + pos_, bytes);
    pos_ += static_cast<std::size_t>(bytes);
    return v;
  }
  std::uint32_t u32(const char* what) { return static_cast<std::uint32_t>(le(4, what)); }
  std::uint64_t u64(const char* what) { return le(8, what); }
  std::int32_t i32(const char* what) { return static_cast<std::int32_t>(u32(what)); }
  std::int64_t i64(const char* what) { return static_cast<std::int64_t>(u64(what)); }
  double f64(const char* what) {
    const std::uint64_t b = u64(what);
    double v;
    std::memcpy(&v, &b, 8);
    return v;
  }
  std::string str(const char* what) {
    const std::uint32_t len = u32(what);
    if (len > max_string_bytes) fail(std::string(what) + " claims " + std::to_string(len) + " bytes");
    if (n_ - pos_ < len) fail(std::string("truncated: ") + what + " runs past the end of the section");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return s;
  }
  /// A count of items each at least min_item_bytes long, checked against what is left.
  std::uint32_t count(const char* what, std::size_t min_item_bytes) {
    const std::uint32_t c = u32(what);
    if (c > max_entries || static_cast<std::uint64_t>(c) * min_item_bytes > n_ - pos_)
      fail(std::string(what) + " " + std::to_string(c) + " is more than the section can hold");
    return c;
  }
  bool at_end() const { return pos_ == n_; }
  const std::string& section() const { return section_; }

 private:
  const unsigned char* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
  std::string file_, section_;
};

inline std::uint64_t read_le(const unsigned char* p, int bytes) { return lmtcnn::detail::load_le(p, bytes); }

}  // namespace detail
}  // namespace format

/// The network family a file's metadata names ("lmtcnn", "faceapi_age_gender", ...; "" when none).
inline std::string network_family(const metadata& meta) {
  const auto it = meta.find("network.family");
  return it == meta.end() ? std::string() : it->second.s;
}

namespace detail {
/// Throws format_error unless the file holds the given family; `what` describes it for the message.
inline void require_family(const metadata& meta, const std::string& path, const std::string& family,
                           const std::string& what) {
  const std::string got = network_family(meta);
  if (got != family)
    throw format_error(path + ": not " + what + " file (network.family is " +
                       (got.empty() ? std::string("missing") : "'" + got + "'") + ")");
}
}  // namespace detail

}  // namespace lmtcnn
