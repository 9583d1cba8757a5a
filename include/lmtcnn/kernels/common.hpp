// lmtcnn SIMD kernels: what every family shares.
//
// Kernels are templates over an xsimd architecture tag A (xsimd::avx512f, xsimd::fma3<xsimd::avx2>,
// xsimd::neon64, ...): pure functions over raw pointers, no allocation, no exceptions. Activations are
// NHWC float32 with channels contiguous; per-channel vectors (bias, scale, shift, packed filters) are
// zero-padded by the caller to a multiple of the vector width, so a kernel may always load whole
// vectors of them. Kernels may read up to one vector (tensor_slack_bytes) past the last channel of an
// activation row, which lmtcnn::tensor's slack makes safe; they never write past the data.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "lmtcnn/core/geometry.hpp"
#include "lmtcnn/core/simd.hpp"

// The per-vector helpers below sit in the innermost loops: a call there would spill every vector
// register the caller keeps (weights, accumulators), so they are always inlined.
#if defined(__GNUC__) || defined(__clang__)
#define LMTCNN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define LMTCNN_ALWAYS_INLINE inline
#endif

namespace lmtcnn {
namespace detail {
namespace kernels {

template <class A>
using vf = xsimd::batch<float, A>;

/// Floats per vector of architecture A.
template <class A>
inline constexpr std::size_t width = vf<A>::size;

/// n rounded up to a multiple of the vector width.
template <class A>
constexpr std::size_t round_up(std::size_t n) {
  return (n + width<A> - 1) / width<A> * width<A>;
}

/// Activation after a layer.
using act = lmtcnn::activation;

/// The fused epilogue per output channel c: y += bias[c]; activation; y = y * scale[c] + shift[c];
/// with activation_last the activation comes after the scale and shift instead (a batch norm between
/// a convolution and its ReLU). Null pointers are skipped; non-null arrays are padded to a multiple of
/// the vector width.
struct epilogue_k {
  const float* bias = nullptr;
  act activation = act::none;
  float alpha = 0;  ///< leaky ReLU slope
  const float* scale = nullptr;
  const float* shift = nullptr;
  bool activation_last = false;
};

template <class A>
LMTCNN_ALWAYS_INLINE vf<A> activate(const epilogue_k& e, vf<A> y) {
  if (e.activation == act::relu) {
    y = xsimd::max(y, vf<A>(0.f));
  } else if (e.activation == act::relu6) {
    y = xsimd::min(xsimd::max(y, vf<A>(0.f)), vf<A>(6.f));
  } else if (e.activation == act::leaky_relu) {
    y = xsimd::select(y < vf<A>(0.f), y * vf<A>(e.alpha), y);
  }
  return y;
}

template <class A>
LMTCNN_ALWAYS_INLINE vf<A> apply(const epilogue_k& e, vf<A> y, std::size_t c) {
  if (e.bias) y += vf<A>::load_unaligned(e.bias + c);
  if (!e.activation_last) y = activate<A>(e, y);
  if (e.scale) y *= vf<A>::load_unaligned(e.scale + c);
  if (e.shift) y += vf<A>::load_unaligned(e.shift + c);
  if (e.activation_last) y = activate<A>(e, y);
  return y;
}

/// activate() on n vectors.
template <class A, std::size_t n>
LMTCNN_ALWAYS_INLINE void activate_n(const epilogue_k& e, vf<A> (&y)[n]) {
  if (e.activation == act::relu) {
#pragma GCC unroll 32
    for (std::size_t j = 0; j < n; ++j) y[j] = xsimd::max(y[j], vf<A>(0.f));
  } else if (e.activation == act::relu6) {
#pragma GCC unroll 32
    for (std::size_t j = 0; j < n; ++j) y[j] = xsimd::min(xsimd::max(y[j], vf<A>(0.f)), vf<A>(6.f));
  } else if (e.activation == act::leaky_relu) {
    const vf<A> alpha(e.alpha);
#pragma GCC unroll 32
    for (std::size_t j = 0; j < n; ++j) y[j] = xsimd::select(y[j] < vf<A>(0.f), y[j] * alpha, y[j]);
  }
}

/// apply() on n vectors of the same channels c (n output pixels of one channel block): each choice
/// of the epilogue is tested, and each per-channel vector loaded, once for all of them. The loops
/// unroll whole up to n = 32, so a tile's accumulators never leave the registers for them.
template <class A, std::size_t n>
LMTCNN_ALWAYS_INLINE void apply_n(const epilogue_k& e, vf<A> (&y)[n], std::size_t c) {
  if (e.bias) {
    const vf<A> b = vf<A>::load_unaligned(e.bias + c);
#pragma GCC unroll 32
    for (std::size_t j = 0; j < n; ++j) y[j] += b;
  }
  if (!e.activation_last) activate_n<A, n>(e, y);
  if (e.scale) {
    const vf<A> s = vf<A>::load_unaligned(e.scale + c);
#pragma GCC unroll 32
    for (std::size_t j = 0; j < n; ++j) y[j] *= s;
  }
  if (e.shift) {
    const vf<A> t = vf<A>::load_unaligned(e.shift + c);
#pragma GCC unroll 32
    for (std::size_t j = 0; j < n; ++j) y[j] += t;
  }
  if (e.activation_last) activate_n<A, n>(e, y);
}

/// How many vector registers the instruction set A has: 32 with AVX-512 and on AArch64, 16 otherwise.
template <class A>
constexpr std::size_t vector_registers() {
  if constexpr (width<A> >= 16) return 32;
  else if constexpr (sizeof(void*) == 8 && width<A> == 4 && std::is_base_of_v<xsimd::neon, A>) return 32;
  else return 16;
}

/// Hides where p came from: loads through it are not matched with earlier loads through the pointer
/// it was computed from. Where windows overlap (a row's element i + lda is the next row's element
/// i) compilers otherwise carry the loaded values from one step to the next in registers they do not
/// have, spilling them, instead of folding each load into its FMA.
template <class T>
LMTCNN_ALWAYS_INLINE const T* opaque(const T* p) {
#if defined(__GNUC__) || defined(__clang__)
  __asm__("" : "+r"(p));
#endif
  return p;
}

/// Keeps v in a vector register from here on. Compilers fold loads into FMAs as memory operands,
/// re-reading a value already loaded once per use; where a kernel reuses a vector many times that
/// exhausts the load ports (two 256-bit loads a cycle on Zen 3) before the FMA units.
template <class A>
LMTCNN_ALWAYS_INLINE void keep_in_register(vf<A>& v) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+v"(v.data));
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
  __asm__("" : "+w"(v.data));
#else
  (void)v;
#endif
}

/// Stores the first n (< width) lanes of v.
template <class A>
inline void store_partial(float* dst, vf<A> v, std::size_t n) {
  alignas(64) float tmp[width<A>];
  v.store_aligned(tmp);
  std::memcpy(dst, tmp, n * sizeof(float));
}

/// Stores min(n, width) lanes of v.
template <class A>
LMTCNN_ALWAYS_INLINE void store_upto(float* dst, vf<A> v, std::size_t n) {
  if (n >= width<A>)
    v.store_unaligned(dst);
  else
    store_partial<A>(dst, v, n);
}

}  // namespace kernels
}  // namespace detail
}  // namespace lmtcnn
