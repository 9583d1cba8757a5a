#!/usr/bin/python3
"""Runs lmtcnn-convert and lmtcnn-inspect on good and bad inputs and checks exit codes and messages.

    test_converter_cli.py CONVERT INSPECT NPZ_DIR FACEAPI_DIR WORK_DIR

NPZ_DIR holds the LMTCNN .npz files written by tests/torch_reference/lmtcnn_torch.py --npz-dir
(weights plus PyTorch's outputs as selftest/* arrays); FACEAPI_DIR the face-api.js manifests and shards.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

convert, inspect, npz_dir, faceapi_dir, work = sys.argv[1:6]
os.makedirs(work, exist_ok=True)
failures = []
checks = 0


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def expect(cmd, code, pattern, stream="stderr"):
    global checks
    checks += 1
    rc, out, err = run(cmd)
    text = err if stream == "stderr" else out
    ok = rc == code and pattern in text
    if code != 0 and ok and len(err.strip().splitlines()) != 1:
        ok = False
        text = "not one line: " + err
    if not ok:
        failures.append("%s\n    exit %d (want %d), wanted %r in %s:\n    %s" % (" ".join(cmd), rc, code, pattern,
                                                                           stream, text.strip()[:500]))


# ---- help and usage
expect([convert, "--help"], 0, "usage: lmtcnn-convert", "stdout")
expect([inspect, "--help"], 0, "usage: lmtcnn-inspect", "stdout")
expect([convert], 2, "no INPUT given")
expect([convert, "x.npz"], 2, "no output file given")
expect([convert, "x.npz", "-o", "y", "--bogus"], 2, "unknown option '--bogus'")
expect([convert, "x.npz", "-o", "y", "--divisor", "3"], 2, "--divisor takes 256 or 255")
expect([inspect], 2, "no FILE given")

# ---- LMTCNN from .npz, self-test from PyTorch
for variant in ("1-1", "2-1"):
    for mode in ("batch_statistics", "moving_average"):
        src = os.path.join(npz_dir, "LMTCNN-%s_%s.npz" % (variant, mode))
        out = os.path.join(work, "LMTCNN-%s_%s.lmt" % (variant, mode))
        expect([convert, src, "-o", out, "--bn-mode", mode], 0, "LMTCNN-%s, " % variant, "stdout")
        expect([inspect, out], 0, "self-test: passed", "stdout")
        expect([inspect, out], 0, "source framework", "stdout")
        expect([inspect, out], 0, '"%s"' % mode, "stdout")
# outputs computed with moving averages cannot pass in batch-statistics mode: the self-test catches it
expect([convert, os.path.join(npz_dir, "LMTCNN-2-1_moving_average.npz"), "-o", os.path.join(work, "m.lmt"),
        "--bn-mode", "batch_statistics"], 1, "self-test failed")

# ---- bad .npz files
base = dict(np.load(os.path.join(npz_dir, "LMTCNN-1-1_moving_average.npz")))


def npz(name, arrays, compressed=False):
    path = os.path.join(work, name)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def variant(**changes):
    a = {k: v for k, v in base.items() if not k.startswith("selftest/")}
    for k, v in changes.items():
        k = k.replace("__", "/")
        if v is None:
            a.pop(k)
        else:
            a[k] = v
    return a


out = os.path.join(work, "bad.lmt")
expect([convert, npz("missing.npz", variant(multitaskdpcnn__full2__biases=None)), "-o", out, "--bn-mode",
        "moving_average"], 1, "missing tensor 'multitaskdpcnn/full2/biases' [512]")
expect([convert, npz("misshaped.npz", variant(multitaskdpcnn__full1__weights=np.zeros((13824, 511), np.float32))),
        "-o", out], 1, "tensor 'multitaskdpcnn/full1/weights' has shape [13824,511], expected [13824,512]")
expect([convert, npz("unexpected.npz", variant(global_step=np.zeros((), np.float32))), "-o", out], 1,
       "unexpected tensor 'global_step'")
expect([convert, npz("variant.npz", variant(multitaskdpcnn__convdp1__pointwise_conv__weights=np.zeros(
    (1, 1, 96, 300), np.float32))), "-o", out], 1, "expected [1,1,96,256] (LMTCNN-1-1) or [1,1,96,512]")
f64 = variant()
f64 = {k: v.astype(np.float64) for k, v in f64.items()}
expect([convert, npz("float64.npz", f64, compressed=True), "-o", out, "--bn-mode", "moving_average"], 0,
       "self-test passed", "stdout")
fortran = variant()
fortran["multitaskdpcnn/full2/weights"] = np.asfortranarray(fortran["multitaskdpcnn/full2/weights"])
expect([convert, npz("fortran.npz", fortran), "-o", out], 1, "Fortran-ordered arrays are not supported")
ints = variant(multitaskdpcnn__conv1__biases=np.zeros(96, np.int32))
expect([convert, npz("ints.npz", ints), "-o", out], 1, "dtype '<i4' is not supported")
with open(os.path.join(npz_dir, "LMTCNN-1-1_batch_statistics.npz"), "rb") as f:
    data = f.read()
for name, content, pattern in (
        ("truncated.npz", data[:len(data) // 2], "not a zip archive"),
        ("empty.npz", b"", "neither an .npz archive, a TensorFlow checkpoint, a frozen graph (.pb) nor a TensorFlow.js weights manifest"),
        ("text.npz", b"hello, this is not an archive\n", "neither an .npz archive"),
        ("unknown.npz", None, "unknown network")):
    path = os.path.join(work, name)
    if content is None:
        np.savez(path, something=np.zeros(3, np.float32))
    else:
        with open(path, "wb") as f:
            f.write(content)
    expect([convert, path, "-o", out], 1, pattern)
expect([convert, os.path.join(work, "no_such.npz"), "-o", out], 1, "cannot open")
expect([convert, work, "-o", out], 1, "is a directory, not a file")
expect([convert, "/dev/null", "-o", out], 1, "is not a regular file")

# ---- face-api.js manifests, good and bad
for name, params in (("age_gender_model", "421731 parameters"), ("tiny_face_detector_model", "193321 parameters")):
    lmt = os.path.join(work, name + ".lmt")
    expect([convert, os.path.join(faceapi_dir, name + "-weights_manifest.json"), "-o", lmt], 0, "self-test passed",
           "stdout")
    expect([inspect, lmt], 0, params, "stdout")
lmt255 = os.path.join(work, "age_gender_255.lmt")
expect([convert, os.path.join(faceapi_dir, "age_gender_model-weights_manifest.json"), "-o", lmt255, "--divisor",
        "255"], 0, "self-test passed", "stdout")
expect([inspect, lmt255], 0, "preprocess.divisor     255", "stdout")
expect([convert, os.path.join(faceapi_dir, "tiny_face_detector_model-weights_manifest.json"), "-o", out,
        "--input-size", "100"], 1, "not a multiple of 32")

bad = os.path.join(work, "badtfjs")
os.makedirs(bad, exist_ok=True)
manifest = json.load(open(os.path.join(faceapi_dir, "age_gender_model-weights_manifest.json")))
shard = open(os.path.join(faceapi_dir, "age_gender_model.bin"), "rb").read()


def tfjs_case(name, m, shard_bytes, pattern):
    with open(os.path.join(bad, name + ".json"), "w") as f:
        f.write(m if isinstance(m, str) else json.dumps(m))
    if shard_bytes is not None:
        with open(os.path.join(bad, "age_gender_model.bin"), "wb") as f:
            f.write(shard_bytes)
    expect([convert, os.path.join(bad, name + ".json"), "-o", out], 1, pattern)


tfjs_case("short_shard", manifest, shard[:-100], "runs past the end of the shards")
tfjs_case("long_shard", manifest, shard + b"\0" * 8, "8 bytes more than its tensors")
m = json.loads(json.dumps(manifest))
m[0]["paths"] = ["missing.bin"]
tfjs_case("missing_shard", m, shard, "missing.bin: cannot open")
m = json.loads(json.dumps(manifest))
m[0]["paths"] = ["../../etc/passwd"]
tfjs_case("escape", m, None, "bad shard path")
m = json.loads(json.dumps(manifest))
m[0]["weights"][3]["shape"] = [1, 1, 64, 32]  # same element count
tfjs_case("misshaped", m, shard, "has shape [1,1,64,32], expected [1,1,32,64]")
m = json.loads(json.dumps(manifest))
m[0]["weights"][0]["shape"] = [4294967296, 4294967296]
tfjs_case("absurd", m, shard, "bad shape")
m = json.loads(json.dumps(manifest))
m[0]["weights"][1]["dtype"] = "bool"
tfjs_case("dtype", m, shard, "dtype 'bool' is not supported")
# the same weights split over two shards convert to the same tensors
two = os.path.join(work, "two_shards")
os.makedirs(two, exist_ok=True)
with open(os.path.join(two, "part1.bin"), "wb") as f:
    f.write(shard[:100001])
with open(os.path.join(two, "part2.bin"), "wb") as f:
    f.write(shard[100001:])
m = json.loads(json.dumps(manifest))
m[0]["paths"] = ["part1.bin", "part2.bin"]
with open(os.path.join(two, "manifest.json"), "w") as f:
    json.dump(m, f)
expect([convert, os.path.join(two, "manifest.json"), "-o", os.path.join(two, "two.lmt")], 0, "self-test passed",
       "stdout")
checks += 1
one_tensors = subprocess.run([inspect, os.path.join(work, "age_gender_model.lmt")], capture_output=True,
                             text=True).stdout.split("tensors:")[1]
two_tensors = subprocess.run([inspect, os.path.join(two, "two.lmt")], capture_output=True,
                             text=True).stdout.split("tensors:")[1]
if one_tensors != two_tensors:
    failures.append("two shards give other tensors (names, shapes or checksums) than one")

tfjs_case("broken_json", json.dumps(manifest)[:-20], shard, "JSON:")
tfjs_case("deep_json", "[" * 100 + "]" * 100, shard, "nesting deeper than 64")

# ---- a damaged weight file
good = os.path.join(work, "age_gender_model.lmt")
damaged = os.path.join(work, "damaged.lmt")
raw = bytearray(open(good, "rb").read())
raw[len(raw) // 2] ^= 0x10
open(damaged, "wb").write(raw)
expect([inspect, damaged], 1, "checksum mismatch")
open(damaged, "wb").write(raw[:1000])
expect([inspect, damaged], 1, "(truncated)")

# ---- --bench: one JSON line with the timing fields, on an LMTCNN file and the face-api.js net
expect([inspect, good, "--bench", "--threads", "0"], 2, "--threads needs a whole number from 1 to 256")
expect([inspect, good, "--bench", "--runs"], 2, "--runs needs a value")
expect([inspect, good, "--batch", "2"], 2, "go with --bench")
expect([inspect, damaged, "--bench"], 1, "(truncated)")
lmt_bench = os.path.join(work, "LMTCNN-1-1_moving_average.lmt")
for path, batch, threads in ((good, 3, 2), (lmt_bench, 2, 1)):
    checks += 1
    r = subprocess.run([inspect, path, "--bench", "--runs", "3", "--warmup", "1", "--batch", str(batch),
                        "--threads", str(threads), "--layers"], capture_output=True, text=True)
    lines = r.stdout.splitlines()
    try:
        d = json.loads(lines[0]) if r.returncode == 0 and len(lines) == 1 else None
    except ValueError:
        d = None
    if d is None:
        failures.append("--bench on %s: exit %d, output %r" % (path, r.returncode, r.stdout[:200]))
        continue
    ok = (d["runs"] == 3 and d["batch"] == batch and d["threads"] == threads and 0 < d["min_ms"] <= d["median_ms"]
          and d["arena_bytes"] > 0 and abs(d["images_per_s"] - batch * 1e3 / d["median_ms"]) < 0.1 + 1e-3 *
          d["images_per_s"] and len(d["layers"]) > 10 and abs(sum(l["share"] for l in d["layers"]) - 1) < 0.01)
    if not ok:
        failures.append("--bench on %s: fields do not add up: %s" % (path, lines[0][:300]))

print("%d passed, %d failed" % (checks - len(failures), len(failures)))
for f in failures:
    print("FAILED:", f)
sys.exit(1 if failures else 0)
