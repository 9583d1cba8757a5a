#!/usr/bin/python3
"""The agegender command line on real photos, real face crops and bad inputs.

    test_agegender_cli.py AGEGENDER MODEL_DIR DATA_DIR WORK_DIR

MODEL_DIR holds age_gender.lmt, tiny_face_detector.lmt and faceapi/sample1.jpg ... sample3.jpg (the
build fetches and converts them); DATA_DIR is tests/data (reference outputs of face-api.js computed by
TensorFlow.js, copied from the shared reference data). Only the standard library is needed.
"""
import csv
import io
import json
import os
import shutil
import struct
import subprocess
import sys

from cli_checks import check, finish, iou
import zlib

agegender, model_dir, data_dir, work = sys.argv[1:5]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
def run(args, env=None):
    p = subprocess.run([agegender] + args, capture_output=True, text=True, timeout=900, env=env)
    check(p.returncode >= 0, "agegender %s died of signal %d: %s" % (" ".join(args), -p.returncode, p.stderr[-500:]))
    return p.returncode, p.stdout, p.stderr


def json_lines(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def write_bmp(path, width, height, pixel):
    """24-bit BMP; pixel(x, y) gives (r, g, b)."""
    stride = (width * 3 + 3) & ~3
    rows = []
    for y in reversed(range(height)):
        row = bytearray()
        for x in range(width):
            r, g, b = pixel(x, y)
            row += bytes((b, g, r))
        rows.append(bytes(row) + b"\0" * (stride - width * 3))
    data = b"".join(rows)
    header = struct.pack("<2sIHHI", b"BM", 54 + len(data), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    with open(path, "wb") as f:
        f.write(header + info + data)


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


# ---- 1. face crops with --no-detect reproduce TensorFlow.js's ages and probabilities ----
with open(os.path.join(data_dir, "realdata", "age_gender_reference.json")) as f:
    reference = json.load(f)
crop_dir = os.path.join(data_dir, "realdata", "crops")
for divisor, key in (("256", "div256"), ("255", "div255")):
    rc, out, err = run(["--no-detect", "--json", "--divisor", divisor, crop_dir])
    check(rc == 0, "crops, divisor %s: exit %d, %s" % (divisor, rc, err))
    got = {os.path.basename(r["file"]): r for r in json_lines(out)}
    check(len(got) == 10, "crops: %d results, expected 10" % len(got))
    worst_age = worst_p = 0.0
    for face in reference["faces"]:
        name = os.path.basename(face["crop_png"])
        r = got.get(name)
        if not check(r is not None and r["error"] is None and len(r["faces"]) == 1, "crop %s: %r" % (name, r)):
            continue
        g, want = r["faces"][0], face[key]
        check(g["box"] == [0, 0, r["width"], r["height"]] and g["score"] is None, "crop %s: box %r score %r"
              % (name, g["box"], g["score"]))
        check(g["age_group"] is None and g["age_probs"] is None, "crop %s: age group given for a regression model" % name)
        check(g["gender"] == ("male" if want["p_male"] >= want["p_female"] else "female"), "crop %s: gender" % name)
        worst_age = max(worst_age, abs(g["age"] - want["age"]))
        worst_p = max(worst_p, abs(g["p_male"] - want["p_male"]), abs(g["p_female"] - want["p_female"]))
    check(worst_age <= 0.01 and worst_p <= 1e-4, "crops, divisor %s: worst |age diff| %g, |p diff| %g"
          % (divisor, worst_age, worst_p))
    print("crops, divisor %s: worst |age diff| %.3g years, worst |p diff| %.3g" % (divisor, worst_age, worst_p))

# ---- 2. photos: the detectors (SSD by default, tiny) find face-api.js's faces ----
with open(os.path.join(data_dir, "realdata", "detection_reference.json")) as f:
    detections = json.load(f)
photos = []
for im in detections["images"]:
    name = im["image"]
    path = (os.path.join(model_dir, "faceapi", name[len("faceapi_"):]) if name.startswith("faceapi_")
            else os.path.join(data_dir, "realdata", "images", name))
    photos.append((path, im))
annotate_dir = os.path.join(work, "annotated")
for detector, options, key in (("ssd", [], "ssd_boxes_xywh_score"),
                               ("tiny", ["--detector", "tiny"], "tiny_face_detector_416_boxes_xywh_score")):
    outputs = {}
    for threads in ("1", "2"):
        rc, out, err = run(["--json", "--threads", threads, "--annotate", annotate_dir] + options + [p for p, _ in photos])
        check(rc == 0, "photos: exit %d, %s" % (rc, err))
        outputs[threads] = out
    check(outputs["1"] == outputs["2"], "photos: --threads 1 and --threads 2 give different output")
    results = json_lines(outputs["1"])
    check([r["file"] for r in results] == [p for p, _ in photos], "photos: not reported in input order")
    worst_iou, worst_score = 1.0, 0.0
    for (path, im), r in zip(photos, results):
        want = im[key]
        check(r["width"] == im["width"] and r["height"] == im["height"], "%s: size %dx%d" % (path, r["width"], r["height"]))
        if not check(len(r["faces"]) == len(want), "%s, %s: %d faces, face-api.js found %d" % (path, detector, len(r["faces"]), len(want))):
            continue
        for w in want:
            best = max(r["faces"], key=lambda g: iou(g["box"], w[:4]))
            worst_iou = min(worst_iou, iou(best["box"], w[:4]))
            worst_score = max(worst_score, abs(best["score"] - w[4]))
            check(best["age"] is not None and 0 < best["age"] < 120, "%s: age %r" % (path, best["age"]))
            check(best["landmarks"] is not None and len(best["landmarks"]) == 68 and best["aligned_box"] is not None,
                  "%s: no landmarks or aligned box by default" % path)
    check(worst_iou >= 0.9 and worst_score <= 0.02,
          "photos, %s: worst IoU %g, worst |score diff| %g" % (detector, worst_iou, worst_score))
    print("photos, %s detector: worst IoU %.4f, worst |score diff| %.4f" % (detector, worst_iou, worst_score))
# the annotated photos exist as PNGs of the photo's size
for (path, im) in photos:
    out = os.path.join(annotate_dir, os.path.splitext(os.path.basename(path))[0] + ".png")
    if check(os.path.exists(out), "annotated %s missing" % out):
        head = open(out, "rb").read(32)
        check(head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (im["width"], im["height"]),
              "%s is not a %dx%d PNG" % (out, im["width"], im["height"]))
# the table names every face
rc, out, err = run([photos[0][0]])
check(rc == 0 and "3 faces" in out and out.count(" years ") == 3, "table for %s:\n%s" % (photos[0][0], out))
# a given box is that face, a box outside the image is that image's error
rc, out, err = run(["--json", "--box", "163,76,116,111", photos[3][0]])
r = json_lines(out)[0] if out else {}
check(rc == 0 and len(r.get("faces", [])) == 1 and r["faces"][0]["box"] == [163, 76, 116, 111], "--box: %s %s" % (out, err))
rc, out, err = run(["--json", "--box", "600,600,10,10", photos[3][0]])
r = json_lines(out)[0] if out else {}
check(rc == 1 and "outside" in (r.get("error") or ""), "--box outside the image: exit %d, %s" % (rc, out))

# ---- 3. bad inputs: each reported with its own message, the others still processed ----
bad = os.path.join(work, "bad")
os.makedirs(os.path.join(bad, "no_images", "sub"))
open(os.path.join(bad, "no_images", "notes.txt"), "w").write("no photos here\n")
open(os.path.join(bad, "zero.jpg"), "wb").close()
with open(photos[0][0], "rb") as f:
    jpeg = f.read()
open(os.path.join(bad, "truncated.jpg"), "wb").write(jpeg[: len(jpeg) // 2])
open(os.path.join(bad, "text.jpg"), "w").write("This is a text file, not a JPEG.\n")
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
open(os.path.join(bad, "huge.png"), "wb").write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
                                                 + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))
write_bmp(os.path.join(bad, "no_face.bmp"), 160, 120, lambda x, y: (90 + x // 4, 120, 140 + y // 4))
cases = [  # path, expected message (None: processed without error)
    (os.path.join(bad, "missing.jpg"), "cannot open (No such file or directory)"),
    (os.path.join(bad, "no_images"), "no JPEG, PNG or BMP images in this directory"),
    (os.path.join(bad, "zero.jpg"), "empty file"),
    (os.path.join(bad, "truncated.jpg"), "JPEG data is truncated"),
    (os.path.join(bad, "text.jpg"), "not a readable JPEG, PNG or BMP image"),
    (os.path.join(bad, "huge.png"), "image is 100000x100000 pixels, more than the limit"),
    (os.path.join(bad, "no_face.bmp"), None),
    (photos[3][0], None),
]
rc, out, err = run(["--json"] + [p for p, _ in cases])
check(rc == 1, "bad inputs: exit %d, expected 1" % rc)
results = json_lines(out)
if check(len(results) == len(cases), "bad inputs: %d results for %d inputs:\n%s" % (len(results), len(cases), out)):
    for (path, msg), r in zip(cases, results):
        check(r["file"] == path, "bad inputs: %s reported as %s" % (path, r["file"]))
        if msg is None:
            check(r["error"] is None, "%s: unexpected error %r" % (path, r["error"]))
        else:
            check(r["error"] is not None and msg in r["error"] and r["faces"] == [],
                  "%s: error %r, expected %r" % (path, r["error"], msg))
    check(results[6]["faces"] == [] and results[6]["width"] == 160, "no-face image: %r" % results[6])
    check(len(results[7]["faces"]) == 1, "the good photo among bad ones: %r" % results[7])
rc, out, err = run([p for p, _ in cases])
check(rc == 1, "bad inputs, table: exit %d" % rc)
for path, msg in cases:
    line = next((l for l in out.splitlines() if l.startswith(path + "  ")), "")
    if msg is None:
        check("error" not in line, "table: %s: %s" % (path, line))
    else:
        check(line == path + "  error: " + line.split("  error: ", 1)[-1] and msg in line, "table: %s: %r" % (path, line))
check("no face found" in out, "table: the no-face image is not reported as such:\n" + out)
rc, out, err = run(["--json", os.path.join(bad, "no_face.bmp")])
check(rc == 0, "an image without faces is not an error: exit %d" % rc)

# directories are searched recursively, extensions in any case, files reported in sorted order
nested = os.path.join(work, "nested")
os.makedirs(os.path.join(nested, "b", "c"))
shutil.copy(photos[3][0], os.path.join(nested, "b", "c", "deep.PNG"))
shutil.copy(photos[0][0], os.path.join(nested, "a.jpeg"))
open(os.path.join(nested, "b", "readme.txt"), "w").write("not a photo\n")
rc, out, err = run(["--json", nested])
found = [r["file"] for r in json_lines(out)]
check(rc == 0 and found == [os.path.join(nested, "a.jpeg"), os.path.join(nested, "b", "c", "deep.PNG")],
      "recursive search: exit %d, found %r" % (rc, found))

# list files: .txt one path per line (LMTCNN's fold files: "path age gender"), .csv/.tsv with a header;
# relative paths from the current directory, then from the list's; --csv writes one row per face
lists = os.path.join(work, "lists")
os.makedirs(os.path.join(lists, "faces"))
shutil.copy(photos[3][0], os.path.join(lists, "faces", "astronaut.png"))
with open(os.path.join(lists, "fold.txt"), "w") as f:
    f.write("faces/astronaut.png 4 1\n# a comment\n\nfaces/missing.jpg 3 0\n%s\n" % photos[0][0])
with open(os.path.join(lists, "list.csv"), "w") as f:
    f.write("path,age,gender\nfaces/astronaut.png,4,1\n")
with open(os.path.join(lists, "list.tsv"), "w") as f:
    f.write("path\tage\n%s\t4\n" % photos[0][0])
table_csv = os.path.join(work, "out.csv")
rc, out, err = run(["--json", "--csv", table_csv, os.path.join(lists, "fold.txt"), os.path.join(lists, "list.csv"),
                    os.path.join(lists, "list.tsv")])
results = json_lines(out)
want_files = [os.path.join(lists, "faces", "astronaut.png"), "faces/missing.jpg", photos[0][0],
              os.path.join(lists, "faces", "astronaut.png"), photos[0][0]]
check(rc == 1 and [r["file"] for r in results] == want_files,
      "list files: exit %d, files %r" % (rc, [r["file"] for r in results]))
if len(results) == 5:
    check(results[1]["error"] is not None and "cannot open" in results[1]["error"], "list: the missing entry: %r" % results[1])
    check(len(results[0]["faces"]) == 1 and len(results[2]["faces"]) == 3, "list: faces %r" % [len(r["faces"]) for r in results])
    rows = list(csv.DictReader(io.StringIO(open(table_csv).read())))
    want_rows = sum(max(1, len(r["faces"])) for r in results)
    check(len(rows) == want_rows, "--csv: %d rows, expected %d" % (len(rows), want_rows))
    k = 0
    for r in results:
        if r["error"] or not r["faces"]:
            check(rows[k]["file"] == r["file"] and rows[k]["face"] == "" and rows[k]["error"] == (r["error"] or ""),
                  "--csv: row %d %r" % (k, rows[k]))
            k += 1
            continue
        for i, face in enumerate(r["faces"]):
            row = rows[k]
            k += 1
            check(row["file"] == r["file"] and row["face"] == str(i + 1) and row["error"] == "", "--csv: row %r" % row)
            check([float(row[c]) for c in ("x", "y", "width", "height")] == face["box"], "--csv: box %r vs %r" % (row, face["box"]))
            check(float(row["score"]) == face["score"] and float(row["age"]) == face["age"], "--csv: score/age %r" % row)
            p = face["p_male"] if face["gender"] == "male" else face["p_female"]
            check(row["gender"] == face["gender"] and float(row["gender_p"]) == p, "--csv: gender %r" % row)
            check(row["age_group"] == "" and row["age_group_2"] == "", "--csv: an age group from a regression model %r" % row)
rc, out, err = run(["--csv", os.path.join(work, "no", "such", "dir", "out.csv"), photos[3][0]])
check(rc == 2 and "--csv" in err, "--csv into a missing directory: exit %d, %r" % (rc, err))
empty_list = os.path.join(lists, "empty.txt")
open(empty_list, "w").write("# nothing\n")
rc, out, err = run([empty_list])
check(rc == 1 and "names no image" in out, "an empty list: exit %d, %r" % (rc, out))

# ---- 4. usage errors and models that cannot be loaded: exit 2, one clear message ----
for args, msg in (
        ([], "no photo given"),
        (["--bogus", photos[3][0]], "unknown option '--bogus'"),
        (["--no-detect", "--box", "1,2,3,4", photos[3][0]], "--no-detect and --box exclude each other"),
        (["--box", "1,2,3", photos[3][0]], "--box takes X,Y,W,H"),
        (["--input-size", "100", photos[3][0]], "multiple of 32"),
        (["--min-score", "1.5", photos[3][0]], "--min-score must lie between 0 and 1"),
        (["--threads", "0", photos[3][0]], "--threads takes a whole number"),
        (["--divisor", "100", photos[3][0]], "--divisor takes 256 or 255"),
        (["--model"], "--model needs a value"),
        (["--model", os.path.join(bad, "missing.lmt"), photos[3][0]], "missing.lmt: cannot open"),
        (["--model", bad, photos[3][0]], "is a directory, not a weight file"),
        (["--detector", "/dev/null", photos[3][0]], "is not a regular file"),
        (["--model", os.path.join(model_dir, "tiny_face_detector.lmt"), photos[3][0]], "not an age/gender network"),
        (["--detector", os.path.join(model_dir, "age_gender.lmt"), photos[3][0]], "not a face detector"),
        (["--oversample", photos[3][0]], "oversampling is for LMTCNN models"),
        (["--model", os.path.join(bad, "text.jpg"), photos[3][0]], "text.jpg"),
):
    rc, out, err = run(args)
    check(rc == 2 and msg in err and out == "", "agegender %s: exit %d, stderr %r (wanted %r)" % (" ".join(args), rc, err, msg))
env = dict(os.environ, LMTCNN_MODEL_DIR=os.path.join(bad, "no_images"))
rc, out, err = run([photos[3][0]], env=env)  # found beside the program instead: still works
check(rc == 0, "model search with a LMTCNN_MODEL_DIR lacking the models: exit %d %s" % (rc, err))
rc, out, err = run(["--help"])
check(rc == 0 and all(o in out for o in ("--no-detect", "--box", "--model", "--oversample", "--json", "--annotate",
                                         "--threads", "--input-size", "--min-score", "Exit status")),
      "--help does not document every option")

finish()
