#!/usr/bin/env bash
# The prepared device call for issue 25 (one call, under 10 minutes; 15 minutes of device time in all):
#   1. `gpu_20min` on fold 0 of folds v2 with a time budget of MINUTES (default 7: a call may run
#      10 minutes at most, so the preset's 200 epochs are planned down to what fits; MINUTES=20 where
#      a longer call is allowed), then its checkpoints scored by the fixed rule (swa.pt with hflip TTA)
#      and, labelled as chosen on the validation images, best.pt; every `evaluate` output kept raw;
#   2. the engine against a bare loop at batch 128 and 256 (bench/bench_train.py; target >= 0.95).
# Everything comes back under OUT: gpu.txt, train.log, metrics.jsonl, config.json, eval-*.txt,
# bench-train.txt, summary.txt.
# Usage, from the repository root on the device machine, carrying .gpu and .whl (see gpu_session.sh):
#   bash bench/gpu_recipe.sh .gpu/tgs.tar "$OUT"
# A dry run here, on the CPU (a few epochs, to see that it runs and how an epoch's time scales):
#   DEVICE=cpu MINUTES=3 PYTHON=.venv/bin/python SKIP_BENCH=1 bash bench/gpu_recipe.sh .gpu/tgs.tar /tmp/out
set -u
TAR=${1:?data tar}
OUT=${2:?output folder}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
MINUTES=${MINUTES:-7}
START=$SECONDS
if [ -d "${WHEELS:-.whl}" ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${WHEELS:-.whl}"/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
mkdir -p /tmp/data "$OUT" && tar -xf "$TAR" -C /tmp/data || exit 1
DATA=/tmp/data/tgs
RUN=/tmp/gpu_runs/gpu_20min-f0
export NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 SALTLAB_CACHE=/tmp/saltlab-cache SALTLAB_BENCH_DATA=$DATA PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } > "$OUT/gpu.txt"
step() {  # step NAME SECONDS COMMAND...: its output in OUT/NAME.txt, its exit and time in summary.txt
    local name=$1 limit=$2 began=$SECONDS
    shift 2
    timeout -k 10 "$limit" "$@" > "$OUT/$name.txt" 2>&1
    echo "$name: exit $? in $((SECONDS - began)) s (at $((SECONDS - START)) s)" | tee -a "$OUT/summary.txt"
}
step train $((MINUTES * 60 + 90)) $PY -m saltlab train --config gpu_20min --data "$DATA" --fold 0 \
    --device "$DEVICE" --minutes "$MINUTES" --out "$RUN"
cp "$RUN"/train.log "$RUN"/metrics.jsonl "$RUN"/config.json "$OUT"/ 2>/dev/null
for ck in swa best; do
    for tta in --tta ""; do
        [ -f "$RUN/$ck.pt" ] && step "eval-$ck${tta:+-tta}" 120 $PY -m saltlab evaluate "$RUN" --checkpoint "$ck" $tta --device "$DEVICE"
    done
done
[ -z "${SKIP_BENCH:-}" ] && step bench-train 150 $PY bench/bench_train.py --device "$DEVICE"
grep -h "score" "$OUT"/eval-*.txt | head -20
cat "$OUT/summary.txt"
echo "total $((SECONDS - START)) s"
