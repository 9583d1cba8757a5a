// lmtcnn: the body of one run-time dispatch unit. A translation unit that defines exactly one of
// LMTCNN_ISA_UNIT_SSE2, _SSE4_2, _AVX2, _AVX512, is compiled with that path's instruction-set flags
// and includes this header defines the factory engine/dispatch.hpp declares for that path. The
// lmtcnn::lmtcnn CMake target builds the four units (flags in CMakeLists.txt: lmtcnn_isa_flags_*).
//
// Inline functions that a unit shares with other files (the standard library's, lmtcnn's graph and
// tensor code) are compiled into each of them; the linker keeps one copy. The units are linked after
// the program's own files and in rising order (SSE2 first), so the copy kept is never one compiled
// for a higher path than every caller's.
#pragma once

#if !defined(LMTCNN_DISPATCH)
#error "a dispatch unit is compiled with LMTCNN_DISPATCH"
#endif

#include "lmtcnn/engine/dispatch.hpp"
#include "lmtcnn/engine/engine.hpp"

#if defined(LMTCNN_ISA_UNIT_SSE2)
#define LMTCNN_ISA_UNIT_FACTORY make_engine_sse2
#define LMTCNN_ISA_UNIT_ARCH xsimd::sse2
#elif defined(LMTCNN_ISA_UNIT_SSE4_2)
#if !defined(__SSE4_2__)
#error "the SSE4.2 unit is compiled with -msse4.2"
#endif
#define LMTCNN_ISA_UNIT_FACTORY make_engine_sse4_2
#define LMTCNN_ISA_UNIT_ARCH xsimd::sse4_2
#elif defined(LMTCNN_ISA_UNIT_AVX2)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "the AVX2 unit is compiled with -mavx2 -mfma"
#endif
#define LMTCNN_ISA_UNIT_FACTORY make_engine_avx2
#define LMTCNN_ISA_UNIT_ARCH xsimd::fma3<xsimd::avx2>
#elif defined(LMTCNN_ISA_UNIT_AVX512)
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "the AVX-512 unit is compiled with -mavx512f -mavx512cd -mavx512vl -mavx512bw -mavx512dq"
#endif
#define LMTCNN_ISA_UNIT_FACTORY make_engine_avx512
#define LMTCNN_ISA_UNIT_ARCH xsimd::avx512f
#else
#error "define one of LMTCNN_ISA_UNIT_SSE2, LMTCNN_ISA_UNIT_SSE4_2, LMTCNN_ISA_UNIT_AVX2, LMTCNN_ISA_UNIT_AVX512"
#endif

namespace lmtcnn {
namespace detail {

std::shared_ptr<const simd_engine> LMTCNN_ISA_UNIT_FACTORY(graph g, engine_weights w, std::shared_ptr<const void> owner,
                                                           precision p) {
  return std::make_shared<const engine_net<LMTCNN_ISA_UNIT_ARCH>>(std::move(g), std::move(w), std::move(owner), p);
}

}  // namespace detail
}  // namespace lmtcnn
