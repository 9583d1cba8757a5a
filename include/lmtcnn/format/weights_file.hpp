// lmtcnn weight files (.lmt): the reader and the writer. The format is specified in
// weights_tools/FORMAT.md. The reader checks every count, size and offset against the bytes it has
// before using it, verifies every checksum, and reports the first problem as a format_error naming
// the file, the section and the tensor or layer involved. A file is read once into 64-byte aligned
// memory; tensors are views into it.
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

/// A loaded, fully checked weight file. Move-only: its tensor entries point into its own buffer.
class weights_file {
 public:
  weights_file(weights_file&&) noexcept = default;
  weights_file& operator=(weights_file&&) noexcept = default;
  weights_file(const weights_file&) = delete;
  weights_file& operator=(const weights_file&) = delete;

  /// Reads and checks a file. Throws format_error (or error when the file cannot be opened).
  static weights_file load(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw error(path + ": cannot open weight file");
    const std::streamoff size = in.tellg();
    if (size < 0) throw error(path + ": cannot read weight file");
    weights_file f;
    f.buffer_ = tensor<unsigned char>({static_cast<index_t>(size)});
    in.seekg(0);
    if (size > 0 && !in.read(reinterpret_cast<char*>(f.buffer_.data()), size))
      throw error(path + ": cannot read weight file");
    f.parse(path);
    return f;
  }

  /// Checks bytes already in memory (copied into aligned storage); name is used in messages.
  static weights_file from_bytes(const void* data, std::size_t size, const std::string& name) {
    weights_file f;
    f.buffer_ = tensor<unsigned char>({static_cast<index_t>(size)});
    if (size) std::memcpy(f.buffer_.data(), data, size);
    f.parse(name);
    return f;
  }

  const std::string& file_name() const { return name_; }
  std::uint64_t file_bytes() const { return static_cast<std::uint64_t>(buffer_.size()); }
  const metadata& meta() const { return meta_; }
  const graph& net_graph() const { return graph_; }
  const std::vector<tensor_entry>& tensors() const { return tensors_; }
  const std::optional<self_test_spec>& self_test() const { return self_test_; }

  /// The entry of a tensor, or nullptr.
  const tensor_entry* find(const std::string& name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }

  /// A tensor's data; throws format_error when there is no such tensor.
  tensor_view<const float> view(const std::string& name) const {
    const tensor_entry* e = find(name);
    if (!e) throw format_error(name_ + ": no tensor '" + name + "'");
    return e->view();
  }

  /// Copies of the tensors the graph uses, as T.
  template <class T>
  tensor_map<T> graph_weights() const {
    tensor_map<T> m;
    for (const graph_node& n : graph_.nodes)
      for (const std::string& t : n.tensors)
        if (!t.empty() && !m.count(t)) {
          const tensor_entry& e = *find(t);
          tensor<T> c(e.dims);
          for (index_t i = 0; i < c.size(); ++i) c[i] = static_cast<T>(e.data[i]);
          m.emplace(t, std::move(c));
        }
    return m;
  }

 private:
  weights_file() = default;

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw format_error(name_ + ": " + where + ": " + what);
  }

  struct section {
    format::section_kind kind;
    std::uint64_t offset, bytes, checksum;
  };

  /// Checks the header; returns the section count and the section table's offset.
  std::pair<std::uint64_t, std::uint64_t> parse_header() const {
    using namespace format;
    const unsigned char* p = buffer_.data();
    const std::uint64_t size = static_cast<std::uint64_t>(buffer_.size());
    const std::uint32_t one = 1;
    unsigned char first = 0;
    std::memcpy(&first, &one, 1);
    if (first != 1) fail("header", "this reader runs on little-endian machines only");
    if (size < header_bytes)
      fail("header", "file is " + std::to_string(size) + " bytes, shorter than the 64-byte header (truncated?)");
    if (std::memcmp(p, magic, 8) != 0) fail("header", "not an lmtcnn weight file (bad magic)");
    const std::uint64_t bom = format::detail::read_le(p + 8, 4);
    if (bom == 0x04030201u) fail("header", "file is big-endian; this reader takes little-endian files");
    if (bom != byte_order_mark) fail("header", "corrupt byte-order mark");
    const std::uint64_t ver = format::detail::read_le(p + 12, 4);
    if (ver > version)
      fail("header", "format version " + std::to_string(ver) + " is newer than this reader's (" +
                         std::to_string(version) + ")");
    if (ver != version) fail("header", "unknown format version " + std::to_string(ver));
    if (format::detail::read_le(p + 56, 8) != hash64(p, 56) && format::checksums_checked) fail("header", "header checksum mismatch");
    if (format::detail::read_le(p + 16, 4) != header_bytes) fail("header", "header size is not 64");
    const std::uint64_t declared = format::detail::read_le(p + 24, 8);
    if (declared != size)
      fail("header", "header says the file is " + std::to_string(declared) + " bytes, but it is " +
                         std::to_string(size) + (size < declared ? " (truncated)" : " (trailing bytes)"));
    const std::uint64_t count = format::detail::read_le(p + 20, 4);
    const std::uint64_t table = format::detail::read_le(p + 32, 8);
    if (count < 4 || count > max_sections)
      fail("section table", "section count " + std::to_string(count) + " is out of range");
    if (table != header_bytes || table + count * section_entry_bytes > size)
      fail("section table", "table lies outside the file");
    if (format::detail::read_le(p + 40, 8) != hash64(p + table, count * section_entry_bytes) && format::checksums_checked)
      fail("section table", "checksum mismatch");
    return {count, table};

  }

  /// Reads and checks the section table: kinds, bounds, alignment, checksums, no overlaps, the
  /// four sections every file has.
  std::map<format::section_kind, section> parse_sections(std::uint64_t count, std::uint64_t table) const {
    using namespace format;
    const unsigned char* p = buffer_.data();
    const std::uint64_t size = static_cast<std::uint64_t>(buffer_.size());
    std::map<section_kind, section> sections;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (std::uint64_t i = 0; i < count; ++i) {
      const unsigned char* e = p + table + i * section_entry_bytes;
      const auto kind = static_cast<section_kind>(format::detail::read_le(e, 4));
      const section s{kind, format::detail::read_le(e + 8, 8), format::detail::read_le(e + 16, 8), format::detail::read_le(e + 24, 8)};
      const std::string where = "section table entry " + std::to_string(i);
      if (static_cast<std::uint32_t>(kind) < 1 || static_cast<std::uint32_t>(kind) > 5)
        fail(where, "unknown section kind " + std::to_string(static_cast<std::uint32_t>(kind)));
      if (sections.count(kind)) fail(where, std::string("second '") + to_string(kind) + "' section");
      if (s.offset < table + count * section_entry_bytes || s.offset > size || s.bytes > size - s.offset)
        fail(std::string("section '") + to_string(kind) + "'", "lies outside the file");
      if (s.offset % alignment) fail(std::string("section '") + to_string(kind) + "'", "is not 64-byte aligned");
      if (kind != section_kind::data && hash64(p + s.offset, s.bytes) != s.checksum && format::checksums_checked)
        fail(std::string("section '") + to_string(kind) + "'", "checksum mismatch");
      sections[kind] = s;
      ranges.emplace_back(s.offset, s.bytes);
    }
    std::sort(ranges.begin(), ranges.end());
    for (std::size_t i = 1; i < ranges.size(); ++i)
      if (ranges[i - 1].first + ranges[i - 1].second > ranges[i].first) fail("section table", "sections overlap");
    for (section_kind k : {section_kind::metadata, section_kind::tensors, section_kind::graph, section_kind::data})
      if (!sections.count(k)) fail("section table", std::string("no '") + to_string(k) + "' section");

    return sections;
  }

  void parse(const std::string& name) {
    using namespace format;
    name_ = name;
    const unsigned char* p = buffer_.data();
    const auto [count, table] = parse_header();
    const std::map<section_kind, section> sections = parse_sections(count, table);
    auto reader = [&](section_kind k) {
      const section& s = sections.at(k);
      return format::detail::byte_reader(p + s.offset, static_cast<std::size_t>(s.bytes), name_, to_string(k));
    };
    {
      format::detail::byte_reader r = reader(section_kind::metadata);
      parse_metadata(r);
    }
    {
      format::detail::byte_reader r = reader(section_kind::tensors);
      const section& d = sections.at(section_kind::data);
      parse_tensors(r, p + d.offset, d.bytes);
    }
    {
      format::detail::byte_reader r = reader(section_kind::graph);
      parse_graph(r);
    }
    if (sections.count(section_kind::self_test)) {
      format::detail::byte_reader r = reader(section_kind::self_test);
      parse_self_test(r);
    }
  }

  void parse_metadata(format::detail::byte_reader& r) {
    const std::uint32_t n = r.count("metadata count", 8);
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::string key = r.str("metadata key");
      if (meta_.count(key)) r.fail("metadata key '" + key + "' appears twice");
      const std::uint32_t type = r.u32("metadata type");
      meta_value v;
      switch (type) {
        case 1: v = meta_value::text(r.str("metadata text")); break;
        case 2: v = meta_value::integer(r.i64("metadata integer")); break;
        case 3: v = meta_value::real(r.f64("metadata real")); break;
        case 4: {
          const std::uint32_t c = r.count("metadata list length", 4);
          for (std::uint32_t j = 0; j < c; ++j) v.ss.push_back(r.str("metadata list item"));
          v.type = meta_value::kind::texts;
          break;
        }
        case 5: {
          const std::uint32_t c = r.count("metadata list length", 8);
          for (std::uint32_t j = 0; j < c; ++j) v.ds.push_back(r.f64("metadata list item"));
          v.type = meta_value::kind::reals;
          break;
        }
        default: r.fail("metadata key '" + key + "' has unknown type " + std::to_string(type));
      }
      meta_.emplace(key, std::move(v));
    }
    if (!r.at_end()) r.fail("bytes left after the last metadata entry");
  }

  void parse_tensors(format::detail::byte_reader& r, const unsigned char* data, std::uint64_t data_bytes) {
    using namespace format;
    const std::uint32_t n = r.count("tensor count", 36);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (std::uint32_t i = 0; i < n; ++i) {
      tensor_entry e;
      e.name = r.str("tensor name");
      const std::string where = "tensor '" + e.name + "'";
      if (e.name.empty()) r.fail("tensor " + std::to_string(i) + " has an empty name");
      if (index_.count(e.name)) r.fail(where + " appears twice");
      const std::uint32_t type = r.u32("tensor dtype");
      if (type != static_cast<std::uint32_t>(dtype::f32)) r.fail(where + ": unknown dtype " + std::to_string(type));
      const std::uint32_t rank = r.u32("tensor rank");
      if (rank > 4) r.fail(where + ": rank " + std::to_string(rank) + " is more than 4");
      std::vector<index_t> dims;
      std::uint64_t elements = 1;
      for (std::uint32_t k = 0; k < rank; ++k) {
        const std::uint64_t d = r.u64("tensor dimension");
        if (d > max_dim) r.fail(where + ": dimension " + std::to_string(d) + " is absurd");
        elements *= d;  // at most 4 factors below 2^32 each, checked step by step
        if (elements > max_tensor_elements) r.fail(where + ": too many elements");
        dims.push_back(static_cast<index_t>(d));
      }
      e.dims = shape(dims.begin(), dims.end());
      e.offset = r.u64("tensor offset");
      e.bytes = r.u64("tensor size");
      e.checksum = r.u64("tensor checksum");
      if (e.bytes != elements * 4)
        r.fail(where + ": size " + std::to_string(e.bytes) + " bytes does not match " + e.dims.str() + " float32");
      if (e.offset % alignment) r.fail(where + ": data is not 64-byte aligned");
      if (e.offset > data_bytes || e.bytes > data_bytes - e.offset) r.fail(where + ": data lies past the end of the file");
      if (hash64(data + e.offset, static_cast<std::size_t>(e.bytes)) != e.checksum && format::checksums_checked)
        r.fail(where + ": checksum mismatch");
      e.data = reinterpret_cast<const float*>(data + e.offset);
      ranges.emplace_back(e.offset, e.bytes);
      index_.emplace(e.name, tensors_.size());
      tensors_.push_back(std::move(e));
    }
    if (!r.at_end()) r.fail("bytes left after the last tensor entry");
    std::sort(ranges.begin(), ranges.end());
    for (std::size_t i = 1; i < ranges.size(); ++i)
      if (ranges[i - 1].first + ranges[i - 1].second > ranges[i].first) r.fail("tensor data ranges overlap");
  }

  void parse_graph(format::detail::byte_reader& r) {
    graph_.input_name = r.str("input name");
    const std::uint32_t rank = r.u32("input rank");
    if (rank != 3) r.fail("input '" + graph_.input_name + "' has rank " + std::to_string(rank) + ", expected 3");
    std::vector<index_t> dims;
    for (int k = 0; k < 3; ++k) {
      const std::uint64_t d = r.u64("input dimension");
      if (d < 1 || d > 65536) r.fail("input dimension " + std::to_string(d) + " is out of range");
      dims.push_back(static_cast<index_t>(d));
    }
    graph_.input_dims = shape(dims.begin(), dims.end());
    const std::uint32_t n = r.count("layer count", 24);
    for (std::uint32_t i = 0; i < n; ++i) {
      graph_node node;
      node.name = r.str("layer name");
      const std::string where = "layer '" + node.name + "'";
      const std::uint32_t op = r.u32("layer op");
      node.op = static_cast<op_kind>(op);
      if (!is_known(node.op)) r.fail(where + ": unknown op " + std::to_string(op));
      const std::uint32_t ni = r.count("layer input count", 4);
      for (std::uint32_t k = 0; k < ni; ++k) node.inputs.push_back(r.u32("layer input"));
      const std::uint32_t nt = r.count("layer tensor count", 4);
      for (std::uint32_t k = 0; k < nt; ++k) {
        const std::int32_t t = r.i32("layer tensor index");
        if (t == -1) {
          node.tensors.emplace_back();
          continue;
        }
        if (t < 0 || static_cast<std::size_t>(t) >= tensors_.size())
          r.fail(where + " refers to tensor " + std::to_string(t) + ", which is not there");
        node.tensors.push_back(tensors_[static_cast<std::size_t>(t)].name);
      }
      const std::uint32_t nint = r.count("layer integer count", 8);
      for (std::uint32_t k = 0; k < nint; ++k) node.ints.push_back(r.i64("layer integer"));
      const std::uint32_t nf = r.count("layer float count", 8);
      for (std::uint32_t k = 0; k < nf; ++k) node.floats.push_back(r.f64("layer float"));
      graph_.nodes.push_back(std::move(node));
    }
    const std::uint32_t no = r.count("output count", 8);
    for (std::uint32_t i = 0; i < no; ++i) {
      std::string name = r.str("output name");
      graph_.outputs.emplace_back(std::move(name), r.u32("output value"));
    }
    if (!r.at_end()) r.fail("bytes left after the outputs");
    try {
      infer_shapes(graph_, 1, [&](const std::string& t, bool& found) {
        const tensor_entry* e = find(t);
        found = e != nullptr;
        return found ? e->dims : shape{};
      });
    } catch (const shape_error& e) {
      r.fail(e.what());
    }
  }

  void parse_self_test(format::detail::byte_reader& r) {
    self_test_spec s;
    s.input_tensor = r.str("self-test input");
    if (!find(s.input_tensor)) r.fail("self-test input tensor '" + s.input_tensor + "' is not there");
    const std::uint32_t n = r.count("self-test output count", 8);
    for (std::uint32_t i = 0; i < n; ++i) {
      std::string out = r.str("self-test output");
      std::string t = r.str("self-test expected tensor");
      if (!find(t)) r.fail("self-test tensor '" + t + "' is not there");
      bool known = false;
      for (const auto& o : graph_.outputs) known = known || o.first == out;
      if (!known) r.fail("self-test output '" + out + "' is not an output of the graph");
      s.outputs.emplace_back(std::move(out), std::move(t));
    }
    s.abs_tolerance = r.f64("self-test absolute tolerance");
    s.rel_tolerance = r.f64("self-test relative tolerance");
    if (!(s.abs_tolerance >= 0) || !(s.rel_tolerance >= 0)) r.fail("self-test tolerances must not be negative");
    s.origin = r.str("self-test origin");
    if (!r.at_end()) r.fail("bytes left after the self-test");
    self_test_ = std::move(s);
  }

  std::string name_;
  tensor<unsigned char> buffer_;
  metadata meta_;
  std::vector<tensor_entry> tensors_;
  std::map<std::string, std::size_t> index_;
  graph graph_;
  std::optional<self_test_spec> self_test_;
};

namespace format {
namespace detail {

inline std::vector<unsigned char> metadata_section(const metadata& meta) {
  byte_writer m;
  m.u32(static_cast<std::uint32_t>(meta.size()));
  for (const auto& [key, v] : meta) {
    m.str(key);
    m.u32(static_cast<std::uint32_t>(v.type));
    switch (v.type) {
      case meta_value::kind::text: m.str(v.s); break;
      case meta_value::kind::integer: m.i64(v.i); break;
      case meta_value::kind::real: m.f64(v.d); break;
      case meta_value::kind::texts:
        m.u32(static_cast<std::uint32_t>(v.ss.size()));
        for (const std::string& s : v.ss) m.str(s);
        break;
      case meta_value::kind::reals:
        m.u32(static_cast<std::uint32_t>(v.ds.size()));
        for (double d : v.ds) m.f64(d);
        break;
    }
  }
  return std::move(m.bytes);
}

/// The tensor table and the data section: each tensor 64-byte aligned, with its checksum.
inline void tensor_sections(const tensor_map<float>& tensors, byte_writer& table, byte_writer& data) {
  table.u32(static_cast<std::uint32_t>(tensors.size()));
  for (const auto& [name, t] : tensors) {
    data.pad_to(alignment);
    const std::size_t offset = data.bytes.size();
    const std::size_t bytes = static_cast<std::size_t>(t.size()) * sizeof(float);
    for (index_t i = 0; i < t.size(); ++i) {
      std::uint32_t b;
      std::memcpy(&b, &t[i], 4);
      data.u32(b);
    }
    table.str(name);
    table.u32(static_cast<std::uint32_t>(dtype::f32));
    table.u32(static_cast<std::uint32_t>(t.rank()));
    for (int k = 0; k < t.rank(); ++k) table.u64(static_cast<std::uint64_t>(t.dim(k)));
    table.u64(offset);
    table.u64(bytes);
    table.u64(hash64(data.bytes.data() + offset, bytes));
  }
}

/// The graph section; tensors are referred to by their index in name order (-1: absent).
inline std::vector<unsigned char> graph_section(const graph& g, const tensor_map<float>& tensors) {
  std::map<std::string, std::int32_t> index;
  for (const auto& [name, t] : tensors) index.emplace(name, static_cast<std::int32_t>(index.size()));
  byte_writer gr;
  gr.str(g.input_name);
  gr.u32(static_cast<std::uint32_t>(g.input_dims.rank()));
  for (index_t d : g.input_dims) gr.u64(static_cast<std::uint64_t>(d));
  gr.u32(static_cast<std::uint32_t>(g.nodes.size()));
  for (const graph_node& n : g.nodes) {
    gr.str(n.name);
    gr.u32(static_cast<std::uint32_t>(n.op));
    gr.u32(static_cast<std::uint32_t>(n.inputs.size()));
    for (std::uint32_t id : n.inputs) gr.u32(id);
    gr.u32(static_cast<std::uint32_t>(n.tensors.size()));
    for (const std::string& t : n.tensors) {
      if (t.empty()) {
        gr.i32(-1);
        continue;
      }
      const auto it = index.find(t);
      if (it == index.end()) throw format_error("layer '" + n.name + "' refers to tensor '" + t + "', which is not given");
      gr.i32(it->second);
    }
    gr.u32(static_cast<std::uint32_t>(n.ints.size()));
    for (std::int64_t v : n.ints) gr.i64(v);
    gr.u32(static_cast<std::uint32_t>(n.floats.size()));
    for (double v : n.floats) gr.f64(v);
  }
  gr.u32(static_cast<std::uint32_t>(g.outputs.size()));
  for (const auto& [name, id] : g.outputs) {
    gr.str(name);
    gr.u32(id);
  }
  return std::move(gr.bytes);
}

inline std::vector<unsigned char> self_test_section(const self_test_spec& self_test) {
  byte_writer st;
  st.str(self_test.input_tensor);
  st.u32(static_cast<std::uint32_t>(self_test.outputs.size()));
  for (const auto& [out, t] : self_test.outputs) {
    st.str(out);
    st.str(t);
  }
  st.f64(self_test.abs_tolerance);
  st.f64(self_test.rel_tolerance);
  st.str(self_test.origin);
  return std::move(st.bytes);
}

/// The file: header, section table, then each section on a 64-byte boundary.
inline std::vector<unsigned char> assemble_file(
    const std::vector<std::pair<section_kind, const std::vector<unsigned char>*>>& sections) {
  const std::size_t count = sections.size();
  std::vector<std::uint64_t> offsets;
  std::size_t pos = header_bytes + count * section_entry_bytes;
  for (const auto& s : sections) {
    pos = (pos + alignment - 1) / alignment * alignment;
    offsets.push_back(pos);
    pos += s.second->size();
  }
  std::vector<unsigned char> file(pos, 0);
  byte_writer sec;
  for (std::size_t i = 0; i < count; ++i) {
    const auto& [kind, bytes] = sections[i];
    sec.u32(static_cast<std::uint32_t>(kind));
    sec.u32(0);
    sec.u64(offsets[i]);
    sec.u64(bytes->size());
    sec.u64(kind == section_kind::data ? 0 : hash64(bytes->data(), bytes->size()));
    if (!bytes->empty()) std::memcpy(file.data() + offsets[i], bytes->data(), bytes->size());
  }
  std::memcpy(file.data() + header_bytes, sec.bytes.data(), sec.bytes.size());
  byte_writer h;
  h.bytes.assign(magic, magic + 8);
  h.u32(byte_order_mark);
  h.u32(version);
  h.u32(static_cast<std::uint32_t>(header_bytes));
  h.u32(static_cast<std::uint32_t>(count));
  h.u64(file.size());
  h.u64(header_bytes);
  h.u64(hash64(sec.bytes.data(), sec.bytes.size()));
  h.u64(0);
  h.u64(hash64(h.bytes.data(), 56));
  std::memcpy(file.data(), h.bytes.data(), header_bytes);
  return file;
}

}  // namespace detail
}  // namespace format

/// The bytes of a weight file holding the given metadata, graph, tensors and optional self-test.
/// Tensors are written in name order; the graph refers to them by index.
inline std::vector<unsigned char> serialize_weights(const metadata& meta, const graph& g,
                                                    const tensor_map<float>& tensors,
                                                    const std::optional<self_test_spec>& self_test = {}) {
  using namespace format::detail;
  const std::vector<unsigned char> m = metadata_section(meta);
  byte_writer table, data;
  tensor_sections(tensors, table, data);
  const std::vector<unsigned char> gr = graph_section(g, tensors);
  std::vector<std::pair<format::section_kind, const std::vector<unsigned char>*>> sections = {
      {format::section_kind::metadata, &m}, {format::section_kind::tensors, &table.bytes}, {format::section_kind::graph, &gr}};
  std::vector<unsigned char> st;
  if (self_test) {
    st = self_test_section(*self_test);
    sections.emplace_back(format::section_kind::self_test, &st);
  }
  sections.emplace_back(format::section_kind::data, &data.bytes);
  return assemble_file(sections);
}

/// Writes a weight file; throws error when the file cannot be written.
inline void write_weights_file(const std::string& path, const metadata& meta, const graph& g,
                               const tensor_map<float>& tensors, const std::optional<self_test_spec>& self_test = {}) {
  const std::vector<unsigned char> bytes = serialize_weights(meta, g, tensors, self_test);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw error(path + ": cannot create file");
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw error(path + ": cannot write file");
}

/// The network family a file's metadata names ("lmtcnn", "faceapi_age_gender", ...; "" when none).
inline std::string network_family(const metadata& meta) {
  const auto it = meta.find("network.family");
  return it == meta.end() ? std::string() : it->second.s;
}

/// Throws format_error unless the file holds the given family; `what` describes it for the message.
inline void require_family(const metadata& meta, const std::string& path, const std::string& family,
                           const std::string& what) {
  const std::string got = network_family(meta);
  if (got != family)
    throw format_error(path + ": not " + what + " file (network.family is " +
                       (got.empty() ? std::string("missing") : "'" + got + "'") + ")");
}

}  // namespace lmtcnn
