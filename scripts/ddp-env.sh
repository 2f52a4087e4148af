#!/usr/bin/env bash
# Makes target/ddp-env: the environment of the torch.distributed example's tests
# (examples/python/ddp_forces.py, python/tests/test_ddp.py) at the cost CI can afford: Debian's
# PyTorch (python3-torch 1.13, CPU, built with gloo: about 150 MB of packages, where PyPI's
# torch wheel brings 3 GB of CUDA libraries) under Debian's Python, PyG 2.6.1 from the package
# registry, and geobatch's Python package from python/ as scripts/python-env.sh built it (its
# extension is abi3: any Python 3.9 or newer loads it).
#   scripts/python-env.sh && scripts/ddp-env.sh       # apt needs root
set -euo pipefail
cd "$(dirname "$0")/.."
env=target/ddp-env
if ! /usr/bin/python3 -c "import torch, venv, ensurepip" 2>/dev/null; then
  apt-get install -y -qq --no-install-recommends python3-torch python3-venv >/dev/null
fi
if [ ! -x "$env/bin/python" ]; then
  # Debian's torch and NumPy are the system's: the environment sees them
  /usr/bin/python3 -m venv --system-site-packages "$env"
fi
"$env/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q torch_geometric==2.6.1
ls python/geobatch/_native*.so >/dev/null # built by scripts/python-env.sh
site=$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PWD/python" > "$site/geobatch-source.pth"
echo "ddp-env: $env ready ($("$env/bin/python" -c 'import torch, torch_geometric, geobatch; print("torch", torch.__version__, "pyg", torch_geometric.__version__)'))"
