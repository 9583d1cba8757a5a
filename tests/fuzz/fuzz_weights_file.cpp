// libFuzzer target: arbitrary bytes as an .lmt weight file. Checked, loaded as a runnable model and,
// when the file holds a self-test, run on the SIMD engine. lmtcnn::error is the only acceptable way
// to refuse; anything else (a crash, a sanitizer report, another exception, a leak) is a finding.
#include <cstddef>
#include <cstdint>
#include <memory>

#include <lmtcnn/engine/model.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto file = std::make_shared<const lmtcnn::weights_file>(lmtcnn::weights_file::from_bytes(data, size, "fuzz.lmt"));
    const lmtcnn::model<float> m(file);
    if (m.has_self_test()) m.self_test();
  } catch (const lmtcnn::error&) {
  }
  return 0;
}
