// lmtcnn dispatch: the SIMD path (instruction set) a model's engine runs on.
//
// Two ways to build, chosen by the macro LMTCNN_DISPATCH (the lmtcnn::lmtcnn CMake target defines it
// on x86-64 with GCC or clang):
// - Run-time choice (LMTCNN_DISPATCH): the engines are compiled in separate translation units, one per
//   path, each with its own instruction-set flags (engine/isa_unit.hpp, built by the CMake target):
//   SSE2 (the x86-64 baseline), SSE4.2, AVX2+FMA and AVX-512 (F, CD, VL, BW, DQ). The program runs on
//   any x86-64 CPU and takes the best path the CPU reports, once per model. Files that include lmtcnn's
//   headers compile none of the kernels.
// - Compile-time choice (without it): the one path the compiler targets (-march, or LMTCNN_ARCH; see
//   engine/engine.hpp), compiled into every file that makes a model. This is also how AArch64 (NEON)
//   builds.
// Either way the environment variable LMTCNN_ISA, or set_simd_path(), picks a lower path for the
// models made from then on.
#pragma once

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lmtcnn/core/error.hpp"
#include "lmtcnn/core/precision.hpp"
#include "lmtcnn/engine/simd_engine.hpp"
#include "lmtcnn/graph/graph.hpp"
#if !defined(LMTCNN_DISPATCH) && !defined(LMTCNN_FORCE_REFERENCE)
#include "lmtcnn/engine/engine.hpp"
#endif

namespace lmtcnn {
namespace detail {

using engine_weights = std::map<std::string, tensor_view<const float>>;
using engine_factory = std::shared_ptr<const simd_engine> (*)(graph, engine_weights, std::shared_ptr<const void>,
                                                               precision);

/// One path this program has: its name, whether this CPU runs it, and how to prepare a network on it.
struct simd_path_entry {
  const char* name;
  bool (*cpu_runs)();
  engine_factory make;
};

inline bool cpu_runs_always() { return true; }

#if defined(LMTCNN_FORCE_REFERENCE)
/// None: every network runs on the scalar reference ops.
inline const std::vector<simd_path_entry>& built_paths() {
  static const std::vector<simd_path_entry> none;
  return none;
}
#elif defined(LMTCNN_DISPATCH)
#if !(defined(__x86_64__) || defined(_M_X64)) || !(defined(__GNUC__) || defined(__clang__))
#error "LMTCNN_DISPATCH is for x86-64 with GCC or clang; build without it to use the compile-time path"
#endif
// The paths built: those LMTCNN_DISPATCH_HAS_SSE2, _SSE4_2, _AVX2, _AVX512 name (the CMake target
// defines one for each unit it compiles, all four unless LMTCNN_DISPATCH_PATHS says otherwise), or all
// four when none is defined.
#if !defined(LMTCNN_DISPATCH_HAS_SSE2) && !defined(LMTCNN_DISPATCH_HAS_SSE4_2) && !defined(LMTCNN_DISPATCH_HAS_AVX2) && \
    !defined(LMTCNN_DISPATCH_HAS_AVX512)
#define LMTCNN_DISPATCH_HAS_SSE2
#define LMTCNN_DISPATCH_HAS_SSE4_2
#define LMTCNN_DISPATCH_HAS_AVX2
#define LMTCNN_DISPATCH_HAS_AVX512
#endif
// Defined by the per-path translation units (engine/isa_unit.hpp).
std::shared_ptr<const simd_engine> make_engine_sse2(graph, engine_weights, std::shared_ptr<const void>, precision);
std::shared_ptr<const simd_engine> make_engine_sse4_2(graph, engine_weights, std::shared_ptr<const void>, precision);
std::shared_ptr<const simd_engine> make_engine_avx2(graph, engine_weights, std::shared_ptr<const void>, precision);
std::shared_ptr<const simd_engine> make_engine_avx512(graph, engine_weights, std::shared_ptr<const void>, precision);

// What the CPU reports (CPUID, and for AVX and AVX-512 that the operating system saves their
// registers, which GCC's and clang's run-time checks include).
inline bool cpu_runs_sse4_2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
inline bool cpu_runs_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
inline bool cpu_runs_avx512() {
  __builtin_cpu_init();
  return cpu_runs_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq");
}

/// Every path this program has, best first.
inline const std::vector<simd_path_entry>& built_paths() {
  static const std::vector<simd_path_entry> paths = {
#if defined(LMTCNN_DISPATCH_HAS_AVX512)
      {"avx512", cpu_runs_avx512, make_engine_avx512},
#endif
#if defined(LMTCNN_DISPATCH_HAS_AVX2)
      {"avx2", cpu_runs_avx2, make_engine_avx2},
#endif
#if defined(LMTCNN_DISPATCH_HAS_SSE4_2)
      {"sse4.2", cpu_runs_sse4_2, make_engine_sse4_2},
#endif
#if defined(LMTCNN_DISPATCH_HAS_SSE2)
      {"sse2", cpu_runs_always, make_engine_sse2},
#endif
  };
  return paths;
}
#else
template <class A>
std::shared_ptr<const simd_engine> make_engine_for(graph g, engine_weights w, std::shared_ptr<const void> owner,
                                                   precision p) {
  return std::make_shared<const engine_net<A>>(std::move(g), std::move(w), std::move(owner), p);
}

/// The one path the compiler targets.
inline const std::vector<simd_path_entry>& built_paths() {
  static const std::vector<simd_path_entry> paths = {
      {simd_path_name<simd_arch>(), cpu_runs_always, make_engine_for<simd_arch>}};
  return paths;
}
#endif

/// The path chosen for new models: "" for the best; set from LMTCNN_ISA on first use. And their
/// precision: fp32 unless LMTCNN_PRECISION or set_precision says bf16 (an unknown value of the
/// variable is reported when the first model is made).
struct simd_path_choice {
  std::mutex mutex;
  std::string name;
  std::string precision_text;
  simd_path_choice() {
    if (const char* env = std::getenv("LMTCNN_ISA")) name = env;
    if (const char* env = std::getenv("LMTCNN_PRECISION")) precision_text = env;
  }
};
inline simd_path_choice& path_choice() {
  static simd_path_choice c;
  return c;
}

/// The names of the paths built (only those this CPU runs, by default), best first, comma-separated.
inline std::string path_list(bool only_runnable = true) {
  std::string s;
  for (const simd_path_entry& p : built_paths())
    if (!only_runnable || p.cpu_runs()) s += std::string(s.empty() ? "" : ", ") + p.name;
  return s;
}

inline const simd_path_entry& find_path(const std::string& name, const char* what) {
  for (const simd_path_entry& p : built_paths())
    if (name == p.name) {
      if (!p.cpu_runs()) throw error(std::string(what) + " '" + name + "': this CPU cannot run it (it runs " + path_list() + ")");
      return p;
    }
  throw error(std::string(what) + " '" + name + "' is no SIMD path of this program (it has " + path_list() + ")");
}

inline const simd_path_entry& chosen_path() {
  simd_path_choice& c = path_choice();
  std::string name;
  {
    std::lock_guard<std::mutex> lk(c.mutex);
    name = c.name;
  }
  if (!name.empty()) return find_path(name, "LMTCNN_ISA or set_simd_path: path");
  for (const simd_path_entry& p : built_paths())
    if (p.cpu_runs()) return p;
  if (built_paths().empty()) throw error("no SIMD path: this program was built with LMTCNN_FORCE_REFERENCE");
  throw error("this CPU runs none of the SIMD paths this program was built with (" + path_list(false) + ")");
}

inline precision chosen_precision() {
  simd_path_choice& c = path_choice();
  std::string text;
  {
    std::lock_guard<std::mutex> lk(c.mutex);
    text = c.precision_text;
  }
  if (text.empty()) return precision::fp32;
  try {
    return parse_precision(text);
  } catch (const error& e) {
    throw error(std::string("LMTCNN_PRECISION: ") + e.what());
  }
}

/// Prepares a network on the chosen path, in precision p.
inline std::shared_ptr<const simd_engine> make_engine(graph g, engine_weights w, std::shared_ptr<const void> owner,
                                                      precision p) {
  return chosen_path().make(std::move(g), std::move(w), std::move(owner), p);
}

}  // namespace detail

/// The SIMD paths this program has and this CPU runs, best first: on x86-64 with run-time dispatch
/// some of "avx512", "avx2", "sse4.2", "sse2"; otherwise the one the compiler targeted ("neon" on
/// AArch64); none in a build with LMTCNN_FORCE_REFERENCE.
inline std::vector<std::string> simd_paths() {
  std::vector<std::string> out;
  for (const detail::simd_path_entry& p : detail::built_paths())
    if (p.cpu_runs()) out.emplace_back(p.name);
  return out;
}

/// The path models made from now on run on: the one set_simd_path() or the environment variable
/// LMTCNN_ISA names, else the best of simd_paths(); "reference" in a build with
/// LMTCNN_FORCE_REFERENCE. Throws lmtcnn::error when the named path is not one of simd_paths().
inline std::string simd_path() {
  if (detail::built_paths().empty()) return "reference";
  return detail::chosen_path().name;
}

/// Makes the models made from now on run on path, one of simd_paths() (e.g. "avx2" to compare with
/// AVX-512, or to run where AVX-512 lowers the clock); "" goes back to the best. Models made before
/// keep theirs. Throws lmtcnn::error naming the paths there are when path is not one of them.
inline void set_simd_path(const std::string& path) {
  if (!path.empty()) detail::find_path(path, "set_simd_path: path");
  detail::simd_path_choice& c = detail::path_choice();
  std::lock_guard<std::mutex> lk(c.mutex);
  c.name = path;
}

/// The precision of the float models made from now on (core/precision.hpp): fp32 by default, or
/// what the environment variable LMTCNN_PRECISION ("fp32" or "bf16") says. Models made before keep
/// theirs. bf16 runs on every path; model::engine()->bf16_dot_products() says whether the CPU's
/// AVX512_BF16 instructions do it.
inline void set_precision(precision p) {
  detail::simd_path_choice& c = detail::path_choice();
  std::lock_guard<std::mutex> lk(c.mutex);
  c.precision_text = precision_name(p);
}

/// The precision models made from now on get; throws lmtcnn::error when LMTCNN_PRECISION holds
/// something else than fp32 or bf16.
inline precision model_precision() { return detail::chosen_precision(); }

}  // namespace lmtcnn
