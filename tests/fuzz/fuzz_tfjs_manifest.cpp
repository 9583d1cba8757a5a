// libFuzzer target: a TensorFlow.js weights manifest and its shard. The input is the manifest's JSON
// text, a zero byte, then the shard's bytes (every path of the manifest reads that shard); the weights
// are then recognised and converted as lmtcnn-convert does. lmtcnn::error is the only acceptable refusal.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "convert.hpp"
#include "readers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::uint8_t* zero = std::find(data, data + size, std::uint8_t{0});
  const std::string text(reinterpret_cast<const char*>(data), static_cast<std::size_t>(zero - data));
  const std::vector<unsigned char> shard(zero == data + size ? zero : zero + 1, data + size);
  try {
    lmtcnn_tools::source_weights src = lmtcnn_tools::read_tfjs_manifest(
        text, "fuzz.json", [&](const std::string&) { return shard; });
    lmtcnn_tools::convert(std::move(src), lmtcnn_tools::convert_options{});
  } catch (const lmtcnn::error&) {
  }
  return 0;
}
