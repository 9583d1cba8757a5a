#!/usr/bin/python3
"""One agegender binary on every x86 SIMD path: chosen by the CPU, and forced lower.

    test_x86_paths.py AGEGENDER QEMU_X86_64 MODEL_DIR DATA_DIR

AGEGENDER is the portable build (run-time dispatch). It runs on four real photos (face-api.js's three
demo photos, fetched by the build into MODEL_DIR/faceapi, and the astronaut in DATA_DIR) natively on
the best path, natively with LMTCNN_ISA set to each lower path this CPU runs, and under qemu-x86_64
emulating a Haswell (AVX2, no AVX-512) and a Nehalem (SSE4.2, no AVX), where the CPU it reports makes
the binary choose avx2 and sse4.2 by itself. Every run must find the same faces (IoU >= 0.99) with ages
within 0.01 years and p_male within 1e-3 of the native best path; a path the CPU lacks is refused with
a message. Only the standard library is needed.
"""
import json
import os
import subprocess
import sys

from cli_checks import check, finish, iou

agegender, qemu, model_dir, data_dir = sys.argv[1:5]
photos = [os.path.join(model_dir, "faceapi", "sample%d.jpg" % i) for i in (1, 2, 3)]
photos.append(os.path.join(data_dir, "realdata", "images", "skimage_astronaut.png"))
# qemu's Haswell model lists a few system features its emulator does not implement (and warns about
# them); they are taken off, which leaves every instruction-set feature of a Haswell.
cpus = {"avx2": "Haswell,-pcid,-x2apic,-tsc-deadline,-hle,-invpcid,-rtm", "sse4.2": "Nehalem"}
def run(args, isa=None, cpu=None):
    env = dict(os.environ)
    env.pop("LMTCNN_ISA", None)
    if isa:
        env["LMTCNN_ISA"] = isa
    cmd = ([qemu, "-cpu", cpu] if cpu else []) + [agegender] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env)
    return p.returncode, p.stdout, p.stderr


def version_path(out):
    for line in out.splitlines():
        if line.startswith("SIMD path: "):
            return line[len("SIMD path: "):].split(" ")[0]
    return None


def results(args, isa=None, cpu=None):
    rc, out, err = run(args + ["--json", "--quiet", "--threads", "2"] + photos, isa, cpu)
    what = "agegender on %s%s" % (cpu or "this CPU", ", LMTCNN_ISA=" + isa if isa else "")
    if not check(rc == 0, "%s: exit %d: %s" % (what, rc, err[-400:])):
        return None
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def compare(got, want, what):
    worst_age = worst_p = 0.0
    worst_iou = 1.0
    for g, w in zip(got, want):
        if not check(len(g["faces"]) == len(w["faces"]),
                     "%s, %s: %d faces, natively %d" % (what, w["file"], len(g["faces"]), len(w["faces"]))):
            continue
        for fg, fw in zip(g["faces"], w["faces"]):
            worst_iou = min(worst_iou, iou(fg["box"], fw["box"]))
            worst_age = max(worst_age, abs(fg["age"] - fw["age"]))
            worst_p = max(worst_p, abs(fg["p_male"] - fw["p_male"]))
            check(fg["gender"] == fw["gender"], "%s, %s: gender %s, natively %s" % (what, w["file"], fg["gender"], fw["gender"]))
    check(len(got) == len(want), "%s: %d results for %d photos" % (what, len(got), len(want)))
    check(worst_iou >= 0.99, "%s: a box has IoU %.4f with the native one" % (what, worst_iou))
    check(worst_age <= 0.01, "%s: ages differ by up to %.4f years" % (what, worst_age))
    check(worst_p <= 1e-3, "%s: p_male differs by up to %.5f" % (what, worst_p))
    print("%s: %d faces, worst IoU %.5f, worst |age diff| %.5f years, worst |p_male diff| %.6f"
          % (what, sum(len(r["faces"]) for r in got), worst_iou, worst_age, worst_p))


rc, out, err = run(["--version"])
native = version_path(out)
check(rc == 0 and native, "agegender --version: exit %d, no SIMD path in %r" % (rc, out))
runs = out.split("run: ")[-1].rstrip(")\n").split(", ") if rc == 0 else []
print("natively: path %s; this CPU runs %s" % (native, ", ".join(runs)))
want = results([])
if want:
    check(sum(len(r["faces"]) for r in want) >= 4, "natively: fewer faces than photos: %s" % want)
    for isa in runs[1:]:
        rc, out, _ = run(["--version"], isa)
        check(version_path(out) == isa, "LMTCNN_ISA=%s: --version says %r" % (isa, out))
        got = results([], isa)
        if got:
            compare(got, want, "natively, LMTCNN_ISA=" + isa)
    for isa, cpu in cpus.items():
        rc, out, err = run(["--version"], None, cpu)
        if not check(rc == 0 and version_path(out) == isa,
                     "qemu -cpu %s: --version exit %d says %r, expected path %s (%s)" % (cpu, rc, out, isa, err[-300:])):
            continue
        got = results([], None, cpu)
        if got:
            compare(got, want, "qemu -cpu %s (chose %s)" % (cpu.split(",")[0], isa))
    # a path the emulated CPU lacks is refused, naming it
    rc, out, err = run(photos[:1], "avx2", cpus["sse4.2"])
    check(rc == 2 and "'avx2': this CPU cannot run it" in err,
          "qemu -cpu Nehalem, LMTCNN_ISA=avx2: exit %d, %r" % (rc, err[-300:]))
    rc, out, err = run(photos[:1], "avx9")
    check(rc == 2 and "'avx9' is no SIMD path" in err, "LMTCNN_ISA=avx9: exit %d, %r" % (rc, err[-300:]))

finish()
