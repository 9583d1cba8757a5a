// Per-layer benchmarks of the SIMD kernels on the real layer shapes of LMTCNN-1-1, LMTCNN-2-1 and
// the face-api.js AgeGenderNet, single thread, with FLOP/s (2 per multiply-accumulate) and bytes/s
// (activations in + out, plus weights) counters; and the machine's references: the FP32 FMA peak,
// and the read and the read + write bandwidth of cache-sized and of memory-sized buffers. Weights of
// the memory-bound dense layers rotate through copies larger than the last-level cache, so they are
// never hot. Where the CPU has AVX512_BF16, the bf16 precision's kernels on the same shapes and the
// peak of its dot-product instruction.
//   build/bench/bench_layers --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <string>
#include <type_traits>
#include <vector>

#include <lmtcnn/engine/engine.hpp>
#include <lmtcnn/kernels/bf16.hpp>
#include <lmtcnn/core/seeded.hpp>

namespace {

using A = lmtcnn::simd_arch;
namespace k = lmtcnn::detail::kernels;
using lmtcnn::index_t;
using lmtcnn::tensor;

tensor<float> rnd(index_t n, const char* name) {
  return lmtcnn::seeded::uniform<float>({n}, 1, name, -1, 1);
}

void counters(benchmark::State& s, double macs, double bytes) {
  s.counters["FLOP/s"] = benchmark::Counter(2 * macs, benchmark::Counter::kIsIterationInvariantRate);
  s.counters["bytes/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- the machine's references ---------------------------------------------------------------------

void fma_peak(benchmark::State& s) {
  using V = k::vf<A>;
  // Enough independent FMAs to cover latency on every core we target, yet with the two constants
  // still within the vector registers: 16 chains on AVX2 and SSE (16 registers) spill and measured
  // half the peak on Zen 3.
  constexpr int chains = k::width<A> >= 16 || std::is_base_of_v<xsimd::neon, A> ? 16 : 12;
  V a[chains];
  for (int i = 0; i < chains; ++i) a[i] = V(1.f + static_cast<float>(i) * 1e-7f);
  const V m(0.9999999f), c(1e-7f);
  for (auto _ : s) {
    for (int it = 0; it < 1000; ++it) {
#pragma GCC unroll 16
      for (int i = 0; i < chains; ++i) a[i] = xsimd::fma(a[i], m, c);
    }
    benchmark::DoNotOptimize(a);
  }
  s.counters["FLOP/s"] =
      benchmark::Counter(1000.0 * chains * 2 * k::width<A>, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(fma_peak);

void read_bandwidth(benchmark::State& s) {
  const index_t n = s.range(0) / 4;
  const tensor<float> buf = rnd(n, "buffer");
  for (auto _ : s) {
    using V = k::vf<A>;
    V acc0(0.f), acc1(0.f), acc2(0.f), acc3(0.f);
    const float* p = buf.data();
    const std::size_t w = k::width<A>;
    for (std::size_t i = 0; i + 4 * w <= static_cast<std::size_t>(n); i += 4 * w) {
      acc0 += V::load_aligned(p + i);
      acc1 += V::load_aligned(p + i + w);
      acc2 += V::load_aligned(p + i + 2 * w);
      acc3 += V::load_aligned(p + i + 3 * w);
    }
    benchmark::DoNotOptimize(acc0 + acc1 + acc2 + acc3);
  }
  s.counters["bytes/s"] = benchmark::Counter(static_cast<double>(n) * 4, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(read_bandwidth)->Arg(256 << 10)->Arg(1 << 20)->Arg(4 << 20)->Arg(256 << 20)->ArgNames({"bytes"});

/// Read one buffer and write another of the same size, as a layer reads its input and writes its
/// output: `bytes` is both buffers together, and so are the bytes/s.
void read_write_bandwidth(benchmark::State& s) {
  const index_t n = s.range(0) / 8;
  const tensor<float> src = rnd(n, "buffer");
  tensor<float> dst({n});
  for (auto _ : s) {
    using V = k::vf<A>;
    const float* p = src.data();
    float* q = dst.data();
    const std::size_t w = k::width<A>;
    for (std::size_t i = 0; i + 4 * w <= static_cast<std::size_t>(n); i += 4 * w) {
      const V a = V::load_aligned(p + i), b = V::load_aligned(p + i + w), c = V::load_aligned(p + i + 2 * w),
              d = V::load_aligned(p + i + 3 * w);
      a.store_aligned(q + i);
      b.store_aligned(q + i + w);
      c.store_aligned(q + i + 2 * w);
      d.store_aligned(q + i + 3 * w);
    }
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  s.counters["bytes/s"] = benchmark::Counter(static_cast<double>(n) * 8, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(read_write_bandwidth)->Arg(256 << 10)->Arg(1 << 20)->Arg(4 << 20)->Arg(256 << 20)->ArgNames({"bytes"});

// ---- convolutions -----------------------------------------------------------------------------------

k::conv_geom geom(index_t h, index_t w, index_t cin, index_t cout, index_t kk, index_t stride, bool same) {
  auto u = [](index_t v) { return static_cast<std::size_t>(v); };
  return k::conv_geometry(u(h), u(w), u(cin), u(cout), u(kk), u(kk), u(stride), u(stride),
                          same ? lmtcnn::padding::same : lmtcnn::padding::valid);
}

/// Standard or pointwise convolution through the GEMM (args: h, w, cin, cout, k, stride, same).
void conv(benchmark::State& s) {
  const k::conv_geom g = geom(s.range(0), s.range(1), s.range(2), s.range(3), s.range(4), s.range(5), s.range(6));
  const std::size_t kk = g.kh * g.kw * g.in_c;
  const tensor<float> in = rnd(static_cast<index_t>(g.in_h * g.in_w * g.in_c), "in");
  const tensor<float> f = rnd(static_cast<index_t>(kk * g.out_c), "filter"), bias = rnd(static_cast<index_t>(g.out_c) + 64, "bias");
  tensor<float> packed({static_cast<index_t>(k::packed_gemm_b_size<A>(kk, g.out_c))});
  k::pack_gemm_b<A>(f.data(), kk, g.out_c, g.out_c, packed.data());
  tensor<float> out({static_cast<index_t>(g.out_h * g.out_w * g.out_c)}), scratch({static_cast<index_t>(k::conv2d_scratch_size<A>(g))});
  k::epilogue_k ep;
  ep.bias = bias.data();
  ep.activation = k::act::relu;
  const bool pointwise = g.kh == 1 && g.stride_h == 1;
  for (auto _ : s) {
    if (pointwise)
      k::gemm<A>(in.data(), g.in_h * g.in_w, g.in_c, g.in_c, packed.data(), g.out_c, out.data(), g.out_c, ep,
                 scratch.data());
    else
      k::conv2d_image<A>(in.data(), g, packed.data(), out.data(), ep, scratch.data());
    benchmark::DoNotOptimize(out.data());
  }
  const double macs = static_cast<double>(g.out_h * g.out_w * g.out_c * kk);
  counters(s, macs, 4.0 * static_cast<double>(in.size() + out.size() + f.size()));
}

void depthwise(benchmark::State& s) {
  const k::conv_geom g = geom(s.range(0), s.range(1), s.range(2), s.range(2), 3, s.range(3), true);
  const tensor<float> in = rnd(static_cast<index_t>(g.in_h * g.in_w * g.in_c), "in");
  const tensor<float> f = rnd(static_cast<index_t>(9 * g.in_c), "filter"), bias = rnd(static_cast<index_t>(g.in_c) + 64, "bias");
  tensor<float> packed({static_cast<index_t>(9 * k::round_up<A>(g.in_c))});
  k::pack_depthwise<A>(f.data(), 9, g.in_c, packed.data());
  tensor<float> out({static_cast<index_t>(g.out_h * g.out_w * g.out_c)});
  k::epilogue_k ep;
  ep.bias = bias.data();
  ep.activation = k::act::relu;
  // as a prepared network has them
  const std::size_t tile = k::depthwise_tile_width<A>(g.in_w, g.in_c, g.stride_w);
  const std::size_t pair = k::depthwise_pair_width<A>(g.in_w, g.in_c, g.stride_w);
  for (auto _ : s) {
    k::depthwise_image<A>(in.data(), g, packed.data(), out.data(), ep, 0, g.out_h, tile, pair);
    benchmark::DoNotOptimize(out.data());
  }
  counters(s, static_cast<double>(g.out_h * g.out_w * g.out_c * 9), 4.0 * static_cast<double>(in.size() + out.size()));
}

template <bool is_max>
void pool(benchmark::State& s) {
  const k::conv_geom g = geom(s.range(0), s.range(1), s.range(2), s.range(2), s.range(3), s.range(4), s.range(5));
  const tensor<float> in = rnd(static_cast<index_t>(g.in_h * g.in_w * g.in_c), "in");
  tensor<float> out({static_cast<index_t>(g.out_h * g.out_w * g.out_c)});
  for (auto _ : s) {
    k::pool_image<A, is_max>(in.data(), g, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  counters(s, 0, 4.0 * static_cast<double>(in.size() + out.size()));
}

void lrn(benchmark::State& s) {
  const std::size_t pixels = static_cast<std::size_t>(s.range(0)), c = static_cast<std::size_t>(s.range(1));
  const tensor<float> in = rnd(static_cast<index_t>(pixels * c), "in");
  tensor<float> out({static_cast<index_t>(pixels * c)}), scratch({static_cast<index_t>(k::lrn_scratch_size<A>(c, 5))});
  for (auto _ : s) {
    k::lrn_pixels<A>(in.data(), pixels, c, 5, 1.f, 1e-4f, 0.75f, out.data(), scratch.data());
    benchmark::DoNotOptimize(out.data());
  }
  counters(s, 0, 4.0 * static_cast<double>(in.size() + out.size()));
}

/// Fully connected at batch 1 on weights packed as the engine packs them (column blocks); the
/// weights rotate through copies of at least 256 MB in all.
void dense(benchmark::State& s) {
  const std::size_t kk = static_cast<std::size_t>(s.range(0)), m = static_cast<std::size_t>(s.range(1));
  const std::size_t copies = std::max<std::size_t>(2, (256u << 20) / (kk * m * 4) + 1);
  std::vector<tensor<float>> weights;
  const tensor<float> plain = rnd(static_cast<index_t>(kk * m), "weights");
  for (std::size_t i = 0; i < copies; ++i) {
    weights.emplace_back(lmtcnn::shape{static_cast<index_t>(k::packed_dense_size<A>(kk, m))});
    k::pack_dense<A>(plain.data(), kk, m, weights.back().data());
  }
  const tensor<float> x = rnd(static_cast<index_t>(kk), "x"), bias = rnd(static_cast<index_t>(m) + 64, "bias");
  tensor<float> out({static_cast<index_t>(m)});
  k::epilogue_k ep;
  ep.bias = bias.data();
  ep.activation = k::act::relu;
  std::size_t i = 0;
  for (auto _ : s) {
    k::dense_packed<A>(x.data(), 1, kk, kk, weights[i++ % copies].data(), m, out.data(), m, ep, 0,
                       k::dense_blocks<A>(m));
    benchmark::DoNotOptimize(out.data());
  }
  counters(s, static_cast<double>(kk * m), 4.0 * static_cast<double>(kk * m + kk + m));
}

void add(benchmark::State& s) {
  const index_t n = s.range(0);
  const tensor<float> a = rnd(n, "a"), b = rnd(n, "b");
  tensor<float> out({n});
  for (auto _ : s) {
    k::add_n<A>(a.data(), b.data(), out.data(), static_cast<std::size_t>(n));
    benchmark::DoNotOptimize(out.data());
  }
  counters(s, 0, 12.0 * static_cast<double>(n));
}

void softmax(benchmark::State& s) {
  const index_t m = s.range(0);
  const tensor<float> x = rnd(m, "x");
  tensor<float> out({m});
  for (auto _ : s) {
    k::softmax_rows<A>(x.data(), 1, static_cast<std::size_t>(m), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  counters(s, 0, 8.0 * static_cast<double>(m));
}

// LMTCNN (1-1 and 2-1 differ in pw1's width: 256 / 512)
// ---- bf16 (AVX512_BF16 dot products; this program is built for the machine it runs on) -------------
#if LMTCNN_HAVE_BF16_DOT && defined(__AVX512F__)
/// The peak of vdpbf16ps: independent chains; FLOP/s counts 2 per bf16 product (64 per instruction).
LMTCNN_TARGET_BF16 void bf16_dot_chains(benchmark::State& s) {
  constexpr int chains = 16;
  __m512 a[chains];
  for (int i = 0; i < chains; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x33d633d6);
  for (auto _ : s) {
    for (int it = 0; it < 1000; ++it) {
#pragma GCC unroll 16
      for (int i = 0; i < chains; ++i) a[i] = _mm512_dpbf16_ps(a[i], x, y);
    }
    benchmark::DoNotOptimize(a);
  }
  s.counters["FLOP/s"] = benchmark::Counter(1000.0 * chains * 64, benchmark::Counter::kIsIterationInvariantRate);
}
void bf16_dot_peak(benchmark::State& s) {
  if (!k::cpu_has_avx512_bf16()) return s.SkipWithError("no AVX512_BF16 on this CPU");
  bf16_dot_chains(s);
}
BENCHMARK(bf16_dot_peak);

/// A convolution in bf16 dot mode (args as conv): pointwise through the GEMM blocks, others through
/// the in-place window kernel.
void conv_bf16(benchmark::State& s) {
  if (!k::cpu_has_avx512_bf16()) return s.SkipWithError("no AVX512_BF16 on this CPU");
  const k::conv_geom g = geom(s.range(0), s.range(1), s.range(2), s.range(3), s.range(4), s.range(5), s.range(6));
  const std::size_t kk = g.kh * g.kw * g.in_c;
  const bool pointwise = g.kh == 1 && g.stride_h == 1;
  const tensor<float> in = rnd(static_cast<index_t>(g.in_h * g.in_w * g.in_c), "in");
  const tensor<float> f = rnd(static_cast<index_t>(kk * g.out_c), "filter"), bias = rnd(static_cast<index_t>(g.out_c) + 64, "bias");
  tensor<float> packed({static_cast<index_t>(pointwise ? k::packed_gemm_b_bf16_words(kk, g.out_c) : k::packed_conv_bf16_words(g))});
  auto* words = reinterpret_cast<std::uint32_t*>(packed.data());
  if (pointwise) k::pack_gemm_b_bf16(f.data(), kk, g.out_c, g.out_c, words);
  else k::pack_conv_bf16(f.data(), g, words);
  tensor<float> out({static_cast<index_t>(g.out_h * g.out_w * g.out_c)});
  tensor<float> scratch({static_cast<index_t>(std::max(k::conv2d_scratch_size<A>(g), k::conv_bf16_scratch_floats(g)))});
  k::epilogue_k ep;
  ep.bias = bias.data();
  ep.activation = k::act::relu;
  const std::size_t pixels = g.out_h * g.out_w;
  for (auto _ : s) {
    if (pointwise)
      k::pointwise_rows<12>(in.data(), g, out.data(), 0, pixels, [&](const float* const* rows, std::size_t m, float* const* outs) {
        k::gemm_block_bf16_dot(rows, m, kk, words, g.out_c, outs, ep, scratch.data());
      });
    else
      k::conv2d_image_bf16_dot(in.data(), g, words, out.data(), ep, scratch.data(), 0, g.out_h);
    benchmark::DoNotOptimize(out.data());
  }
  counters(s, static_cast<double>(pixels * g.out_c * kk), 4.0 * static_cast<double>(in.size() + out.size()) + 2.0 * static_cast<double>(f.size()));
}

/// A fully connected layer in bf16 dot mode (args as dense); bytes/s counts the bf16 weights.
void dense_bf16(benchmark::State& s) {
  if (!k::cpu_has_avx512_bf16()) return s.SkipWithError("no AVX512_BF16 on this CPU");
  const std::size_t kk = static_cast<std::size_t>(s.range(0)), m = static_cast<std::size_t>(s.range(1));
  const std::size_t copies = std::max<std::size_t>(2, (256u << 20) / (kk * m * 2) + 1);
  std::vector<tensor<float>> weights;
  const tensor<float> plain = rnd(static_cast<index_t>(kk * m), "weights");
  for (std::size_t i = 0; i < copies; ++i) {
    weights.emplace_back(lmtcnn::shape{static_cast<index_t>(k::packed_dense_bf16_words(kk, m))});
    k::pack_dense_bf16(plain.data(), kk, m, reinterpret_cast<std::uint32_t*>(weights.back().data()));
  }
  const tensor<float> x = rnd(static_cast<index_t>(kk), "x"), bias = rnd(static_cast<index_t>(m) + 64, "bias");
  tensor<float> out({static_cast<index_t>(m) + 64});
  k::epilogue_k ep;
  ep.bias = bias.data();
  ep.activation = k::act::relu;
  std::size_t i = 0;
  for (auto _ : s) {
    k::dense_bf16_packed(x.data(), 1, kk, kk, reinterpret_cast<const std::uint32_t*>(weights[i++ % copies].data()), m,
                         out.data(), m, ep, 0, k::dense_bf16_blocks(m));
    benchmark::DoNotOptimize(out.data());
  }
  counters(s, static_cast<double>(kk * m), 2.0 * static_cast<double>(kk * m) + 4.0 * static_cast<double>(kk + m));
}

BENCHMARK(conv_bf16)->Name("bf16/lmtcnn/conv1_7x7s4_3to96")->Args({227, 227, 3, 96, 7, 4, 0});
BENCHMARK(conv_bf16)->Name("bf16/lmtcnn-1-1/pw1_96to256")->Args({27, 27, 96, 256, 1, 1, 0});
BENCHMARK(conv_bf16)->Name("bf16/lmtcnn-2-1/pw1_96to512")->Args({27, 27, 96, 512, 1, 1, 0});
BENCHMARK(conv_bf16)->Name("bf16/lmtcnn-1-1/pw2_256to384")->Args({14, 14, 256, 384, 1, 1, 0});
BENCHMARK(conv_bf16)->Name("bf16/lmtcnn-2-1/pw2_512to384")->Args({14, 14, 512, 384, 1, 1, 0});
BENCHMARK(dense_bf16)->Name("bf16/lmtcnn/full1_13824to512")->Args({13824, 512});
BENCHMARK(dense_bf16)->Name("bf16/lmtcnn/full2_512to512")->Args({512, 512});
BENCHMARK(conv_bf16)->Name("bf16/faceapi/pw_56x56_64to64")->Args({56, 56, 64, 64, 1, 1, 0});
BENCHMARK(conv_bf16)->Name("bf16/faceapi/pw_28x28_64to128")->Args({28, 28, 64, 128, 1, 1, 0});
BENCHMARK(conv_bf16)->Name("bf16/faceapi/pw_7x7_256to512")->Args({7, 7, 256, 512, 1, 1, 0});
#endif

BENCHMARK(conv)->Name("lmtcnn/conv1_7x7s4_3to96")->Args({227, 227, 3, 96, 7, 4, 0});
BENCHMARK(pool<true>)->Name("lmtcnn/pool1_max3x3s2")->Args({56, 56, 96, 3, 2, 0});
BENCHMARK(lrn)->Name("lmtcnn/norm1_lrn11")->Args({27 * 27, 96});
BENCHMARK(depthwise)->Name("lmtcnn/dw1_3x3s1_96")->Args({27, 27, 96, 1});
BENCHMARK(conv)->Name("lmtcnn-1-1/pw1_96to256")->Args({27, 27, 96, 256, 1, 1, 0});
BENCHMARK(conv)->Name("lmtcnn-2-1/pw1_96to512")->Args({27, 27, 96, 512, 1, 1, 0});
BENCHMARK(depthwise)->Name("lmtcnn-1-1/dw2_3x3s2_256")->Args({27, 27, 256, 2});
BENCHMARK(depthwise)->Name("lmtcnn-2-1/dw2_3x3s2_512")->Args({27, 27, 512, 2});
BENCHMARK(conv)->Name("lmtcnn-1-1/pw2_256to384")->Args({14, 14, 256, 384, 1, 1, 0});
BENCHMARK(conv)->Name("lmtcnn-2-1/pw2_512to384")->Args({14, 14, 512, 384, 1, 1, 0});
BENCHMARK(pool<true>)->Name("lmtcnn/pool3_max3x3s2")->Args({14, 14, 384, 3, 2, 0});
BENCHMARK(dense)->Name("lmtcnn/full1_13824to512")->Args({13824, 512});
BENCHMARK(dense)->Name("lmtcnn/full2_512to512")->Args({512, 512});
BENCHMARK(dense)->Name("lmtcnn/age_512to8")->Args({512, 8});
BENCHMARK(softmax)->Name("lmtcnn/age_softmax8")->Args({8});
// face-api.js AgeGenderNet
BENCHMARK(conv)->Name("faceapi/conv_in_3x3s2_3to32")->Args({112, 112, 3, 32, 3, 2, 1});
BENCHMARK(conv)->Name("faceapi/tiny_conv0_3x3s1_3to16")->Args({416, 416, 3, 16, 3, 1, 1});
BENCHMARK(depthwise)->Name("faceapi/dw_56x56x32")->Args({56, 56, 32, 1});
BENCHMARK(conv)->Name("faceapi/pw_56x56_32to64")->Args({56, 56, 32, 64, 1, 1, 0});
BENCHMARK(conv)->Name("faceapi/pw_56x56_64to64")->Args({56, 56, 64, 64, 1, 1, 0});
BENCHMARK(pool<true>)->Name("faceapi/maxpool_3x3s2_56x56x64")->Args({56, 56, 64, 3, 2, 1});
BENCHMARK(depthwise)->Name("faceapi/dw_28x28x64")->Args({28, 28, 64, 1});
BENCHMARK(conv)->Name("faceapi/pw_28x28_64to128")->Args({28, 28, 64, 128, 1, 1, 0});
BENCHMARK(depthwise)->Name("faceapi/dw_14x14x128")->Args({14, 14, 128, 1});
BENCHMARK(conv)->Name("faceapi/pw_14x14_128to128")->Args({14, 14, 128, 128, 1, 1, 0});
BENCHMARK(add)->Name("faceapi/add_14x14x128")->Args({14 * 14 * 128});
BENCHMARK(depthwise)->Name("faceapi/dw_7x7x256")->Args({7, 7, 256, 1});
BENCHMARK(conv)->Name("faceapi/pw_7x7_256to512")->Args({7, 7, 256, 512, 1, 1, 0});
BENCHMARK(pool<false>)->Name("faceapi/avgpool_7x7_512")->Args({7, 7, 512, 7, 2, 0});
// In neither network: 576 channels, a width whose tiles the L1's sets do not narrow (unlike 512;
// kernels::depthwise_tile_width)
BENCHMARK(depthwise)->Name("other/dw_3x3s2_27x27x576")->Args({27, 27, 576, 2});
BENCHMARK(depthwise)->Name("other/dw_14x14x576")->Args({14, 14, 576, 1});
BENCHMARK(dense)->Name("faceapi/fc_gender_512to2")->Args({512, 2});

}  // namespace

BENCHMARK_MAIN();