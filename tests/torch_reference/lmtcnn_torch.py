#!/usr/bin/python3
"""LMTCNN-1-1 / LMTCNN-2-1 goldens from PyTorch in float64, independent of the C++ engine.

Weights and inputs come from the seeded generator documented in include/lmtcnn/core/seeded.hpp, written
here again in NumPy, so both sides build the very same numbers from (seed, tensor name). The output
file lists, per case, every tensor with its shape and range (the C++ test regenerates them from this
list) and the logits and probabilities PyTorch computes.

Run with Debian's python3 (python3-torch, python3-numpy):
    /usr/bin/python3 tests/torch_reference/lmtcnn_torch.py -o tests/golden/lmtcnn_torch.txt
"""
import argparse
import sys

import numpy as np
import torch
import torch.nn.functional as F

MASK = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15


def mix(z):
    """SplitMix64 finaliser on a NumPy uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def draws(seed, name, count):
    with np.errstate(over="ignore"):
        key = mix(np.array([(seed ^ fnv1a64(name)) & MASK], dtype=np.uint64))[0]
        i = np.arange(1, count + 1, dtype=np.uint64)
        return mix(key + i * np.uint64(GOLDEN_GAMMA))


def uniform(seed, name, shape, lo, hi):
    z = draws(seed, name, int(np.prod(shape)))
    return (lo + (z >> np.uint64(41)).astype(np.float64) * ((hi - lo) * 2.0**-23)).reshape(shape)


def pixels(seed, name, shape):
    z = draws(seed, name, int(np.prod(shape)))
    return (z >> np.uint64(56)).astype(np.float64).reshape(shape)


def tensor_specs(variant):
    """(name, TF shape, lo, hi) of every LMTCNN weight; ranges are powers of two (exact values)
    chosen so that activations neither vanish nor explode through the random network."""
    pw1 = 256 if variant == "1-1" else 512
    s = "multitaskdpcnn/"
    specs = [
        (s + "conv1/weights", (7, 7, 3, 96), -0.25, 0.25),
        (s + "conv1/biases", (96,), -0.125, 0.125),
        (s + "convdp1/depthwise_conv/depthwise_weights", (3, 3, 96, 1), -0.5, 0.5),
        (s + "convdp1/depthwise_conv/biases", (96,), -0.125, 0.125),
        (s + "convdp1/pointwise_conv/weights", (1, 1, 96, pw1), -0.25, 0.25),
        (s + "convdp1/pointwise_conv/biases", (pw1,), -0.125, 0.125),
        (s + "convdp2/depthwise_conv/depthwise_weights", (3, 3, pw1, 1), -0.5, 0.5),
        (s + "convdp2/depthwise_conv/biases", (pw1,), -0.125, 0.125),
        (s + "convdp2/pointwise_conv/weights", (1, 1, pw1, 384), -0.125, 0.125),
        (s + "convdp2/pointwise_conv/biases", (384,), -0.125, 0.125),
        (s + "full1/weights", (13824, 512), -0.015625, 0.015625),
        (s + "full1/biases", (512,), -0.125, 0.125),
        (s + "full2/weights", (512, 512), -0.125, 0.125),
        (s + "full2/biases", (512,), -0.125, 0.125),
        ("ageoutput/ageweights", (512, 8), -0.0625, 0.0625),
        ("ageoutput/agebiases", (8,), -0.25, 0.25),
        ("genderoutput/genderweights", (512, 2), -0.0625, 0.0625),
        ("genderoutput/genderbiases", (2,), -0.25, 0.25),
    ]
    for scope, c in (("convdp1/dw_batch_norm/", 96), ("convdp1/pw_batch_norm/", pw1),
                     ("convdp2/dw_batch_norm/", pw1), ("convdp2/pw_batch_norm/", 384)):
        specs.append((s + scope + "beta", (c,), -0.125, 0.125))
        specs.append((s + scope + "moving_mean", (c,), 0.0, 0.5))
        specs.append((s + scope + "moving_variance", (c,), 0.5, 1.0))
    return specs


def same_pad(x, k, stride):
    """TensorFlow SAME padding of an NCHW tensor: the odd extra cell goes bottom / right."""
    def pads(n):
        out = -(-n // stride)
        total = max((out - 1) * stride + k - n, 0)
        return total // 2, total - total // 2
    top, bottom = pads(x.shape[2])
    left, right = pads(x.shape[3])
    return F.pad(x, (left, right, top, bottom))


def standardize(x):
    """tf.image.per_image_standardization of each image of an NCHW batch."""
    count = x[0].numel()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.clamp(std, min=1.0 / np.sqrt(count))


def forward(w, image_nhwc, bn_mode, standardized=None):
    """LMTCNN on a batch; standardized: the images to standardize first (default: all, as the graph does)."""
    t = {k: torch.from_numpy(v) for k, v in w.items()}
    s = "multitaskdpcnn/"
    x = torch.from_numpy(image_nhwc).permute(0, 3, 1, 2)
    if standardized is None:
        x = standardize(x)
    else:
        x = torch.stack([standardize(x[i:i + 1])[0] if standardized[i] else x[i] for i in range(x.shape[0])])

    x = F.relu(F.conv2d(x, t[s + "conv1/weights"].permute(3, 2, 0, 1), t[s + "conv1/biases"], stride=4))
    x = F.max_pool2d(x, 3, 2)
    # PyTorch divides alpha by the window size; TensorFlow does not.
    x = F.local_response_norm(x, size=11, alpha=1e-4 * 11, beta=0.75, k=1.0)

    def bn(x, scope):
        beta = t[s + scope + "beta"]
        if bn_mode == "moving_average":
            return F.batch_norm(x, t[s + scope + "moving_mean"], t[s + scope + "moving_variance"], None, beta,
                                training=False, eps=1e-3)
        return F.batch_norm(x, None, None, None, beta, training=True, eps=1e-3)

    for block, stride in (("convdp1/", 1), ("convdp2/", 2)):
        dw = t[s + block + "depthwise_conv/depthwise_weights"].permute(2, 3, 0, 1)
        x = F.relu(F.conv2d(same_pad(x, 3, stride), dw, t[s + block + "depthwise_conv/biases"], stride=stride,
                            groups=x.shape[1]))
        x = bn(x, block + "dw_batch_norm/")
        pw = t[s + block + "pointwise_conv/weights"].permute(3, 2, 0, 1)
        x = F.relu(F.conv2d(x, pw, t[s + block + "pointwise_conv/biases"]))
        x = bn(x, block + "pw_batch_norm/")

    x = F.max_pool2d(x, 3, 2)
    x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # flatten in (h, w, c) order
    x = F.relu(x @ t[s + "full1/weights"] + t[s + "full1/biases"])
    x = F.relu(x @ t[s + "full2/weights"] + t[s + "full2/biases"])
    age = x @ t["ageoutput/ageweights"] + t["ageoutput/agebiases"]
    gender = x @ t["genderoutput/genderweights"] + t["genderoutput/genderbiases"]
    return age, torch.softmax(age, dim=1), gender, torch.softmax(gender, dim=1)


CASES = [  # (variant, batch norm mode, seed, batch)
    ("1-1", "batch_statistics", 11, 2),
    ("2-1", "batch_statistics", 21, 2),
    ("1-1", "moving_average", 12, 1),
    ("2-1", "moving_average", 22, 2),
]


def fmt(values):
    return " ".join(repr(float(v)) for v in np.asarray(values).ravel())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", help="golden file to write")
    ap.add_argument("--npz-dir", help="also write each case's weights as LMTCNN-<variant>_<mode>.npz, with "
                    "PyTorch's outputs as selftest/* arrays (the 2-1 files compressed)")
    args = ap.parse_args()
    if not args.output and not args.npz_dir:
        ap.error("give -o and/or --npz-dir")
    if args.npz_dir:
        import os
        os.makedirs(args.npz_dir, exist_ok=True)
    torch.set_num_threads(1)
    lines = ["# LMTCNN goldens: PyTorch %s, float64, written by tests/torch_reference/lmtcnn_torch.py"
             % torch.__version__]
    for variant, bn_mode, seed, batch in CASES:
        specs = tensor_specs(variant)
        if bn_mode == "batch_statistics":  # the moving statistics are not used in this mode
            specs = [sp for sp in specs if "moving_" not in sp[0]]
        weights = {name: uniform(seed, name, shape, lo, hi) for name, shape, lo, hi in specs}
        image = pixels(seed, "input", (batch, 227, 227, 3))
        age, age_p, gender, gender_p = (v.numpy() for v in forward(weights, image, bn_mode))
        lines.append("case LMTCNN-%s %s seed %d batch %d" % (variant, bn_mode, seed, batch))
        lines.append("pixels input 4 %d 227 227 3" % batch)
        for name, shape, lo, hi in specs:
            lines.append("uniform %s %d %s %r %r" % (name, len(shape), " ".join(map(str, shape)), lo, hi))
        for key, value in (("age_logits", age), ("age_probs", age_p), ("gender_logits", gender),
                           ("gender_probs", gender_p)):
            lines.append("output %s %d %s" % (key, value.size, fmt(value)))
        lines.append("end")
        if args.npz_dir:
            arrays = {name: w.astype(np.float32) for name, w in weights.items()}
            arrays["selftest/input"] = image.astype(np.float32)
            for key, value in (("age_logits", age), ("age_probs", age_p), ("gender_logits", gender),
                               ("gender_probs", gender_p)):
                arrays["selftest/" + key] = value.astype(np.float32)
            path = "%s/LMTCNN-%s_%s.npz" % (args.npz_dir, variant, bn_mode)
            (np.savez_compressed if variant == "2-1" else np.savez)(path, **arrays)
        print("LMTCNN-%s %-16s age %s gender %s" % (variant, bn_mode, np.round(age_p, 3).tolist(),
                                                    np.round(gender_p, 3).tolist()), file=sys.stderr)
    if args.output:
        with open(args.output, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
