#!/usr/bin/env bash
# face-api.js's default pipeline (SSD MobileNetV1 + 68 landmarks + age/gender) per photo and per stage,
# timed in one run for face-api.js itself (TensorFlow.js 4.22, wasm backend, one thread; installed from
# npm into BUILD/faceapi_timing by the pinned bench/compare/faceapi/package.json) and for lmtcnn
# (bench_faceapi's photo/* benchmarks, one thread), on the same photos: the three demo photos and the
# astronaut. Both start from decoded pixels. Prints one table of medians (ms) and the ratios.
#   bash bench/compare/time_faceapi.sh [BUILD] [RUNS]      (defaults: build, 15)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
runs=${2:-15}
work=$build/faceapi_timing
mkdir -p "$work"
if ! cmp -s "$src/bench/compare/faceapi/package.json" "$work/package.json" || [[ ! -d $work/node_modules ]]; then
  cp "$src/bench/compare/faceapi/package.json" "$work/"
  (cd "$work" && npm install --no-audit --no-fund --silent)
fi
cp "$src/bench/compare/faceapi/time_faceapi.js" "$work/"
photos=("$build"/models/faceapi/sample{1,2,3}.jpg "$src/tests/data/realdata/images/skimage_astronaut.png")
for p in "${photos[@]}"; do [[ -f $p ]] || { echo "time_faceapi: $p is missing (build first)" >&2; exit 1; }; done
(cd "$work" && node time_faceapi.js "$runs" "${photos[@]}") >"$work/faceapi.jsonl"
LMTCNN_BENCH_PHOTOS=$(IFS=:; echo "${photos[*]}") "$build/bench/bench_faceapi" --benchmark_filter='^photo/' \
  --benchmark_repetitions="$runs" --benchmark_report_aggregates_only=true --benchmark_format=json >"$work/lmtcnn.json"
/usr/bin/python3 - "$work/faceapi.jsonl" "$work/lmtcnn.json" <<'EOF'
import json, sys
fa = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
lm = {}
for b in json.load(open(sys.argv[2]))["benchmarks"]:
    if b.get("aggregate_name") == "median":
        _, photo, stage = b["run_name"].split("/")
        lm.setdefault(photo, {})[stage] = b["real_time"]
print("| photo | faces | stage | face-api.js (TF.js wasm) ms | lmtcnn ms | face-api.js / lmtcnn |")
print("|---|---|---|---|---|---|")
for r in fa:
    mine = lm[r["photo"]]
    ours = {"detect": mine["detect"], "landmarks": mine["landmarks"] - mine["detect"],
            "age_gender": mine["pipeline"] - mine["landmarks"], "pipeline": mine["pipeline"]}
    for stage in ("detect", "landmarks", "age_gender", "pipeline"):
        print("| %s | %d | %s | %.1f | %.2f | %.0fx |" % (r["photo"], r["faces"], stage, r["ms"][stage], ours[stage],
                                                       r["ms"][stage] / ours[stage] if ours[stage] > 0 else float("inf")))
EOF
