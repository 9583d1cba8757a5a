// lmtcnn: the one place the x86 intrinsics and xsimd headers are included.
//
// GCC before 13 writes `__m512 __Y = __Y;` in avx512fintrin.h's _mm512_undefined_* helpers (GCC bug
// 105593); every inlined AVX-512 intrinsic that starts from such an undefined vector then draws a
// -Wmaybe-uninitialized or -Wuninitialized warning located in that system header, in every file that
// uses a kernel. Those two warnings are turned off for the lines of the intrinsics headers only (GCC
// keys its diagnostic state to the source location of the warning): lmtcnn's own code is still
// checked. Include this header before any other include of <immintrin.h> or <xsimd/xsimd.hpp>.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <xsimd/xsimd.hpp>

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic pop
#endif
