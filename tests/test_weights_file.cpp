// The weight file: round trip, self-test, and a corrupted-file suite in which every damaged file
// must give a format_error (never a crash, never a silently different network).
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lmtcnn/engine/model.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"
#include "small_net.hpp"
#include "test_util.hpp"

using namespace lmtcnn;
using bytes_t = std::vector<unsigned char>;

namespace {

// ---- a small network that uses most ops, with a self-test ---------------------------------------

using lmtcnn_test::small_graph;
using lmtcnn_test::small_weights;

metadata small_meta() {
  metadata m;
  m["network.name"] = meta_value::text("small test net");
  m["input.height"] = meta_value::integer(5);
  m["preprocess.divisor"] = meta_value::real(255.0);
  m["labels.classes"] = meta_value::texts({"a", "b", "c"});
  m["preprocess.mean"] = meta_value::reals({100, 110, 120});
  return m;
}

/// The small network's file with a self-test computed here by the reference ops.
bytes_t small_file() {
  tensor_map<float> w = small_weights();
  const tensor<float> input = seeded::pixels<float>({2, 5, 7, 3}, 5, "input");
  auto out = graph_net<float>(small_graph(), w).forward(input.view());
  w.emplace("selftest/input", input);
  w.emplace("selftest/logits", out.at("logits"));
  w.emplace("selftest/probs", out.at("probs"));
  self_test_spec st{"selftest/input", {{"logits", "selftest/logits"}, {"probs", "selftest/probs"}}, 1e-6, 1e-6,
                    "lmtcnn scalar reference"};
  return serialize_weights(small_meta(), small_graph(), w, st);
}

// ---- reading and re-sealing raw files, to craft damaged ones -------------------------------------

std::uint64_t get(const bytes_t& b, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | b.at(at + static_cast<std::size_t>(i));
  return v;
}

void put(bytes_t& b, std::size_t at, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.at(at + static_cast<std::size_t>(i)) = static_cast<unsigned char>(v >> (8 * i));
}

struct section_pos {
  std::size_t entry, offset, size;
};

section_pos find_section(const bytes_t& b, format::section_kind kind) {
  const std::size_t count = get(b, 20, 4);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t e = 64 + 32 * i;
    if (get(b, e, 4) == static_cast<std::uint32_t>(kind))
      return {e, static_cast<std::size_t>(get(b, e + 8, 8)), static_cast<std::size_t>(get(b, e + 16, 8))};
  }
  FAIL("no such section");
  return {};
}

/// Recomputes every checksum except the tensors', so that a crafted change reaches the deeper checks.
void reseal(bytes_t& b) {
  const std::size_t count = std::min<std::size_t>(get(b, 20, 4), (b.size() - 64) / 32);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t e = 64 + 32 * i;
    if (get(b, e, 4) == static_cast<std::uint32_t>(format::section_kind::data)) continue;
    const std::size_t off = get(b, e + 8, 8), size = get(b, e + 16, 8);
    if (off > b.size() || size > b.size() - off) continue;  // deliberately outside the file
    put(b, e + 24, format::hash64(b.data() + off, size), 8);
  }
  put(b, 40, format::hash64(b.data() + 64, 32 * count), 8);
  put(b, 56, format::hash64(b.data(), 56), 8);
}

/// Byte position of a tensor's table entry fields: returns the position just after its name.
std::size_t tensor_entry_after_name(const bytes_t& b, const std::string& name) {
  const section_pos t = find_section(b, format::section_kind::tensors);
  for (std::size_t i = t.offset; i + name.size() + 4 <= t.offset + t.size; ++i)
    if (get(b, i, 4) == name.size() && std::memcmp(b.data() + i + 4, name.data(), name.size()) == 0)
      return i + 4 + name.size();
  FAIL("tensor entry not found");
  return 0;
}

std::string load_error(const bytes_t& b) {
  try {
    weights_file::from_bytes(b.data(), b.size(), "damaged.lmt");
  } catch (const format_error& e) {
    return e.what();
  }
  return "";
}

bool same_network(const weights_file& a, const weights_file& b) {
  if (a.tensors().size() != b.tensors().size() || a.net_graph().nodes.size() != b.net_graph().nodes.size())
    return false;
  for (std::size_t i = 0; i < a.tensors().size(); ++i) {
    const tensor_entry &x = a.tensors()[i], &y = b.tensors()[i];
    if (x.name != y.name || x.dims != y.dims || std::memcmp(x.data, y.data, x.bytes) != 0) return false;
  }
  for (std::size_t i = 0; i < a.net_graph().nodes.size(); ++i) {
    const graph_node &x = a.net_graph().nodes[i], &y = b.net_graph().nodes[i];
    if (x.name != y.name || x.op != y.op || x.inputs != y.inputs || x.tensors != y.tensors || x.ints != y.ints ||
        x.floats != y.floats)
      return false;
  }
  return a.meta().size() == b.meta().size();
}

}  // namespace

TEST_CASE("a written file reads back: metadata, tensors, graph, self-test") {
  const bytes_t b = small_file();
  const weights_file f = weights_file::from_bytes(b.data(), b.size(), "small.lmt");
  CHECK(f.meta().at("network.name").s == "small test net");
  CHECK(f.meta().at("input.height").i == 5);
  CHECK(f.meta().at("preprocess.divisor").d == 255.0);
  CHECK(f.meta().at("labels.classes").ss == std::vector<std::string>{"a", "b", "c"});
  CHECK(f.meta().at("preprocess.mean").ds == std::vector<double>{100, 110, 120});
  const tensor_map<float> w = small_weights();
  for (const auto& [name, t] : w) {
    const tensor_entry* e = f.find(name);
    REQUIRE(e != nullptr);
    CHECK(e->dims == t.shape());
    CHECK(std::memcmp(e->data, t.data(), static_cast<std::size_t>(t.size()) * 4) == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(e->data) % 64 == 0);
  }
  CHECK(f.net_graph().nodes.size() == small_graph().nodes.size());
  CHECK(f.net_graph().nodes[2].tensors[1].empty());  // an absent optional tensor survives
  const model<float> m(weights_file::from_bytes(b.data(), b.size(), "small.lmt"));
  REQUIRE(m.has_self_test());
  const self_test_report r = m.self_test();  // on the SIMD engine
  CHECK(r.values == 2 * 3 * 2);
  CHECK(r.max_abs_diff <= 1e-6);
  // the reference path repeats the writer's computation exactly
  const tensor_view<const float> in = f.view("selftest/input");
  const auto ref_out = m.forward_reference(in);
  CHECK(std::memcmp(ref_out.at("probs").data(), f.view("selftest/probs").data(), 2 * 3 * 4) == 0);
  CHECK_THROWS_AS(f.view("nope"), format_error);
}

TEST_CASE("a self-test with a wrong expectation fails loudly") {
  tensor_map<float> w = small_weights();
  const tensor<float> input = seeded::pixels<float>({1, 5, 7, 3}, 5, "input");
  auto out = graph_net<float>(small_graph(), w).forward(input.view());
  out.at("probs")[1] += 1e-3f;
  w.emplace("selftest/input", input);
  w.emplace("selftest/probs", out.at("probs"));
  const self_test_spec st{"selftest/input", {{"probs", "selftest/probs"}}, 1e-5, 0, "test"};
  const bytes_t b = serialize_weights(small_meta(), small_graph(), w, st);
  const model<float> m(weights_file::from_bytes(b.data(), b.size(), "bad_selftest.lmt"));
  CHECK_THROWS_WITH_AS(m.self_test(), doctest::Contains("self-test failed: output 'probs' value 1"), format_error);

  // Loading a file runs its self-test unless told not to.
  const std::string path = (std::filesystem::temp_directory_path() / "lmtcnn_bad_selftest.lmt").string();
  {
    std::ofstream file(path, std::ios::binary);
    file.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  CHECK_THROWS_WITH_AS(model<float>::load(path), doctest::Contains("self-test failed: output 'probs' value 1"),
                       format_error);
  CHECK_NOTHROW(model<float>::load(path, false));
  std::filesystem::remove(path);
}

TEST_CASE("LMTCNN-2-1 round trip: the file gives the in-memory network's outputs, and its self-test passes") {
  const tensor_map<float> w = lmtcnn_seeded_weights<float>(lmtcnn_variant::v2_1, 3);
  lmtcnn_options o;
  o.bn_mode = batch_norm_mode::moving_average;
  const lmtcnn_net<float> net(w, o);
  const tensor<float> input = seeded::pixels<float>({1, 227, 227, 3}, 3, "input");
  const lmtcnn_output<float> expected = net.forward_reference(input.view());

  tensor_map<float> all = w;
  all.emplace("selftest/input", input);
  all.emplace("selftest/age_probs", expected.age_probs);
  all.emplace("selftest/gender_probs", expected.gender_probs);
  const self_test_spec st{"selftest/input",
                          {{"age_probs", "selftest/age_probs"}, {"gender_probs", "selftest/gender_probs"}},
                          1e-6,
                          1e-5,
                          "lmtcnn scalar reference"};
  metadata meta;
  meta["network.name"] = meta_value::text("LMTCNN-2-1");
  const bytes_t b = serialize_weights(meta, lmtcnn_graph(lmtcnn_variant::v2_1, o.bn_mode), all, st);
  const model<float> m(weights_file::from_bytes(b.data(), b.size(), "lmtcnn-2-1.lmt"));
  const auto got = m.forward_reference(input.view());
  CHECK(std::memcmp(got.at("age_probs").data(), expected.age_probs.data(), 8 * 4) == 0);
  CHECK(std::memcmp(got.at("gender_probs").data(), expected.gender_probs.data(), 2 * 4) == 0);
  CHECK(std::memcmp(got.at("age_logits").data(), expected.age_logits.data(), 8 * 4) == 0);
  CHECK(m.self_test().values == 10);
}

TEST_CASE("corrupted files: truncation at every length is refused") {
  const bytes_t b = small_file();
  int refused = 0;
  for (std::size_t n = 0; n < b.size(); ++n) {
    const bytes_t cut(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
    refused += !load_error(cut).empty();
  }
  CHECK(refused == static_cast<int>(b.size()));
  CHECK(lmtcnn_test::has(load_error(bytes_t(b.begin(), b.begin() + 10)), "shorter than the 64-byte header"));
  CHECK(lmtcnn_test::has(load_error(bytes_t(b.begin(), b.end() - 1)), "(truncated)"));
}

TEST_CASE("corrupted files: every single-bit flip is refused or harmless") {
  const bytes_t b = small_file();
  const weights_file original = weights_file::from_bytes(b.data(), b.size(), "small.lmt");
  std::size_t refused = 0, harmless = 0, header_refused = 0;
  for (std::size_t i = 0; i < b.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      bytes_t d = b;
      d[i] = static_cast<unsigned char>(d[i] ^ (1u << bit));
      try {
        const weights_file f = weights_file::from_bytes(d.data(), d.size(), "flipped.lmt");
        // Only padding between sections is unchecked: the network must then be unchanged.
        CHECK_MESSAGE(same_network(original, f), "bit " << bit << " of byte " << i << " changed the network");
        ++harmless;
      } catch (const format_error&) {
        ++refused;
        header_refused += i < 64;
      }
    }
  MESSAGE(refused << " flips refused, " << harmless << " in padding");
  CHECK(header_refused == 64 * 8);  // every header field is covered
  CHECK(refused > 0);
}

TEST_CASE("corrupted files: each named kind of damage gives its own clear error") {
  using lmtcnn_test::has;
  const bytes_t good = small_file();
  CHECK(load_error(good).empty());

  bytes_t b = good;
  b[0] = 'X';
  CHECK(has(load_error(b), "bad magic"));

  b = good;
  put(b, 12, 2, 4);
  reseal(b);
  CHECK(has(load_error(b), "format version 2 is newer"));

  b = good;
  put(b, 8, 0x04030201u, 4);  // what a big-endian writer would have put
  reseal(b);
  CHECK(has(load_error(b), "big-endian"));

  b = good;
  put(b, 24, b.size() + 100, 8);
  reseal(b);
  CHECK(has(load_error(b), "(truncated)"));

  b = good;
  b.push_back(0);
  CHECK(has(load_error(b), "trailing bytes"));

  b = good;
  put(b, 20, 200, 4);
  reseal(b);
  CHECK(has(load_error(b), "section count 200"));

  b = good;
  put(b, 60, get(b, 60, 1) ^ 1, 1);  // damaged header checksum itself
  CHECK(has(load_error(b), "header checksum mismatch"));

  {  // a section that points past the end
    b = good;
    const section_pos s = find_section(b, format::section_kind::graph);
    put(b, s.entry + 8, b.size() + 64, 8);
    reseal(b);
    CHECK(has(load_error(b), "section 'graph': lies outside the file"));
  }
  {  // two sections on the same bytes
    b = good;
    const section_pos meta = find_section(b, format::section_kind::metadata);
    const section_pos gr = find_section(b, format::section_kind::graph);
    put(b, gr.entry + 8, meta.offset, 8);
    reseal(b);
    CHECK(has(load_error(b), "overlap"));
  }
  {  // a damaged section body
    b = good;
    const section_pos s = find_section(b, format::section_kind::metadata);
    b[s.offset + 9] ^= 0x20;
    CHECK(has(load_error(b), "section 'metadata': checksum mismatch"));
  }
  {  // damaged tensor data: the tensor is named
    b = good;
    const section_pos d = find_section(b, format::section_kind::data);
    const std::size_t at = tensor_entry_after_name(b, "fc/w");
    const std::size_t off = get(b, at + 8 + 2 * 8, 8);
    b[d.offset + off + 3] ^= 0x01;
    CHECK(has(load_error(b), "tensor 'fc/w': checksum mismatch"));
  }
  {  // absurd dimensions whose product overflows 64 bits
    b = good;
    const std::size_t at = tensor_entry_after_name(b, "conv/w");  // rank 4
    for (int k = 0; k < 4; ++k) put(b, at + 8 + 8 * static_cast<std::size_t>(k), 0xFFFFFFFFull, 8);
    reseal(b);
    CHECK(has(load_error(b), "tensor 'conv/w': too many elements"));
    put(b, at + 8, 1ull << 62, 8);
    reseal(b);
    CHECK(has(load_error(b), "tensor 'conv/w': dimension 4611686018427387904 is absurd"));
  }
  {  // a rank beyond 4
    b = good;
    put(b, tensor_entry_after_name(b, "fc/b") + 4, 9, 4);
    reseal(b);
    CHECK(has(load_error(b), "tensor 'fc/b': rank 9"));
  }
  {  // data offset past the end
    b = good;
    const std::size_t at = tensor_entry_after_name(b, "fc/b");  // rank 1: offset at +8+8
    put(b, at + 16, 1ull << 40, 8);
    reseal(b);
    CHECK(has(load_error(b), "tensor 'fc/b': data lies past the end"));
  }
  {  // two tensors on the same bytes
    b = good;
    const std::size_t a = tensor_entry_after_name(b, "bn/beta"), c = tensor_entry_after_name(b, "bn/mean");
    put(b, c + 16, get(b, a + 16, 8), 8);  // same rank and size: bn/mean now starts where bn/beta does
    put(b, c + 32, get(b, a + 32, 8), 8);  // and carries bn/beta's checksum
    reseal(b);
    CHECK(has(load_error(b), "overlap"));
  }
  {  // a duplicate tensor name ("fc/b" renamed "fc/w")
    b = good;
    b[tensor_entry_after_name(b, "fc/b") - 1] = 'w';
    reseal(b);
    CHECK(has(load_error(b), "tensor 'fc/w' appears twice"));
  }
  {  // a graph that refers to a tensor that is not there
    b = good;
    const section_pos g = find_section(b, format::section_kind::graph);
    // the "conv" layer's first tensor index follows its name, op, input count and input id
    std::size_t at = 0;
    for (std::size_t i = g.offset; i + 8 <= g.offset + g.size; ++i)
      if (get(b, i, 4) == 4 && std::memcmp(b.data() + i + 4, "conv", 4) == 0) {
        at = i + 8 + 4 + 4 + 4 + 4;
        break;
      }
    REQUIRE(at != 0);
    put(b, at, 77, 4);
    reseal(b);
    CHECK(has(load_error(b), "layer 'conv' refers to tensor 77, which is not there"));
  }
  {  // an unknown section kind
    b = good;
    put(b, find_section(b, format::section_kind::self_test).entry, 42, 4);
    reseal(b);
    CHECK(has(load_error(b), "unknown section kind 42"));
  }
}

TEST_CASE("corrupted files: graphs whose shapes do not chain, or that miss a tensor, are refused") {
  using lmtcnn_test::has;
  graph g = small_graph();
  g.nodes[5].tensors[0] = "conv/w";  // fully connected with a conv filter
  tensor_map<float> w = small_weights();
  bytes_t b = serialize_weights(small_meta(), g, w);
  std::string e = load_error(b);
  CHECK(has(e, "section 'graph'"));
  CHECK(has(e, "layer 'fc'"));
  CHECK(has(e, "[3,3,3,4]"));

  g = small_graph();
  g.nodes[2].inputs = {5};  // reads a value computed later
  b = serialize_weights(small_meta(), g, w);
  CHECK(has(load_error(b), "layer 'dw'"));

  g = small_graph();
  g.nodes[3].ints = {0, 0};
  b = serialize_weights(small_meta(), g, w);
  CHECK(has(load_error(b), "layer 'bn' (batch_norm): takes 1 integer parameters, has 2"));

  w.erase("bn/var");  // the writer itself refuses a graph that names a missing tensor
  CHECK_THROWS_WITH_AS(serialize_weights(small_meta(), small_graph(), w),
                       doctest::Contains("layer 'bn' refers to tensor 'bn/var', which is not given"), format_error);
}

TEST_CASE("a missing or unreadable file is an error naming it") {
  CHECK_THROWS_WITH_AS(weights_file::load("/nonexistent/x.lmt"), doctest::Contains("/nonexistent/x.lmt: cannot open"),
                       error);
}
