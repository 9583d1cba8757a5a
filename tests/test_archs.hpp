// The SIMD architectures this build can run, as a std::tuple of xsimd tags (for doctest's
// TEST_CASE_TEMPLATE_APPLY): AVX-512, AVX2+FMA and SSE4.2 on x86; NEON on AArch64.
#pragma once

#include <string>
#include <tuple>

#include "lmtcnn/core/simd.hpp"

namespace lmtcnn_test {

template <class... T>
struct type_list {};
template <class L, bool add, class T>
struct push;
template <class... Ts, class T>
struct push<type_list<Ts...>, true, T> {
  using type = type_list<Ts..., T>;
};
template <class... Ts, class T>
struct push<type_list<Ts...>, false, T> {
  using type = type_list<Ts...>;
};
using l1 = push<type_list<>, XSIMD_WITH_AVX512F == 1, xsimd::avx512f>::type;
using l2 = push<l1, XSIMD_WITH_FMA3_AVX2 == 1, xsimd::fma3<xsimd::avx2>>::type;
using l3 = push<l2, XSIMD_WITH_SSE4_2 == 1, xsimd::sse4_2>::type;
using l4 = push<l3, XSIMD_WITH_NEON64 == 1, xsimd::neon64>::type;
template <class L>
struct as_tuple;
template <class... Ts>
struct as_tuple<type_list<Ts...>> {
  using type = std::tuple<Ts...>;
};
using archs = as_tuple<l4>::type;
static_assert(std::tuple_size_v<archs> > 0, "no SIMD architecture to test");

template <class... T>
std::string arch_names(std::tuple<T...>*) {
  std::string s;
  ((s += std::string(s.empty() ? "" : ", ") + T::name()), ...);
  return s;
}

}  // namespace lmtcnn_test
