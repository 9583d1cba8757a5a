#!/usr/bin/python3
"""agegender's face-api.js pipelines against face-api.js itself, through the command line.

    test_faceapi_pipeline.py AGEGENDER DATA_DIR

DATA_DIR/realdata/pipeline_reference.json holds what @vladmandic/face-api 1.7.15 on TensorFlow.js
4.22 (wasm) found on four photos with three pipelines (SSD + 68 landmarks, face-api.js's default;
tiny detector at 416 + 68 landmarks; SSD + the tiny landmark net), age/gender divisor 255. The photos
are the exact pixels face-api.js was given (DATA_DIR/realdata/decoded/*.png, and the astronaut PNG).
agegender runs each pipeline with --json --divisor 255 (the default pipeline with no other option)
and must give, per photo, the same number of faces and per face: box IoU >= 0.99, score within 0.01,
every landmark within 1 pixel, aligned box IoU >= 0.98, the same gender with probability within 0.01,
age within 0.5 years, and within 0.05 years for the median face. Only the standard library is needed.
"""
import json
import math
import os
import subprocess
import sys

from cli_checks import check, finish, iou

agegender, data_dir = sys.argv[1:3]
with open(os.path.join(data_dir, "realdata", "pipeline_reference.json")) as f:
    reference = json.load(f)
photos = []
for im in reference["images"]:
    name = im["image"]
    photos.append(os.path.join(data_dir, "realdata", "decoded", name[:-4] + "_decoded.png") if name.startswith("faceapi_")
                  else os.path.join(data_dir, "realdata", "images", name))
pipelines = {"ssd": [], "tiny": ["--detector", "tiny"], "ssd_tiny_landmarks": ["--landmarks", "68-tiny"]}
for pipeline, options in pipelines.items():
    p = subprocess.run([agegender, "--json", "--quiet", "--divisor", "255"] + options + photos,
                       capture_output=True, text=True, timeout=600)
    if not check(p.returncode == 0, "%s: exit %d: %s" % (pipeline, p.returncode, p.stderr[-400:])):
        continue
    results = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    check(len(results) == len(photos), "%s: %d results for %d photos" % (pipeline, len(results), len(photos)))
    worst = {"iou": 1.0, "score": 0.0, "landmark": 0.0, "aligned": 1.0, "p": 0.0, "age": 0.0}
    ages = []
    for r, im in zip(results, reference["images"]):
        want = im[pipeline]
        what = "%s, %s" % (pipeline, im["image"])
        check((r["width"], r["height"]) == (im["width"], im["height"]), "%s: size %dx%d" % (what, r["width"], r["height"]))
        if not check(len(r["faces"]) == len(want), "%s: %d faces, face-api.js found %d" % (what, len(r["faces"]), len(want))):
            continue
        for w in want:
            g = max(r["faces"], key=lambda f: iou(f["box"], w["box"]))
            box_iou = iou(g["box"], w["box"])
            check(box_iou >= 0.99, "%s: box IoU %.4f" % (what, box_iou))
            check(abs(g["score"] - w["score"]) <= 0.01, "%s: score %.4f, face-api.js %.4f" % (what, g["score"], w["score"]))
            if not check(g["landmarks"] is not None and len(g["landmarks"]) == 68 and g["aligned_box"] is not None,
                         "%s: no landmarks or aligned box" % what):
                continue
            dist = max(math.hypot(a[0] - b[0], a[1] - b[1]) for a, b in zip(g["landmarks"], w["landmarks"]))
            check(dist <= 1.0, "%s: a landmark is %.3f pixels from face-api.js's" % (what, dist))
            aligned = iou(g["aligned_box"], w["aligned_box"])
            check(aligned >= 0.98, "%s: aligned box IoU %.4f" % (what, aligned))
            check(g["gender"] == w["gender"], "%s: gender %s, face-api.js %s" % (what, g["gender"], w["gender"]))
            p_gender = g["p_male"] if g["gender"] == "male" else g["p_female"]
            check(abs(p_gender - w["gender_probability"]) <= 0.01, "%s: p %.4f, face-api.js %.4f" % (what, p_gender, w["gender_probability"]))
            age = abs(g["age"] - w["age"])
            check(age <= 0.5, "%s: age %.3f, face-api.js %.3f" % (what, g["age"], w["age"]))
            ages.append(age)
            worst = {"iou": min(worst["iou"], box_iou), "score": max(worst["score"], abs(g["score"] - w["score"])),
                     "landmark": max(worst["landmark"], dist), "aligned": min(worst["aligned"], aligned),
                     "p": max(worst["p"], abs(p_gender - w["gender_probability"])), "age": max(worst["age"], age)}
    ages.sort()
    median = (ages[len(ages) // 2] + ages[(len(ages) - 1) // 2]) / 2 if ages else float("inf")
    check(median <= 0.05, "%s: median |age diff| %.4f years" % (pipeline, median))
    print("%s: %d faces; worst box IoU %.6f, |score diff| %.2g, landmark distance %.2g px, aligned box IoU %.6f, "
          "|p diff| %.2g, |age diff| %.2g years (median %.2g)"
          % (pipeline, len(ages), worst["iou"], worst["score"], worst["landmark"], worst["aligned"], worst["p"],
             worst["age"], median))
finish()
