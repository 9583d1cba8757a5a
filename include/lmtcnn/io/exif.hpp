// lmtcnn EXIF orientation: phones store photos as the sensor saw them and say in the JPEG's Exif block
// (APP1, "Exif\0\0", then a TIFF structure) how to turn them upright: the Orientation tag (0x0112) of
// the 0th IFD, 1 to 8. Only that tag is read: the 0th IFD's entries, never the IFD chain after it nor
// any other IFD. Every offset and count is checked against the block before it is used; an Exif block
// that cannot be read leaves the photo as stored, with a warning that says why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lmtcnn/core/bytes.hpp"

namespace lmtcnn {
namespace detail {

/// What a JPEG's Exif block says about orientation.
struct exif_orientation_info {
  int orientation = 1;   ///< 1 (as stored) to 8
  std::string warning;   ///< why an Exif block was ignored ("" when none was, or there was none)
};

/// The orientation in a TIFF structure of n bytes (the Exif block after its "Exif\0\0" header).
inline exif_orientation_info tiff_orientation(const unsigned char* t, std::size_t n) {
  exif_orientation_info r;
  auto bad = [&](const std::string& why) {
    r.orientation = 1;
    r.warning = "Exif block ignored: " + why;
    return r;
  };
  if (n < 8) return bad("its TIFF header is cut short");
  bool little;
  if (t[0] == 'I' && t[1] == 'I') little = true;
  else if (t[0] == 'M' && t[1] == 'M') little = false;
  else return bad("no byte order mark");
  auto u16 = [&](std::size_t at) { return static_cast<std::uint32_t>(little ? load_le(t + at, 2) : load_be(t + at, 2)); };
  auto u32 = [&](std::size_t at) { return static_cast<std::uint64_t>(little ? load_le(t + at, 4) : load_be(t + at, 4)); };
  if (u16(2) != 42) return bad("not a TIFF structure (no 42 after the byte order)");
  const std::uint64_t ifd = u32(4);
  if (ifd < 8 || ifd > n || n - ifd < 2) return bad("its 0th IFD lies outside the block");
  const std::uint64_t count = u16(static_cast<std::size_t>(ifd));
  if (count > (n - ifd - 2) / 12) return bad("its 0th IFD's " + std::to_string(count) + " entries run past the block");
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::size_t e = static_cast<std::size_t>(ifd + 2 + 12 * i);
    if (u16(e) != 0x0112) continue;
    const std::uint32_t type = u16(e + 2);
    const std::uint64_t values = u32(e + 4);
    if (type != 3 || values != 1) return bad("its Orientation tag is not one SHORT");
    const std::uint32_t o = u16(e + 8);  // a single SHORT sits in the first two bytes of the value field
    if (o < 1 || o > 8) return bad("its Orientation is " + std::to_string(o) + ", not 1 to 8");
    r.orientation = static_cast<int>(o);
    return r;
  }
  return r;  // no Orientation tag: as stored
}

/// The orientation a JPEG's first Exif block gives (1 for other formats and for JPEGs without one).
/// The segments before the start of scan are walked, each checked to lie inside the file.
inline exif_orientation_info jpeg_exif_orientation(const unsigned char* d, std::size_t n) {
  std::size_t pos = 0;
  while (pos < n && d[pos] == 0xFF) ++pos;
  if (pos == 0 || pos >= n || d[pos] != 0xD8) return {};  // not a JPEG
  ++pos;
  while (pos < n) {
    if (d[pos] != 0xFF) return {};  // the decoder reports a broken structure
    while (pos < n && d[pos] == 0xFF) ++pos;
    if (pos >= n) return {};
    const unsigned m = d[pos++];
    if (m == 0xD9 || m == 0xDA) return {};                 // end of image, start of scan: no Exif block
    if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) continue;  // markers without a segment
    if (n - pos < 2) return {};
    const std::size_t len = static_cast<std::size_t>(load_be(d + pos, 2));
    if (len < 2 || len > n - pos) return {};
    const unsigned char* s = d + pos + 2;
    const std::size_t sn = len - 2;
    if (m == 0xE1 && sn >= 6 && s[0] == 'E' && s[1] == 'x' && s[2] == 'i' && s[3] == 'f' && s[4] == 0 && s[5] == 0)
      return tiff_orientation(s + 6, sn - 6);
    pos += len;
  }
  return {};
}

/// The upright image of an RGB image of w x h pixels stored with EXIF orientation o (1 to 8): pixel
/// (x, y) of the result is stored pixel source(x, y). Orientations 5 to 8 swap width and height.
/// The EXIF specification gives, for each value, which side of the picture as seen the stored 0th row
/// and 0th column are: 2 top/right, 3 bottom/right, 4 bottom/left, 5 left/top, 6 right/top,
/// 7 right/bottom, 8 left/bottom.
inline std::vector<unsigned char> orient_upright(const std::vector<unsigned char>& rgb, int w, int h, int o, int& out_w,
                                                 int& out_h) {
  const bool swap = o >= 5;
  out_w = swap ? h : w;
  out_h = swap ? w : h;
  std::vector<unsigned char> out(rgb.size());
  for (int y = 0; y < out_h; ++y)
    for (int x = 0; x < out_w; ++x) {
      int sx = x, sy = y;
      switch (o) {
        case 2: sx = w - 1 - x; break;
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;
        case 4: sy = h - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = h - 1 - x; break;
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;
        case 8: sx = w - 1 - y; sy = x; break;
        default: break;
      }
      const std::size_t src = (static_cast<std::size_t>(sy) * w + sx) * 3;
      const std::size_t dst = (static_cast<std::size_t>(y) * out_w + x) * 3;
      out[dst] = rgb[src];
      out[dst + 1] = rgb[src + 1];
      out[dst + 2] = rgb[src + 2];
    }
  return out;
}

}  // namespace detail
}  // namespace lmtcnn
