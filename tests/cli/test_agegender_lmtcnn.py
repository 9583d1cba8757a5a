#!/usr/bin/python3
"""agegender --model with LMTCNN files: its probabilities against PyTorch on the same photo.

    test_agegender_lmtcnn.py AGEGENDER CONVERT NPZ_DIR WORK_DIR

NPZ_DIR holds the seeded LMTCNN .npz files of tests/torch_reference/lmtcnn_torch.py --npz-dir. The
photo is a seeded BMP (no decoder differences). Here, independently of the C++ code: the legacy
bilinear resize in NumPy (float64), the 12 crops of LMTCNN's oversampling, the network in PyTorch
float64 (lmtcnn_torch.forward). Run with Debian's python3 (python3-numpy, python3-torch).
"""
import csv
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch_reference"))
import lmtcnn_torch  # noqa: E402

agegender, convert, npz_dir, work = sys.argv[1:5]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []
GROUPS = ["0-2", "4-6", "8-12", "15-20", "25-32", "38-43", "48-53", "60-100"]


def resize(img, oh, ow):
    """TensorFlow 1.x legacy bilinear resize (align_corners=False, half_pixel_centers=False), float64."""
    ih, iw = img.shape[:2]
    sy = np.arange(oh) * (ih / oh)
    sx = np.arange(ow) * (iw / ow)
    y0 = np.floor(sy).astype(int)
    x0 = np.floor(sx).astype(int)
    y1 = np.minimum(y0 + 1, ih - 1)
    x1 = np.minimum(x0 + 1, iw - 1)
    ly = (sy - y0)[:, None, None]
    lx = (sx - x0)[None, :, None]
    top = img[y0][:, x0] + (img[y0][:, x1] - img[y0][:, x0]) * lx
    bottom = img[y1][:, x0] + (img[y1][:, x1] - img[y1][:, x0]) * lx
    return top + (bottom - top) * ly


def looks(face, oversample):
    f256 = resize(face, 256, 256)
    full = resize(f256, 227, 227)
    if not oversample:
        return [full]
    out = [full, full[:, ::-1]]
    for oy, ox in ((0, 0), (0, 29), (29, 0), (29, 29), (14, 14)):
        c = f256[oy:oy + 227, ox:ox + 227]
        out += [c, c[:, ::-1]]
    return out


def write_bmp(path, rgb):
    h, w, _ = rgb.shape
    stride = (w * 3 + 3) & ~3
    data = b"".join(bytes(rgb[y, :, ::-1].astype(np.uint8).tobytes()) + b"\0" * (stride - w * 3)
                    for y in reversed(range(h)))
    with open(path, "wb") as f:
        f.write(struct.pack("<2sIHHI", b"BM", 54 + len(data), 0, 0, 54))
        f.write(struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0))
        f.write(data)


# a 203 x 171 photo with some structure (seeded), and a face box inside it
rng = np.random.default_rng(7)
yy, xx = np.mgrid[0:171, 0:203]
photo = np.stack([128 + 100 * np.sin(xx / 9.0), 128 + 90 * np.cos(yy / 7.0), (xx + yy) % 256], axis=2)
photo = np.clip(photo + rng.integers(-20, 21, photo.shape), 0, 255).astype(np.uint8)
photo_path = os.path.join(work, "photo.bmp")
write_bmp(photo_path, photo)
box = (31, 17, 150, 140)  # x, y, w, h

checks = 0
for variant, mode in (("2-1", "moving_average"), ("1-1", "batch_statistics")):
    src = os.path.join(npz_dir, "LMTCNN-%s_%s.npz" % (variant, mode))
    lmt = os.path.join(work, "LMTCNN-%s_%s.lmt" % (variant, mode))
    p = subprocess.run([convert, src, "-o", lmt, "--bn-mode", mode], capture_output=True, text=True)
    if p.returncode != 0:
        failures.append("convert %s: %s" % (src, p.stderr))
        continue
    weights = {k: v.astype(np.float64) for k, v in np.load(src).items() if not k.startswith("selftest/")}
    # one look; the original's oversampling (its make_multi_crop_batch: the whole face's mirror, crop 1 of
    # 12, goes in without per-image standardization; the 12 share batch statistics); all 12 standardized
    for oversample in ("", "--oversample", "--oversample=standardized"):
        for where, face in (("--no-detect", photo), ("--box", photo[box[1]:box[1] + box[3], box[0]:box[0] + box[2]])):
            batch = np.stack(looks(face.astype(np.float64), oversample != ""))
            standardized = [i != 1 for i in range(12)] if oversample == "--oversample" else None
            _, age_p, _, gender_p = (v.numpy() for v in lmtcnn_torch.forward(weights, batch, mode, standardized))
            want_age, want_gender = age_p.mean(axis=0), gender_p.mean(axis=0)
            if standardized:  # the two oversamplings must differ by far more than the tolerance, or this proves nothing
                all_std = lmtcnn_torch.forward(weights, batch, mode)[1].numpy().mean(axis=0)
                checks += 1
                if not np.abs(all_std - want_age).max() > 1e-3:
                    failures.append("LMTCNN-%s %s %s: the original's and the all-standardized oversampling agree to %g"
                                    % (variant, mode, where, np.abs(all_std - want_age).max()))
            args = ["--model", lmt, "--json", photo_path]
            args += ["--no-detect"] if where == "--no-detect" else ["--box", ",".join(map(str, box))]
            args += [oversample] if oversample else []
            p = subprocess.run([agegender] + args, capture_output=True, text=True)
            what = "LMTCNN-%s %s %s %s" % (variant, mode, where, oversample)
            checks += 1
            if p.returncode != 0:
                failures.append("%s: exit %d: %s" % (what, p.returncode, p.stderr))
                continue
            f = json.loads(p.stdout)["faces"][0]
            got_age, got_gender = np.array(f["age_probs"]), np.array([f["p_male"], f["p_female"]])
            diff = max(np.abs(got_age - want_age).max(), np.abs(got_gender - want_gender).max())
            ok = (diff <= 1e-5 and f["age"] is None and f["age_group"] == GROUPS[int(np.argmax(want_age))]
                  and f["gender"] == ("male" if want_gender[0] >= want_gender[1] else "female"))
            print("%-52s max |p diff| %.2e  age group %s" % (what, diff, f["age_group"]))
            if not ok:
                failures.append("%s: max |diff| %g; got %r, PyTorch age %r gender %r" % (what, diff, f, want_age.tolist(),
                                                                                       want_gender.tolist()))
    # the table shows the age group with its probability and the second-best group (the original's
    # "Guess @ 2"); --csv gives both with their probabilities, PyTorch's two best
    out_csv = os.path.join(work, "LMTCNN-%s.csv" % variant)
    p = subprocess.run([agegender, "--model", lmt, "--no-detect", "--csv", out_csv, photo_path], capture_output=True, text=True)
    batch = np.stack(looks(photo.astype(np.float64), False))
    want_age = lmtcnn_torch.forward(weights, batch, mode)[1].numpy().mean(axis=0)
    first, second = (int(i) for i in np.argsort(-want_age)[:2])
    checks += 1
    table_ok = p.returncode == 0 and "%s (%.2f)" % (GROUPS[first], want_age[first]) in p.stdout and \
        "2nd: %s (%.2f)" % (GROUPS[second], want_age[second]) in p.stdout
    if not table_ok:
        failures.append("table with LMTCNN (want %s then %s): %s %s" % (GROUPS[first], GROUPS[second], p.stdout, p.stderr))
    rows = list(csv.DictReader(open(out_csv))) if p.returncode == 0 else []
    checks += 1
    if not (len(rows) == 1 and rows[0]["age_group"] == GROUPS[first] and rows[0]["age_group_2"] == GROUPS[second] and
            abs(float(rows[0]["age_group_p"]) - want_age[first]) <= 1e-4 and
            abs(float(rows[0]["age_group_2_p"]) - want_age[second]) <= 1e-4 and rows[0]["age"] == ""):
        failures.append("--csv with LMTCNN (want %s %.4f, %s %.4f): %r" % (GROUPS[first], want_age[first], GROUPS[second],
                                                                          want_age[second], rows))
    print("LMTCNN-%s table and --csv: best %s, second %s" % (variant, GROUPS[first], GROUPS[second]))

print("%d checks, %d failed" % (checks, len(failures)))
for f in failures:
    print("FAILED: " + f)
sys.exit(1 if failures else 0)
