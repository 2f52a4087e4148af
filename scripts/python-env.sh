#!/usr/bin/env bash
# Makes target/python-env, the Python environment of the `python` model's tests, of the Python
# package's tests and of the configs/examples/qm9-jax-*.toml runs: a virtual environment with the
# pinned packages of python/requirements.txt (NumPy, JAX 0.4.30, optax, jraph, pytest), from the
# package registry, and geobatch's Python package built from python/ (`pip install -e ./python`:
# its Rust part is rebuilt by every run of this script, its Python files are used in place).
#   scripts/python-env.sh            # once; again after python/requirements.txt changes
# PYTHON picks the interpreter the environment is made from (default python3, 3.10 or newer).
set -euo pipefail
cd "$(dirname "$0")/.."
env=target/python-env
want=$(sha256sum python/requirements.txt | cut -c1-16)
if [ -x "$env/bin/python" ] && [ "$(cat "$env/.requirements" 2>/dev/null)" = "$want" ]; then
  echo "python-env: $env has python/requirements.txt"
else
  rm -rf "$env"
  "${PYTHON:-python3}" -m venv "$env"
  "$env/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements.txt
  echo "$want" > "$env/.requirements"
fi
"$env/bin/python" -m pip install --quiet --disable-pip-version-check -e ./python
echo "python-env: $env ready ($("$env/bin/python" -c 'import jax, numpy; import geobatch; print("jax", jax.__version__, "numpy", numpy.__version__, "geobatch", geobatch.__version__)'))"
