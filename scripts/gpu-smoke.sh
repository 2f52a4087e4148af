#!/usr/bin/env bash
# GPU smoke test: trains every model with every batcher for a few steps on the CPU and on cuda:0
# (QM9 fixture, seed 7; and GCN on a generated graph with two node batchers) and compares the first
# losses (relative tolerance 1e-3, float32 on different hardware), one line per check; before that,
# the CUDA versions of the custom ops against the CPU ones (geobatch-nn's device_tests). Needs an
# NVIDIA GPU and its driver; no CUDA toolkit is needed to build (burn compiles its kernels at run
# time).
#
#   scripts/gpu-smoke.sh                  # builds with cargo (--features geobatch-cli/cuda), then tests
#   scripts/gpu-smoke.sh --prebuilt DIR   # a GPU machine without Rust: the binaries that
#                                         # scripts/gpu-pack.sh DIR built on another machine
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
if [[ "${1:-}" == "--prebuilt" ]]; then
  dir="${2:?--prebuilt needs the folder scripts/gpu-pack.sh wrote}"
  "$dir/nn-tests" device_tests --test-threads 1 --nocapture
  GEOBATCH_BIN="$dir/geobatch" GEOBATCH_GPU=1 "$dir/gpu-tests" \
    gpu_and_cpu_losses_agree --nocapture --test-threads 1
  exit 0
fi
cargo build --release --features geobatch-cli/cuda
cargo test --release --features cuda -p geobatch-nn --lib device_tests -- --nocapture
GEOBATCH_GPU=1 cargo test --release --features geobatch-cli/cuda -p geobatch-cli --test cli \
  gpu_and_cpu_losses_agree -- --nocapture --test-threads 1
