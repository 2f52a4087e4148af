#!/usr/bin/env bash
# What a refactor must leave byte-identical (issue 69): `geobatch validate --resolved` of every
# shipped config and `geobatch report` of the given run folders, written under OUT.
# Usage: scripts/behaviour-snapshot.sh OUT [RESULTS...]; compare two snapshots with `diff -r`.
set -euo pipefail
out=$1; shift
bin=${GEOBATCH_BIN:-target/release/geobatch}
mkdir -p "$out/validate" "$out/report"
find configs -name '*.toml' | sort | while read -r config; do
  name=$(echo "$config" | tr / _)
  "$bin" validate --resolved "$config" >"$out/validate/$name.txt" 2>&1 || echo "exit $?" >>"$out/validate/$name.txt"
done
for results in "$@"; do
  name=$(echo "$results" | tr / _)
  "$bin" report "$results" --out "$out/report/$name" >"$out/report/$name.txt" 2>&1 || echo "exit $?" >>"$out/report/$name.txt"
done
echo "$(find "$out" -type f | wc -l) files in $out"
