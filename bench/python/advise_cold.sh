#!/usr/bin/env bash
# The advice at the API's default probe budget, then each default candidate's N steps in a cold
# process of its own, then the table (docs/advise.md):
#   GEOBATCH_DATA=DIR bench/python/advise_cold.sh torch|jax N OUT
set -euo pipefail
framework=$1 n=$2 out=$3
py=target/torch-env/bin/python
[ "$framework" = jax ] && py=target/python-env/bin/python
here=$(dirname "$0")
mkdir -p "$out"; rm -f "$out/cold.jsonl"
"$py" "$here/advise_cold.py" "$framework" advise "$n" "$out" > "$out/advise.txt" 2> "$out/advise.err"
for c in dynamic pack static:pad=pow2 static:pad=multiple64; do
  "$py" "$here/advise_cold.py" "$framework" run "$n" "$c" "$out" 2>> "$out/cold.err"
done
"$py" "$here/advise_cold.py" report "$out" | tee "$out/report.md"
