// Hostile inputs: the files the fuzzers found crashing Debian's stb_image 2.27 (kept in tests/data/fuzz,
// each refused now with a clear message), crafted images that reach the same flaws, the image and
// network size limits.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "lmtcnn/graph/graph.hpp"
#include "lmtcnn/io/image_io.hpp"

using namespace lmtcnn;

namespace {

const std::string data_dir = LMTCNN_TEST_DATA_DIR;

using bytes = std::vector<unsigned char>;

void put32(bytes& b, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

void chunk(bytes& png, const char* type, const bytes& payload) {
  put32(png, static_cast<std::uint32_t>(payload.size()));
  bytes body(type, type + 4);
  body.insert(body.end(), payload.begin(), payload.end());
  png.insert(png.end(), body.begin(), body.end());
  put32(png, detail::crc32(body.data(), body.size()));
}

/// A 1x1 RGB PNG with valid CRCs, optionally with an empty IDAT chunk before the data. The IDAT
/// payload is a zlib stream of the filter byte 0 and three zero bytes, stored (no compression).
bytes png_1x1(bool empty_idat_first) {
  bytes png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  chunk(png, "IHDR", {0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0});
  if (empty_idat_first) chunk(png, "IDAT", {});
  // zlib header 78 01, a final stored block of 4 bytes (LEN 4, NLEN ~4), the data, Adler-32 of 4 zeros
  chunk(png, "IDAT", {0x78, 0x01, 0x01, 0x04, 0x00, 0xFB, 0xFF, 0, 0, 0, 0, 0x00, 0x04, 0x00, 0x01});
  chunk(png, "IEND", {});
  return png;
}

bytes read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("CRC-32 as PNG computes it") {
  const std::string s = "123456789";
  CHECK(detail::crc32(reinterpret_cast<const unsigned char*>(s.data()), s.size()) == 0xCBF43926u);
}

TEST_CASE("the fuzzers' findings are refused with a clear message") {
  struct finding {
    const char* file;
    const char* message;
  };
  // found by fuzz_image_pipeline: a DHT segment defining 409 codes (stb_image 2.27 writes past its
  // 257-entry table), the same behind 0xFF fill bytes, a PNG whose image data starts with an empty IDAT
  // chunk (stb_image passes a null pointer to memcpy); the PNG's CRCs no longer match after fuzzing;
  // a baseline scan naming AC table 0 where only AC tables 1 and 2 were defined (stb_image decodes
  // with the table's uninitialised memory: an index of -184614920)
  const finding findings[] = {
      {"jpeg_undefined_huffman_table.jpg", "a scan uses a Huffman table that is not defined"},
      {"jpeg_huffman_table_overflow.jpg", "a Huffman table defines 409 codes (at most 256)"},
      {"jpeg_fill_bytes_huffman_overflow.jpg", "JPEG data is truncated"},
      {"png_empty_first_idat.png", "fails its CRC check"},
  };
  for (const finding& f : findings) {
    INFO(f.file);
    const bytes b = read(data_dir + "/fuzz/" + f.file);
    CHECK_THROWS_WITH_AS(decode_image(b.data(), b.size(), f.file), doctest::Contains(f.message), error);
  }
}

TEST_CASE("a JPEG whose Huffman table claims more than 256 codes is refused before stb_image sees it") {
  // SOI, a DHT segment whose 16 counts add up to 16 * 17 = 272, then EOI
  bytes jpeg = {0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x13, 0x00};
  for (int i = 0; i < 16; ++i) jpeg.push_back(17);
  jpeg.insert(jpeg.end(), {0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9});
  CHECK_THROWS_WITH_AS(decode_image(jpeg.data(), jpeg.size(), "dht.jpg"), doctest::Contains("defines 272 codes"), error);
  // the same behind fill bytes
  jpeg.insert(jpeg.begin(), {0xFF, 0xFF, 0xFF});
  CHECK_THROWS_WITH_AS(decode_image(jpeg.data(), jpeg.size(), "dht.jpg"), doctest::Contains("defines 272 codes"), error);
  // a segment running past the end of the file
  const bytes cut = {0xFF, 0xD8, 0xFF, 0xE0, 0x40, 0x00, 0x00, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9};
  CHECK_THROWS_WITH_AS(decode_image(cut.data(), cut.size(), "cut.jpg"), doctest::Contains("runs past the end"), error);
}

TEST_CASE("PNG chunks: CRCs checked, an empty first IDAT chunk refused, a valid 1x1 image decoded") {
  const bytes good = png_1x1(false);
  const image img = decode_image(good.data(), good.size(), "one.png");
  CHECK(img.width == 1);
  CHECK(img.height == 1);
  CHECK(img.rgb == std::vector<unsigned char>{0, 0, 0});
  const bytes empty = png_1x1(true);
  CHECK_THROWS_WITH_AS(decode_image(empty.data(), empty.size(), "empty_idat.png"),
                       doctest::Contains("begins with an empty IDAT chunk"), error);
  // every single-bit flip of the valid file is refused (CRCs, lengths, signature) with a message
  for (std::size_t i = 0; i < good.size() * 8; ++i) {
    bytes b = good;
    b[i / 8] ^= static_cast<unsigned char>(1u << (i % 8));
    INFO("bit " << i);
    CHECK_THROWS_AS(decode_image(b.data(), b.size(), "flipped.png"), error);
  }
}

TEST_CASE("image size limits are checked from the header, before decoding") {
  bytes png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  chunk(png, "IHDR", {0, 0, 0x40, 0x01, 0, 0, 0, 1, 8, 2, 0, 0, 0});  // 16385 x 1
  chunk(png, "IEND", {});
  CHECK_THROWS_WITH_AS(decode_image(png.data(), png.size(), "wide.png"), doctest::Contains("16385x1 pixels"), error);
  image_limits small;
  small.max_side = 100;
  const bytes good = png_1x1(false);
  CHECK_NOTHROW(decode_image(good.data(), good.size(), "one.png", small));
  small.max_pixels = 0;
  CHECK_THROWS_WITH_AS(decode_image(good.data(), good.size(), "one.png", small), doctest::Contains("1x1 pixels"), error);
}

TEST_CASE("a network whose layer would hold more than 2^28 values per image is refused") {
  graph g;
  g.input_dims = {8192, 8192, 1};
  g.nodes = {{"pw", op_kind::pointwise_conv2d, {0}, {"w", ""}, {1, 1, 0, 0}, {}}};
  g.outputs = {{"out", 1}};
  auto lookup = [](index_t c) {
    return [c](const std::string&, bool& found) {
      found = true;
      return shape({1, 1, 1, c});
    };
  };
  CHECK_NOTHROW(infer_shapes(g, 1, lookup(4)));  // 8192 * 8192 * 4 = 2^28
  CHECK_THROWS_WITH_AS(infer_shapes(g, 1, lookup(5)), doctest::Contains("more than 268435456 values per image"),
                       shape_error);
}
