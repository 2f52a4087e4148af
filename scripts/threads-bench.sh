#!/usr/bin/env bash
# The training step of SchNet, MPEU and PaiNN on 1, 2, ... threads, geobatch against PyTorch, on full
# QM9 with dynamic batching at batch sizes 16/32/64/128 (issue 18). One run, engines back to back.
#
#   scripts/threads-bench.sh [THREADS]        (default: 1,2)
#
# Env: GEOBATCH (binary, default target/release/geobatch), PYTHON (an interpreter with torch; the
# PyTorch rows are left out without one), DATA (default data/qm9/qm9.parquet), BATCH_SIZES.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${GEOBATCH:-target/release/geobatch}
threads=${1:-1,2}
data=${DATA:-data/qm9/qm9.parquet}
sizes=${BATCH_SIZES:-16,32,64,128}
python=${PYTHON:-python3}
have_torch=0
"$python" -c "import torch" 2>/dev/null && have_torch=1
cfg=configs/examples/qm9-schnet-dynamic.toml
# model, timed steps, warm-up steps (PaiNN's PyTorch step takes seconds at bs 128)
for spec in "schnet 20 5" "mpeu 10 2" "painn 5 2"; do
  read -r model steps warmup <<<"$spec"
  echo "== geobatch $model"
  "$bin" bench step "$cfg" --model "$model" --batch-sizes "$sizes" --steps "$steps" \
    --warmup "$warmup" --threads "$threads"
  if [ $have_torch = 1 ]; then
    for t in ${threads//,/ }; do
      echo "== pytorch $model, $t threads"
      "$python" "bench/torch/${model}_step.py" --data "$data" --batch-sizes "$sizes" \
        --steps "$steps" --warmup "$warmup" --threads "$t"
    done
  else
    echo "(no torch for $python: PyTorch rows left out)"
  fi
done
