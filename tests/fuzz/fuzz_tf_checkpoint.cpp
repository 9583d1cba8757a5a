// libFuzzer target: a TensorFlow 1.x checkpoint. The input is a 4-byte little-endian length L, L bytes
// of the .index file, then the bytes of data shard 0 (any other shard is missing); the tensors are then
// recognised and converted as lmtcnn-convert does. lmtcnn::error is the only acceptable refusal.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "convert.hpp"
#include "tf_checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::size_t len = std::min<std::size_t>(size - 4, lmtcnn::detail::load_le(data, 4));
  const std::vector<unsigned char> index(data + 4, data + 4 + len), shard(data + 4 + len, data + size);
  try {
    lmtcnn_tools::source_weights src = lmtcnn_tools::read_tf_checkpoint_bytes(
        index, "fuzz.index",
        [&](std::int64_t k, std::int64_t) -> std::vector<unsigned char> {
          if (k != 0) throw lmtcnn::error("fuzz.data: cannot open (only shard 0 exists)");
          return shard;
        },
        [](std::int64_t k, std::int64_t n) { return lmtcnn_tools::tfckpt::shard_name("fuzz", k, n); });
    lmtcnn_tools::drop_training_state(src);
    lmtcnn_tools::convert(std::move(src), lmtcnn_tools::convert_options{});
  } catch (const lmtcnn::error&) {
  }
  return 0;
}
