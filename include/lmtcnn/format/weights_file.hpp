// lmtcnn weight files (.lmt): the reader (the writer, format/writer.hpp, comes with it). The format
// is specified in weights_tools/FORMAT.md. The reader checks every count, size and offset against the
// bytes it has before using it, verifies every checksum, and reports the first problem as a format_error naming
// the file, the section and the tensor or layer involved. A file is read once into 64-byte aligned
// memory; tensors are views into it.
#pragma once

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lmtcnn/format/common.hpp"
#include "lmtcnn/format/writer.hpp"

namespace lmtcnn {

/// A loaded, fully checked weight file. Move-only: its tensor entries point into its own buffer.
class weights_file {
 public:
  weights_file(weights_file&&) noexcept = default;
  weights_file& operator=(weights_file&&) noexcept = default;
  weights_file(const weights_file&) = delete;
  weights_file& operator=(const weights_file&) = delete;

  /// Reads and checks a file. Throws format_error (or error when the file cannot be opened).
  static weights_file load(const std::string& path) {
    std::error_code ec;
    const std::filesystem::file_status st = std::filesystem::status(path, ec);
    if (!ec && std::filesystem::is_directory(st)) throw error(path + ": is a directory, not a weight file");
    if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
      throw error(path + ": is not a regular file (a device, pipe or socket), not a weight file");
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

  /// infer_shapes of a graph (this file's, or one made from it) on this file's tensors, batch n.
  std::vector<shape> shapes_of(const graph& g, index_t n = 1) const {
    return infer_shapes(g, n, [&](const std::string& t, bool& found) {
      const tensor_entry* e = find(t);
      found = e != nullptr;
      return found ? e->dims : shape{};
    });
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
      shapes_of(graph_);
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

}  // namespace lmtcnn
