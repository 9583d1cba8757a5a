// libFuzzer target: the bytes of a frozen TensorFlow GraphDef (.pb); its float32 constants are then
// recognised and converted as lmtcnn-convert does. lmtcnn::error is the only acceptable refusal.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "convert.hpp"
#include "tf_checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    lmtcnn_tools::source_weights src =
        lmtcnn_tools::read_frozen_graph_bytes(std::vector<unsigned char>(data, data + size), "fuzz.pb");
    lmtcnn_tools::convert(std::move(src), lmtcnn_tools::convert_options{});
  } catch (const lmtcnn::error&) {
  }
  return 0;
}
