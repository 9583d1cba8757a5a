#!/usr/bin/env python3
"""Per-layer table of a converted network against this machine's roofs, in Markdown.

    python3 bench/layer_table.py [--build build] [--runs 60] [--threads 1] [--precision fp32] FILE.lmt...
    python3 bench/layer_table.py --depthwise [--build build]

Measures the FMA peak and the read bandwidth with bench_layers (fma_peak, read_bandwidth), then each
network with `lmtcnn-inspect FILE --bench --layers` (medians of the profiled calls), and prints per
network one row per layer that takes at least 1 % of the time (the rest summed in one row): its time,
GFLOP/s and share of the FMA peak; for fully connected layers also the weight stream in GB/s and its
share of the read bandwidth of a buffer of the weights' size (interpolated between the measured
sizes). Layers without multiply-adds (pooling, LRN, additions) show their time only.
--depthwise instead takes bench_layers' depthwise layers and sets each against its roofline: the
lesser of the FMA peak and the read bandwidth of a buffer of its size (input, output and weights, from
its bytes/s counter) times its FLOP per byte. Only the standard library: runs on any python3.
"""
import argparse
import json
import math
import os
import subprocess
import sys


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return out


def roofs(build, env, extra=""):
    """The FMA peak (GFLOP/s), the read bandwidth by buffer size (GB/s) and the medians of the
    benchmarks matching `extra` (name -> (seconds, FLOP/s, bytes/s))."""
    exe = os.path.join(build, "bench", "bench_layers")
    pattern = "^(fma_peak|read_bandwidth)" + ("|" + extra if extra else "")
    out = run_json([exe, "--benchmark_filter=" + pattern, "--benchmark_repetitions=3",
                    "--benchmark_report_aggregates_only=true", "--benchmark_format=json"], env)
    peak, bw, others = None, {}, {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        if b["run_name"] == "fma_peak":
            peak = b["FLOP/s"] / 1e9
        elif b["run_name"].startswith("read_bandwidth/bytes:"):
            bw[int(b["run_name"].split(":")[1])] = b["bytes/s"] / 1e9
        elif "FLOP/s" in b and "bytes/s" in b:
            unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
            others[b["run_name"]] = (b["real_time"] * unit, b["FLOP/s"], b["bytes/s"])
    if peak is None or not bw:
        sys.exit("layer_table: bench_layers printed no fma_peak or read_bandwidth")
    return peak, sorted(bw.items()), others


def depthwise_table(args, env):
    peak, bw, layers = roofs(args.build, env, "dw")
    print_roofs(peak, bw)
    print("\n| depthwise layer (bench_layers) | us | GFLOP/s | FLOP per byte | buffer | roofline | share |")
    print("|---|---|---|---|---|---|---|")
    for name, (secs, flops, bytes_s) in sorted(layers.items()):
        if name.startswith("bf16/"):
            continue
        size = bytes_s * secs
        intensity = flops / bytes_s
        roof = min(peak, bandwidth_at(size, bw) * intensity)
        print(f"| {name.split('/')[0]}/{name.split('/')[1]} | {secs * 1e6:.1f} | {flops / 1e9:.1f} | {intensity:.2f} | "
              f"{size / 1024:.0f} KB | {roof:.0f} GFLOP/s | {100 * flops / 1e9 / roof:.0f} % |")


def print_roofs(peak, bw):
    print("FMA peak %.1f GFLOP/s; read bandwidth %s" %
          (peak, ", ".join("%.0f GB/s at %s" % (b, f"{s >> 20} MB" if s >= 1 << 20 else f"{s >> 10} KB") for s, b in bw)))


def bandwidth_at(size, bw):
    """GB/s for a buffer of `size` bytes: log-linear between the measured sizes, flat outside."""
    if size <= bw[0][0]:
        return bw[0][1]
    for (s0, b0), (s1, b1) in zip(bw, bw[1:]):
        if size <= s1:
            t = (math.log(size) - math.log(s0)) / (math.log(s1) - math.log(s0))
            return b0 + t * (b1 - b0)
    return bw[-1][1]


def table(path, args, peak, bw, env):
    exe = os.path.join(args.build, "weights_tools", "lmtcnn-inspect")
    d = json.loads(run_json([exe, path, "--bench", "--layers", "--runs", str(args.runs), "--threads",
                             str(args.threads), "--precision", args.precision], env))
    layers = d["layers"]
    total_ms = sum(l["ms"] for l in layers)
    total_gflop = sum(l["gflops"] * l["ms"] / 1e3 for l in layers)
    print(f"\n{d['network']} ({os.path.basename(path)}), {d['simd_path']}, {args.precision}, "
          f"{args.threads} thread(s), batch {d['batch']}: whole network {d['median_ms']:.3f} ms, "
          f"{d['gflops']:.1f} GFLOP/s = {100 * d['gflops'] / peak:.0f} % of the FMA peak "
          f"({peak:.1f} GFLOP/s); layers summed {total_ms:.3f} ms\n")
    print("| layer | op | ms | GFLOP/s | share of the roof |")
    print("|---|---|---|---|---|")
    rest_ms, rest_n = 0.0, 0
    for l in layers:
        if l["ms"] < 0.01 * total_ms:
            rest_ms += l["ms"]
            rest_n += 1
            continue
        g = l["gflops"]
        if g <= 0:
            roof = "(no multiply-adds)"
        elif l["op"] == "fully_connected":
            # fp32 weights: 4 bytes per multiply-add (bf16: 2), streamed once per call at batch 1
            bytes_per_flop = (2.0 if args.precision == "bf16" else 4.0) / 2
            gbs = g * bytes_per_flop
            size = g * 1e9 * l["ms"] / 1e3 * bytes_per_flop
            roof = f"{gbs:.1f} GB/s = {100 * gbs / bandwidth_at(size, bw):.0f} % of read bandwidth"
        else:
            roof = f"{100 * g / peak:.0f} % of FMA peak"
        print(f"| {l['name']} | {l['op']} | {l['ms']:.4f} | {g:.1f} | {roof} |")
    if rest_n:
        print(f"| {rest_n} others, each < 1 % | | {rest_ms:.4f} | | |")
    print(f"| all layers | | {total_ms:.4f} | {total_gflop / total_ms * 1e3:.1f} | "
          f"{100 * total_gflop / total_ms * 1e3 / peak:.0f} % of FMA peak |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--depthwise", action="store_true")
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    args = ap.parse_args()
    env = dict(os.environ)
    if args.depthwise:
        depthwise_table(args, env)
        return
    if not args.files:
        ap.error("give one or more .lmt files, or --depthwise")
    peak, bw, _ = roofs(args.build, env)
    print_roofs(peak, bw)
    for f in args.files:
        table(f, args, peak, bw, env)


if __name__ == "__main__":
    main()
