#!/usr/bin/env bash
# Score a finished run by the rule fixed before its scores were seen (issue 25), keeping the raw output:
#   the reported score: swa.pt with hflip TTA (the last epoch, last.pt, when the recipe makes no swa.pt);
#   beside it, labelled as chosen on the validation images: best.pt, with and without TTA; swa.pt without TTA.
# Every `python -m saltlab evaluate` output goes to DEST/eval-CHECKPOINT[-tta].txt; the run's
# config.json, metrics.jsonl and train.log are copied beside them.
# Usage: bash bench/score_run.sh RUN DEST   (PYTHON=... to choose the interpreter; .venv/bin/python by default)
set -eu
RUN=${1:?run folder}
DEST=${2:?destination folder}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$DEST"
cp "$RUN"/config.json "$RUN"/metrics.jsonl "$RUN"/train.log "$DEST"/
rule=swa
[ -f "$RUN/swa.pt" ] || rule=last
for ck in $rule best; do
    for tta in --tta ""; do
        out="$DEST/eval-$ck${tta:+-tta}.txt"
        echo "\$ python -m saltlab evaluate $RUN --checkpoint $ck $tta" > "$out"
        $PY -m saltlab evaluate "$RUN" --checkpoint "$ck" $tta >> "$out" 2>&1
    done
done
echo "rule ($rule.pt + hflip TTA):"
grep -i "score" "$DEST/eval-$rule-tta.txt"
