// The SIMD architecture a kernel test file is compiled for, as a std::tuple of xsimd tags (for
// doctest's TEST_CASE_TEMPLATE_APPLY): the engine's compile-time choice, lmtcnn::simd_arch. With
// run-time dispatch the build compiles the kernel tests once per path, each with that path's flags
// (tests/CMakeLists.txt); without it, for the path the compiler targets (NEON on AArch64).
#pragma once

#include <string>
#include <tuple>

#include "lmtcnn/engine/engine.hpp"

namespace lmtcnn_test {

using archs = std::tuple<lmtcnn::simd_arch>;

template <class... T>
std::string arch_names(std::tuple<T...>*) {
  std::string s;
  ((s += std::string(s.empty() ? "" : ", ") + T::name()), ...);
  return s;
}

}  // namespace lmtcnn_test
