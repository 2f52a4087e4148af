#!/usr/bin/env bash
# Makes target/torch-env: the environment of the PyTorch/PyG checks CI cannot afford (about 5 GB):
# python/requirements.txt (NumPy, JAX, jraph, pytest) plus pinned torch 2.5.1 and PyG 2.6.1 from the
# package registry, and geobatch's Python package from python/ (editable). The Python package's
# torch tests and bench/python run there; elsewhere they skip and say why.
#   scripts/torch-env.sh
#   target/torch-env/bin/python -m pytest python/tests
#   target/torch-env/bin/python bench/python/bench_loader.py
set -euo pipefail
cd "$(dirname "$0")/.."
env=target/torch-env
if [ ! -x "$env/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$env"
fi
"$env/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
  -r python/requirements.txt torch==2.5.1 torch_geometric==2.6.1
"$env/bin/python" -m pip install --disable-pip-version-check -q -e ./python
echo "torch-env: $env ready ($("$env/bin/python" -c 'import torch, torch_geometric, geobatch; print("torch", torch.__version__, "pyg", torch_geometric.__version__)'))"
