// Writes the fuzzers' seed corpora: small valid inputs of every kind, so the fuzzers start from
// inputs that reach deep into the readers.
//   make_seeds OUT_DIR [PHOTO.png]
// OUT_DIR/weights_file: .lmt files with self-tests (two small networks using every op)
// OUT_DIR/tfjs_manifest: manifest JSON, a zero byte, shard bytes (float32, uint8, uint16, float16 tensors)
// OUT_DIR/tf_checkpoint: copies of PHOTO's directory's fuzz/tf_checkpoint/*.bin (4-byte index length,
//   .index bytes, shard 0's bytes: plain, Snappy-compressed and two-shard checkpoints)
// OUT_DIR/tf_graphdef: copies of PHOTO's directory's fuzz/tf_graphdef/*.pb (frozen graphs)
// OUT_DIR/npz: .npz archives, stored and deflated, with float32, float64 and float16 arrays
// OUT_DIR/image_pipeline: small PNG, BMP and JPEG photos (from PHOTO when given, else synthetic), and
//   the JPEG with Exif orientation blocks
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <zlib.h>

#include <lmtcnn/graph/graph_net.hpp>
#include <lmtcnn/io/image_io.hpp>
#include <lmtcnn/core/seeded.hpp>
#include <lmtcnn/format/weights_file.hpp>

#include "../small_net.hpp"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

using namespace lmtcnn;
namespace fs = std::filesystem;

namespace {

using bytes = std::vector<unsigned char>;

void write(const fs::path& p, const bytes& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!out) throw error(p.string() + ": cannot write");
}

bytes with_self_test(const graph& g, tensor_map<float> w, const shape& input, const char* name) {
  const tensor<float> in = seeded::pixels<float>(input, 3, "input");
  const auto out = graph_net<float>(g, w).forward(in.view());
  self_test_spec st;
  st.input_tensor = "selftest/input";
  w.emplace("selftest/input", in);
  for (const auto& [o, t] : out) {
    w.emplace("selftest/" + o, t);
    st.outputs.emplace_back(o, "selftest/" + o);
  }
  st.origin = "lmtcnn scalar reference";
  metadata m;
  m["network.name"] = meta_value::text(name);
  m["network.family"] = meta_value::text("seed");
  m["labels.classes"] = meta_value::texts({"a", "b"});
  m["preprocess.mean"] = meta_value::reals({1, 2, 3});
  m["input.height"] = meta_value::integer(input[1]);
  return serialize_weights(m, g, w, st);
}

void weight_seeds(const fs::path& dir) {
  write(dir / "small_a.lmt",
        with_self_test(lmtcnn_test::small_graph(), lmtcnn_test::small_weights(), {1, 5, 7, 3}, "seed a"));
  {
    graph g;
    g.input_dims = {6, 6, 2};
    g.nodes = {
        {"std", op_kind::standardize, {0}, {}, {}, {}},
        {"pw", op_kind::pointwise_conv2d, {1}, {"pw/w", "pw/b"}, {1, 1, 0, 1}, {}},
        {"lrn", op_kind::lrn, {2}, {}, {2}, {1.0, 1e-4, 0.75}},
        {"bn", op_kind::batch_norm, {3}, {"", "", "", "bn/beta"}, {1}, {1e-3}},
        {"relu", op_kind::relu, {4}, {}, {}, {}},
        {"add", op_kind::add, {5, 3}, {}, {}, {}},
        {"avg", op_kind::pool_avg, {6}, {}, {3, 3, 2, 2, 1}, {}},
        {"fc", op_kind::fully_connected, {7}, {"fc/w", ""}, {1}, {}},
        {"softmax", op_kind::softmax, {8}, {}, {}, {}},
    };
    g.outputs = {{"probs", 9}};
    tensor_map<float> w;
    w.emplace("pw/w", seeded::uniform<float>({1, 1, 2, 5}, 6, "pw/w", -0.5, 0.5));
    w.emplace("pw/b", seeded::uniform<float>({5}, 6, "pw/b", -0.5, 0.5));
    w.emplace("bn/beta", seeded::uniform<float>({5}, 6, "bn/beta", -0.5, 0.5));
    w.emplace("fc/w", seeded::uniform<float>({3 * 3 * 5, 2}, 6, "fc/w", -0.5, 0.5));
    write(dir / "small_b.lmt", with_self_test(g, w, {2, 6, 6, 2}, "seed b"));
  }
}

void tfjs_seeds(const fs::path& dir) {
  const std::string manifest =
      R"([{"paths": ["w.bin"], "weights": [)"
      R"({"name": "a/filters", "shape": [2, 2], "dtype": "float32"}, )"
      R"({"name": "b/filters", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}}, )"
      R"({"name": "c/bias", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 0.25, "min": 0}}, )"
      R"({"name": "d/bias", "shape": [1, 2], "dtype": "float32", "quantization": {"dtype": "float16"}}]}])";
  bytes shard;
  const float f[4] = {1.5f, -2.0f, 0.25f, 3.0f};
  shard.insert(shard.end(), reinterpret_cast<const unsigned char*>(f), reinterpret_cast<const unsigned char*>(f) + 16);
  for (int q : {0, 7, 255}) shard.push_back(static_cast<unsigned char>(q));
  for (unsigned q : {3u, 60000u}) {
    shard.push_back(static_cast<unsigned char>(q & 0xFF));
    shard.push_back(static_cast<unsigned char>(q >> 8));
  }
  for (unsigned h : {0x3C00u, 0xC000u}) {  // 1.0, -2.0
    shard.push_back(static_cast<unsigned char>(h & 0xFF));
    shard.push_back(static_cast<unsigned char>(h >> 8));
  }
  bytes b(manifest.begin(), manifest.end());
  b.push_back(0);
  b.insert(b.end(), shard.begin(), shard.end());
  write(dir / "mixed.seed", b);
  // the face-api.js names with wrong shapes, and a model.json wrapper
  const std::string detector =
      R"({"weightsManifest": [{"paths": ["x.bin"], "weights": [)"
      R"({"name": "conv0/filters", "shape": [1], "dtype": "float32"}, {"name": "conv8/filters", "shape": [1], "dtype": "float32"}]}]})";
  b.assign(detector.begin(), detector.end());
  b.push_back(0);
  b.insert(b.end(), shard.begin(), shard.begin() + 8);
  write(dir / "detector_names.seed", b);
}

/// A .npy array (version 1.0) of the given dtype descriptor and raw data.
bytes npy(const std::string& descr, const std::string& shape_text, const bytes& raw) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_text + ", }";
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  bytes b = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<unsigned char>(h.size() & 0xFF),
             static_cast<unsigned char>(h.size() >> 8)};
  b.insert(b.end(), h.begin(), h.end());
  b.insert(b.end(), raw.begin(), raw.end());
  return b;
}

void put(bytes& b, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

/// A zip archive of the members, stored (deflate false) or raw-deflated.
bytes zip(const std::vector<std::pair<std::string, bytes>>& members, bool deflated) {
  bytes out, dir;
  for (const auto& [name, data] : members) {
    bytes body = data;
    if (deflated) {
      z_stream z{};
      deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
      body.resize(deflateBound(&z, static_cast<uLong>(data.size())));
      z.next_in = const_cast<Bytef*>(data.data());
      z.avail_in = static_cast<uInt>(data.size());
      z.next_out = body.data();
      z.avail_out = static_cast<uInt>(body.size());
      deflate(&z, Z_FINISH);
      body.resize(body.size() - z.avail_out);
      deflateEnd(&z);
    }
    const std::uint32_t crc = static_cast<std::uint32_t>(crc32(0, data.data(), static_cast<uInt>(data.size())));
    const std::size_t local = out.size();
    put(out, 0x04034b50, 4);
    put(out, 20, 2);
    put(out, 0, 2);
    put(out, deflated ? 8 : 0, 2);
    put(out, 0, 4);
    put(out, crc, 4);
    put(out, body.size(), 4);
    put(out, data.size(), 4);
    put(out, name.size(), 2);
    put(out, 0, 2);
    out.insert(out.end(), name.begin(), name.end());
    out.insert(out.end(), body.begin(), body.end());
    put(dir, 0x02014b50, 4);
    put(dir, 20, 2);
    put(dir, 20, 2);
    put(dir, 0, 2);
    put(dir, deflated ? 8 : 0, 2);
    put(dir, 0, 4);
    put(dir, crc, 4);
    put(dir, body.size(), 4);
    put(dir, data.size(), 4);
    put(dir, name.size(), 2);
    put(dir, 0, 2);
    put(dir, 0, 2);
    put(dir, 0, 2);
    put(dir, 0, 2);
    put(dir, 0, 4);
    put(dir, local, 4);
    dir.insert(dir.end(), name.begin(), name.end());
  }
  const std::size_t dir_off = out.size();
  out.insert(out.end(), dir.begin(), dir.end());
  put(out, 0x06054b50, 4);
  put(out, 0, 2);
  put(out, 0, 2);
  put(out, members.size(), 2);
  put(out, members.size(), 2);
  put(out, dir.size(), 4);
  put(out, dir_off, 4);
  put(out, 0, 2);
  return out;
}

void npz_seeds(const fs::path& dir) {
  bytes f32, f64, f16;
  for (int i = 0; i < 6; ++i) {
    const float f = static_cast<float>(i) * 0.5f - 1.0f;
    const double d = f;
    f32.insert(f32.end(), reinterpret_cast<const unsigned char*>(&f), reinterpret_cast<const unsigned char*>(&f) + 4);
    f64.insert(f64.end(), reinterpret_cast<const unsigned char*>(&d), reinterpret_cast<const unsigned char*>(&d) + 8);
    put(f16, 0x3C00 + static_cast<unsigned>(i), 2);
  }
  const std::vector<std::pair<std::string, bytes>> members = {
      {"multitaskdpcnn/conv1/weights.npy", npy("<f4", "(2, 3)", f32)},
      {"multitaskdpcnn/conv1/biases.npy", npy("<f8", "(6,)", f64)},
      {"genderoutput/genderbiases.npy", npy("<f2", "(3, 2)", f16)},
      {"selftest/input.npy", npy("<f4", "(1, 1, 2, 3)", f32)},
  };
  write(dir / "stored.npz", zip(members, false));
  write(dir / "deflated.npz", zip(members, true));
}

void image_seeds(const fs::path& dir, const char* photo) {
  image img;
  if (photo) {
    img = load_image(photo);
  } else {
    img.width = 48;
    img.height = 40;
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < img.width; ++x)
        for (int c = 0; c < 3; ++c) img.rgb.push_back(static_cast<unsigned char>((x * 5 + y * 3 + c * 80) & 0xFF));
  }
  // a small version (at most 64 pixels a side) keeps the executions fast
  const int w = std::min(img.width, 64), h = std::min(img.height, 64);
  std::vector<unsigned char> small(static_cast<std::size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        small[(static_cast<std::size_t>(y) * w + x) * 3 + c] = img.at(x * img.width / w, y * img.height / h, c);
  const std::string base = (dir / "photo").string();
  if (!stbi_write_png((base + ".png").c_str(), w, h, 3, small.data(), w * 3) ||
      !stbi_write_bmp((base + ".bmp").c_str(), w, h, 3, small.data()) ||
      !stbi_write_jpg((base + ".jpg").c_str(), w, h, 3, small.data(), 85))
    throw error("cannot write the image seeds in " + dir.string());
  // the JPEG with Exif blocks spliced in after its start-of-image marker: orientation 6 in Intel byte
  // order, orientation 8 in Motorola byte order with two more tags and an IFD chain that loops back
  std::ifstream in(base + ".jpg", std::ios::binary);
  const bytes jpg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto with_exif = [&](bool little, unsigned orientation, bool more) {
    bytes t;
    auto put_o = [&](std::uint64_t v, int n) {
      for (int i = 0; i < n; ++i) t.push_back(static_cast<unsigned char>(v >> (little ? 8 * i : 8 * (n - 1 - i))));
    };
    t.push_back(little ? 'I' : 'M');
    t.push_back(little ? 'I' : 'M');
    put_o(42, 2);
    put_o(8, 4);
    auto entry = [&](unsigned tag, unsigned type, std::uint64_t value, int value_bytes) {
      put_o(tag, 2);
      put_o(type, 2);
      put_o(1, 4);
      put_o(value, value_bytes);
      put_o(0, 4 - value_bytes);
    };
    put_o(more ? 3 : 1, 2);
    if (more) {
      entry(0x0100, 4, static_cast<unsigned>(w), 4);  // ImageWidth, a LONG
      entry(0x011A, 5, 50, 4);                       // XResolution, a RATIONAL at offset 50
    }
    entry(0x0112, 3, orientation, 2);  // Orientation, a SHORT
    put_o(more ? 8 : 0, 4);            // the next IFD: none, or the 0th IFD again
    if (more) {
      put_o(72, 4);
      put_o(1, 4);
    }
    bytes app1 = {0xFF, 0xE1, 0, 0, 'E', 'x', 'i', 'f', 0, 0};
    app1.insert(app1.end(), t.begin(), t.end());
    app1[2] = static_cast<unsigned char>((app1.size() - 2) >> 8);
    app1[3] = static_cast<unsigned char>((app1.size() - 2) & 0xFF);
    bytes out(jpg.begin(), jpg.begin() + 2);
    out.insert(out.end(), app1.begin(), app1.end());
    out.insert(out.end(), jpg.begin() + 2, jpg.end());
    return out;
  };
  write(dir / "photo_exif6.jpg", with_exif(true, 6, false));
  write(dir / "photo_exif8_loop.jpg", with_exif(false, 8, true));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR [PHOTO]\n");
    return 2;
  }
  try {
    const fs::path out = argv[1];
    for (const char* d : {"weights_file", "tfjs_manifest", "npz", "tf_checkpoint", "tf_graphdef", "image_pipeline"})
      fs::create_directories(out / d);
    // checkpoints and frozen graphs written by tests/formats/tf_checkpoint_writer.py, kept in fuzz/ beside the photo
    if (argc > 2)
      for (const char* d : {"tf_checkpoint", "tf_graphdef"})
        for (const auto& f : fs::directory_iterator(fs::path(argv[2]).parent_path() / "fuzz" / d))
          fs::copy_file(f.path(), out / d / f.path().filename(), fs::copy_options::overwrite_existing);
    weight_seeds(out / "weights_file");
    tfjs_seeds(out / "tfjs_manifest");
    npz_seeds(out / "npz");
    image_seeds(out / "image_pipeline", argc > 2 ? argv[2] : nullptr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
