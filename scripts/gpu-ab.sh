#!/usr/bin/env bash
# BUDGET: at most 8 minutes on one H100/H200 (a lent GPU has about 15 minutes of device time in
# all, start-up included). Every part has its own time limit and the script skips what would
# pass the deadline (BUDGET seconds, default 450), saying so; the parts run in the order of what
# matters most, so what is skipped is the least needed.
#
# The A/B of geobatch's GPU engine variants (`[training.engine]`: fusion, basis, segments,
# upload) against PyTorch on the same batches, from the pack scripts/gpu-pack.sh built (the GPU
# machine has no Rust toolchain and no network):
#
#   1. the GPU op tests (nn-tests device_tests, a potential's nested autodiff included): stop if
#      they fail;
#   2. the CPU-vs-GPU loss smoke of every model, batcher and engine variant and of the
#      potentials (gpu-tests gpu_and_cpu_losses_agree...): stop if a case disagrees or a run
#      fails (cut at its time limit, it goes on with the cases it checked);
#   3. per model (SchNet, MPEU, PaiNN): PyTorch eager (bench/torch/M_step.py), then geobatch
#      bench step with every variant, at bs 32 and 128, QM9 from the pack;
#   4. CubeCL's profile of SchNet's default engine (OUT/profile.log, summed by kernel in
#      OUT/profile-table.csv), then torch.compile of SchNet;
#   5. the force step: SchNet energy + forces + stress on mlearn at bs 16 and 32, geobatch
#      against PyTorch's double backward (bench/torch/schnet_forces.py) on the same batches;
#   6. the study's grid reduced to fit (configs/sweeps/qm9-gpu-grid.toml), its report and runs;
#   7. burn's autotuning (the pack's second build, geobatch-autotune): a tuning pass, then a
#      pass on CubeCL's cache, tuning time apart from step time;
#   8. scripts/gpu-tables.py: OUT/step.csv (model, bs, variant, geobatch ms, PyTorch eager ms,
#      ratio, torch.compile ms) and its table, the autotuning's and the force step's tables
#      (OUT/forces-table.csv); the raw rows in OUT/raw.csv, OUT/forces.csv and
#      OUT/autotune-raw-*.csv, each part's output in OUT/*.log, the grid's in OUT/grid-*.
#
#   scripts/gpu-ab.sh --prebuilt .gpu                       # on the GPU machine: writes bench/gpu/
#   scripts/gpu-ab.sh --prebuilt .gpu --device wgpu --torch-device cpu --quick --out /tmp/ab
#                                                            # the CPU try-out (Mesa's lavapipe)
#
# Options: --device D (geobatch's device: cuda:0, or wgpu), --torch-device D (cuda or cpu),
# --out DIR (default bench/gpu), --quick (few steps, bs 16 only, no smoke: tries the script),
# --skip-tests. Environment: BUDGET (seconds), STEPS, WARMUP, SMOKE_LIMIT (seconds of the loss
# smoke, default 150), GRID_STEPS (steps of each grid run, default 300), VARIANTS and MODELS (the
# A/B's engine tables and models), PROFILE_ENGINE (the engine table the profile runs, default {}).
set -uo pipefail
cd "$(dirname "$0")/.."
dir="" device="cuda:0" tdev="cuda" out="bench/gpu" quick=0 tests=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prebuilt) dir="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --torch-device) tdev="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --skip-tests) tests=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n "$dir" ]] || { echo "--prebuilt DIR (from scripts/gpu-pack.sh) is needed" >&2; exit 2; }
dir="$(realpath "$dir")"
mkdir -p "$out"
out="$(realpath "$out")"
budget=${BUDGET:-450}
deadline=$((SECONDS + budget))
if [[ $quick == 1 ]]; then
  steps=${STEPS:-5} warmup=${WARMUP:-2} sizes=16
else
  steps=${STEPS:-30} warmup=${WARMUP:-10} sizes=32,128
fi
# the pack's binaries are xz-compressed; Python's lzma unpacks them where xz is not installed
for f in "$dir"/*.xz; do
  [[ -e "$f" ]] || continue
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    "$f" "${f%.xz}" && chmod +x "${f%.xz}" && rm "$f"
done
gb="$dir/geobatch"
mkdir -p data/qm9
[[ -f "$dir/qm9.parquet" && ! -f data/qm9/qm9.parquet ]] && cp "$dir/qm9.parquet" data/qm9/qm9.parquet
data=data/qm9/qm9.parquet
# the full mlearn, where the force step's `source = "auto"` finds it
mkdir -p data/mlearn
[[ -f "$dir/mlearn.parquet" && ! -f data/mlearn/mlearn.parquet ]] &&
  cp "$dir/mlearn.parquet" data/mlearn/mlearn.parquet
[[ -f "$data" ]] || { echo "no QM9 at $data (scripts/gpu-pack.sh packs a subset of a fetched QM9)" >&2; exit 2; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
# where the CUDA driver and NVRTC (burn compiles its kernels at run time) are found
command -v ldconfig >/dev/null && ldconfig -p | grep -E "libcuda\.so|libnvrtc\.so" | head -n 4
raw="$out/raw.csv"
rm -f "$raw"

# run PART SECONDS CMD...: runs CMD with its time limit (four times longer with --quick) cut to
# the deadline, logging to OUT/PART.log; skips it when less than a third of its limit is left
run() {
  local part="$1" limit="$2" left=$((deadline - SECONDS))
  shift 2
  # the CPU try-out: lavapipe compiles every shader on the CPU
  ((quick == 1)) && limit=$((limit * 4))
  if ((left < limit / 3 || left < 10)); then
    echo "== $part: skipped ($left s of the budget left, it needs up to $limit s)" | tee -a "$out/skipped.log"
    return 124
  fi
  ((limit > left)) && limit=$left
  local start=$SECONDS
  timeout --signal=INT --kill-after=10 "$limit" "$@" >"$out/$part.log" 2>&1
  local rc=$?
  echo "== $part: exit $rc, $((SECONDS - start)) s"
  return $rc
}

if [[ $tests == 1 ]]; then
  run device-tests 150 "$dir/nn-tests" device_tests --test-threads 1 --nocapture ||
    { tail -40 "$out/device-tests.log"; echo "GPU op tests failed: stopping"; exit 1; }
  grep -E "worst|agree|skipped" "$out/device-tests.log"
  if [[ $quick == 0 ]]; then
    # 32 cases of two runs each; cut at its limit it has checked the cases it printed, and the
    # A/B goes on unless one of them disagreed (the op tests above already compared every
    # variant's losses with the CPU's)
    GEOBATCH_BIN="$gb" GEOBATCH_GPU="$device" run loss-smoke "${SMOKE_LIMIT:-150}" "$dir/gpu-tests" \
      gpu_and_cpu_losses_agree --nocapture --test-threads 1
    rc=$?
    grep -E "^(ok|FAIL)" "$out/loss-smoke.log"
    if grep -q "^FAIL" "$out/loss-smoke.log" || ((rc != 0 && rc != 124)); then
      tail -40 "$out/loss-smoke.log"
      echo "CPU and GPU losses disagree (or a run failed): stopping"
      exit 1
    fi
    ((rc == 124)) && echo "loss smoke cut at its limit after $(grep -c '^ok' "$out/loss-smoke.log") cases, all agreeing: going on"
  fi
fi

# the variants, by their training.engine table (the label bench step writes is the options the
# table writes; `{}` is the GPU's default, fusion with the device basis and the CSR sums): the
# unfused engine with the basis on the host and the chunked sums, each option alone on it, the
# default, the default overlapping uploads with steps (prefetch mode), and the default with the
# message means as geobatch's fused kernels. VARIANTS (tables separated by `;`) and MODELS
# (names separated by spaces) choose others.
old='fusion = false, basis = "host", segments = "chunked"'
variants=(
  "{ $old }"
  "{ fusion = true, basis = \"host\", segments = \"chunked\" }"
  "{ fusion = false, basis = \"device\", segments = \"chunked\" }"
  "{ fusion = false, basis = \"host\", segments = \"csr\" }"
  "{}"
  "{ upload = \"worker\" }"
  "{ messages = \"fused\" }"
)
[[ -n ${VARIANTS:-} ]] && IFS=';' read -r -a variants <<<"$VARIANTS"
for m in ${MODELS:-schnet mpeu painn}; do
  run "torch-$m" 90 python3 "bench/torch/${m}_step.py" --data "$data" --device "$tdev" \
    --batch-sizes "$sizes" --steps "$steps" --warmup "$warmup" --csv "$raw"
  i=0
  for v in "${variants[@]}"; do
    mode=serial
    [[ "$v" == *worker* ]] && mode=prefetch
    run "geobatch-$m-$i" 60 "$gb" bench step --model "$m" --batch-sizes "$sizes" --steps "$steps" \
      --warmup "$warmup" --set "training.device=\"$device\"" --set "training.engine=$v" \
      --set "training.mode=\"$mode\"" --csv "$raw"
    i=$((i + 1))
  done
done
# where the default engine's device time goes: CubeCL's profiler (configured by a cubecl.toml in
# the working folder, removed right after) times every kernel of a few SchNet steps at the
# largest batch size, each kernel synchronised; gpu-tables.py sums OUT/profile.log by kernel
printf '[profiling.logger]\nlevel = "basic"\nfile = "%s"\n' "$out/profile.log" >cubecl.toml
run profile 60 "$gb" bench step --model schnet --batch-sizes "${sizes##*,}" --steps 5 --warmup 2 \
  --set "training.device=\"$device\"" --set "training.engine=${PROFILE_ENGINE:-{\}}"
rm -f cubecl.toml

run torch-compile-schnet 120 python3 bench/torch/schnet_step.py --data "$data" --device "$tdev" \
  --batch-sizes "$sizes" --steps "$steps" --warmup "$warmup" --compile --csv "$raw"

# the force step (DESIGN.md §16): SchNet energy + forces + stress on mlearn's silicon (the full
# mlearn the pack carries, else the embedded fixture), geobatch's nested autodiff on the device
# against PyTorch's double backward on the same batches and initial weights (the dump's first
# step checks PyTorch's loss and forces against geobatch's before timing)
fcfg=configs/examples/mlearn-schnet-forces.toml
fsizes=$([[ $quick == 1 ]] && echo 16 || echo 16,32)
work=$(mktemp -d)
for bs in ${fsizes//,/ }; do
  run "forces-dump-$bs" 60 "$gb" bench step "$fcfg" --batch-sizes "$bs" --dump "$work/forces-$bs" \
    --dump-batches 20 --set "training.device=\"$device\"" &&
    run "torch-forces-$bs" 90 python3 bench/torch/schnet_forces.py --dump "$work/forces-$bs" \
      --device "$tdev" --steps "$steps" --warmup "$warmup" --csv "$out/forces.csv"
done
run geobatch-forces 90 "$gb" bench step "$fcfg" --batch-sizes "$fsizes" --steps "$steps" \
  --warmup "$warmup" --set "training.device=\"$device\"" --csv "$out/forces.csv"

# the study's grid reduced to fit (configs/sweeps/qm9-gpu-grid.toml: SchNet and PaiNN x dynamic,
# static-64, static-2^N, pack x bs 32 and 128), cut like Ctrl-C at its limit (its finished runs
# stay; run again, the sweep resumes); its report for docs/reproduction-gpu.md
grid_steps=$([[ $quick == 1 ]] && echo 20 || echo "${GRID_STEPS:-300}")
run grid 150 "$gb" sweep configs/sweeps/qm9-gpu-grid.toml --set "training.device=\"$device\"" \
  --set "training.steps=$grid_steps"
[[ -d results/qm9-gpu-grid ]] && "$gb" report results/qm9-gpu-grid --out "$out/grid-report" \
  >"$out/grid-report.log" 2>&1 && tar czf "$out/grid-results.tar.gz" results/qm9-gpu-grid

# burn's autotuning of matrix products and reductions: burn 0.21 decides it when it is built (no
# run-time switch exists), so the pack carries a second build with it (geobatch-autotune), run
# at CUBECL_AUTOTUNE_LEVEL=minimal on SchNet's default engine at the first batch size only (on an
# H200, 2026-11-27, bs 32 and 128 had not finished tuning after 223 s). CubeCL keeps what it tuned under
# target/ of the working folder: the first pass tunes and writes it, the second reads it, so
# the tuning time is the first pass's wall time less the second's, and the step time the
# second's (OUT/autotune.csv: pass, wall seconds, rows of the pass in OUT/autotune-raw.csv)
if [[ -x "$dir/geobatch-autotune" ]]; then
  find target -type d -name autotune -prune -exec rm -rf {} + 2>/dev/null
  for pass in tune cached; do
    start=$SECONDS
    run "autotune-$pass" 150 env CUBECL_AUTOTUNE_LEVEL=minimal "$dir/geobatch-autotune" bench step \
      --model schnet --batch-sizes "${sizes%%,*}" --steps "$steps" --warmup "$warmup" \
      --set "training.device=\"$device\"" --csv "$out/autotune-raw-$pass.csv"
    rc=$?
    echo "$pass,$((SECONDS - start)),$rc" >>"$out/autotune.csv"
  done
  echo "autotune cache: $(find target -path '*autotune*' -type f 2>/dev/null | wc -l) files"
else
  echo "== autotune: skipped (the pack has no geobatch-autotune)" | tee -a "$out/skipped.log"
fi
rm -rf "$work"

python3 scripts/gpu-tables.py "$out"
echo "tables: $out/step.csv (ratios), $raw (raw rows); logs: $out/*.log; $((SECONDS)) s in all"
