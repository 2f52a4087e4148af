#!/usr/bin/env bash
# BUDGET: about 4 minutes on one H100/H200. The products' kernels and the fused message means on
# a GPU, from the pack scripts/gpu-pack.sh built (AUTOTUNE=0 is enough):
#
#   1. cubek's product kernels (burn's TF32 `Auto`, the full-f32 unit kernels) timed at SchNet's
#      edge shapes, each checked against the CPU (nn-tests product_kernels_match_the_cpu with
#      GEOBATCH_PRODUCT_TIMINGS=1): OUT/products.log;
#   2. SchNet and MPEU at bs 32 and 128, the GPU's default engine against
#      `messages = "fused"`, twice in turn (A B A B), so the difference is seen beside the noise
#      between runs: OUT/ab.csv (geobatch bench step's rows), OUT/ab.log.
#
#   scripts/gpu-products.sh .gpu OUT          # on the GPU machine
#   GEOBATCH_DEVICE=wgpu SIZES=16 STEPS=2 WARMUP=1 scripts/gpu-products.sh /tmp/pack /tmp/p
#                                               # the CPU try-out (lavapipe), on a copy of the pack
set -uo pipefail
cd "$(dirname "$0")/.."
dir="$(realpath "${1:?the pack folder from scripts/gpu-pack.sh}")"
out="${2:?an output folder}"
device=${GEOBATCH_DEVICE:-cuda:0}
mkdir -p "$out" data/qm9
# the pack's binaries are xz-compressed; Python's lzma unpacks them where xz is not installed
for f in "$dir"/*.xz; do
  [[ -e "$f" ]] || continue
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    "$f" "${f%.xz}" && chmod +x "${f%.xz}" && rm "$f"
done
[[ -f data/qm9/qm9.parquet ]] || cp "$dir/qm9.parquet" data/qm9/qm9.parquet
GEOBATCH_PRODUCT_TIMINGS=1 timeout 150 "$dir/nn-tests" product_kernels --nocapture \
  --test-threads 1 >"$out/products.log" 2>&1
echo "products: exit $?"
grep -E "median|refused|panicked|test result" "$out/products.log"
for pass in 1 2; do
  for engine in '{}' '{ messages = "fused" }'; do
    for model in schnet mpeu; do
      timeout 60 "$dir/geobatch" bench step --model "$model" --batch-sizes "${SIZES:-32,128}" --steps "${STEPS:-30}" \
        --warmup "${WARMUP:-10}" --set "training.device=\"$device\"" --set "training.engine=$engine" \
        --csv "$out/ab.csv" >>"$out/ab.log" 2>&1
      echo "pass $pass, $model, $engine: exit $?"
    done
  done
done
# model, variant, bs, median ms
[[ -f "$out/ab.csv" ]] && cut -d, -f2,4,6,8 "$out/ab.csv"
