"""What the command-line test scripts share: checks that collect their failures, the final report and
exit status, and the IoU of two [x, y, w, h] boxes. Only the standard library is needed."""
import sys

failures = []
_count = 0


def check(ok, what):
    """Counts a check; a false one is remembered as a failure described by `what`. Returns ok."""
    global _count
    _count += 1
    if not ok:
        failures.append(what)
    return ok


def finish():
    """Prints how many checks ran and each failure, then exits 1 if any failed, else 0."""
    print("%d checks, %d failed" % (_count, len(failures)))
    for f in failures:
        print("FAILED: " + f)
    sys.exit(1 if failures else 0)


def iou(a, b):
    """Intersection over union of two boxes [x, y, w, h]."""
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)
