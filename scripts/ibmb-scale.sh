#!/usr/bin/env bash
# Scaling study of the node-level batchers on a 1,000,000-node stochastic block model
# (configs/nodes/sbm-1m.toml): for every batcher, `geobatch batches` (graph generation,
# precomputation, batch sizes, edges kept, time per batch, process peak memory) and
# `geobatch run --epochs 2` (time per training epoch, GCN 2x64 with LayerNorm, one CPU thread for
# training). Prints a Markdown table; raw outputs go to $OUT (default /tmp/ibmb-scale).
# Usage: scripts/ibmb-scale.sh [extra --set KEY=VALUE arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/ibmb-scale}
mkdir -p "$OUT"
BIN=target/release/geobatch
cargo build --release --bin geobatch >/dev/null 2>&1
CFG=configs/nodes/sbm-1m.toml
declare -a BATCHERS=(
  'ibmb-node|{kind="ibmb-node",outputs_per_batch=10000,topk=16}'
  'ibmb-batch|{kind="ibmb-batch",num_parts=10}'
  'cluster|{kind="cluster",num_parts=10}'
  'neighbor|{kind="neighbor",batch_size=10000,fanouts=[10,5]}'
  'full|{kind="full"}'
)
field() { grep -m1 "$1" "$2" | sed -E "s#.*$1 *##"; }
echo "| batcher | precompute (s) | batches/epoch | outputs/batch | aux nodes/batch (mean) | edges kept | time/batch (ms) | peak RSS, batching (MiB) | epoch (s) | peak RSS, training (MiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for entry in "${BATCHERS[@]}"; do
  name=${entry%%|*}; spec=${entry#*|}
  b="$OUT/$name-batches.txt"; r="$OUT/$name-run.txt"
  /usr/bin/time -f "maxrss_kb %M" "$BIN" batches "$CFG" --set "batcher=$spec" --set experiment.results_dir="$OUT/results" "$@" >"$b" 2>&1
  pre=$(field "precomputation" "$b" | awk '{printf "%.2f", $1/1000}')
  nb=$(field "batches per epoch" "$b")
  outs=$(field "output nodes/batch" "$b" | awk '{print $2}' | tr -d ,)
  aux=$(field "aux nodes/batch" "$b" | awk '{print $2}' | tr -d ,)
  kept=$(field "edges kept" "$b" | sed -E 's/.*\(([0-9.]+%).*/\1/')
  tpb=$(field "time per batch" "$b" | awk '{print $1}')
  rss=$(grep maxrss_kb "$b" | awk '{printf "%.0f", $2/1024}')
  if [ "$name" = full ]; then
    epoch="(not run: whole-graph activations)"; rrss="-"
  else
    /usr/bin/time -f "maxrss_kb %M" "$BIN" run "$CFG" --set "batcher=$spec" --set experiment.results_dir="$OUT/results" "$@" >"$r" 2>&1
    epoch=$(grep -m1 "ms per epoch" "$r" | awk '{printf "%.2f", $2/1000}')
    rrss=$(grep maxrss_kb "$r" | awk '{printf "%.0f", $2/1024}')
  fi
  echo "| $name | $pre | $nb | $outs | $aux | $kept | $tpb | $rss | $epoch | $rrss |"
done
