#!/usr/bin/env bash
# BUDGET: at most 8 minutes on one H100/H200 (a lent GPU has about 15 minutes of device time in
# all, start-up included). Every part has its own time limit and the script skips what would
# pass the deadline (BUDGET seconds, default 450), saying so.
#
# The A/B of geobatch's GPU engine variants (`[training.engine]`: fusion, basis, segments,
# upload) against PyTorch on the same batches, from the pack scripts/gpu-pack.sh built (the GPU
# machine has no Rust toolchain and no network):
#
#   1. the GPU op tests (nn-tests device_tests): stop if they fail;
#   2. the CPU-vs-GPU loss smoke of every model, batcher and engine variant (cli-tests
#      gpu_and_cpu_losses_agree...): stop if a case disagrees or a run fails (cut at its time
#      limit, it goes on with the cases it checked);
#   3. per model (SchNet, MPEU, PaiNN): PyTorch eager (bench/torch/M_step.py), then geobatch
#      bench step with every variant, at bs 32 and 128, QM9 from the pack;
#   4. torch.compile of SchNet, if time remains;
#   5. OUT/step.csv (model, bs, variant, geobatch ms, PyTorch eager ms, ratio, and PyTorch's
#      torch.compile ms where measured) and its table; the raw rows of both engines in
#      OUT/raw.csv, each part's output in OUT/*.log.
#
#   scripts/gpu-ab.sh --prebuilt .gpu                       # on the GPU machine: writes bench/gpu/
#   scripts/gpu-ab.sh --prebuilt .gpu --device wgpu --torch-device cpu --quick --out /tmp/ab
#                                                            # the CPU try-out (Mesa's lavapipe)
#
# Options: --device D (geobatch's device: cuda:0, or wgpu), --torch-device D (cuda or cpu),
# --out DIR (default bench/gpu), --quick (few steps, bs 16 only, no smoke: tries the script),
# --skip-tests. Environment: BUDGET (seconds), STEPS, WARMUP, SMOKE_LIMIT (seconds of the loss
# smoke, default 150).
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
[[ -f "$data" ]] || { echo "no QM9 at $data (scripts/gpu-pack.sh packs a subset of a fetched QM9)" >&2; exit 2; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
# where the CUDA driver and NVRTC (burn compiles its kernels at run time) are found
command -v ldconfig >/dev/null && ldconfig -p | grep -E "libcuda\.so|libnvrtc\.so" | head -n 4
raw="$out/raw.csv"
rm -f "$raw"

# run PART SECONDS CMD...: runs CMD with its time limit cut to the deadline, logging to
# OUT/PART.log; skips it when less than a third of its limit is left
run() {
  local part="$1" limit="$2" left=$((deadline - SECONDS))
  shift 2
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
    # 26 cases of two runs each; cut at its limit it has checked the cases it printed, and the
    # A/B goes on unless one of them disagreed (the op tests above already compared every
    # variant's losses with the CPU's)
    GEOBATCH_BIN="$gb" GEOBATCH_GPU="$device" run loss-smoke "${SMOKE_LIMIT:-150}" "$dir/cli-tests" \
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

# the variants, by their training.engine table (the label bench step writes is the variant's
# name in the table); the last one overlaps uploads with steps, so it runs in prefetch mode
variants=(
  "{}"
  "{ fusion = true }"
  "{ basis = \"device\" }"
  "{ segments = \"csr\" }"
  "{ fusion = true, basis = \"device\", segments = \"csr\" }"
  "{ fusion = true, basis = \"device\", segments = \"csr\", upload = \"worker\" }"
)
for m in schnet mpeu painn; do
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
run torch-compile-schnet 120 python3 bench/torch/schnet_step.py --data "$data" --device "$tdev" \
  --batch-sizes "$sizes" --steps "$steps" --warmup "$warmup" --compile --csv "$raw"

python3 - "$raw" "$out/step.csv" <<'PY'
import csv, sys
raw, path = sys.argv[1], sys.argv[2]
try:
    rows = list(csv.DictReader(open(raw)))
except FileNotFoundError:
    sys.exit("no rows were measured")
def torch_ms(variant):
    return {(r["model"], r["bs"]): float(r["median_ms"]) for r in rows
            if r["engine"] == "torch" and r["variant"] == variant}
eager, compiled = torch_ms("eager"), torch_ms("compile")
out = []
for r in rows:
    if r["engine"] != "geobatch":
        continue
    key = (r["model"], r["bs"])
    ms, ref = float(r["median_ms"]), eager.get(key)
    out.append((r["model"], int(r["bs"]), r["variant"], ms, ref, ms / ref if ref else None,
                compiled.get(key)))
fmt = lambda x, spec: "" if x is None else format(x, spec)
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["model", "bs", "variant", "geobatch_ms", "pytorch_ms", "ratio", "pytorch_compile_ms"])
    for m, bs, v, ms, ref, ratio, comp in out:
        w.writerow([m, bs, v, f"{ms:.3f}", fmt(ref, ".3f"), fmt(ratio, ".3f"), fmt(comp, ".3f")])
print(f"{'model':<7} {'bs':>4}  {'variant':<50} {'ms':>9} {'PyTorch':>8} {'ratio':>6} {'compiled':>9}")
for m, bs, v, ms, ref, ratio, comp in out:
    print(f"{m:<7} {bs:>4}  {v:<50} {ms:>9.2f} {fmt(ref, '.2f'):>8} {fmt(ratio, '.2f'):>6} {fmt(comp, '.2f'):>9}")
PY
echo "tables: $out/step.csv (ratios), $raw (raw rows); logs: $out/*.log; $((SECONDS)) s in all"
