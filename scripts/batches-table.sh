#!/usr/bin/env bash
# The batching study as a markdown table: `geobatch batches` for every batcher of the study and
# pack, at batch sizes 16/32/64/128, on QM9 and on the committed crystal sets (issue 15).
#
#   scripts/batches-table.sh [qm9|carbon24|perov5 ...]     (default: all three)
#
# Env: GEOBATCH (binary, default target/release/geobatch), STEPS (batches per run, default 10000),
# SHARED (default ../shared). Runs write no results (sinks = []).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${GEOBATCH:-target/release/geobatch}
steps=${STEPS:-10000}
shared=${SHARED:-../shared}
sets=("$@")
[ ${#sets[@]} -eq 0 ] && sets=(qm9 carbon24 perov5)
echo "| set | bs | batcher | fill nodes | fill edges | distinct shapes | real graphs/batch | plan (us) | collate (us) |"
echo "|---|---|---|---|---|---|---|---|---|"
for set in "${sets[@]}"; do
  case $set in
    qm9) prefix=configs/examples/qm9; extra=() ;;
    carbon24) prefix=configs/examples/perov5
      extra=(--set "dataset.path=\"$shared/data/crystals/carbon24\"" --set 'dataset.targets=["energy_per_atom"]') ;;
    perov5) prefix=configs/examples/perov5
      extra=(--set "dataset.path=\"$shared/data/crystals/perov5\"") ;;
    *) echo "unknown set $set (qm9, carbon24, perov5)" >&2; exit 2 ;;
  esac
  for bs in 16 32 64 128; do
    for b in pack dynamic static64 static2n constant; do
      out=$("$bin" batches "$prefix-$b.toml" --steps "$steps" --set 'sinks=[]' \
        --set "batcher.batch_size=$bs" "${extra[@]}" 2>&1) || { echo "$out" >&2; exit 1; }
      field() { grep -m1 "^  $1" <<<"$out" | sed "s#^  $1 *##"; }
      label=$(head -1 <<<"$out" | sed 's/^batching study: \([^ ]*\) on.*/\1/')
      graphs=$(field "real graphs/batch" | sed 's/mean \([0-9.]*\).*/\1/')
      times=$(field "time per batch" | sed 's/.*(plan \([0-9.]*\) us + collate \([0-9.]*\) us)/\1 | \2/')
      echo "| $set | $bs | $label | $(field "fill nodes") | $(field "fill edges") | $(field "distinct shapes") | $graphs | $times |"
    done
  done
done
