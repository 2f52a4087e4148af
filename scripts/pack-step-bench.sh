#!/usr/bin/env bash
# The training step per real graph, pack against dynamic (issue 15): `geobatch bench step` for
# SchNet, MPEU and PaiNN on full QM9 at one batch size, the two batchers alternating, REPS times.
#
#   scripts/pack-step-bench.sh            (bs 32, 3 repetitions)
#
# Env: GEOBATCH (binary, default target/release/geobatch), BS (default 32), REPS (default 3).
# Prints one line per run: rep, model, batcher, then bench step's row (graphs/s counts real
# graphs, so per real graph the step costs 1 / graphs/s).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${GEOBATCH:-target/release/geobatch}
bs=${BS:-32}
reps=${REPS:-3}
for rep in $(seq "$reps"); do
  for m in schnet:200 mpeu:100 painn:40; do
    model=${m%%:*}; steps=${m##*:}
    for b in pack dynamic; do
      line=$("$bin" bench step "configs/examples/qm9-schnet-$b.toml" --model "$model" \
        --batch-sizes "$bs" --steps "$steps" --warmup 5 2>&1 | tail -1)
      echo "$rep $model $b $line"
    done
  done
done
