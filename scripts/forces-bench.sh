#!/usr/bin/env bash
# The energy + forces (+ stress) training step of SchNet or PaiNN (the config's model) on mlearn, geobatch against PyTorch's
# double backward, on the same batches and initial weights, at equal threads, interleaved:
# `geobatch bench step --dump` writes each batch size's batches, bench/torch/{schnet,painn}_forces.py
# checks PyTorch's loss and forces against geobatch's first step and times its step on them, and
# `geobatch bench step` times geobatch's on the same training stream; ROUNDS rounds alternate
# the two, and the medians of the per-round medians are compared.
#   scripts/forces-bench.sh [CONFIG] [BATCH_SIZES] [THREADS] [ROUNDS]
# Needs target/release/geobatch, the fetched data (geobatch data fetch mlearn) and
# target/torch-env (scripts/torch-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/examples/mlearn-schnet-forces.toml}
sizes=${2:-16,32}
threads=${3:-2}
rounds=${4:-3}
steps=${STEPS:-30}
bin=target/release/geobatch
py=${PYTHON:-target/torch-env/bin/python}
# the PyTorch script of the config's model (schnet or painn)
kind=$("$py" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["model"]["kind"])' "$config")
script=bench/torch/${kind}_forces.py
[ -f "$script" ] || { echo "forces-bench: no PyTorch counterpart of model $kind ($script)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
IFS=, read -ra bss <<<"$sizes"
for bs in "${bss[@]}"; do
  "$bin" bench step "$config" --batch-sizes "$bs" --dump "$work/d$bs" --dump-batches 20 >/dev/null
  "$py" "$script" --dump "$work/d$bs" --check-only --threads "$threads" |
    sed "s/^/bs $bs: /"
done
echo "engine,bs,round,median_ms" >"$work/times.csv"
for r in $(seq 1 "$rounds"); do
  "$bin" bench step "$config" --batch-sizes "$sizes" --steps "$steps" --warmup 3 \
    --threads "$threads" | awk -v r="$r" 'NR > 2 && NF > 5 { print "geobatch," $2 "," r "," $4 }' \
    >>"$work/times.csv"
  for bs in "${bss[@]}"; do
    "$py" "$script" --dump "$work/d$bs" --threads "$threads" --steps "$steps" \
      --warmup 3 | tail -1 |
      "$py" -c "import json,sys; d=json.load(sys.stdin); print(f\"pytorch,{d['bs']},$r,{d['median_ms']:.2f}\")" \
      >>"$work/times.csv"
  done
done
"$py" - "$work/times.csv" "$threads" "$kind" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"{sys.argv[3]} energy + forces + stress step on mlearn, {sys.argv[2]} threads, medians of per-round medians (ms):")
print(f"{'bs':>4} {'geobatch':>10} {'pytorch':>10} {'ratio':>7}  rounds (geobatch / pytorch)")
for bs in sorted({int(r['bs']) for r in rows}):
    g = [float(r['median_ms']) for r in rows if r['engine'] == 'geobatch' and int(r['bs']) == bs]
    t = [float(r['median_ms']) for r in rows if r['engine'] == 'pytorch' and int(r['bs']) == bs]
    mg, mt = statistics.median(g), statistics.median(t)
    print(f"{bs:>4} {mg:>10.1f} {mt:>10.1f} {mg / mt:>7.2f}  {' '.join(f'{x:.0f}' for x in g)} / {' '.join(f'{x:.0f}' for x in t)}")
PY
