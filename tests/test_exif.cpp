// EXIF orientation: the eight orientations on a 3x2 image, expected pictures worked out by hand from
// the EXIF specification's description of each value (which side of the picture as seen the stored
// 0th row and 0th column are); the Orientation tag read from Exif blocks written here byte by byte in
// both byte orders; and hostile blocks (cut short, offsets and counts past the end, an IFD chain that
// loops, a wrong type, a value out of range), each leaving the photo as stored with a warning.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "lmtcnn/io/exif.hpp"

using lmtcnn::detail::jpeg_exif_orientation;
using lmtcnn::detail::orient_upright;
using lmtcnn::detail::tiff_orientation;

namespace {

// The stored picture, 3 wide and 2 high:   a b c
//                                           d e f
// (each pixel's three bytes are its letter).
std::vector<unsigned char> stored() {
  std::vector<unsigned char> px;
  for (char c : std::string("abcdef")) px.insert(px.end(), 3, static_cast<unsigned char>(c));
  return px;
}

std::string letters(const std::vector<unsigned char>& px) {
  std::string s;
  for (std::size_t i = 0; i < px.size(); i += 3) {
    CHECK(px[i] == px[i + 1]);
    CHECK(px[i] == px[i + 2]);
    s += static_cast<char>(px[i]);
  }
  return s;
}

/// A TIFF structure with one IFD of the given 12-byte entries (tag, type, count, value), in the
/// given byte order; next is the offset of the IFD after it (0: none).
std::vector<unsigned char> tiff(bool little, const std::vector<std::array<std::uint32_t, 4>>& entries,
                                std::uint32_t next = 0, std::uint32_t ifd_offset = 8) {
  std::vector<unsigned char> t;
  auto put = [&](std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) {
      const int shift = little ? 8 * i : 8 * (n - 1 - i);
      t.push_back(static_cast<unsigned char>((v >> shift) & 0xFF));
    }
  };
  t.push_back(little ? 'I' : 'M');
  t.push_back(little ? 'I' : 'M');
  put(42, 2);
  put(ifd_offset, 4);
  while (t.size() < ifd_offset) t.push_back(0);
  put(entries.size(), 2);
  for (const auto& e : entries) {
    put(e[0], 2);
    put(e[1], 2);
    put(e[2], 4);
    if (e[1] == 3 && e[2] == 1) {  // one SHORT: in the first two bytes of the value field
      put(e[3], 2);
      put(0, 2);
    } else {
      put(e[3], 4);
    }
  }
  put(next, 4);
  return t;
}

/// A minimal JPEG byte stream: SOI, an APP0, the given APP1 payload, then EOI (enough for the reader,
/// which stops at the start of scan or the end of the image).
std::vector<unsigned char> jpeg_with_app1(const std::vector<unsigned char>& app1) {
  std::vector<unsigned char> j = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0};
  j.push_back(0xFF);
  j.push_back(0xE1);
  const std::size_t len = app1.size() + 2;
  j.push_back(static_cast<unsigned char>(len >> 8));
  j.push_back(static_cast<unsigned char>(len & 0xFF));
  j.insert(j.end(), app1.begin(), app1.end());
  j.push_back(0xFF);
  j.push_back(0xD9);
  return j;
}

std::vector<unsigned char> exif(const std::vector<unsigned char>& tiff_bytes) {
  std::vector<unsigned char> e(6 + tiff_bytes.size());
  const unsigned char header[6] = {'E', 'x', 'i', 'f', 0, 0};
  std::copy(header, header + 6, e.begin());
  std::copy(tiff_bytes.begin(), tiff_bytes.end(), e.begin() + 6);
  return e;
}

}  // namespace

TEST_CASE("the eight EXIF orientations turn a 3x2 picture upright as the specification describes") {
  // orientation: the upright picture, rows top to bottom, and its width
  const struct {
    int o;
    const char* upright;
    int w;
  } cases[] = {
      {1, "abcdef", 3},  // 0th row top, 0th column left
      {2, "cbafed", 3},  // top, right: mirrored left to right
      {3, "fedcba", 3},  // bottom, right: turned half round
      {4, "defabc", 3},  // bottom, left: mirrored top to bottom
      {5, "adbecf", 2},  // left, top: a d / b e / c f
      {6, "daebfc", 2},  // right, top: d a / e b / f c (stored turned a quarter counter-clockwise)
      {7, "fcebda", 2},  // right, bottom: f c / e b / d a
      {8, "cfbead", 2},  // left, bottom: c f / b e / a d (stored turned a quarter clockwise)
  };
  for (const auto& c : cases) {
    int w = 0, h = 0;
    const auto out = orient_upright(stored(), 3, 2, c.o, w, h);
    CHECK_MESSAGE(letters(out) == c.upright, "orientation " << c.o);
    CHECK(w == c.w);
    CHECK(h == 6 / c.w);
  }
}

TEST_CASE("the Orientation tag is read in both byte orders, among other tags, from the first Exif block") {
  for (bool little : {true, false})
    for (std::uint32_t o = 1; o <= 8; ++o) {
      // ImageWidth (LONG), Make (ASCII, offset), Orientation (SHORT), XResolution (RATIONAL, offset)
      const auto t = tiff(little, {{0x0100, 4, 1, 640}, {0x010F, 2, 6, 100}, {0x0112, 3, 1, o}, {0x011A, 5, 1, 120}});
      const auto r = tiff_orientation(t.data(), t.size());
      CHECK_MESSAGE(r.orientation == static_cast<int>(o), (little ? "II" : "MM") << " orientation " << o);
      CHECK(r.warning.empty());
      const auto j = jpeg_with_app1(exif(t));
      CHECK(jpeg_exif_orientation(j.data(), j.size()).orientation == static_cast<int>(o));
    }
  // no Orientation tag, an APP1 that is not Exif (XMP), a PNG, nothing at all: as stored, no warning
  const auto none = tiff(true, {{0x0100, 4, 1, 640}});
  CHECK(tiff_orientation(none.data(), none.size()).orientation == 1);
  const std::string xmp = "http://ns.adobe.com/xap/1.0/";
  const auto j = jpeg_with_app1(std::vector<unsigned char>(xmp.begin(), xmp.end()));
  CHECK(jpeg_exif_orientation(j.data(), j.size()).orientation == 1);
  CHECK(jpeg_exif_orientation(j.data(), j.size()).warning.empty());
  const unsigned char png[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  CHECK(jpeg_exif_orientation(png, sizeof png).orientation == 1);
  CHECK(jpeg_exif_orientation(png, 0).orientation == 1);
}

TEST_CASE("hostile Exif blocks leave the photo as stored, with a warning that says why") {
  const auto good = tiff(false, {{0x0112, 3, 1, 6}});
  // every truncation of a good block: as stored or, while the tag is still whole, read
  for (std::size_t n = 0; n < good.size(); ++n) {
    const auto r = tiff_orientation(good.data(), n);
    CHECK((r.orientation == 1 || r.orientation == 6));
    if (r.orientation == 1) CHECK(!r.warning.empty());
  }
  // and cut inside the JPEG: the segment then runs past the file and is not read at all
  const auto j = jpeg_with_app1(exif(good));
  for (std::size_t n = 0; n < j.size(); ++n) {
    const auto r = jpeg_exif_orientation(j.data(), n);
    CHECK((r.orientation == 1 || r.orientation == 6));
  }

  struct hostile {
    const char* what;
    std::vector<unsigned char> bytes;
    const char* warning;
  };
  const hostile cases[] = {
      {"no byte order mark", {'X', 'X', 0, 42, 0, 0, 0, 8, 0, 0}, "no byte order mark"},
      {"not 42", {'M', 'M', 0, 43, 0, 0, 0, 8, 0, 0}, "not a TIFF structure"},
      {"IFD offset past the end", {'I', 'I', 42, 0, 0xF0, 0xFF, 0xFF, 0xFF, 0, 0}, "lies outside the block"},
      {"IFD offset inside the header", {'I', 'I', 42, 0, 4, 0, 0, 0, 0, 0}, "lies outside the block"},
      {"entry count near 2^16 in a small block", {'M', 'M', 0, 42, 0, 0, 0, 8, 0xFF, 0xFF, 0, 0}, "entries run past the block"},
      {"Orientation as a LONG", tiff(true, {{0x0112, 4, 1, 6}}), "not one SHORT"},
      {"Orientation count near 2^32", tiff(false, {{0x0112, 3, 0xFFFFFFFFu, 6}}), "not one SHORT"},
      {"Orientation 9", tiff(true, {{0x0112, 3, 1, 9}}), "not 1 to 8"},
      {"Orientation 0", tiff(false, {{0x0112, 3, 1, 0}}), "not 1 to 8"},
  };
  for (const hostile& c : cases) {
    const auto r = tiff_orientation(c.bytes.data(), c.bytes.size());
    CHECK_MESSAGE(r.orientation == 1, c.what);
    CHECK_MESSAGE(r.warning.find(c.warning) != std::string::npos, c.what << ": " << r.warning);
    const auto jj = jpeg_with_app1(exif(c.bytes));
    CHECK(jpeg_exif_orientation(jj.data(), jj.size()).warning == r.warning);
  }
  // an IFD chain that loops (the 0th IFD names itself as the next): only the 0th IFD is read
  const auto loop = tiff(true, {{0x0112, 3, 1, 8}}, 8);
  CHECK(tiff_orientation(loop.data(), loop.size()).orientation == 8);
  // a JPEG segment claiming more bytes than the file has
  std::vector<unsigned char> cut = {0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E', 'x', 'i', 'f', 0, 0};
  CHECK(jpeg_exif_orientation(cut.data(), cut.size()).orientation == 1);
}
