// lmtcnn-convert: turns trained weights (.npz of LMTCNN checkpoint variables, or a TensorFlow.js
// weights manifest such as face-api.js's) into an lmtcnn weight file with an embedded self-test.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "convert.hpp"
#include "tf_checkpoint.hpp"

namespace {

const char* usage_text =
    "usage: lmtcnn-convert INPUT -o OUTPUT.lmt [options]\n"
    "\n"
    "Converts trained weights into an lmtcnn weight file. INPUT is recognised from its content:\n"
    "  an .npz archive of LMTCNN variables under their TensorFlow checkpoint names\n"
    "    (multitaskdpcnn/conv1/weights, ...; LMTCNN-1-1 or -2-1 is told from the shapes), or\n"
    "  a TensorFlow 1.x checkpoint of LMTCNN: its prefix (model.ckpt-N, checkpoint-N), its .index\n"
    "    file, or the directory whose 'checkpoint' file names it (optimizer slots, the step counter\n"
    "    and the .meta file are ignored; one or more data shards; every CRC checked), or\n"
    "  a frozen TensorFlow GraphDef (.pb) of LMTCNN: its Const nodes by name, or\n"
    "  a TensorFlow.js weights manifest (.json) whose shards lie beside it: face-api.js's\n"
    "    AgeGenderNet, ssd_mobilenetv1, tiny_face_detector, face_landmark_68 or\n"
    "    face_landmark_68_tiny.\n"
    "Every tensor is checked by name and shape. A self-test is embedded: the .npz's selftest/input\n"
    "and selftest/<output> arrays when present (outputs from the source framework), otherwise\n"
    "outputs the engine's float64 reference computes now on a seeded input.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE     the weight file to write (required)\n"
    "  --bn-mode MODE        LMTCNN batch norm: batch_statistics (default, as the original graph)\n"
    "                        or moving_average (the checkpoint's moving mean and variance)\n"
    "  --divisor D           AgeGenderNet input divisor: 256 (default, as trained) or 255\n"
    "  --input-size N        tiny_face_detector input size, a multiple of 32 (default 416)\n"
    "  --no-self-test        do not embed a self-test\n"
    "  -h, --help            this text\n"
    "Exit code 0 on success; otherwise 1 with a one-line reason (2 for a usage error).\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "lmtcnn-convert: %s (see --help)\n", msg.c_str());
  return 2;
}

std::string base_name(const std::string& p) { return p.find('/') == std::string::npos ? p : p.substr(p.rfind('/') + 1); }

int finish(const lmtcnn_tools::converted& c, const std::string& output);

}  // namespace

int main(int argc, char** argv) {
  std::string input, output;
  lmtcnn_tools::convert_options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "-h" || a == "--help") {
      std::fputs(usage_text, stdout);
      return 0;
    } else if ((a == "-o" || a == "--output") && has_value) {
      output = argv[++i];
    } else if (a == "--bn-mode" && has_value) {
      const std::string m = argv[++i];
      if (m == "moving_average") opt.bn_mode = lmtcnn::batch_norm_mode::moving_average;
      else if (m == "batch_statistics") opt.bn_mode = lmtcnn::batch_norm_mode::batch_statistics;
      else return usage_error("--bn-mode takes moving_average or batch_statistics, not '" + m + "'");
    } else if (a == "--divisor" && has_value) {
      const std::string d = argv[++i];
      if (d != "256" && d != "255") return usage_error("--divisor takes 256 or 255, not '" + d + "'");
      opt.divisor = d == "256" ? 256.0 : 255.0;
    } else if (a == "--input-size" && has_value) {
      char* end = nullptr;
      opt.detector_input = std::strtoll(argv[++i], &end, 10);
      if (*end != '\0') return usage_error(std::string("--input-size takes a number, not '") + argv[i] + "'");
    } else if (a == "--no-self-test") {
      opt.self_test = false;
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("unknown option '" + a + "'");
    } else if (input.empty()) {
      input = a;
    } else {
      return usage_error("one INPUT only ('" + a + "' is extra)");
    }
  }
  if (input.empty()) return usage_error("no INPUT given");
  if (output.empty()) return usage_error("no output file given (-o OUTPUT.lmt)");

  try {
    if (lmtcnn_tools::tfckpt::is_checkpoint(input)) {
      lmtcnn_tools::source_weights src = lmtcnn_tools::read_tf_checkpoint(input);
      lmtcnn_tools::drop_training_state(src);
      opt.source_name = base_name(lmtcnn_tools::tfckpt::resolve_prefix(input));
      return finish(lmtcnn_tools::convert(std::move(src), opt), output);
    }
    const std::vector<unsigned char> head = lmtcnn_tools::read_file(input);
    std::size_t k = 0;
    while (k < head.size() && (head[k] == ' ' || head[k] == '\n' || head[k] == '\r' || head[k] == '\t')) ++k;
    lmtcnn_tools::source_weights src;
    const bool pb = input.size() > 3 && input.compare(input.size() - 3, 3, ".pb") == 0;
    if (pb) {
      src = lmtcnn_tools::read_frozen_graph_bytes(head, input);
      if (src.tensors.empty()) throw lmtcnn::error(input + ": a GraphDef without float32 Const nodes (not a frozen graph?)");
    } else if (head.size() >= 4 && head[0] == 'P' && head[1] == 'K') {
      src = lmtcnn_tools::read_npz_bytes(head, input);
    } else if (k < head.size() && (head[k] == '[' || head[k] == '{')) {
      src = lmtcnn_tools::read_tfjs(input);
    } else {
      throw lmtcnn::error(input + ": neither an .npz archive, a TensorFlow checkpoint, a frozen graph (.pb) nor a TensorFlow.js weights manifest");
    }
    opt.source_name = base_name(input);
    return finish(lmtcnn_tools::convert(std::move(src), opt), output);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lmtcnn-convert: %s\n", e.what());
    return 1;
  }
}

namespace {

/// Writes the converted network, reads it back through the checked reader and runs its self-test.
int finish(const lmtcnn_tools::converted& c, const std::string& output) {
  try {
    lmtcnn::write_weights_file(output, c.meta, c.net, c.tensors, c.self_test);
    // Read the result back through the checked reader and run its self-test.
    const lmtcnn::model<float> m = lmtcnn::model<float>::load(output, false);
    std::string check = "no self-test";
    if (m.has_self_test()) {
      const lmtcnn::self_test_report r = m.self_test();
      check = "self-test passed (" + std::to_string(r.values) + " values, max |diff| " + std::to_string(r.max_abs_diff) + ")";
    }
    std::printf("%s: %s, %zu tensors, %s\n", output.c_str(), m.meta().at("network.name").s.c_str(), c.tensors.size(),
                check.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lmtcnn-convert: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace
