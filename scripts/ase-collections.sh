#!/usr/bin/env bash
# Installs ASE 3.29.0 (LGPL, never copied into this repository) into target/ase-env, so that the
# asedb tests can read ASE's own collections (ase/collections/dcdft.json: 71 crystals, g2.json,
# s22.json); they skip, saying why, when it is absent. Prints the collections folder.
#
#   scripts/ase-collections.sh
#   cargo test --release -p geobatch-dataset-asedb      # finds target/ase-env by itself
#   GEOBATCH_ASE_COLLECTIONS=/elsewhere/ase/collections cargo test ...   # or any other copy
set -euo pipefail
cd "$(dirname "$0")/.."
env=target/ase-env
if [ ! -x "$env/bin/python" ]; then
    python3 -m venv "$env"
fi
"$env/bin/pip" install --quiet "ase==3.29.0"
"$env/bin/python" -c 'import ase.collections, os; print(os.path.dirname(ase.collections.__file__))'
