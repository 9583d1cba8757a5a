#!/usr/bin/python3
"""Checks a converted TF.js model against a NumPy dequantization of its manifest.

    check_tfjs_dequant.py MANIFEST.json FILE.lmt EXPECTED_TENSORS EXPECTED_PARAMETERS

Every manifest tensor must be in FILE.lmt with the same shape and bitwise the same float32 values
as NumPy computes (q * scale + min in float64, rounded to float32, for uint8/uint16 tensors;
float32 tensors as stored), and the counts must be as expected. Entries of dtype int32 and scalars are
constants of the exported TensorFlow graph (the SSD's), not weights: they must not be in FILE.lmt.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmt_reader  # noqa: E402


def dequantize(manifest_path):
    base = os.path.dirname(manifest_path)
    with open(manifest_path) as f:
        groups = json.load(f)
    out = {}
    for g in groups:
        data = b"".join(open(os.path.join(base, p), "rb").read() for p in g["paths"])
        pos = 0
        for w in g["weights"]:
            count = int(np.prod(w["shape"], dtype=np.int64))
            q = w.get("quantization")
            if q is None:
                v = np.frombuffer(data, dtype="<f4", count=count, offset=pos)
                pos += 4 * count
            elif q["dtype"] in ("uint8", "uint16"):
                dt = np.uint8 if q["dtype"] == "uint8" else np.dtype("<u2")
                raw = np.frombuffer(data, dtype=dt, count=count, offset=pos)
                pos += raw.itemsize * count
                v = (raw.astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
            else:
                raw = np.frombuffer(data, dtype="<f2", count=count, offset=pos)
                pos += 2 * count
                v = raw.astype(np.float32)
            if w["dtype"] == "float32" and len(w["shape"]) > 0:
                out[w["name"]] = v.reshape(w["shape"])
        assert pos == len(data), "manifest does not cover its shards"
    return out


def main():
    manifest, lmt, want_tensors, want_params = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ref = dequantize(manifest)
    got = {k: v for k, v in lmt_reader.read_tensors(lmt).items() if not k.startswith("selftest/")}
    params = sum(v.size for v in got.values())
    print("%s: %d tensors, %d parameters" % (lmt, len(got), params))
    ok = len(got) == want_tensors and params == want_params and set(got) == set(ref)
    for name, v in ref.items():
        g = got.get(name)
        if g is None or g.shape != v.shape or not np.array_equal(g.view(np.uint32), v.view(np.uint32)):
            print("MISMATCH:", name)
            ok = False
    print("all %d tensors bitwise equal to the NumPy dequantization" % len(ref) if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
