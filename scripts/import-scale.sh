#!/usr/bin/env bash
# Issue 82's measurement of importing files into a disk-backed store in bounded memory
# (docs/datasets.md, "Data beyond memory"): extended XYZ shards (gzip) of random periodic cells
# with energy, forces and stress (scripts/xyz-shards.py), written into a store by `geobatch data
# store` under a LIMIT memory cgroup at SMALL and LARGE structures (wall time, peak anonymous
# memory, store size); then the same LARGE shards with one shard cut short, to show the error.
#
# Needs root (a cgroup memory controller), python3 and a release build. Writes under WORK (about
# LARGE x 1 KB of shards and LARGE x 1.5 KB of store); removes it at the end unless KEEP=1.
#
#   SMALL=100000 LARGE=1000000 LIMIT=1G scripts/import-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release/geobatch}
SMALL=${SMALL:-100000}
LARGE=${LARGE:-1000000}
SHARDS=${SHARDS:-20}
LIMIT=${LIMIT:-1G}
WORK=${WORK:-/tmp/geobatch-import-scale}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

# the memory cgroup (named after this script) and limited NAME CMD...
. scripts/limited.sh

config() { # SHARDS_DIR
    cat >"$WORK/import.toml" <<EOF
[experiment]
name = "import-scale"
seed = 42
[dataset]
kind = "extxyz"
path = "$1"
targets = ["energy", "forces", "stress"]
graph = { kind = "cutoff", radius = 4.0 }
split = { train = 0.98, validation = 0.01, test = 0.01 }
[batcher]
kind = "dynamic"
batch_size = 32
EOF
}

for n in $SMALL $LARGE; do
    echo "== $n structures in $SHARDS gzip shards"
    rm -rf "$WORK/shards" "$WORK/store" "$WORK/data"
    python3 scripts/xyz-shards.py --structures "$n" --shards "$SHARDS" --out "$WORK/shards"
    echo "shards: $(du -sh "$WORK/shards" | cut -f1)"
    config "$WORK/shards"
    (cd "$WORK" && limited "import-$n" "$BIN" data store import.toml --out store --part 10000)
    grep -E '^wrote|structures read' "$WORK/import-$n.log"
    echo "store: $(du -sh "$WORK/store" | cut -f1)"
done

echo "== a shard cut short"
last=$(ls "$WORK/shards" | tail -1)
size=$(stat -c %s "$WORK/shards/$last")
truncate -s $((size / 2)) "$WORK/shards/$last"
rm -rf "$WORK/store"
(cd "$WORK" && limited import-cut "$BIN" data store import.toml --out store) || true
tail -2 "$WORK/import-cut.log"
if ls "$WORK"/store/*/store.json >/dev/null 2>&1; then echo "(a store was left)"; else echo "(no store written)"; fi

if [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$WORK"
fi
rmdir "$CG" 2>/dev/null || true
