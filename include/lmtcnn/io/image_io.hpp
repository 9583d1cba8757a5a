// lmtcnn image input: JPEG, PNG and BMP files (and bytes in memory) decoded with stb_image into
// 8-bit RGB. The image's dimensions are read and checked against the limits before any pixel is
// decoded, so a file claiming 100000 x 100000 pixels is refused without allocating. A JPEG whose Exif
// block gives an orientation is turned upright, as browsers and phones show it (io/exif.hpp), unless
// the caller asks for the stored pixels.
//
// stb_image is compiled into every translation unit that includes this header, with internal
// linkage (STB_IMAGE_STATIC); include this header before any other inclusion of stb_image.h.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <sys/stat.h>

#ifndef STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuseless-cast"
#endif
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif

#include "lmtcnn/core/bytes.hpp"
#include "lmtcnn/core/error.hpp"
#include "lmtcnn/io/exif.hpp"
#include "lmtcnn/io/image.hpp"

namespace lmtcnn {

/// What load_image accepts.
struct image_limits {
  int max_side = 16384;                     ///< pixels per side
  std::int64_t max_pixels = 100'000'000;    ///< width * height
  std::int64_t max_file_bytes = 256 << 20;  ///< encoded size
};

namespace detail {
/// Width and height from a PNG, BMP or JPEG header (false when the bytes do not say), read without
/// decoding anything, so that absurd sizes are refused with a clear message.
inline bool header_dimensions(const unsigned char* d, std::size_t n, std::int64_t& w, std::int64_t& h) {
  auto be32 = [&](std::size_t i) { return static_cast<std::int64_t>(load_be(d + i, 4)); };
  auto be16 = [&](std::size_t i) { return static_cast<std::int64_t>(load_be(d + i, 2)); };
  if (n >= 24 && d[0] == 0x89 && d[1] == 'P' && d[2] == 'N' && d[3] == 'G' && d[12] == 'I' && d[13] == 'H' &&
      d[14] == 'D' && d[15] == 'R') {
    w = be32(16);
    h = be32(20);
    return true;
  }
  if (n >= 26 && d[0] == 'B' && d[1] == 'M') {
    const auto bw = static_cast<std::int32_t>(static_cast<std::uint32_t>(load_le(d + 18, 4)));
    const auto bh = static_cast<std::int32_t>(static_cast<std::uint32_t>(load_le(d + 22, 4)));
    w = bw < 0 ? -std::int64_t(bw) : bw;
    h = bh < 0 ? -std::int64_t(bh) : bh;
    return true;
  }
  if (n >= 4 && d[0] == 0xFF && d[1] == 0xD8) {  // JPEG: walk the markers to the first start-of-frame
    std::size_t i = 2;
    while (i + 9 < n) {
      if (d[i] != 0xFF) return false;
      const unsigned m = d[i + 1];
      if (m == 0xFF) {
        ++i;
        continue;
      }
      if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
        h = be16(i + 5);
        w = be16(i + 7);
        return true;
      }
      if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7)) {
        i += 2;
        continue;
      }
      i += 2 + static_cast<std::size_t>(be16(i + 2));
    }
  }
  return false;
}
}  // namespace detail

namespace detail {
/// Where a JPEG's data begins after its start-of-image marker (0 for anything else). Like stb_image,
/// any number of 0xFF fill bytes may come before the marker.
inline std::size_t jpeg_start(const unsigned char* d, std::size_t n) {
  std::size_t pos = 0;
  while (pos < n && d[pos] == 0xFF) ++pos;
  return pos >= 1 && pos < n && d[pos] == 0xD8 ? pos + 1 : 0;
}

/// What is wrong with a JPEG's segment structure ("" when nothing is, or for other formats). The
/// markers are walked from the start of the image to its end; each segment must lie inside the file,
/// each Huffman table may define at most 256 codes, and a scan may only use Huffman tables defined
/// before it (a DC table for a baseline scan or the first pass of a progressive DC scan, an AC table
/// for a baseline or progressive AC scan). stb_image 2.27, Debian 12's, writes past its tables when a
/// table claims more codes, and decodes with a table never filled when a scan names an undefined one:
/// these checks keep such files away from it.
inline std::string jpeg_structure_error(const unsigned char* d, std::size_t n) {
  std::size_t pos = jpeg_start(d, n);
  if (!pos) return {};
  bool defined[2][4] = {};  // [DC, AC][table id]
  bool progressive = false;
  while (pos < n) {
    if (d[pos] != 0xFF) return "corrupt JPEG: no marker at byte " + std::to_string(pos);
    while (pos < n && d[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) break;
    const unsigned m = d[pos++];
    if (m == 0xD9) return {};                              // end of image
    if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) continue;  // markers without a segment
    if (m == 0x00 || m == 0xD8) return "corrupt JPEG: unexpected marker at byte " + std::to_string(pos - 2);
    if (n - pos < 2) break;
    const std::size_t len = static_cast<std::size_t>(load_be(d + pos, 2));
    if (len < 2 || len > n - pos)
      return "corrupt JPEG: segment at byte " + std::to_string(pos - 2) + " runs past the end of the file";
    if (m == 0xC4) {  // Huffman tables: class/id byte, 16 counts, then the values
      std::size_t t = pos + 2;
      const std::size_t end = pos + len;
      while (t < end) {
        if (end - t < 17) return "corrupt JPEG: Huffman table header cut short";
        std::size_t codes = 0;
        for (std::size_t i = 1; i <= 16; ++i) codes += d[t + i];
        if (codes > 256)
          return "corrupt JPEG: a Huffman table defines " + std::to_string(codes) + " codes (at most 256)";
        if (end - t - 17 < codes) return "corrupt JPEG: Huffman table values cut short";
        const unsigned cls = d[t] >> 4, id = d[t] & 15u;
        if (cls <= 1 && id <= 3) defined[cls][id] = true;  // others: stb_image refuses the table itself
        t += 17 + codes;
      }
    }
    if (m == 0xC2) progressive = true;
    if (m == 0xDA && len >= 3) {  // start of scan: components' tables, then Ss, Se, Ah/Al
      const std::size_t ns = d[pos + 2];
      if (ns >= 1 && ns <= 4 && len >= 2 + 1 + 2 * ns + 3) {
        const unsigned ss = d[pos + 3 + 2 * ns], ah = d[pos + 5 + 2 * ns] >> 4;
        for (std::size_t c = 0; c < ns; ++c) {
          const unsigned dc = d[pos + 4 + 2 * c] >> 4, ac = d[pos + 4 + 2 * c] & 15u;
          const bool need_dc = progressive ? ss == 0 && ah == 0 : true, need_ac = progressive ? ss > 0 : true;
          if ((need_dc && dc <= 3 && !defined[0][dc]) || (need_ac && ac <= 3 && !defined[1][ac]))
            return "corrupt JPEG: a scan uses a Huffman table that is not defined";
        }
      }
    }
    pos += len;
    if (m == 0xDA) {  // entropy-coded data follows, up to the next marker other than RSTn or a stuffed zero
      while (pos + 1 < n && !(d[pos] == 0xFF && d[pos + 1] != 0x00 && !(d[pos + 1] >= 0xD0 && d[pos + 1] <= 0xD7))) ++pos;
      if (pos + 1 >= n) break;
    }
  }
  return {};
}

/// CRC-32 (ISO-HDLC, as PNG uses) of n bytes.
inline std::uint32_t crc32(const unsigned char* d, std::size_t n) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ d[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

/// What is wrong with a PNG's chunk structure ("" when nothing is, or for other formats): every chunk
/// must lie inside the file and pass its CRC check, and the image data must not begin with an empty
/// IDAT chunk (stb_image 2.27 mishandles one).
inline std::string png_structure_error(const unsigned char* d, std::size_t n) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (n < 8 || !std::equal(sig, sig + 8, d)) return {};
  std::size_t pos = 8;
  bool data_seen = false;
  while (true) {
    if (n - pos < 12) return "PNG data is truncated (a chunk is cut short)";
    const std::size_t len = static_cast<std::size_t>(load_be(d + pos, 4));
    if (len > n - pos - 12) return "PNG data is truncated (a chunk runs past the end of the file)";
    const std::string type(reinterpret_cast<const char*>(d + pos + 4), 4);
    for (char c : type)
      if (!std::isalpha(static_cast<unsigned char>(c))) return "corrupt PNG: a chunk's type is not four letters";
    const unsigned char* crc = d + pos + 8 + len;
    const auto want = static_cast<std::uint32_t>(load_be(crc, 4));
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION  // fuzzing: mutated chunks reach the decoder
    if (crc32(d + pos + 4, len + 4) != want) return "corrupt PNG: chunk " + type + " fails its CRC check";
#else
    (void)want;
#endif
    if (type == "IDAT") {
      if (len == 0 && !data_seen) return "corrupt PNG: the image data begins with an empty IDAT chunk";
      data_seen = true;
    }
    if (type == "IEND") return {};
    pos += 12 + len;
  }
}

/// Why a JPEG or PNG is cut short (nullptr when it is complete or another format): a JPEG must
/// hold its end-of-image marker after the start of its first scan (entropy-coded data cannot hold
/// the bytes FF D9), a PNG its IEND chunk.
inline const char* truncation(const unsigned char* d, std::size_t n) {
  if (const std::size_t start = jpeg_start(d, n)) {
    std::size_t sos = 0;
    for (std::size_t i = start; i + 1 < n && !sos; ++i)
      if (d[i] == 0xFF && d[i + 1] == 0xDA) sos = i;
    if (!sos) return "JPEG data is truncated (no image scan)";
    for (std::size_t i = n - 1; i > sos + 1; --i)
      if (d[i - 1] == 0xFF && d[i] == 0xD9) return nullptr;
    return "JPEG data is truncated (it ends before its end-of-image marker)";
  }
  static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (n >= 8 && std::equal(png_sig, png_sig + 8, d)) {
    for (std::size_t i = n >= 12 ? n - 8 : 8; i >= 8 && i + 4 <= n; --i)
      if (d[i] == 'I' && d[i + 1] == 'E' && d[i + 2] == 'N' && d[i + 3] == 'D') return nullptr;
    return "PNG data is truncated (no IEND chunk at its end)";
  }
  return nullptr;
}
}  // namespace detail

/// Decodes JPEG/PNG/BMP bytes; `name` appears in errors. Throws lmtcnn::error. A JPEG's Exif
/// orientation is applied (width and height swap for 5 to 8) unless exif_upright is false.
inline image decode_image(const unsigned char* data, std::size_t size, const std::string& name,
                          const image_limits& limits = {}, bool exif_upright = true) {
  if (size == 0) throw error(name + ": empty file");
  if (size > static_cast<std::size_t>(limits.max_file_bytes) || size > 0x7FFFFFFF)
    throw error(name + ": file is larger than " + std::to_string(limits.max_file_bytes) + " bytes");
  auto too_large = [&](std::int64_t w, std::int64_t h) {
    return error(name + ": image is " + std::to_string(w) + "x" + std::to_string(h) + " pixels, more than the limit of " +
                 std::to_string(limits.max_side) + " per side and " + std::to_string(limits.max_pixels) + " in all");
  };
  std::int64_t hw = 0, hh = 0;
  if (detail::header_dimensions(data, size, hw, hh) &&
      (hw > limits.max_side || hh > limits.max_side || hw * hh > limits.max_pixels))
    throw too_large(hw, hh);
  if (const char* why = detail::truncation(data, size)) throw error(name + ": " + why);
  for (const std::string& why : {detail::jpeg_structure_error(data, size), detail::png_structure_error(data, size)})
    if (!why.empty()) throw error(name + ": " + why);
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &channels))
    throw error(name + ": not a readable JPEG, PNG or BMP image (" + stbi_failure_reason() + ")");
  if (w <= 0 || h <= 0 || w > limits.max_side || h > limits.max_side ||
      static_cast<std::int64_t>(w) * h > limits.max_pixels)
    throw too_large(w, h);
  unsigned char* px = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &channels, 3);
  if (!px) throw error(name + ": cannot decode image (" + std::string(stbi_failure_reason()) + ")");
  image img;
  img.width = w;
  img.height = h;
  img.rgb.assign(px, px + static_cast<std::size_t>(w) * h * 3);
  stbi_image_free(px);
  const detail::exif_orientation_info exif = detail::jpeg_exif_orientation(data, size);
  img.warning = exif.warning;
  if (exif.orientation != 1) {
    if (exif_upright)
      img.rgb = detail::orient_upright(img.rgb, w, h, exif.orientation, img.width, img.height);
    else
      img.exif_orientation = exif.orientation;
  }
  return img;
}

/// Reads and decodes an image file, upright unless exif_upright is false (see decode_image). Throws
/// lmtcnn::error naming the file.
inline image load_image(const std::string& path, const image_limits& limits = {}, bool exif_upright = true) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw error(path + ": cannot open (" + std::strerror(errno) + ")");
  if (S_ISDIR(st.st_mode)) throw error(path + ": is a directory, not an image");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw error(path + ": cannot open (" + std::strerror(errno) + ")");
  const std::streamoff size = in.tellg();
  if (size < 0) throw error(path + ": cannot read");
  if (size > limits.max_file_bytes)
    throw error(path + ": file is larger than " + std::to_string(limits.max_file_bytes) + " bytes");
  std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) throw error(path + ": cannot read");
  return decode_image(bytes.data(), bytes.size(), path, limits, exif_upright);
}

}  // namespace lmtcnn
