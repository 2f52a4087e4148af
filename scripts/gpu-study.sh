#!/usr/bin/env bash
# The GPU measurements of docs/gpu.md, on a machine with an NVIDIA GPU, from the binaries that
# scripts/gpu-pack.sh DIR built (no Rust toolchain or network needed there):
#
#   scripts/gpu-study.sh DIR OUT PART...
#
# PARTs, run in the order given, each logging to OUT/PART.log:
#   smoke          scripts/gpu-smoke.sh --prebuilt DIR
#   bench          geobatch bench step on cuda:0 for SchNet, MPEU and PaiNN at bs 16/32/64/128
#   torch          the PyTorch counterparts (bench/torch/*_step.py --device cuda), same sizes
#   probe          SchNet, bs 32, 2,000 steps per batcher (dynamic, static-64, static-2^N,
#                  constant) in serial mode: the cost of a step with a new padded shape
#   serial         configs/sweeps/qm9-gpu.toml in serial mode
#   prefetch       the same sweep in prefetch mode
# Results folders (results/qm9-gpu, results/gpu-probe) are packed into OUT/results-PART.tar.gz.
# Environment: STEPS (training steps of the probe and sweep runs, default 2000); LIMIT (seconds a
# sweep may run before it is interrupted like Ctrl-C, so its runs stay resumable; default none).
set -uo pipefail
cd "$(dirname "$0")/.."
dir="$(realpath "${1:?DIR from scripts/gpu-pack.sh}")"
out="$(realpath "${2:?OUT folder}")"
shift 2
gb="$dir/geobatch"
# the pack's binaries are xz-compressed; Python's lzma unpacks them where xz is not installed
for f in "$dir"/*.xz; do
  [[ -e "$f" ]] || continue
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    "$f" "${f%.xz}" && chmod +x "${f%.xz}" && rm "$f"
done
mkdir -p "$out" data/qm9
# the QM9 subset the pack carried, where `source = "auto"` and the PyTorch scripts look
[[ -f "$dir/qm9.parquet" && ! -f data/qm9/qm9.parquet ]] && cp "$dir/qm9.parquet" data/qm9/qm9.parquet
cuda='training.device="cuda:0"'
for part in "$@"; do
  start=$SECONDS
  case "$part" in
    smoke) scripts/gpu-smoke.sh --prebuilt "$dir" ;;
    bench)
      for m in schnet mpeu painn; do
        "$gb" bench step --model "$m" --batch-sizes 16,32,64,128 --steps 200 --warmup 20 --set "$cuda"
      done ;;
    torch)
      python3 -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))'
      for m in schnet mpeu painn; do
        python3 "bench/torch/${m}_step.py" --device cuda --steps 200 --warmup 20
      done ;;
    probe)
      for b in qm9-schnet-dynamic qm9-schnet-static64 qm9-schnet-static2n qm9-schnet-constant; do
        "$gb" run "configs/examples/$b.toml" --steps "${STEPS:-2000}" --set "$cuda" \
          --set 'experiment.name="gpu-probe"' --set training.eval_every=0 \
          --set 'training.eval_splits=["test"]' --set 'dataset.split={ train = 20000, validation = 1000, test = 1000 }'
      done
      tar czf "$out/results-probe.tar.gz" results/gpu-probe ;;
    serial | prefetch)
      timeout --signal=INT "${LIMIT:-0}" "$gb" sweep configs/sweeps/qm9-gpu.toml \
        --set "training.mode=\"$part\"" --set "training.steps=${STEPS:-2000}"
      tar czf "$out/results-$part.tar.gz" results/qm9-gpu ;;
    *) echo "unknown part $part" ;;
  esac 2>&1 | tee "$out/$part.log"
  echo "== $part: $((SECONDS - start)) s"
done
