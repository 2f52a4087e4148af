#!/usr/bin/env bash
# The advice at the API's default probe budget, every default candidate validated by the API in a
# new process of its own, then the table (docs/advise.md):
#   GEOBATCH_DATA=DIR bench/python/advise_cold.sh torch|jax N OUT
set -euo pipefail
framework=$1 n=$2 out=$3
py=target/torch-env/bin/python
[ "$framework" = jax ] && py=target/python-env/bin/python
here=$(dirname "$0")
mkdir -p "$out"
"$py" "$here/advise_cold.py" "$framework" "$n" "$out" > "$out/advise.txt" 2> "$out/advise.err"
"$py" "$here/advise_cold.py" report "$out" | tee "$out/report.md"
