// The converter's input readers: NumPy .npz archives (stored or deflated .npy members) and
// TensorFlow.js weight manifests with their binary shards (float32, float16, uint8/uint16 quantized).
// Every size and offset is checked before use; errors name the file and the tensor.
// Deflated members are inflated with zlib.
#pragma once

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "json.hpp"
#include "lmtcnn/core/error.hpp"
#include "lmtcnn/core/tensor.hpp"

namespace lmtcnn_tools {

using lmtcnn::error;
using lmtcnn::index_t;

/// Tensors read from a source file, in the file's order.
struct source_weights {
  std::vector<std::pair<std::string, lmtcnn::tensor<float>>> tensors;
  std::string format;  ///< "npz" or "tfjs"
};

inline constexpr std::uint64_t max_source_bytes = 1ull << 31;

/// Reads a whole file (at most 2 GiB).
inline std::vector<unsigned char> read_file(const std::string& path) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st))
    throw error(path + ": cannot open (" + (ec ? ec.message() : std::string("No such file or directory")) + ")");
  if (std::filesystem::is_directory(st)) throw error(path + ": is a directory, not a file");
  if (!std::filesystem::is_regular_file(st)) throw error(path + ": is not a regular file (a device, pipe or socket)");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw error(path + ": cannot open (no permission to read it?)");
  const std::streamoff size = in.tellg();
  if (size < 0) throw error(path + ": cannot read");
  if (static_cast<std::uint64_t>(size) > max_source_bytes) throw error(path + ": larger than 2 GiB");
  std::vector<unsigned char> b(static_cast<std::size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(b.data()), size)) throw error(path + ": cannot read");
  return b;
}

namespace detail {

inline std::uint64_t le(const unsigned char* p, int n) { return lmtcnn::detail::load_le(p, n); }

/// Product of dimensions, refusing absurd shapes (rank above 4, dimensions of 2^31 or more, more than 2^31 elements).
inline lmtcnn::shape checked_shape(const std::vector<std::uint64_t>& dims, const std::string& where) {
  if (dims.size() > 4) throw error(where + ": rank " + std::to_string(dims.size()) + " is more than 4");
  std::uint64_t n = 1;
  for (std::uint64_t d : dims) {
    if (d >= (1ull << 31)) throw error(where + ": dimension " + std::to_string(d) + " is absurd");
    n *= d;
    if (n >= (1ull << 31)) throw error(where + ": more than 2^31 elements");
  }
  std::vector<index_t> v(dims.begin(), dims.end());
  return lmtcnn::shape(v.begin(), v.end());
}

inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h >> 15) & 1u, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(man), -24);
  else if (exp == 31) v = man ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else v = std::ldexp(static_cast<float>(man | 0x400u), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

// ---- .npy -----------------------------------------------------------------------------------------

/// Parses one .npy member: header dict {'descr', 'fortran_order', 'shape'} and little-endian data.
inline lmtcnn::tensor<float> parse_npy(const unsigned char* p, std::size_t n, const std::string& where) {
  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (n < 10 || std::memcmp(p, magic, 6) != 0) throw error(where + ": not a .npy array");
  const unsigned major = p[6];
  std::size_t header_len, start;
  if (major == 1) {
    header_len = le(p + 8, 2);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (n < 12) throw error(where + ": truncated .npy header");
    header_len = le(p + 8, 4);
    start = 12;
  } else {
    throw error(where + ": unknown .npy version " + std::to_string(major));
  }
  if (header_len > n - start) throw error(where + ": truncated .npy header");
  const std::string h(reinterpret_cast<const char*>(p + start), header_len);
  auto value_of = [&](const std::string& key) -> std::string {
    const std::size_t k = h.find("'" + key + "'");
    if (k == std::string::npos) throw error(where + ": .npy header lacks '" + key + "'");
    std::size_t v = h.find(':', k);
    if (v == std::string::npos) throw error(where + ": bad .npy header");
    ++v;
    while (v < h.size() && h[v] == ' ') ++v;
    return h.substr(v);
  };
  std::string descr = value_of("descr");
  if (descr.size() < 2 || descr[0] != '\'') throw error(where + ": bad dtype in .npy header");
  descr = descr.substr(1, descr.find('\'', 1) == std::string::npos ? 0 : descr.find('\'', 1) - 1);
  std::size_t item;
  if (descr == "<f4") item = 4;
  else if (descr == "<f8") item = 8;
  else if (descr == "<f2") item = 2;
  else throw error(where + ": dtype '" + descr + "' is not supported (float16, float32 or float64, little-endian)");
  if (value_of("fortran_order").rfind("False", 0) != 0)
    throw error(where + ": Fortran-ordered arrays are not supported (save with C order)");
  const std::string s = value_of("shape");
  if (s.empty() || s[0] != '(') throw error(where + ": bad shape in .npy header");
  const std::size_t close = s.find(')');
  if (close == std::string::npos) throw error(where + ": bad shape in .npy header");
  std::vector<std::uint64_t> dims;
  std::size_t i = 1;
  while (i < close) {
    while (i < close && (s[i] == ' ' || s[i] == ',')) ++i;
    if (i >= close) break;
    std::uint64_t d = 0;
    if (!(s[i] >= '0' && s[i] <= '9')) throw error(where + ": bad shape in .npy header");
    while (i < close && s[i] >= '0' && s[i] <= '9') {
      d = d * 10 + static_cast<std::uint64_t>(s[i] - '0');
      if (d >= (1ull << 40)) throw error(where + ": dimension too large");
      ++i;
    }
    dims.push_back(d);
    if (dims.size() > 8) throw error(where + ": too many dimensions");
  }
  const lmtcnn::shape sh = checked_shape(dims, where);
  const std::size_t count = static_cast<std::size_t>(sh.elements());
  const std::size_t data = start + header_len;
  if (n - data != count * item)
    throw error(where + ": holds " + std::to_string(n - data) + " data bytes, shape " + sh.str() + " needs " +
                std::to_string(count * item));
  lmtcnn::tensor<float> t(sh);
  const unsigned char* d = p + data;
  for (std::size_t k = 0; k < count; ++k) {
    if (item == 4) {
      const auto b = static_cast<std::uint32_t>(le(d + 4 * k, 4));
      std::memcpy(&t[static_cast<index_t>(k)], &b, 4);
    } else if (item == 8) {
      const std::uint64_t b = le(d + 8 * k, 8);
      double v;
      std::memcpy(&v, &b, 8);
      t[static_cast<index_t>(k)] = static_cast<float>(v);
    } else {
      t[static_cast<index_t>(k)] = half_to_float(static_cast<std::uint16_t>(le(d + 2 * k, 2)));
    }
  }
  return t;
}

}  // namespace detail

// ---- .npz -----------------------------------------------------------------------------------------

/// Reads every array of an .npz archive; the tensor name is the member name without ".npy".
inline source_weights read_npz_bytes(const std::vector<unsigned char>& b, const std::string& path) {
  using detail::le;
  source_weights out;
  out.format = "npz";
  const std::size_t n = b.size();
  if (n < 22) throw error(path + ": too short to be an .npz (zip) archive");
  // End of central directory: the last signature within the final 64 KiB + 22 bytes.
  std::size_t eocd = std::string::npos;
  for (std::size_t i = n - 22 + 1; i-- > 0 && n - i <= 65557;)
    if (le(&b[i], 4) == 0x06054b50u) {
      eocd = i;
      break;
    }
  if (eocd == std::string::npos) throw error(path + ": not a zip archive (no end-of-directory record)");
  const std::uint64_t entries = le(&b[eocd + 10], 2), cd_size = le(&b[eocd + 12], 4), cd_off = le(&b[eocd + 16], 4);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu)
    throw error(path + ": ZIP64 archives are not supported");
  if (cd_off > eocd || cd_size > eocd - cd_off) throw error(path + ": zip directory lies outside the file");
  std::size_t pos = static_cast<std::size_t>(cd_off);
  std::set<std::string> seen;
  for (std::uint64_t e = 0; e < entries; ++e) {
    if (pos + 46 > eocd || le(&b[pos], 4) != 0x02014b50u) throw error(path + ": corrupt zip directory");
    const std::uint64_t flags = le(&b[pos + 8], 2), method = le(&b[pos + 10], 2);
    const std::uint64_t csize = le(&b[pos + 20], 4), usize = le(&b[pos + 24], 4);
    const std::size_t name_len = le(&b[pos + 28], 2), extra_len = le(&b[pos + 30], 2),
                      comment_len = le(&b[pos + 32], 2);
    const std::uint64_t local = le(&b[pos + 42], 4);
    if (pos + 46 + name_len > eocd) throw error(path + ": corrupt zip directory");
    std::string name(reinterpret_cast<const char*>(&b[pos + 46]), name_len);
    pos += 46 + name_len + extra_len + comment_len;
    const std::string where = path + ": array '" + name + "'";
    if (flags & 1u) throw error(where + ": encrypted members are not supported");
    if (csize == 0xFFFFFFFFu || usize == 0xFFFFFFFFu || local == 0xFFFFFFFFu)
      throw error(where + ": ZIP64 members are not supported");
    if (local + 30 > n || le(&b[static_cast<std::size_t>(local)], 4) != 0x04034b50u)
      throw error(where + ": corrupt local header");
    const std::size_t data = static_cast<std::size_t>(local) + 30 + le(&b[static_cast<std::size_t>(local) + 26], 2) +
                             le(&b[static_cast<std::size_t>(local) + 28], 2);
    if (data > n || csize > n - data) throw error(where + ": data lies past the end of the file");
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".npy") != 0)
      throw error(where + ": not a .npy member");
    name.resize(name.size() - 4);
    if (!seen.insert(name).second) throw error(where + ": appears twice");
    if (usize > (1ull << 31)) throw error(where + ": larger than 2 GiB");
    std::vector<unsigned char> raw;
    const unsigned char* member = &b[data];
    std::size_t member_size = static_cast<std::size_t>(csize);
    if (method == 8) {
      // deflate cannot expand more than 1032:1, so a larger claim is a lie: refuse it before allocating
      if (usize > csize * 1032 + 64)
        throw error(where + ": claims " + std::to_string(usize) + " bytes from " + std::to_string(csize) +
                    " deflated bytes, more than deflate can produce");
      raw.resize(static_cast<std::size_t>(usize));
      z_stream z{};
      if (inflateInit2(&z, -15) != Z_OK) throw error(where + ": cannot start zlib");
      z.next_in = const_cast<Bytef*>(member);
      z.avail_in = static_cast<uInt>(csize);
      z.next_out = raw.data();
      z.avail_out = static_cast<uInt>(raw.size());
      const int rc = inflate(&z, Z_FINISH);
      const std::size_t produced = raw.size() - z.avail_out;
      inflateEnd(&z);
      if (rc != Z_STREAM_END || produced != usize)
        throw error(where + ": corrupt deflate data (inflates to " + std::to_string(produced) + " of " +
                    std::to_string(usize) + " bytes)");
      member = raw.data();
      member_size = raw.size();
    } else if (method != 0) {
      throw error(where + ": compression method " + std::to_string(method) + " is not supported");
    } else if (csize != usize) {
      throw error(where + ": stored member sizes disagree");
    }
    out.tensors.emplace_back(name, detail::parse_npy(member, member_size, where));
  }
  return out;
}

inline source_weights read_npz(const std::string& path) { return read_npz_bytes(read_file(path), path); }

// ---- TensorFlow.js weight manifests ---------------------------------------------------------------

namespace detail {

/// How a TensorFlow.js weight is stored: float32, float16, or uint8/uint16 with scale and min.
struct tfjs_storage {
  std::string dtype = "float32";
  double scale = 1, minimum = 0;
  std::size_t item_bytes() const { return dtype == "uint8" ? 1 : (dtype == "float32" ? 4 : 2); }
};

/// The storage a manifest's weight entry declares (its "quantization", if any).
inline tfjs_storage tfjs_storage_of(const json& w, const std::string& where) {
  tfjs_storage st;
  const json* q = w.get("quantization");
  if (!q) return st;
  const json* qd = q->get("dtype");
  if (!q->is(json::kind::object) || !qd || !qd->is(json::kind::string)) throw error(where + ": bad quantization");
  st.dtype = qd->str;
  if (st.dtype == "uint8" || st.dtype == "uint16") {
    const json* sc = q->get("scale");
    const json* mn = q->get("min");
    if (!sc || !mn || !sc->is(json::kind::number) || !mn->is(json::kind::number))
      throw error(where + ": quantization needs scale and min");
    st.scale = sc->num;
    st.minimum = mn->num;
  } else if (st.dtype != "float16") {
    throw error(where + ": quantization dtype '" + st.dtype + "' is not supported (uint8, uint16, float16)");
  }
  return st;
}

/// count values stored as st at d, as float. q * scale is rounded before min is added (as in
/// JavaScript); the build turns off FMA contraction.
inline void decode_tfjs_values(const unsigned char* d, std::size_t count, const tfjs_storage& st, float* out) {
  for (std::size_t k = 0; k < count; ++k) {
    float v;
    if (st.dtype == "uint8") {
      v = static_cast<float>(static_cast<double>(d[k]) * st.scale + st.minimum);
    } else if (st.dtype == "uint16") {
      v = static_cast<float>(static_cast<double>(le(d + 2 * k, 2)) * st.scale + st.minimum);
    } else if (st.dtype == "float16") {
      v = half_to_float(static_cast<std::uint16_t>(le(d + 2 * k, 2)));
    } else if (st.dtype == "int32") {
      v = static_cast<float>(static_cast<std::int32_t>(static_cast<std::uint32_t>(le(d + 4 * k, 4))));
    } else {
      const auto u = static_cast<std::uint32_t>(le(d + 4 * k, 4));
      std::memcpy(&v, &u, 4);
    }
    out[k] = v;
  }
}

}  // namespace detail

/// Reads a weights manifest (a JSON array of groups {paths, weights}, or a model.json holding one
/// under "weightsManifest") and its shards, which load_shard(relative path) returns.
template <class LoadShard>
source_weights read_tfjs_manifest(const std::string& text, const std::string& path, LoadShard load_shard) {
  source_weights out;
  out.format = "tfjs";
  const json doc = json_parser::parse(text, path);
  const json* groups = &doc;
  if (doc.is(json::kind::object)) {
    groups = doc.get("weightsManifest");
    if (!groups) throw error(path + ": JSON object without \"weightsManifest\"");
  }
  if (!groups->is(json::kind::array)) throw error(path + ": the manifest is not a list of weight groups");
  std::set<std::string> seen;
  for (std::size_t gi = 0; gi < groups->items.size(); ++gi) {
    const json& g = groups->items[gi];
    const std::string gwhere = path + ": weight group " + std::to_string(gi);
    const json* paths = g.get("paths");
    const json* weights = g.get("weights");
    if (!g.is(json::kind::object) || !paths || !weights || !paths->is(json::kind::array) ||
        !weights->is(json::kind::array))
      throw error(gwhere + ": needs \"paths\" and \"weights\" lists");
    std::vector<unsigned char> bytes;
    for (const json& p : paths->items) {
      if (!p.is(json::kind::string) || p.str.empty() || p.str[0] == '/' || p.str.find("..") != std::string::npos)
        throw error(gwhere + ": bad shard path");
      const std::vector<unsigned char> shard = load_shard(p.str);
      if (bytes.size() + shard.size() > max_source_bytes) throw error(gwhere + ": shards larger than 2 GiB");
      bytes.insert(bytes.end(), shard.begin(), shard.end());
    }
    std::size_t pos = 0;
    for (const json& w : weights->items) {
      const json* name = w.get("name");
      const json* shp = w.get("shape");
      const json* dtype = w.get("dtype");
      if (!w.is(json::kind::object) || !name || !name->is(json::kind::string) || !shp ||
          !shp->is(json::kind::array) || !dtype || !dtype->is(json::kind::string))
        throw error(gwhere + ": a weight lacks name, shape or dtype");
      const std::string where = path + ": tensor '" + name->str + "'";
      if (!seen.insert(name->str).second) throw error(where + ": appears twice");
      std::vector<std::uint64_t> dims;
      for (const json& d : shp->items) {
        if (!d.is(json::kind::number) || d.num < 0 || d.num != std::floor(d.num) || d.num >= 2147483648.0)
          throw error(where + ": bad shape");
        dims.push_back(static_cast<std::uint64_t>(d.num));
      }
      const lmtcnn::shape sh = detail::checked_shape(dims, where);
      const std::size_t count = static_cast<std::size_t>(sh.elements());
      // int32 entries are the exported graph's shape constants: read as floats, which the networks'
      // tensor lists then drop.
      if (dtype->str != "float32" && dtype->str != "int32")
        throw error(where + ": dtype '" + dtype->str + "' is not supported (float32, int32)");
      detail::tfjs_storage st = detail::tfjs_storage_of(w, where);
      if (dtype->str == "int32" && st.dtype == "float32") st.dtype = "int32";
      const std::size_t item = st.item_bytes();
      if (count * item > bytes.size() - pos)
        throw error(where + ": runs past the end of the shards (" + std::to_string(bytes.size()) + " bytes)");
      lmtcnn::tensor<float> t(sh);
      detail::decode_tfjs_values(bytes.data() + pos, count, st, t.data());
      pos += count * item;
      out.tensors.emplace_back(name->str, std::move(t));
    }
    if (pos != bytes.size())
      throw error(gwhere + ": shards hold " + std::to_string(bytes.size() - pos) + " bytes more than its tensors");
  }
  return out;
}

/// Reads a manifest file and its shards from the manifest's directory.
inline source_weights read_tfjs(const std::string& path) {
  const std::vector<unsigned char> b = read_file(path);
  const std::string dir = path.find('/') == std::string::npos ? "" : path.substr(0, path.rfind('/') + 1);
  return read_tfjs_manifest(std::string(b.begin(), b.end()), path,
                            [&](const std::string& shard) { return read_file(dir + shard); });
}

}  // namespace lmtcnn_tools
