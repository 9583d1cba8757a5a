// lmtcnn weight files: the writer (serialize_weights, write_weights_file).
#pragma once

#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lmtcnn/format/common.hpp"

namespace lmtcnn {

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

}  // namespace lmtcnn
