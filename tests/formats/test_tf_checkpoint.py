#!/usr/bin/python3
"""lmtcnn-convert on TensorFlow 1.x checkpoints written by tf_checkpoint_writer.py (an independent
writer of the tensor-bundle format):

    test_tf_checkpoint.py CONVERT NPZ_DIR WORK_DIR

LMTCNN-1-1 (one shard) and LMTCNN-2-1 (two shards, Snappy-compressed index blocks), with Momentum slots
and global_step beside the model variables, under the original's prefix style (checkpoint-N), given as
the prefix, the .index file and the directory: the converted file must equal, tensor by tensor and
bitwise, the one converted from an .npz of the same arrays. Then damaged checkpoints: each must give
exit code 1 and one line naming the file (and the entry, where there is one).
"""
import os
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmt_reader  # noqa: E402
import tf_checkpoint_writer as w  # noqa: E402

convert, npz_dir, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []
checks = 0


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return p.returncode, p.stdout, p.stderr


def expect(cmd, code, patterns):
    global checks
    checks += 1
    rc, out, err = run(cmd)
    text = err if code else out
    ok = rc == code and all(p in text for p in patterns)
    if code and ok and len(err.strip().splitlines()) != 1:
        ok, text = False, "not one line: " + err
    if not ok:
        failures.append("%s\n    exit %d (want %d), wanted %r in:\n    %s" % (" ".join(cmd), rc, code, patterns,
                                                                         (err or out).strip()[:600]))


def same_tensors(a, b, what):
    global checks
    checks += 1
    ta, tb = lmt_reader.read_tensors(a, False), lmt_reader.read_tensors(b, False)
    if sorted(ta) != sorted(tb):
        failures.append("%s: tensor names differ: %s" % (what, sorted(set(ta) ^ set(tb))))
        return
    for k in ta:
        if ta[k].shape != tb[k].shape or ta[k].tobytes() != tb[k].tobytes():
            failures.append("%s: tensor %s differs" % (what, k))


rng = np.random.default_rng(20261204)
for variant, shards, compress in (("1-1", 1, False), ("2-1", 2, True)):
    base = np.load(os.path.join(npz_dir, "LMTCNN-%s_moving_average.npz" % variant))
    weights = {k: base[k].astype(np.float32) for k in base.files if not k.startswith("selftest/")}
    plain = os.path.join(work, "LMTCNN-%s.npz" % variant)
    np.savez(plain, **weights)
    from_npz = os.path.join(work, "LMTCNN-%s_npz.lmt" % variant)
    expect([convert, plain, "-o", from_npz, "--bn-mode", "moving_average"], 0, ["LMTCNN-%s" % variant])
    variables = dict(weights)
    for k, v in weights.items():  # the optimizer's slots and the step counter, as training leaves them
        variables[k + "/Momentum"] = rng.standard_normal(v.shape).astype(np.float32)
    variables["global_step"] = np.array(14999, dtype=np.int64)
    d = os.path.join(work, "train_%s" % variant)
    os.makedirs(d)
    prefix = os.path.join(d, "checkpoint-14999")
    w.write_checkpoint(prefix, variables, shards=shards, block_bytes=512, compress=compress)
    with open(prefix + ".meta", "wb") as f:  # the graph a .meta file holds is not read
        f.write(b"not read")
    w.write_state_file(d, "checkpoint-14999")
    for given, tag in ((prefix, "prefix"), (prefix + ".index", "index"), (d, "dir")):
        out = os.path.join(work, "LMTCNN-%s_%s.lmt" % (variant, tag))
        expect([convert, given, "-o", out, "--bn-mode", "moving_average"], 0, ["LMTCNN-%s" % variant, "self-test passed"])
        if os.path.exists(out):
            same_tensors(from_npz, out, "LMTCNN-%s from the checkpoint's %s" % (variant, tag))

    # the same arrays as a frozen graph (the original's --convertpb export): constants by node name,
    # written three ways (tensor_content, packed float_val, one float_val filling the shape)
    pb = os.path.join(work, "LMTCNN-%s_frozen.pb" % variant)
    names = sorted(weights)
    how = {names[0]: "float_val"}
    consts = dict(weights)
    splat = [k for k in names if "moving_variance" in k][:1]
    for k in splat:  # a constant tensor: one value fills it
        consts[k] = np.full(weights[k].shape, 0.75, np.float32)
        how[k] = "splat"
    w.write_frozen_graph(pb, consts, how)
    out = os.path.join(work, "LMTCNN-%s_pb.lmt" % variant)
    expect([convert, pb, "-o", out, "--bn-mode", "moving_average"], 0, ["LMTCNN-%s" % variant, "self-test passed"])
    if splat:
        plain2 = os.path.join(work, "LMTCNN-%s_splat.npz" % variant)
        np.savez(plain2, **consts)
        from_npz2 = os.path.join(work, "LMTCNN-%s_splat_npz.lmt" % variant)
        expect([convert, plain2, "-o", from_npz2, "--bn-mode", "moving_average"], 0, ["LMTCNN-%s" % variant])
    if os.path.exists(out):
        same_tensors(from_npz2 if splat else from_npz, out, "LMTCNN-%s from the frozen graph" % variant)

# ---- damaged frozen graphs
bad_pb = os.path.join(work, "bad.pb")
w.write_frozen_graph(bad_pb, {"net/a": np.ones((2, 3), np.float32)})
good = open(bad_pb, "rb").read()
with open(bad_pb, "wb") as f:
    f.write(good[:len(good) // 2])
expect([convert, bad_pb, "-o", os.path.join(work, "x.lmt")], 1, [bad_pb])
w.write_frozen_graph(bad_pb, {})
expect([convert, bad_pb, "-o", os.path.join(work, "x.lmt")], 1, [bad_pb, "without float32 Const nodes"])

# ---- damaged and unsupported checkpoints (a small one: the reader fails before any network is chosen)
small = {"net/a": np.arange(4, dtype=np.float32), "net/b": np.ones((3, 2), np.float32),
         "global_step": np.array(7, dtype=np.int64)}


def case(name, shards=1, **opts):
    d = os.path.join(work, name)
    os.makedirs(d)
    prefix = os.path.join(d, "model.ckpt-7")
    where = w.write_checkpoint(prefix, small, shards=shards, block_bytes=64, **opts)
    return prefix, where


out = os.path.join(work, "bad.lmt")
p, _ = case("good_small")
expect([convert, p, "-o", out], 1, ["unknown network"])  # read fine; not a network this converter knows

p, _ = case("truncated")
with open(p + ".index", "r+b") as f:
    f.truncate(os.path.getsize(p + ".index") - 10)
expect([convert, p, "-o", out], 1, [p + ".index", "magic"])

p, _ = case("block_crc")
with open(p + ".index", "r+b") as f:
    f.seek(3)
    b = f.read(1)
    f.seek(3)
    f.write(bytes([b[0] ^ 0x10]))
expect([convert, p, "-o", out], 1, [p + ".index", "CRC-32C mismatch"])

p, where = case("tensor_crc")
shard, off, _ = where["net/b"]
with open(shard, "r+b") as f:
    f.seek(off + 5)
    b = f.read(1)
    f.seek(off + 5)
    f.write(bytes([b[0] ^ 0x01]))
expect([convert, p, "-o", out], 1, ["entry 'net/b'", "CRC-32C", shard])

p, _ = case("missing_shard", shards=2)
os.remove(p + ".data-00001-of-00002")
expect([convert, p, "-o", out], 1, [p + ".data-00001-of-00002", "cannot open"])

p, _ = case("out_of_order", shuffle_keys=True)
expect([convert, p, "-o", out], 1, [p + ".index", "out of order"])

p, _ = case("sliced", sliced=("net/b",))
expect([convert, p, "-o", out], 1, ["entry 'net/b'", "sliced"])

p, _ = case("big_endian", big_endian=True)
expect([convert, p, "-o", out], 1, [p + ".index", "big-endian"])

p, _ = case("snappy_ok", compress=True)
expect([convert, p, "-o", out], 1, ["unknown network"])

empty = os.path.join(work, "empty_dir")
os.makedirs(empty)
expect([convert, empty, "-o", out], 1, [empty, "directory"])

if failures:
    print("%d of %d checks failed:" % (len(failures), checks))
    for f in failures:
        print(" -", f)
    sys.exit(1)
print("%d checks passed" % checks)
