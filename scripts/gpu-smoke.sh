#!/usr/bin/env bash
# GPU smoke test: builds geobatch with CUDA, trains every model with every batcher for a few steps
# on the CPU and on cuda:0 (QM9 fixture, seed 7; and GCN on a generated graph with two node
# batchers), and compares the first losses (relative tolerance 1e-3, float32 on different
# hardware), one line per check. Needs an NVIDIA GPU and its driver; no CUDA toolkit is needed to
# build (burn compiles its kernels at run time).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
cargo build --release --features geobatch-cli/cuda
cargo test --release --features cuda -p geobatch-nn --lib cuda_tests
GEOBATCH_GPU=1 cargo test --release --features geobatch-cli/cuda -p geobatch-cli --test cli \
  gpu_and_cpu_losses_agree -- --nocapture --test-threads 1
