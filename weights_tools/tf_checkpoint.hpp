// lmtcnn-convert's reader of TensorFlow 1.x checkpoints (the tensor-bundle format, V2): the float
// tensors a checkpoint holds, by variable name.
//
// A checkpoint is a prefix P: P.index, a sorted key/value table in LevelDB's table layout, and the
// data shards P.data-00000-of-0000N. The table: data blocks, a metaindex block and an index block,
// then a 48-byte footer (two block handles, zero padding, the magic number 0xdb4775248b80fb57). A block
// holds prefix-compressed entries (varint32 shared, unshared and value lengths, the unshared key
// bytes, the value) and an array of restart offsets (u32 each, then their u32 count); after each block a
// type byte (0 uncompressed, 1 Snappy) and the masked CRC-32C of the block and type byte. The key ""
// holds the BundleHeaderProto (num_shards 1, endianness 2: 0 little, 1 big); every other key is a
// variable name whose value is a BundleEntryProto (dtype 1, shape 2, shard_id 3, offset 4, size 5,
// crc32c 6 (fixed32, masked CRC-32C of the tensor's bytes), slices 7). Protocol buffers are read field
// by field (varints, fixed32, fixed64, length-delimited); no protobuf library is needed.
//
// read_frozen_graph_bytes reads the Const nodes of a frozen GraphDef (.pb) with the same field reader.
//
// Every length, offset and count is checked against the bytes there are; keys must rise strictly;
// every block CRC and tensor CRC is checked. float32 tensors are kept; other dtypes (the int64 step
// counter) are skipped. Sliced (partitioned) variables and big-endian bundles are refused.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <cstdio>
#include <cstring>
#include <vector>

#include "readers.hpp"

namespace lmtcnn_tools {
namespace tfckpt {

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of n bytes, continuing from crc.
inline std::uint32_t crc32c(const unsigned char* p, std::size_t n, std::uint32_t crc = 0) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

/// The masking LevelDB and TensorFlow store CRCs with.
inline std::uint32_t mask_crc(std::uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

/// Bounds-checked reading of bytes [pos, end); errors name `where`.
struct cursor {
  const unsigned char* p;
  std::size_t pos, end;
  std::string where;

  bool done() const { return pos >= end; }
  [[noreturn]] void fail(const std::string& what) const { throw error(where + ": " + what); }
  std::uint64_t varint(int max_bytes = 10) {
    std::uint64_t v = 0;
    for (int i = 0; i < max_bytes; ++i) {
      if (pos >= end) fail("truncated varint");
      const unsigned char b = p[pos++];
      if (i == 9 && b > 1) fail("varint overflows 64 bits");
      v |= static_cast<std::uint64_t>(b & 0x7fu) << (7 * i);
      if (!(b & 0x80u)) return v;
    }
    fail("varint longer than " + std::to_string(max_bytes) + " bytes");
  }
  std::uint32_t varint32() { return static_cast<std::uint32_t>(varint(5)); }
  std::uint64_t fixed(int n) {
    if (end - pos < static_cast<std::size_t>(n)) fail("truncated");
    const std::uint64_t v = lmtcnn::detail::load_le(p + pos, n);
    pos += static_cast<std::size_t>(n);
    return v;
  }
  /// n bytes from here (checked), returned as [begin, begin + n).
  std::size_t take(std::uint64_t n) {
    if (n > end - pos) fail("a length of " + std::to_string(n) + " runs past the end (" + std::to_string(end - pos) + " bytes left)");
    const std::size_t b = pos;
    pos += static_cast<std::size_t>(n);
    return b;
  }
};

/// Snappy's raw format: a varint length, then literals and back-references. At most max_out bytes.
inline std::vector<unsigned char> snappy_uncompress(const unsigned char* src, std::size_t n, std::size_t max_out,
                                                   const std::string& where) {
  cursor c{src, 0, n, where + ": Snappy block"};
  const std::uint64_t len = c.varint(5);
  if (len > max_out) c.fail("claims " + std::to_string(len) + " bytes uncompressed, more than " + std::to_string(max_out));
  std::vector<unsigned char> out;
  out.reserve(static_cast<std::size_t>(len));
  while (!c.done()) {
    const unsigned tag = c.p[c.pos++];
    if ((tag & 3u) == 0) {  // literal
      std::uint64_t l = tag >> 2;
      if (l >= 60) l = c.fixed(static_cast<int>(l - 59));
      ++l;
      const std::size_t b = c.take(l);
      if (l > len - out.size()) c.fail("literal past the stated length");
      out.insert(out.end(), src + b, src + b + l);
    } else {
      std::uint64_t l, off;
      if ((tag & 3u) == 1) {
        l = 4 + ((tag >> 2) & 7u);
        off = ((tag >> 5) << 8) | c.fixed(1);
      } else {
        l = (tag >> 2) + 1;
        off = c.fixed((tag & 3u) == 2 ? 2 : 4);
      }
      if (off == 0 || off > out.size()) c.fail("copy from offset " + std::to_string(off) + " before the start");
      if (l > len - out.size()) c.fail("copy past the stated length");
      for (std::uint64_t i = 0; i < l; ++i) out.push_back(out[out.size() - static_cast<std::size_t>(off)]);
    }
  }
  if (out.size() != len) c.fail("holds " + std::to_string(out.size()) + " bytes, its header says " + std::to_string(len));
  return out;
}

/// A name for a one-line message: control bytes shown as '?'.
inline std::string printable(std::string s) {
  for (char& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  return s;
}

struct block_handle {
  std::uint64_t offset = 0, size = 0;
};

inline block_handle read_handle(cursor& c) {
  block_handle h;
  h.offset = c.varint();
  h.size = c.varint();
  return h;
}

/// The contents of the block at h (CRC checked, Snappy undone).
inline std::vector<unsigned char> read_block(const std::vector<unsigned char>& file, const block_handle& h,
                                            const std::string& where) {
  if (h.offset > file.size() || h.size > file.size() - h.offset || file.size() - h.offset - h.size < 5)
    throw error(where + ": block at " + std::to_string(h.offset) + " of " + std::to_string(h.size) +
                " bytes runs past the end of the file (" + std::to_string(file.size()) + " bytes)");
  const unsigned char* b = file.data() + h.offset;
  const std::size_t n = static_cast<std::size_t>(h.size);
  const unsigned char type = b[n];
  const std::uint32_t stored = static_cast<std::uint32_t>(lmtcnn::detail::load_le(b + n + 1, 4));
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION  // the fuzzers' mutations must reach the checks behind it
  if (mask_crc(crc32c(b, n + 1)) != stored)
    throw error(where + ": block at " + std::to_string(h.offset) + ": CRC-32C mismatch (the file is damaged)");
#else
  (void)stored;
#endif
  if (type == 0) return std::vector<unsigned char>(b, b + n);
  if (type == 1) return snappy_uncompress(b, n, max_source_bytes, where + ": block at " + std::to_string(h.offset));
  throw error(where + ": block at " + std::to_string(h.offset) + ": unknown compression type " + std::to_string(type));
}

/// The entries of one block, keys checked to rise strictly after `prev`.
inline void parse_block(const std::vector<unsigned char>& blk, const std::string& where, std::string& prev, bool& first,
                        std::vector<std::pair<std::string, std::vector<unsigned char>>>& out) {
  if (blk.size() < 4) throw error(where + ": block of " + std::to_string(blk.size()) + " bytes has no restart count");
  const std::uint64_t restarts = lmtcnn::detail::load_le(blk.data() + blk.size() - 4, 4);
  if (restarts > (blk.size() - 4) / 4) throw error(where + ": block's restart count " + std::to_string(restarts) + " runs past the block");
  const std::size_t data_end = blk.size() - 4 - static_cast<std::size_t>(restarts) * 4;
  cursor c{blk.data(), 0, data_end, where};
  std::string key;
  while (!c.done()) {
    const std::uint32_t shared = c.varint32(), unshared = c.varint32(), vlen = c.varint32();
    if (shared > key.size()) c.fail("entry shares " + std::to_string(shared) + " bytes of a " + std::to_string(key.size()) + "-byte key");
    const std::size_t kb = c.take(unshared);
    key.resize(shared);
    key.append(reinterpret_cast<const char*>(blk.data() + kb), unshared);
    const std::size_t vb = c.take(vlen);
    if (!first && !(prev < key)) c.fail("key '" + printable(key) + "' is not after '" + printable(prev) + "' (keys out of order)");
    first = false;
    prev = key;
    out.emplace_back(key, std::vector<unsigned char>(blk.data() + vb, blk.data() + vb + vlen));
  }
}

/// Every key and value of an index file, in order.
inline std::vector<std::pair<std::string, std::vector<unsigned char>>> read_table(const std::vector<unsigned char>& file,
                                                                               const std::string& where) {
  if (file.size() < 48) throw error(where + ": " + std::to_string(file.size()) + " bytes, too short for a table footer (48)");
  const unsigned char* f = file.data() + file.size() - 48;
  if (lmtcnn::detail::load_le(f + 40, 8) != 0xdb4775248b80fb57ull)
    throw error(where + ": no table magic number at the end (not a checkpoint .index file, or truncated)");
  cursor fc{f, 0, 40, where + ": footer"};
  read_handle(fc);  // the metaindex block: nothing in it is needed
  const block_handle index = read_handle(fc);
  const std::vector<unsigned char> index_block = read_block(file, index, where + ": index block");
  std::vector<std::pair<std::string, std::vector<unsigned char>>> handles, out;
  std::string prev;
  bool first = true;
  parse_block(index_block, where + ": index block", prev, first, handles);
  prev.clear();
  first = true;
  for (const auto& [sep, value] : handles) {
    cursor hc{value.data(), 0, value.size(), where + ": index entry '" + printable(sep) + "'"};
    const block_handle h = read_handle(hc);
    parse_block(read_block(file, h, where + ": data block"), where + ": data block", prev, first, out);
  }
  return out;
}

/// One field of a protocol buffer message: number, wire type, and its value (varint or fixed) or
/// bytes [b, b + n).
struct field {
  std::uint32_t number = 0, wire = 0;
  std::uint64_t value = 0;
  std::size_t b = 0, n = 0;
};

inline bool next_field(cursor& c, field& f) {
  if (c.done()) return false;
  const std::uint64_t key = c.varint();
  f.number = static_cast<std::uint32_t>(key >> 3);
  f.wire = static_cast<std::uint32_t>(key & 7);
  switch (f.wire) {
    case 0: f.value = c.varint(); break;
    case 1: f.value = c.fixed(8); break;
    case 2: f.n = static_cast<std::size_t>(c.varint()); f.b = c.take(f.n); break;
    case 5: f.value = c.fixed(4); break;
    default: c.fail("protocol buffer wire type " + std::to_string(f.wire) + " (groups are not used here)");
  }
  return true;
}

/// A TensorShapeProto (field f's bytes in p): dim (2, each with its size in field 1), unknown_rank (3).
inline void parse_shape(const unsigned char* p, const field& f, const std::string& where, std::vector<std::uint64_t>& dims,
                        bool& unknown_rank) {
  cursor sc{p, f.b, f.b + f.n, where + ": shape"};
  field g;
  while (next_field(sc, g)) {
    if (g.number == 3 && g.wire == 0 && g.value) unknown_rank = true;
    if (g.number != 2 || g.wire != 2) continue;
    cursor dc{p, g.b, g.b + g.n, where + ": shape dimension"};
    field d;
    std::uint64_t size = 0;
    while (next_field(dc, d))
      if (d.number == 1 && d.wire == 0) size = d.value;
    dims.push_back(size);
  }
}

struct bundle_entry {
  std::int64_t dtype = 0, shard = 0;
  std::uint64_t offset = 0, size = 0;
  std::uint32_t crc = 0;
  bool has_crc = false, sliced = false, unknown_rank = false;
  std::vector<std::uint64_t> dims;
};

inline bundle_entry parse_entry(const std::vector<unsigned char>& v, const std::string& where) {
  bundle_entry e;
  cursor c{v.data(), 0, v.size(), where};
  field f;
  while (next_field(c, f)) {
    if (f.number == 1 && f.wire == 0) e.dtype = static_cast<std::int64_t>(f.value);
    else if (f.number == 3 && f.wire == 0) e.shard = static_cast<std::int64_t>(f.value);
    else if (f.number == 4 && f.wire == 0) e.offset = f.value;
    else if (f.number == 5 && f.wire == 0) e.size = f.value;
    else if (f.number == 6 && f.wire == 5) e.crc = static_cast<std::uint32_t>(f.value), e.has_crc = true;
    else if (f.number == 7) e.sliced = true;
    else if (f.number == 2 && f.wire == 2) parse_shape(v.data(), f, where, e.dims, e.unknown_rank);
  }
  return e;
}

/// The checkpoint prefix named by path: the prefix itself (path.index exists), a file of the
/// checkpoint (.index, .meta, .data-K-of-N), or a directory whose `checkpoint` file names the latest.
inline std::string resolve_prefix(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const std::string state = (fs::path(path) / "checkpoint").string();
    if (!fs::is_regular_file(state, ec))
      throw error(path + ": is a directory without a 'checkpoint' file (give the checkpoint's prefix, e.g. DIR/model.ckpt-1000)");
    const std::vector<unsigned char> text = read_file(state);
    const std::string s(text.begin(), text.end());
    const std::string tag = "model_checkpoint_path:";
    const std::size_t at = s.find(tag);
    const std::size_t q0 = at == std::string::npos ? at : s.find('"', at + tag.size());
    const std::size_t q1 = q0 == std::string::npos ? q0 : s.find('"', q0 + 1);
    if (q1 == std::string::npos) throw error(state + ": no model_checkpoint_path \"...\" line");
    const std::string name = s.substr(q0 + 1, q1 - q0 - 1);
    return fs::path(name).is_absolute() ? name : (fs::path(path) / name).string();
  }
  auto strip = [&](const std::string& suffix) {
    return path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0
               ? path.substr(0, path.size() - suffix.size())
               : std::string();
  };
  if (fs::exists(path + ".index", ec)) return path;
  for (const char* s : {".index", ".meta"})
    if (const std::string p = strip(s); !p.empty() && fs::exists(p + ".index", ec)) return p;
  const std::size_t d = path.rfind(".data-");
  if (d != std::string::npos && fs::exists(path.substr(0, d) + ".index", ec)) return path.substr(0, d);
  return {};
}

/// Whether path names a TensorFlow checkpoint (see resolve_prefix; a directory counts when it has a
/// `checkpoint` file).
inline bool is_checkpoint(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return std::filesystem::is_regular_file(std::filesystem::path(path) / "checkpoint", ec);
  return !resolve_prefix(path).empty();
}

inline std::string shard_name(const std::string& prefix, std::int64_t k, std::int64_t n) {
  char b[64];
  std::snprintf(b, sizeof b, ".data-%05lld-of-%05lld", static_cast<long long>(k), static_cast<long long>(n));
  return prefix + b;
}

}  // namespace tfckpt

/// The float32 tensors of a checkpoint whose index file holds index_bytes, in key order; load_shard(k,
/// n) returns the bytes of data shard k of n, file_of(k, n) its name (for messages).
template <class LoadShard, class FileOf>
source_weights read_tf_checkpoint_bytes(const std::vector<unsigned char>& index_bytes, const std::string& index_path,
                                        LoadShard load_shard, FileOf file_of) {
  using namespace tfckpt;
  const std::vector<std::pair<std::string, std::vector<unsigned char>>> entries = read_table(index_bytes, index_path);
  if (entries.empty() || !entries[0].first.empty()) throw error(index_path + ": no header entry (the empty key)");
  std::int64_t shards = 0;
  {
    cursor c{entries[0].second.data(), 0, entries[0].second.size(), index_path + ": header"};
    field f;
    while (next_field(c, f)) {
      if (f.number == 1 && f.wire == 0) shards = static_cast<std::int64_t>(f.value);
      if (f.number == 2 && f.wire == 0 && f.value != 0)
        throw error(index_path + ": a big-endian bundle (not supported: convert it on a little-endian machine)");
    }
  }
  if (shards < 1 || shards > 99999) throw error(index_path + ": header says " + std::to_string(shards) + " data shards");
  std::map<std::int64_t, std::vector<unsigned char>> data;  // shards read as needed
  source_weights out;
  out.format = "tf_checkpoint";
  for (std::size_t i = 1; i < entries.size(); ++i) {
    const std::string& name = entries[i].first;
    const std::string where = index_path + ": entry '" + printable(name) + "'";
    const bundle_entry e = parse_entry(entries[i].second, where);
    if (e.sliced) throw error(where + ": a sliced (partitioned) variable, not supported");
    if (e.dtype != 1) continue;  // not float32: the step counter and such
    if (e.unknown_rank) throw error(where + ": shape of unknown rank");
    if (e.shard < 0 || e.shard >= shards)
      throw error(where + ": shard " + std::to_string(e.shard) + " of " + std::to_string(shards));
    const lmtcnn::shape s = detail::checked_shape(e.dims, where);
    const std::uint64_t bytes = static_cast<std::uint64_t>(s.elements()) * 4;
    if (e.size != bytes)
      throw error(where + ": " + std::to_string(e.size) + " bytes for shape " + s.str() + " (" + std::to_string(bytes) + " expected)");
    const std::string shard_file = file_of(e.shard, shards);
    auto it = data.find(e.shard);
    if (it == data.end()) {
      try {
        it = data.emplace(e.shard, load_shard(e.shard, shards)).first;
      } catch (const error& x) {
        throw error(where + ": its data shard: " + x.what());
      }
    }
    const std::vector<unsigned char>& d = it->second;
    if (e.offset > d.size() || e.size > d.size() - e.offset)
      throw error(where + ": bytes " + std::to_string(e.offset) + ".." + std::to_string(e.offset + e.size) + " run past the end of " +
                  shard_file + " (" + std::to_string(d.size()) + " bytes)");
    const unsigned char* p = d.data() + e.offset;
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION  // the fuzzers' mutations must reach the checks behind it
    if (!e.has_crc || mask_crc(crc32c(p, static_cast<std::size_t>(e.size))) != e.crc)
      throw error(where + ": CRC-32C of its bytes in " + shard_file + " does not match (the data is damaged)");
#endif
    lmtcnn::tensor<float> t(s);
    for (index_t k = 0; k < t.size(); ++k) {
      const std::uint32_t u = static_cast<std::uint32_t>(lmtcnn::detail::load_le(p + 4 * k, 4));
      std::memcpy(&t[k], &u, 4);
    }
    out.tensors.emplace_back(name, std::move(t));
  }
  return out;
}

/// The float32 tensors of a TensorFlow 1.x checkpoint (path: see tfckpt::resolve_prefix), in key order.
inline source_weights read_tf_checkpoint(const std::string& path) {
  const std::string prefix = tfckpt::resolve_prefix(path);
  if (prefix.empty()) throw error(path + ": not a checkpoint (no " + path + ".index)");
  const std::string index_path = prefix + ".index";
  auto file_of = [&](std::int64_t k, std::int64_t n) { return tfckpt::shard_name(prefix, k, n); };
  return read_tf_checkpoint_bytes(read_file(index_path), index_path,
                                  [&](std::int64_t k, std::int64_t n) { return read_file(file_of(k, n)); }, file_of);
}

/// The float32 constants of a frozen TensorFlow GraphDef (the binary protocol buffer a `.pb` holds): every
/// node whose op is "Const", by node name, from its "value" attribute's TensorProto (tensor_content, or
/// float_val with TensorFlow's rule that the last value repeats to fill the shape; at most 2^24 values
/// so filled in all). GraphDef: node 1;
/// NodeDef: name 1, op 2, attr 5 (map entries: key 1, value 2); AttrValue: tensor 8; TensorProto: dtype 1,
/// tensor_shape 2, tensor_content 4, float_val 5 (packed or not). Other nodes and dtypes are skipped.
inline source_weights read_frozen_graph_bytes(const std::vector<unsigned char>& b, const std::string& path) {
  using namespace tfckpt;
  source_weights out;
  out.format = "tf_graphdef";
  std::vector<std::string> names;
  std::size_t filled = 0;
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  constexpr std::size_t max_filled_values = std::size_t{1} << 24;
#else  // the same check at a size that keeps the fuzzer fast
  constexpr std::size_t max_filled_values = std::size_t{1} << 16;
#endif
  cursor g{b.data(), 0, b.size(), path};
  field f;
  while (next_field(g, f)) {
    if (f.number != 1 || f.wire != 2) continue;
    cursor n{b.data(), f.b, f.b + f.n, path + ": node"};
    std::string name, op;
    std::size_t tb = 0, tn = 0;
    bool has_tensor = false;
    field nf;
    while (next_field(n, nf)) {
      if (nf.wire != 2) continue;
      if (nf.number == 1) name.assign(reinterpret_cast<const char*>(b.data() + nf.b), nf.n);
      if (nf.number == 2) op.assign(reinterpret_cast<const char*>(b.data() + nf.b), nf.n);
      if (nf.number != 5) continue;
      cursor e{b.data(), nf.b, nf.b + nf.n, path + ": node '" + printable(name) + "' attribute"};
      std::string key;
      std::size_t vb = 0, vn = 0;
      field ef;
      while (next_field(e, ef)) {
        if (ef.wire != 2) continue;
        if (ef.number == 1) key.assign(reinterpret_cast<const char*>(b.data() + ef.b), ef.n);
        if (ef.number == 2) vb = ef.b, vn = ef.n;
      }
      if (key != "value") continue;
      cursor v{b.data(), vb, vb + vn, path + ": node '" + printable(name) + "' value"};
      field vf;
      while (next_field(v, vf))
        if (vf.number == 8 && vf.wire == 2) tb = vf.b, tn = vf.n, has_tensor = true;
    }
    if (op != "Const" || !has_tensor) continue;
    const std::string where = path + ": node '" + printable(name) + "'";
    std::int64_t dtype = 0;
    std::vector<std::uint64_t> dims;
    bool unknown_rank = false;
    std::size_t cb = 0, cn = 0;
    std::vector<float> vals;
    cursor t{b.data(), tb, tb + tn, where};
    field tf;
    while (next_field(t, tf)) {
      if (tf.number == 1 && tf.wire == 0) dtype = static_cast<std::int64_t>(tf.value);
      else if (tf.number == 4 && tf.wire == 2) cb = tf.b, cn = tf.n;
      else if (tf.number == 5 && tf.wire == 5) {
        const std::uint32_t u = static_cast<std::uint32_t>(tf.value);
        float x;
        std::memcpy(&x, &u, 4);
        vals.push_back(x);
      } else if (tf.number == 5 && tf.wire == 2) {
        if (tf.n % 4) throw error(where + ": packed float_val of " + std::to_string(tf.n) + " bytes");
        for (std::size_t k = 0; k < tf.n; k += 4) {
          const std::uint32_t u = static_cast<std::uint32_t>(lmtcnn::detail::load_le(b.data() + tf.b + k, 4));
          float x;
          std::memcpy(&x, &u, 4);
          vals.push_back(x);
        }
      } else if (tf.number == 2 && tf.wire == 2) {
        parse_shape(b.data(), tf, where, dims, unknown_rank);
      }
    }
    if (dtype != 1) continue;  // not float32
    if (unknown_rank) throw error(where + ": shape of unknown rank");
    if (std::find(names.begin(), names.end(), name) != names.end()) throw error(where + ": a second node of that name");
    const lmtcnn::shape s = detail::checked_shape(dims, where);
    const std::size_t count = static_cast<std::size_t>(s.elements());
    if (cn && cn != count * 4)
      throw error(where + ": tensor_content of " + std::to_string(cn) + " bytes for shape " + s.str() + " (" +
                  std::to_string(count * 4) + " expected)");
    if (!cn) {
      if (vals.size() > count)
        throw error(where + ": " + std::to_string(vals.size()) + " float values for shape " + s.str());
      // values the file does not hold (the last one repeated): bounded, as a few bytes could claim gigabytes
      filled += count - vals.size();
      if (filled > max_filled_values)
        throw error(where + ": constants filled from fewer values than their shapes hold exceed " +
                    std::to_string(max_filled_values) + " values in all");
    }
    lmtcnn::tensor<float> x(s);
    if (cn) {
      for (std::size_t k = 0; k < count; ++k) {
        const std::uint32_t u = static_cast<std::uint32_t>(lmtcnn::detail::load_le(b.data() + cb + 4 * k, 4));
        std::memcpy(&x[static_cast<index_t>(k)], &u, 4);
      }
    } else {
      for (std::size_t k = 0; k < count; ++k)
        x[static_cast<index_t>(k)] = vals.empty() ? 0.f : vals[std::min(k, vals.size() - 1)];
    }
    names.push_back(name);
    out.tensors.emplace_back(name, std::move(x));
  }
  return out;
}

/// Drops a checkpoint's optimizer slots and training counters: variables whose last name component
/// is an optimizer's slot (Momentum, Adam, Adam_1, RMSProp, RMSProp_1, Adagrad, Ftrl, Ftrl_1) or a
/// known training scalar (beta1_power, beta2_power, learning_rate).
inline void drop_training_state(source_weights& src) {
  static const char* const slots[] = {"Momentum", "Adam", "Adam_1", "RMSProp", "RMSProp_1", "Adagrad", "Ftrl", "Ftrl_1",
                                      "beta1_power", "beta2_power", "learning_rate"};
  auto is_training = [](const std::string& name) {
    const std::string last = name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
    for (const char* s : slots)
      if (last == s) return true;
    return false;
  };
  std::vector<std::pair<std::string, lmtcnn::tensor<float>>> kept;
  for (auto& t : src.tensors)
    if (!is_training(t.first)) kept.push_back(std::move(t));
  src.tensors = std::move(kept);
}

}  // namespace lmtcnn_tools
