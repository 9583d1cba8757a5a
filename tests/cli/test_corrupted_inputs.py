#!/usr/bin/python3
"""agegender handed 1,000 corrupted variants each of a weight file, a JPEG and a PNG.

    test_corrupted_inputs.py AGEGENDER MODEL_DIR DATA_DIR WORK_DIR

Variants: 500 truncations at random lengths and 500 single-bit flips at random positions (seeded).
- weight file (age_gender.lmt as --model): either exit 2 with one line naming the file, or - when the
  flip falls in padding the format does not check - exit 0 with exactly the undamaged output;
- PNG (a face crop): every variant is reported as an error (PNG chunks carry CRCs);
- JPEG (a 1920x1280 photo): truncations are errors; a flipped bit either gives an error or decodes to
  a slightly different picture (JPEG has no checksum), which is then processed.
Never a signal, every input reported. Only the standard library is needed.
"""
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys

agegender, model_dir, data_dir, work = sys.argv[1:5]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
rng = random.Random(20261129)
failures = []


def variants(data):
    out = []
    for _ in range(500):
        out.append(("truncated to %d" % (n := rng.randrange(len(data))), data[:n]))
    for _ in range(500):
        bit = rng.randrange(len(data) * 8)
        b = bytearray(data)
        b[bit // 8] ^= 1 << (bit % 8)
        out.append(("bit %d flipped" % bit, bytes(b)))
    return out


def run(args):
    return subprocess.run([agegender] + args, capture_output=True, text=True, timeout=600)


face = os.path.join(data_dir, "astronaut_face.png")

# ---- the weight file ----
model = os.path.join(model_dir, "age_gender.lmt")
good = run(["--model", model, "--no-detect", "--json", face])
assert good.returncode == 0, good.stderr
weights = open(model, "rb").read()
paths = []
for i, (what, data) in enumerate(variants(weights)):
    p = os.path.join(work, "model_%04d.lmt" % i)
    open(p, "wb").write(data)
    paths.append((what, p))


def check_model(item):
    what, p = item
    r = run(["--model", p, "--no-detect", "--json", face])
    if r.returncode < 0:
        return "signal", "%s: killed by signal %d" % (what, -r.returncode)
    if r.returncode == 2:
        lines = r.stderr.strip().splitlines()
        if len(lines) == 1 and lines[0].startswith("agegender: ") and os.path.basename(p) in lines[0] and r.stdout == "":
            return "refused", None
        return "bad", "%s: exit 2 but stderr %r" % (what, r.stderr[:300])
    if r.returncode == 0 and r.stdout == good.stdout:
        return "harmless", None
    return "bad", "%s: exit %d, output %r" % (what, r.returncode, r.stdout[:300])


counts = {}
with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    for kind, msg in pool.map(check_model, paths):
        counts[kind] = counts.get(kind, 0) + 1
        if msg:
            failures.append("weight file " + msg)
print("weight file variants: %s" % counts)
if counts.get("refused", 0) < 900:
    failures.append("weight file: only %d of 1000 variants refused" % counts.get("refused", 0))
shutil.rmtree(work)
os.makedirs(work)

# ---- the images, each set in one invocation ----
for kind, source, all_errors in (("png", face, True),
                                 ("jpg", os.path.join(model_dir, "faceapi", "sample1.jpg"), False)):
    data = open(source, "rb").read()
    files = []
    for i, (what, d) in enumerate(variants(data)):
        p = os.path.join(work, "%s_%04d.%s" % (kind, i, kind))
        open(p, "wb").write(d)
        files.append((what, p))
    r = run(["--json", "--threads", "2", "--no-detect"] + [p for _, p in files])
    if r.returncode < 0:
        failures.append("%s variants: killed by signal %d" % (kind, -r.returncode))
        continue
    results = [json.loads(line) for line in r.stdout.splitlines()]
    if len(results) != len(files):
        failures.append("%s variants: %d results for %d files" % (kind, len(results), len(files)))
        continue
    errors = decoded = 0
    for (what, p), res in zip(files, results):
        if res["file"] != p:
            failures.append("%s: reported as %s" % (p, res["file"]))
        elif res["error"]:
            errors += 1
            if "\n" in res["error"] or len(res["error"]) > 300:
                failures.append("%s (%s): unclear message %r" % (p, what, res["error"]))
        else:
            decoded += 1
            if all_errors or what.startswith("truncated") or len(res["faces"]) != 1:
                failures.append("%s (%s): not refused: %r" % (p, what, res))
    print("%s variants: %d refused with a message, %d decoded (bit flips JPEG cannot detect)" % (kind, errors, decoded))
    if r.returncode != (1 if errors else 0):
        failures.append("%s variants: exit %d" % (kind, r.returncode))
    messages = {}
    for res in results:
        if res["error"]:
            key = res["error"].split(" (")[0].split(":")[0]
            messages[key] = messages.get(key, 0) + 1
    print("   messages: %s" % dict(sorted(messages.items(), key=lambda kv: -kv[1])[:8]))

print("%d failures" % len(failures))
for f in failures[:50]:
    print("FAILED: " + f)
sys.exit(1 if failures else 0)
