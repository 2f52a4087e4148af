#!/usr/bin/env bash
# Makes target/python-env, the Python environment of the `python` model's tests and of the
# configs/examples/qm9-jax-*.toml runs: a virtual environment with the pinned packages of
# python/requirements.txt (NumPy, JAX 0.4.30, optax), from the package registry.
#   scripts/python-env.sh            # once; again after python/requirements.txt changes
# PYTHON picks the interpreter the environment is made from (default python3, 3.10 or newer).
set -euo pipefail
cd "$(dirname "$0")/.."
env=target/python-env
want=$(sha256sum python/requirements.txt | cut -c1-16)
if [ -x "$env/bin/python" ] && [ "$(cat "$env/.requirements" 2>/dev/null)" = "$want" ]; then
  echo "python-env: $env is up to date"
  exit 0
fi
rm -rf "$env"
"${PYTHON:-python3}" -m venv "$env"
"$env/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements.txt
echo "$want" > "$env/.requirements"
echo "python-env: $env ready ($("$env/bin/python" -c 'import jax, numpy; print("jax", jax.__version__, "numpy", numpy.__version__)'))"
