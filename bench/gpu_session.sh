#!/usr/bin/env bash
# The prepared call for a lent GPU (issue 12), about 9 minutes: the GPU-marked tests, the training
# benchmark at batch 128 and 256, the inference benchmark, and the baseline_lovasz recipe on fold 0
# (time per epoch, img/s, GPU memory peak, score: its train.log and metrics.jsonl).
# Usage, from the repository root on the device machine (python3 there has torch and smp):
#   bash bench/gpu_session.sh DATA OUT        e.g. DATA=.gpu/data/tgs (carried), OUT=$OUT
# Each step has its own time limit, so one that hangs leaves the others their time.
set -u
DATA=${1:?data folder}
OUT=${2:?output folder}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 SALTLAB_CACHE="$OUT/cache" SALTLAB_BENCH_DATA="$DATA"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
    echo "$name: exit $? in $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
    tail -3 "$OUT/$name.txt"
}
step gpu-tests 200 "$PY" -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider
step bench-train 150 "$PY" bench/bench_train.py --device cuda
step bench-infer 40 "$PY" bench/bench_infer.py --device cuda
step baseline-lovasz 300 "$PY" -m saltlab train --config baseline_lovasz --data "$DATA" --fold 0 --device cuda \
    --out "$OUT/baseline_lovasz-f0"
step evaluate 40 "$PY" -m saltlab evaluate "$OUT/baseline_lovasz-f0" --tta
rm -rf "$OUT/cache" "$OUT"/baseline_lovasz-f0/*.pt
