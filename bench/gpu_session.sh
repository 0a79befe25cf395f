#!/usr/bin/env bash
# The prepared call for a lent GPU (15 minutes of device time in all), about 9 minutes:
#   1. the recipe search of bench/gpu_recipes.py (8 runs side by side, cancelled at RUNS_END s),
#      then every run's best.pt / swa.pt scored with hflip TTA; the GPU-marked tests beside it;
#   2. the training benchmark (engine vs bare loop at batch 128 and 256) and the inference
#      benchmark, alone on the GPU, each with its own time limit.
# What comes back under OUT: results.json and logs.tar.gz (the runs), steps.tar.gz (every step's
# output), preds-best.tar.gz and preds-swa.tar.gz (the evaluated validation probabilities, uint8,
# for post-processing studies on the CPU).
# Usage, from the repository root on the device machine, carrying .gpu and .whl:
#   bash bench/gpu_session.sh .gpu/tgs.tar "$OUT"
# .gpu/tgs.tar: tar -cf .gpu/tgs.tar -C ../shared/data tgs/train tgs/train.csv tgs/depths.csv
# .whl: the wheels the device's python3 lacks (segmentation-models-pytorch, albumentations and
# their needs; see /work/.library/device/README.md for the pip download line).
set -u
TAR=${1:?data tar}
OUT=${2:?output folder}
RUNS_END=${RUNS_END:-380}  # seconds after the start at which running trainings are cancelled
END=${END:-560}  # seconds after the start by which the benchmarks must have ended
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu SMOKE=1 PYTHON=.venv/bin/python: a dry run of this script here
SMOKE=${SMOKE:-}
START=$SECONDS
if [ -d "${WHEELS:-.whl}" ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${WHEELS:-.whl}"/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
mkdir -p /tmp/data "$OUT" /tmp/steps && tar -xf "$TAR" -C /tmp/data || exit 1
DATA=/tmp/data/tgs
LOGS=/tmp/steps
export NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 SALTLAB_CACHE=/tmp/saltlab-cache SALTLAB_BENCH_DATA=$DATA
export PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
    $PY -c "import torch, timm, segmentation_models_pytorch as smp, albumentations as A, numpy, cv2; \
print('torch', torch.__version__, 'timm', timm.__version__, 'smp', smp.__version__, 'albumentations', A.__version__, \
'numpy', numpy.__version__, 'cv2', cv2.__version__, 'cuda', torch.cuda.is_available())"
} > $LOGS/gpu.txt 2>&1
cat $LOGS/gpu.txt
echo "set-up: $((SECONDS - START)) s"

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    local began=$SECONDS
    timeout -k 10 "$limit" "$@" > "$LOGS/$name.txt" 2>&1  # -k: a run under test catches SIGTERM (it cancels)
    echo "$name: exit $? in $((SECONDS - began)) s (at $((SECONDS - START)) s)" | tee -a "$LOGS/summary.txt"
}

(SALTLAB_TEST_DEVICE=$DEVICE step gpu-tests 300 $PY -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider) &
step recipes 560 $PY bench/gpu_recipes.py --data "$DATA" --out "$OUT" --runs /tmp/gpu_runs \
    --device "$DEVICE" ${SMOKE:+--smoke} --deadline $((RUNS_END - (SECONDS - START)))
tail -14 "$LOGS/recipes.txt"
wait
tail -3 "$LOGS/gpu-tests.txt"
left() { local l=$((END - (SECONDS - START) - $2)); echo $((l < $1 ? (l > 5 ? l : 5) : $1)); }
step bench-train "$(left 150 50)" $PY bench/bench_train.py --device "$DEVICE" ${SMOKE:+--batch 8 --steps 3 --repeat 1}
grep -E 'ratio|pipeline' "$LOGS/bench-train.txt"
step bench-infer "$(left 45 5)" $PY bench/bench_infer.py --device "$DEVICE" ${SMOKE:+--n 16}
tail -4 "$LOGS/bench-infer.txt"

for ck in best swa; do
    (cd /tmp/gpu_runs && find . -path "*/eval/*/predictions.npz" -print0 2>/dev/null |
        while IFS= read -r -d '' f; do
            # the eval key names the checkpoint file it scored (scores.json beside it says which)
            if grep -q "\"$ck.pt\"\|/$ck.pt\"" "$(dirname "$f")/scores.json" 2>/dev/null; then
                printf '%s\0%s\0' "$f" "$(dirname "$f")/scores.json"
            fi
        done | tar --null -czf "$OUT/preds-$ck.tar.gz" -T -)
done
tar -czf "$OUT/steps.tar.gz" -C $LOGS .
ls -la "$OUT"
cat $LOGS/summary.txt
echo "total $((SECONDS - START)) s"
