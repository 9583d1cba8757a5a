// Uses the installed (or add_subdirectory'd) headers: a 2x2 max pool computed by the reference op.
#include <lmtcnn/lmtcnn.hpp>

#include <cstdio>

int main() {
  lmtcnn::tensor<float> in({1, 2, 2, 1}, {1.f, 4.f, 3.f, 2.f});
  lmtcnn::tensor<float> out({1, 1, 1, 1});
  lmtcnn::ref::pool_max<float>(in.view(), {2, 2, 2, 2, lmtcnn::padding::valid}, out.view());
  std::printf("max = %g\n", static_cast<double>(out[0]));
  return out[0] == 4.f ? 0 : 1;
}
