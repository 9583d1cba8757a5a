#!/usr/bin/python3
"""agegender on a photo stored in each of the 8 EXIF orientations, as phones store them.

    test_exif_orientation.py AGEGENDER JPEGTRAN EXIFTOOL PHOTO WORK_DIR

PHOTO is an upright JPEG whose sides are multiples of 16 (face-api.js's demo photo sample1.jpg, fetched
by the build). For orientation o, jpegtran turns it losslessly (-perfect, in the DCT domain) into the
picture a camera would store, and exiftool writes Orientation = o into its Exif block: turned upright
by the EXIF rule, each copy is the original picture. agegender must report the upright size and the
same faces (IoU >= 0.8, the same gender, age within 5 years) as on the original; with --ignore-exif,
the stored size. A copy whose Exif block is broken is processed as stored with a warning.
Only the standard library is needed.
"""
import json
import os
import shutil
import subprocess
import sys

from cli_checks import check, finish, iou

agegender, jpegtran, exiftool, photo, work = sys.argv[1:6]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
# the stored picture for each orientation: the transform whose EXIF inverse gives the upright photo
stored_transform = {
    1: [],
    2: ["-flip", "horizontal"],
    3: ["-rotate", "180"],
    4: ["-flip", "vertical"],
    5: ["-transpose"],
    6: ["-rotate", "270"],  # shown turned a quarter clockwise
    7: ["-transverse"],
    8: ["-rotate", "90"],   # shown turned a quarter counter-clockwise
}
copies = {}
for o, t in stored_transform.items():
    out = os.path.join(work, "orientation%d.jpg" % o)
    subprocess.run([jpegtran, "-perfect", "-copy", "none"] + t + ["-outfile", out, photo], check=True)
    subprocess.run([exiftool, "-q", "-n", "-overwrite_original", "-Orientation=%d" % o, out], check=True)
    copies[o] = out


def run(args):
    p = subprocess.run([agegender, "--json", "--quiet"] + args, capture_output=True, text=True, timeout=900)
    check(p.returncode == 0, "agegender %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr[-400:]))
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()], p.stderr


(orig,), _ = run([photo])
check(len(orig["faces"]) >= 1, "no face found on the upright photo")
W, H = orig["width"], orig["height"]
results, _ = run([copies[o] for o in sorted(copies)])
for o, r in zip(sorted(copies), results):
    what = "orientation %d" % o
    check((r["width"], r["height"]) == (W, H), "%s: %dx%d, the upright photo is %dx%d" % (what, r["width"], r["height"], W, H))
    if not check(len(r["faces"]) == len(orig["faces"]), "%s: %d faces, upright %d" % (what, len(r["faces"]), len(orig["faces"]))):
        continue
    worst_iou, worst_age = 1.0, 0.0
    for f in r["faces"]:
        best = max(orig["faces"], key=lambda g: iou(f["box"], g["box"]))
        worst_iou = min(worst_iou, iou(f["box"], best["box"]))
        worst_age = max(worst_age, abs(f["age"] - best["age"]))
        check(f["gender"] == best["gender"], "%s: gender %s, upright %s" % (what, f["gender"], best["gender"]))
    check(worst_iou >= 0.8, "%s: a box has IoU %.3f with the upright photo's" % (what, worst_iou))
    check(worst_age <= 5, "%s: an age differs by %.2f years" % (what, worst_age))
    print("%s: %dx%d, %d faces, worst IoU %.4f, worst |age diff| %.3f years" % (what, r["width"], r["height"], len(r["faces"]), worst_iou, worst_age))

# --ignore-exif: the stored pictures, sideways for 5 to 8
stored, _ = run(["--ignore-exif"] + [copies[o] for o in sorted(copies)])
for o, r in zip(sorted(copies), stored):
    want = (H, W) if o >= 5 else (W, H)
    check((r["width"], r["height"]) == want, "--ignore-exif, orientation %d: %dx%d, stored %dx%d" % (o, r["width"], r["height"], *want))

# a broken Exif block (its 0th IFD offset pointing far past the block): processed as stored, with a warning
data = open(copies[6], "rb").read()
at = data.find(b"Exif\0\0")
if check(at > 0, "no Exif block written by exiftool"):
    tiff = at + 6
    little = data[tiff:tiff + 2] == b"II"
    bad = bytearray(data)
    bad[tiff + 4:tiff + 8] = (0x7FFFFFF0).to_bytes(4, "little" if little else "big")
    broken = os.path.join(work, "broken_exif.jpg")
    open(broken, "wb").write(bytes(bad))
    (r,), err = run([broken])
    check((r["width"], r["height"]) == (H, W), "broken Exif block: %dx%d, stored %dx%d" % (r["width"], r["height"], H, W))
    check("warning: Exif block ignored" in err and "0th IFD lies outside the block" in err,
          "broken Exif block: no warning on stderr: %r" % err)

finish()
